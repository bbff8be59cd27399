// Package repocheck holds tests of the repository itself: what a container
// build receives, and what may be committed.
package repocheck

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// root is the repository's top directory.
func root(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Skipf("not a git checkout: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// tracked lists the files git tracks, relative to the root.
func tracked(t *testing.T, dir string) []string {
	t.Helper()
	cmd := exec.Command("git", "ls-files", "-z")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, f := range bytes.Split(out, []byte{0}) {
		if len(f) > 0 {
			files = append(files, string(f))
		}
	}
	return files
}

// TestImageBuildContextBuilds: the Dockerfile copies the build context
// (COPY . .) and builds ./cmd/usersvc. The context is the tree less what
// .dockerignore excludes, by Docker's own rules (github.com/moby/
// patternmatcher, which BuildKit uses); the binary must build from exactly
// that, or the image cannot be built.
func TestImageBuildContextBuilds(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := root(t)
	f, err := os.Open(filepath.Join(dir, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	patterns, err := ignorefile.ReadAll(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		t.Fatal(err)
	}
	ctxDir := t.TempDir()
	sent := 0
	for _, rel := range tracked(t, dir) {
		excluded, err := pm.MatchesOrParentMatches(filepath.ToSlash(rel))
		if err != nil {
			t.Fatal(err)
		}
		if excluded {
			continue
		}
		if err := copyFile(filepath.Join(dir, rel), filepath.Join(ctxDir, rel)); err != nil {
			t.Fatal(err)
		}
		sent++
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", filepath.Join(t.TempDir(), "usersvc"), "./cmd/usersvc")
	build.Dir = ctxDir
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=readonly", "GOWORK=off")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building ./cmd/usersvc from the %d files the image build receives failed: %v\n%s", sent, err, out)
	}
}

func copyFile(from, to string) error {
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return err
	}
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// maxTracked is the largest file the repository holds outside testdata.
const maxTracked = 1 << 20

// TestNoBuildOutputsCommitted: no tracked file is an executable binary, and
// none outside a testdata directory is over 1 MiB (build outputs belong in
// .gitignore).
func TestNoBuildOutputsCommitted(t *testing.T) {
	dir := root(t)
	for _, rel := range tracked(t, dir) {
		path := filepath.Join(dir, rel)
		info, err := os.Lstat(path)
		if err != nil || !info.Mode().IsRegular() {
			continue // deleted in the work tree, or a link
		}
		if info.Size() > maxTracked && !strings.Contains("/"+filepath.ToSlash(rel), "/testdata/") {
			t.Errorf("%s is %d bytes: over 1 MiB and not test data", rel, info.Size())
		}
		head := make([]byte, 4)
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		n, _ := io.ReadFull(f, head)
		f.Close()
		if isExecutable(head[:n]) {
			t.Errorf("%s is an executable binary", rel)
		}
	}
}

// isExecutable recognises ELF, Mach-O and PE (Windows) headers.
func isExecutable(head []byte) bool {
	for _, magic := range [][]byte{
		{0x7f, 'E', 'L', 'F'},
		{0xcf, 0xfa, 0xed, 0xfe}, {0xce, 0xfa, 0xed, 0xfe}, {0xfe, 0xed, 0xfa, 0xcf}, {0xca, 0xfe, 0xba, 0xbe},
		{'M', 'Z'},
	} {
		if bytes.HasPrefix(head, magic) {
			return true
		}
	}
	return false
}
