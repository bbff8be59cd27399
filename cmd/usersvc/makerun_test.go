package main

import (
	"os/exec"
	"regexp"
	"testing"
)

// TestMakeRunListensOnLoopback: the newcomer's `make run` (auth off, writes
// open) must not offer itself to the local network (issue 16). It reads the
// command make would run (`make -n`) and finds both listen addresses set to
// loopback; the service's own defaults (:5002, :9102) are for containers.
func TestMakeRunListensOnLoopback(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make")
	}
	out, err := exec.Command("make", "-s", "-n", "-C", "../..", "run").CombinedOutput()
	if err != nil {
		t.Fatalf("make -n run: %v\n%s", err, out)
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(^|\s)LISTEN_ADDR=127\.0\.0\.1:5002\s`),
		regexp.MustCompile(`(^|\s)METRICS_ADDR=127\.0\.0\.1:9102\s`),
	} {
		if !want.Match(out) {
			t.Errorf("make run does not set %s; it runs:\n%s", want, out)
		}
	}
}
