package main

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// TestPprofOnlyOnTheMetricsListenerWhenEnabled: PPROF_ENABLED adds Go's
// profiling endpoints to the metrics listener; off by default, and the API
// port never serves them either way.
func TestPprofOnlyOnTheMetricsListenerWhenEnabled(t *testing.T) {
	get := func(t *testing.T, url string) (int, string) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	tests := []struct {
		name    string
		env     []string
		metrics int // status of /debug/pprof/ on the metrics listener
	}{
		{"default", nil, http.StatusNotFound},
		{"enabled", []string{"PPROF_ENABLED", "true"}, http.StatusOK},
		{"disabled", []string{"PPROF_ENABLED", "false"}, http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			metricsAddr := freePort(t)
			env := append([]string{"AUTH_DISABLED", "true", "LISTEN_ADDR", "127.0.0.1:0", "METRICS_ADDR", metricsAddr,
				"EMBEDDED_DB_PATH", filepath.Join(t.TempDir(), "u.db")}, tt.env...)
			addr, done := startRun(t, ctx, env...)
			t.Cleanup(func() { cancel(); <-done })

			// net/http/pprof's index lists the runtime's named profiles.
			code, body := get(t, "http://"+metricsAddr+"/debug/pprof/")
			if code != tt.metrics {
				t.Fatalf("metrics listener /debug/pprof/: %d, want %d", code, tt.metrics)
			}
			if code == http.StatusOK {
				if !strings.Contains(body, "goroutine") || !strings.Contains(body, "heap") {
					t.Fatalf("not the pprof index: %.200s", body)
				}
				if code, body := get(t, "http://"+metricsAddr+"/debug/pprof/heap?debug=1"); code != http.StatusOK || !strings.Contains(body, "heap profile") {
					t.Fatalf("heap profile: %d %.100s", code, body)
				}
			}
			if code, _ := get(t, "http://"+metricsAddr+"/metrics"); code != http.StatusOK {
				t.Fatalf("/metrics: %d", code)
			}
			for _, p := range []string{"/debug/pprof/", "/debug/pprof/heap", "/debug/pprof/profile?seconds=1"} {
				if code, body := get(t, "http://"+addr+p); code != http.StatusNotFound || !strings.Contains(body, `"message"`) {
					t.Fatalf("API port %s: %d %.100s, want the JSON 404", p, code, body)
				}
			}
		})
	}
}
