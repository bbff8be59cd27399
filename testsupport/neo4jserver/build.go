package neo4jserver

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// The pom and the one class are copied into the cache dir and built there,
// so Maven never writes into the repository.
//
//go:embed java/pom.xml java/TestNeo4j.java
var javaFiles embed.FS

// layout changes whenever build writes different files, to miss old caches.
const layout = "jar+cds"

// buildTimeout bounds a cold build (Maven downloads about 100-130 MB).
const buildTimeout = 15 * time.Minute

// pins maps a series ("5.26") to the patch pinned by the pom's profile
// neo4j-<series>, so the versions live in the pom alone.
func pins() (map[string]string, error) {
	data, err := javaFiles.ReadFile("java/pom.xml")
	if err != nil {
		return nil, err
	}
	var pom struct {
		Profiles []struct {
			ID      string `xml:"id"`
			Version string `xml:"properties>neo4j.version"`
		} `xml:"profiles>profile"`
	}
	if err := xml.Unmarshal(data, &pom); err != nil {
		return nil, fmt.Errorf("neo4jserver: pom.xml: %w", err)
	}
	m := map[string]string{}
	for _, p := range pom.Profiles {
		if series, ok := strings.CutPrefix(p.ID, "neo4j-"); ok && p.Version != "" {
			m[series] = p.Version
		}
	}
	if len(m) == 0 {
		return nil, errors.New("neo4jserver: pom.xml pins no neo4j-<series> profile")
	}
	return m, nil
}

// resolveVersion maps "", a series or a pinned patch to (series, patch).
func resolveVersion(v string) (series, patch string, err error) {
	if v == "" {
		v = os.Getenv("USERSVC_NEO4J_VERSION")
	}
	if v == "" {
		v = DefaultVersion
	}
	m, err := pins()
	if err != nil {
		return "", "", err
	}
	var known []string
	for s, p := range m {
		if v == s || v == p {
			return s, p, nil
		}
		known = append(known, s+" ("+p+")")
	}
	sort.Strings(known)
	return "", "", fmt.Errorf("neo4jserver: unknown Neo4j version %q; pinned: %s", v, strings.Join(known, ", "))
}

// cacheRoot is $USERSVC_NEO4J_CACHE or <user cache dir>/usersvc/neo4j.
func cacheRoot() (string, error) {
	if d := os.Getenv("USERSVC_NEO4J_CACHE"); d != "" {
		return d, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("neo4jserver: no cache dir (set USERSVC_NEO4J_CACHE): %w", err)
	}
	return filepath.Join(d, "usersvc", "neo4j"), nil
}

// Build compiles the launcher for version (as Options.Version) and records
// its class data archive, unless a build of the same pom, source and
// version is cached, and returns its directory, which holds the java
// argument file "java.args". Concurrent builds (two test binaries)
// serialize on a file lock.
func Build(ctx context.Context, version string) (string, error) {
	series, patch, err := resolveVersion(version)
	if err != nil {
		return "", err
	}
	l, err := prepare(ctx, series, patch)
	if err != nil {
		return "", err
	}
	return l.dir, nil
}

func build(ctx context.Context, series, patch string) (string, error) {
	pom, err := javaFiles.ReadFile("java/pom.xml")
	if err != nil {
		return "", err
	}
	src, err := javaFiles.ReadFile("java/TestNeo4j.java")
	if err != nil {
		return "", err
	}
	h := sha256.New()
	for _, b := range [][]byte{[]byte(layout), pom, src, []byte(series), []byte(patch)} {
		fmt.Fprintf(h, "%d:", len(b))
		h.Write(b)
	}
	root, err := cacheRoot()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(root, patch+"-"+hex.EncodeToString(h.Sum(nil))[:16])
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", err
	}
	unlock, err := lockFile(dir + ".lock")
	if err != nil {
		return "", err
	}
	defer unlock()
	if cachedBuildOK(dir) {
		return dir, nil
	}

	if err := os.RemoveAll(dir); err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "pom.xml"), pom, 0o644); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "TestNeo4j.java"), src, 0o644); err != nil {
		return "", err
	}
	mvn, err := exec.LookPath("mvn")
	if err != nil {
		return "", fmt.Errorf("neo4jserver: Maven (mvn) is needed to build the Neo4j test server: %w", err)
	}
	args := []string{"-q", "-B", "-Dstyle.color=never", "-P", "neo4j-" + series,
		"compile", "dependency:build-classpath", "-Dmdep.outputFile=classpath.txt"}
	if repo := os.Getenv("USERSVC_NEO4J_MAVEN_REPO"); repo != "" {
		args = append(args, "-Dmaven.repo.local="+repo)
	}
	bctx, cancel := context.WithTimeout(ctx, buildTimeout)
	defer cancel()
	cmd := exec.CommandContext(bctx, mvn, args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("neo4jserver: mvn %s in %s: %w\n%s", strings.Join(args, " "), dir, err, tail(out.String(), 8000))
	}
	cp, err := os.ReadFile(filepath.Join(dir, "classpath.txt"))
	if err != nil {
		return "", err
	}
	// A class path directory would rule out the CDS archive (see cds.go).
	launcher := filepath.Join(dir, "launcher.jar")
	if err := writeJar(launcher, filepath.Join(dir, "target", "classes")); err != nil {
		return "", err
	}
	classpath := launcher + string(os.PathListSeparator) + strings.TrimSpace(string(cp))
	// A java @argfile keeps the ~200-jar class path off the command line.
	argfile := "-cp\n" + quoteArg(classpath) + "\n"
	if err := os.WriteFile(filepath.Join(dir, "java.args"), []byte(argfile), 0o644); err != nil {
		return "", err
	}
	return dir, os.WriteFile(filepath.Join(dir, "ok"), nil, 0o644)
}

// cachedBuildOK also checks the jars, which live in the Maven repository
// and may have been removed since.
func cachedBuildOK(dir string) bool {
	if _, err := os.Stat(filepath.Join(dir, "ok")); err != nil {
		return false
	}
	cp, err := os.ReadFile(filepath.Join(dir, "classpath.txt"))
	if err != nil {
		return false
	}
	for _, p := range filepath.SplitList(strings.TrimSpace(string(cp))) {
		if _, err := os.Stat(p); err != nil {
			return false
		}
	}
	return true
}

// writeJar zips the launcher's classes; the JVM needs no manifest for a
// class path jar.
func writeJar(jar, classes string) error {
	names, err := filepath.Glob(filepath.Join(classes, "TestNeo4j*.class"))
	if err != nil || len(names) == 0 {
		return fmt.Errorf("neo4jserver: no TestNeo4j classes in %s (%v)", classes, err)
	}
	f, err := os.Create(jar)
	if err != nil {
		return err
	}
	zw := zip.NewWriter(f)
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			f.Close()
			return err
		}
		w, err := zw.Create(filepath.Base(n))
		if err == nil {
			_, err = w.Write(b)
		}
		if err != nil {
			f.Close()
			return err
		}
	}
	if err := zw.Close(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// quoteArg quotes one argument for a java @argfile.
func quoteArg(s string) string {
	s = strings.ReplaceAll(s, `\`, `\\`)
	return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"`
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
