package main

import (
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"testing"
)

// TestBinaryGCTarget reads the collector's target from the binary's own
// /metrics (go_gc_gogc_percent, the runtime's /gc/gogc:percent): 150 when
// GOGC is unset, the operator's value when it is set, and for GOGC=off the
// runtime's -1 read as an unsigned value (2^64-1, as the metric shows it).
func TestBinaryGCTarget(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the binary")
	}
	for _, tc := range []struct{ gogc, want string }{
		{"", "150"},
		{"100", "100"},
		{"300", "300"},
		{"off", "1.8446744073709552e+19"},
	} {
		t.Run("GOGC="+tc.gogc, func(t *testing.T) {
			metricsAddr := freePort(t)
			env := []string{"AUTH_DISABLED=true", "METRICS_ADDR=" + metricsAddr, "EMBEDDED_DB_PATH=" + filepath.Join(t.TempDir(), "u.db")}
			if tc.gogc != "" {
				env = append(env, "GOGC="+tc.gogc)
			}
			startBinary(t, env...)
			resp, err := http.Get("http://" + metricsAddr + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			m := regexp.MustCompile(`(?m)^go_gc_gogc_percent (\S+)$`).FindSubmatch(body)
			if m == nil || string(m[1]) != tc.want {
				t.Fatalf("go_gc_gogc_percent = %q, want %s", m, tc.want)
			}
		})
	}
}
