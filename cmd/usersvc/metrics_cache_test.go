package main

import (
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/usersvc/usersvc/handlers"
)

// TestRequestSeriesCacheCounts: the cached children count every request,
// from many goroutines, under the labels WithLabelValues gives them.
func TestRequestSeriesCacheCounts(t *testing.T) {
	m := newMetrics(handlers.BuildInfo{})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 100 {
				m.RequestStarted()
				m.AuthOutcome("ok")
				m.StoreOperation("get_user", time.Microsecond, nil)
				m.RequestFinished("/user/:id", "GET", 200+g%2*204+i%2, time.Millisecond)
			}
		})
	}
	wg.Wait()
	for status, want := range map[string]float64{"200": 200, "201": 200, "404": 200, "405": 200} {
		if got := counterValue(t, m.httpRequests.WithLabelValues("/user/:id", "GET", status)); got != want {
			t.Errorf("status %s: %v requests, want %v", status, got, want)
		}
	}
	if got := counterValue(t, m.auth.WithLabelValues("ok")); got != 800 {
		t.Errorf("auth ok: %v, want 800", got)
	}
	families, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		switch f.GetName() {
		case "usersvc_http_request_duration_seconds", "usersvc_store_operation_duration_seconds":
			if len(f.GetMetric()) != 1 || f.GetMetric()[0].GetHistogram().GetSampleCount() != 800 {
				t.Errorf("%s: %v", f.GetName(), f.GetMetric())
			}
		}
	}
	if got := counterValue(t, m.inFlight); got != 0 {
		t.Errorf("in flight: %v", got)
	}
}

func counterValue(t *testing.T, c prometheus.Metric) float64 {
	t.Helper()
	var d dto.Metric
	if err := c.Write(&d); err != nil {
		t.Fatal(err)
	}
	if d.Counter != nil {
		return d.Counter.GetValue()
	}
	return d.Gauge.GetValue()
}
