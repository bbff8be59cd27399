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

// TestMakeRunStampsTheVersion: `make run` builds the binary stamped the way
// the Dockerfile stamps the image (-X main.version, -X main.commit from git),
// so it reports what it runs instead of dev/unknown.
func TestMakeRunStampsTheVersion(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make")
	}
	out, err := exec.Command("make", "-s", "-n", "-C", "../..", "run").CombinedOutput()
	if err != nil {
		t.Fatalf("make -n run: %v\n%s", err, out)
	}
	stamp := regexp.MustCompile(`-X main\.version=(\S+) -X main\.commit=([0-9a-f]{7,}|unknown)"`).FindSubmatch(out)
	if stamp == nil || string(stamp[1]) == "" {
		t.Fatalf("make run builds without the version stamp:\n%s", out)
	}
}

// TestVersionCommand: `usersvc version` (and --version) prints the stamped
// version, the commit and Go's version.
func TestVersionCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildBinaryWith(t, "-ldflags", "-X main.version=v9.9.9 -X main.commit=abc1234")
	for _, arg := range []string{"version", "--version"} {
		out, err := exec.Command(bin, arg).Output()
		if err != nil || !regexp.MustCompile(`^usersvc v9\.9\.9 \(commit abc1234, go1\.\d+`).Match(out) {
			t.Errorf("usersvc %s = %q, %v", arg, out, err)
		}
	}
}
