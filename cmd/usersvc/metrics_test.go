package main

import (
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/usersvc/usersvc/testsupport/issuer"
	"github.com/usersvc/usersvc/testsupport/oktaapi"
)

// scrape fetches and parses /metrics.
func scrape(t *testing.T, addr string) (map[string]*dto.MetricFamily, string) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatalf("parse metrics: %v", err)
	}
	return families, string(raw)
}

// value returns the counter, gauge or histogram count of the series with
// exactly these labels (0 when absent).
func value(families map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	f, ok := families[name]
	if !ok {
		return 0
	}
	for _, m := range f.Metric {
		if len(m.Label) != len(labels) {
			continue
		}
		match := true
		for _, l := range m.Label {
			if labels[l.GetName()] != l.GetValue() {
				match = false
			}
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return 0
}

// TestMetricsAfterAScriptedSequence drives the binary through a known
// sequence and checks that every counter moved by exactly that much, and that
// no id or token text became a label.
func TestMetricsAfterAScriptedSequence(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the binary")
	}
	iss := issuer.Start(t)
	org := oktaapi.New(t, oktaapi.WithSSWSToken("00ssws"), oktaapi.WithRateLimits(100, 50))
	org.AddUsers(oktaapi.NewUser("00u1", "grace.hopper@example.com", "grace.hopper@example.com", "Grace", "Hopper", "ACTIVE"))
	metricsAddr := freePort(t)
	_, addr := startBinary(t,
		"METRICS_ADDR="+metricsAddr,
		"FLASK_OIDC_CONFIG_URL="+iss.DiscoveryURL(), "OIDC_AUDIENCE="+issuer.Audience,
		"OKTA_CLIENT_ORGURL="+org.URL(), "OKTA_CLIENT_TOKEN=00ssws", "OKTA_TESTING_DISABLE_HTTPS_CHECK=true",
		"EMBEDDED_DB_PATH="+filepath.Join(t.TempDir(), "u.db"))
	base := "http://" + addr
	deadline := time.Now().Add(10 * time.Second)
	for {
		if resp, _ := call(t, http.MethodGet, base+"/readyz", "", ""); resp.StatusCode == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("not ready")
		}
		time.Sleep(50 * time.Millisecond)
	}
	before, _ := scrape(t, metricsAddr)

	token := iss.Token(t, iss.Claims(time.Now(), "ada@example.com"))
	expired := iss.Claims(time.Now(), "ada@example.com")
	expired["exp"] = time.Now().Add(-time.Hour).Unix()
	expiredToken := iss.Token(t, expired)
	steps := []struct {
		method, path, token, body string
		status                    int
	}{
		{"GET", "/livez", "", "", 200},
		{"GET", "/user/grace.hopper@example.com", "", "", 401},
		{"GET", "/user/grace.hopper@example.com", expiredToken, "", 401},
		{"GET", "/user/grace.hopper@example.com", token, "", 200}, // Okta: found
		{"GET", "/user/grace.hopper@example.com", token, "", 200}, // graph hit
		{"GET", "/user/nobody@example.com", token, "", 404},       // Okta: not found
		{"GET", "/user/nobody@example.com", token, "", 404},       // negative cache
		{"PUT", "/user", token, `{"email":"ada@example.com","display_name":"Ada"}`, 201},
		{"PUT", "/user", token, `{"email":"ada@example.com","team_name":"Data"}`, 200},
	}
	for _, st := range steps {
		if resp, body := call(t, st.method, base+st.path, st.token, st.body); resp.StatusCode != st.status {
			t.Fatalf("%s %s = %d %s, want %d", st.method, st.path, resp.StatusCode, body, st.status)
		}
	}
	after, raw := scrape(t, metricsAddr)

	delta := func(name string, labels map[string]string) float64 {
		return value(after, name, labels) - value(before, name, labels)
	}
	want := []struct {
		name   string
		labels map[string]string
		delta  float64
	}{
		{"usersvc_http_requests_total", map[string]string{"route": "/livez", "method": "GET", "status": "200"}, 1},
		{"usersvc_http_requests_total", map[string]string{"route": "/user/:id", "method": "GET", "status": "401"}, 2},
		{"usersvc_http_requests_total", map[string]string{"route": "/user/:id", "method": "GET", "status": "200"}, 2},
		{"usersvc_http_requests_total", map[string]string{"route": "/user/:id", "method": "GET", "status": "404"}, 2},
		{"usersvc_http_requests_total", map[string]string{"route": "/user", "method": "PUT", "status": "201"}, 1},
		{"usersvc_http_requests_total", map[string]string{"route": "/user", "method": "PUT", "status": "200"}, 1},
		{"usersvc_http_request_duration_seconds", map[string]string{"route": "/user/:id", "method": "GET"}, 6},
		{"usersvc_auth_total", map[string]string{"outcome": "ok"}, 6},
		{"usersvc_auth_total", map[string]string{"outcome": "missing"}, 1},
		{"usersvc_auth_total", map[string]string{"outcome": "expired"}, 1},
		{"usersvc_token_cache_total", map[string]string{"result": "miss"}, 2},
		{"usersvc_token_cache_total", map[string]string{"result": "hit"}, 5},
		{"usersvc_directory_lookups_total", map[string]string{"outcome": "found"}, 1},
		{"usersvc_directory_lookups_total", map[string]string{"outcome": "not_found"}, 1},
		{"usersvc_directory_lookup_duration_seconds", map[string]string{}, 2},
		{"usersvc_negative_cache_hits_total", map[string]string{}, 1},
		{"usersvc_users_written_total", map[string]string{"source": "okta", "result": "created"}, 1},
		{"usersvc_users_written_total", map[string]string{"source": "api", "result": "created"}, 1},
		{"usersvc_users_written_total", map[string]string{"source": "api", "result": "updated"}, 1},
		{"usersvc_store_operation_duration_seconds", map[string]string{"operation": "create_update_user"}, 3},
		{"usersvc_jwks_fetches_total", map[string]string{"result": "ok"}, 0},
	}
	for _, w := range want {
		if got := delta(w.name, w.labels); got != w.delta {
			t.Errorf("%s%v moved by %v, want %v", w.name, w.labels, got, w.delta)
		}
	}
	// Okta told us how much of each window is left: the search bucket (50)
	// saw two calls (the found person's shared-email check, the unknown
	// email's search), the get-user bucket (100) two.
	if got := value(after, "usersvc_okta_rate_limit_remaining", map[string]string{"bucket": "users:list"}); got != 48 {
		t.Errorf("rate-limit remaining for users:list = %v, want 48", got)
	}
	if got := value(after, "usersvc_okta_rate_limit_remaining", map[string]string{"bucket": "users:get"}); got != 98 {
		t.Errorf("rate-limit remaining for users:get = %v, want 98", got)
	}
	if value(after, "usersvc_http_requests_in_flight", map[string]string{}) != 0 {
		t.Error("requests still counted in flight")
	}
	if value(after, "usersvc_jwks_fetches_total", map[string]string{"result": "ok"}) != 1 {
		t.Error("the start-up JWKS fetch is not counted")
	}
	build := wantBuild(t, buildBinary(t), "dev", "unknown")
	if value(after, "usersvc_build_info", map[string]string{"version": build.Version, "commit": build.Commit, "go_version": build.GoVersion}) != 1 {
		t.Errorf("build info missing:\n%s", grep(raw, "usersvc_build_info"))
	}
	for _, secret := range []string{"grace", "nobody", "ada@", token[:30], expiredToken[:30], "00ssws"} {
		if strings.Contains(raw, secret) {
			t.Errorf("%q appears in the metrics", secret)
		}
	}
	// Metrics are not on the API port.
	if resp, _ := call(t, http.MethodGet, base+"/metrics", token, ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("/metrics on the API port = %d, want 404", resp.StatusCode)
	}
}

func grep(s, substr string) string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		if strings.Contains(line, substr) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}
