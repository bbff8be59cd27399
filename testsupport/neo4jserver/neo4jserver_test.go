package neo4jserver

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/neo4j/neo4j-go-driver/v5/neo4j"
)

func TestMain(m *testing.M) { os.Exit(Run(m)) }

// TestBuild only builds (or finds cached) the launcher: `make neo4j-deps`
// runs it per version to fill the Maven and build caches ahead of time.
func TestBuild(t *testing.T) {
	start := time.Now()
	dir, err := Build(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "java.args")); err != nil {
		t.Fatal(err)
	}
	t.Logf("launcher in %s (%s)", dir, time.Since(start).Round(time.Millisecond))
}

func TestPinnedVersions(t *testing.T) {
	m, err := pins()
	if err != nil {
		t.Fatal(err)
	}
	for _, series := range []string{"5.26", "4.4"} {
		if !strings.HasPrefix(m[series], series+".") {
			t.Errorf("series %s pinned to %q", series, m[series])
		}
		if s, p, err := resolveVersion(m[series]); err != nil || s != series || p != m[series] {
			t.Errorf("resolveVersion(%q) = %q, %q, %v", m[series], s, p, err)
		}
	}
	if _, _, err := resolveVersion("3.5"); err == nil {
		t.Error("3.5 resolved")
	}
}

func TestServer(t *testing.T) {
	srv := Get(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if srv.PID != 0 {
		t.Logf("Neo4j %s at %s: pid %d, Bolt ready %s after the JVM started, %s",
			srv.Version, srv.URI, srv.PID, srv.startup.Round(time.Millisecond), vmRSS(srv.PID))
	} else {
		t.Logf("external Neo4j %s at %s", srv.Version, srv.URI)
	}

	d, err := neo4j.NewDriverWithContext(srv.URI, neo4j.BasicAuth(srv.User, srv.Password, ""))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close(ctx)
	if err := d.VerifyAuthentication(ctx, nil); err != nil {
		t.Fatalf("right password: %v", err)
	}

	t.Run("wrong password is refused", func(t *testing.T) {
		bad, err := neo4j.NewDriverWithContext(srv.URI, neo4j.BasicAuth(srv.User, srv.Password+"x", ""))
		if err != nil {
			t.Fatal(err)
		}
		defer bad.Close(ctx)
		err = bad.VerifyConnectivity(ctx)
		var nerr *neo4j.Neo4jError
		if !errors.As(err, &nerr) || nerr.Code != "Neo.ClientError.Security.Unauthorized" {
			t.Fatalf("wrong password: got %v, want Neo.ClientError.Security.Unauthorized", err)
		}
	})

	run := func(q string, params map[string]any) (*neo4j.EagerResult, error) {
		return neo4j.ExecuteQuery(ctx, d, q, params, neo4j.EagerResultTransformer)
	}
	mustRun := func(q string, params map[string]any) *neo4j.EagerResult {
		t.Helper()
		res, err := run(q, params)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return res
	}
	names := func(kind string) []string {
		t.Helper()
		var out []string
		for _, r := range mustRun("SHOW "+kind+" YIELD name, type RETURN name, type ORDER BY name", nil).Records {
			if r.Values[1] != "LOOKUP" {
				out = append(out, r.Values[0].(string))
			}
		}
		return out
	}

	Clean(t, srv)
	// FOR ... REQUIRE is the syntax both 4.4 and 5.x accept; ON ... ASSERT
	// is 4.4 only (removed in 5.0).
	mustRun("CREATE CONSTRAINT user_key IF NOT EXISTS FOR (u:User) REQUIRE u.key IS UNIQUE", nil)
	mustRun("CREATE CONSTRAINT user_key IF NOT EXISTS FOR (u:User) REQUIRE u.key IS UNIQUE", nil)
	mustRun("CREATE INDEX user_email IF NOT EXISTS FOR (u:User) ON (u.email)", nil)
	_, err = run("CREATE CONSTRAINT old_syntax IF NOT EXISTS ON (t:Table) ASSERT t.key IS UNIQUE", nil)
	if v4 := strings.HasPrefix(srv.Version, "4."); v4 != (err == nil) {
		t.Errorf("ON ... ASSERT on %s: err %v", srv.Version, err)
	}
	mustRun("DROP CONSTRAINT old_syntax IF EXISTS", nil)

	mustRun("CREATE (:User {key: 'a@example.com', email: 'a@example.com'})-[:FOLLOW]->(:Table {key: 't'})", nil)
	_, err = run("CREATE (:User {key: 'a@example.com'})", nil)
	var nerr *neo4j.Neo4jError
	if !errors.As(err, &nerr) || nerr.Code != "Neo.ClientError.Schema.ConstraintValidationFailed" {
		t.Fatalf("duplicate key: got %v, want ConstraintValidationFailed", err)
	}
	if got := names("CONSTRAINTS"); fmt.Sprint(got) != "[user_key]" {
		t.Fatalf("constraints before Clean: %v", got)
	}
	if got := names("INDEXES"); fmt.Sprint(got) != "[user_email user_key]" {
		t.Fatalf("indexes before Clean: %v", got)
	}

	Clean(t, srv)
	if n := mustRun("MATCH (n) RETURN count(n) AS n", nil).Records[0].Values[0]; n != int64(0) {
		t.Errorf("%v nodes after Clean", n)
	}
	if got := names("CONSTRAINTS"); len(got) != 0 {
		t.Errorf("constraints after Clean: %v", got)
	}
	if got := names("INDEXES"); len(got) != 0 {
		t.Errorf("indexes after Clean: %v", got)
	}
	// Clean leaves a usable schema: the same constraint can be made again.
	mustRun("CREATE CONSTRAINT user_key IF NOT EXISTS FOR (u:User) REQUIRE u.key IS UNIQUE", nil)
	Clean(t, srv)
}

func vmRSS(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return err.Error()
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			return strings.Join(strings.Fields(l), " ")
		}
	}
	return "no VmRSS"
}

const childEnv = "NEO4JSERVER_TEST_CHILD"

// TestChild is the process that TestKilledParentLeavesNoJVM kills: it starts
// a server, prints the JVM's pid and waits to be killed.
func TestChild(t *testing.T) {
	mode := os.Getenv(childEnv)
	if mode == "" {
		t.Skip("run by TestKilledParentLeavesNoJVM")
	}
	srv, err := StartLocal(context.Background(), Options{noPdeathsig: mode == "stdin"})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("JVM %d %s\n", srv.PID, srv.home)
	time.Sleep(10 * time.Minute)
}

// A SIGKILLed test binary must take its JVM with it, through Pdeathsig and,
// without it, through the stdin pipe reaching EOF.
func TestKilledParentLeavesNoJVM(t *testing.T) {
	for _, mode := range []string{"pdeathsig", "stdin"} {
		t.Run(mode, func(t *testing.T) {
			child := exec.Command(os.Args[0], "-test.run=^TestChild$", "-test.count=1")
			child.Env = append(os.Environ(), childEnv+"="+mode)
			var stderr bytes.Buffer
			child.Stderr = &stderr
			stdout, err := child.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := child.Start(); err != nil {
				t.Fatal(err)
			}
			// The child's line is "JVM <pid> <home>".
			jvm := make(chan []string, 1)
			var seen bytes.Buffer
			go func() {
				sc := bufio.NewScanner(stdout)
				for sc.Scan() {
					if f := strings.Fields(sc.Text()); len(f) == 3 && f[0] == "JVM" {
						jvm <- f
					}
					seen.WriteString(sc.Text() + "\n")
				}
				close(jvm)
			}()
			var pid int
			select {
			case f := <-jvm:
				if f != nil {
					pid, _ = strconv.Atoi(f[1])
					defer os.RemoveAll(f[2]) // the child never got to Stop
				}
			case <-time.After(buildTimeout + 4*time.Minute):
			}
			if pid == 0 {
				_ = child.Process.Kill()
				_ = child.Wait()
				for range jvm {
				}
				t.Fatalf("child printed no JVM pid:\n%s\n%s", seen.String(), stderr.String())
			}
			if !jvmAlive(pid) {
				t.Fatalf("JVM %d not running before the kill", pid)
			}
			killed := time.Now()
			if err := child.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			_ = child.Wait()
			// Without Pdeathsig Neo4j shuts down cleanly, which can take a while.
			deadline := killed.Add(90 * time.Second)
			for jvmAlive(pid) {
				if time.Now().After(deadline) {
					_ = syscall.Kill(pid, syscall.SIGKILL)
					t.Fatalf("JVM %d still running %s after its parent was killed", pid, time.Since(killed))
				}
				time.Sleep(100 * time.Millisecond)
			}
			t.Logf("JVM %d gone %s after its parent was SIGKILLed", pid, time.Since(killed).Round(time.Millisecond))
		})
	}
}
