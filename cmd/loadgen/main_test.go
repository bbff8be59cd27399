package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary stand in for loadgen as the baseline child,
// which run starts by re-executing itself.
func TestMain(m *testing.M) {
	if len(os.Args) == 3 && os.Args[1] == "-serve-baseline" {
		serveBaseline(os.Args[2])
		return
	}
	os.Exit(m.Run())
}

// TestHarnessSmoke runs every scenario at a tiny scale: the harness itself
// must keep working. Throughput targets are not asserted here (a shared CI
// machine is too noisy); make bench checks them.
func TestHarnessSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the service")
	}
	o := options{duration: 400 * time.Millisecond, rounds: 2, conns: 4, maxRequests: 20000,
		oktaLatency: 10 * time.Millisecond, unknown: 40, herd: 50}
	r, err := run(o)
	if err != nil {
		t.Fatal(err)
	}
	if r.Baseline.Requests == 0 || r.Service.Requests == 0 || r.Service.Errors != 0 || r.Baseline.Errors != 0 {
		t.Fatalf("warm scenario: %+v %+v", r.Baseline, r.Service)
	}
	if r.Introspected.Requests == 0 || r.Introspected.Errors != 0 || r.IntroCalls != 0 {
		t.Fatalf("warm scenario with an introspected token: %+v, %d introspection calls", r.Introspected, r.IntroCalls)
	}
	if r.HerdOK != 50 || r.HerdOktaCalls != 2 || r.HerdStored != 1 {
		t.Fatalf("herd: %d ok, %d Okta calls, %d stored", r.HerdOK, r.HerdOktaCalls, r.HerdStored)
	}
	if r.BudgetOK != 40 || r.Okta429 != 0 || r.BudgetOther != 0 {
		t.Fatalf("budget: %+v", r)
	}
	if r.PeakRSSBytes <= 0 {
		t.Fatal("no RSS measured")
	}
	var out bytes.Buffer
	report(&out, o, r)
	for _, want := range []string{"baseline gin", "usersvc", "usersvc, introspected token", "1b. introspection calls", "herd: exactly 1 Okta lookup", "service peak RSS"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("report lacks %q:\n%s", want, out.String())
		}
	}
}
