package main

import (
	"debug/buildinfo"
	"encoding/json"
	"net/http"
	"os/exec"
	"strings"
	"testing"

	"github.com/usersvc/usersvc/handlers"
)

// wantBuild is what the binary at path must say about itself. The facts come
// from the file, read back by the standard library's debug/buildinfo (what
// `go version -m` prints), not from this test process, whose own build
// differs from the binary's; describeBuild's rule maps them. The rule itself
// is pinned by TestVersionReportsHowItWasBuilt against git and ldflags.
func wantBuild(t *testing.T, path, ldVersion, ldCommit string) handlers.BuildInfo {
	t.Helper()
	info, err := buildinfo.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return describeBuild(ldVersion, ldCommit, info)
}

// TestVersionReportsHowItWasBuilt builds the binary the three ways it is
// built in practice and checks GET /version against what the toolchain
// stamped, and against git itself for the VCS-stamped build.
func TestVersionReportsHowItWasBuilt(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	head, worktree := "", false
	if out, err := exec.Command("git", "rev-parse", "HEAD").Output(); err == nil {
		head = strings.TrimSpace(string(out))
	}
	// In a linked git worktree (.git is a file there) the go command finds
	// no repository to stamp; git names two different directories then.
	if out, err := exec.Command("git", "rev-parse", "--path-format=absolute", "--git-dir", "--git-common-dir").Output(); err == nil {
		dirs := strings.Fields(string(out))
		worktree = len(dirs) == 2 && dirs[0] != dirs[1]
	}
	cases := []struct {
		name                string
		flags               []string
		needsGit            bool
		ldVersion, ldCommit string
		wantCommit          string // "" = no fixed expectation beyond wantBuild
	}{
		{name: "no VCS stamp", flags: []string{"-buildvcs=false"}, ldVersion: "dev", ldCommit: "unknown", wantCommit: "unknown"},
		{name: "VCS stamp (a plain go build in a git checkout)", flags: []string{"-buildvcs=true"}, needsGit: true, ldVersion: "dev", ldCommit: "unknown", wantCommit: head},
		// The binary every other test starts: built as a newcomer's plain
		// go build would be, whatever GOFLAGS or the go env file say.
		{name: "no flags (the binary the other tests start)", needsGit: true, ldVersion: "dev", ldCommit: "unknown", wantCommit: head},
		{name: "ldflags (the Dockerfile)", flags: []string{"-buildvcs=false", "-ldflags=-X main.version=v1.2.3 -X main.commit=abc1234"}, ldVersion: "v1.2.3", ldCommit: "abc1234", wantCommit: "abc1234"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.needsGit && head == "" {
				t.Skip("not a git checkout (or no git): nothing to stamp")
			}
			path := buildBinaryWith(t, tc.flags...)
			want := wantBuild(t, path, tc.ldVersion, tc.ldCommit)
			if tc.needsGit && worktree {
				// /version then rightly says "unknown", which the other rows
				// cover.
				t.Skip("a git worktree: the go command stamps no VCS information here")
			}
			if want.Commit != tc.wantCommit {
				t.Fatalf("the toolchain stamped commit %q, want %q", want.Commit, tc.wantCommit)
			}
			_, addr := startBinaryAt(t, path, "AUTH_DISABLED=true", "EMBEDDED_DB_PATH="+t.TempDir()+"/u.db")
			resp, err := http.Get("http://" + addr + "/version")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var got handlers.BuildInfo
			if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Fatalf("/version = %+v, want %+v", got, want)
			}
		})
	}
}
