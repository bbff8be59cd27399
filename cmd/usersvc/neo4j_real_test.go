package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/usersvc/usersvc/testsupport/neo4jserver"
	"github.com/usersvc/usersvc/testsupport/oktaapi"
	"github.com/usersvc/usersvc/testsupport/syncbuffer"
)

// The tests of this file drive the built binary against the real Neo4j
// (testsupport/neo4jserver; USERSVC_NEO4J_VERSION=4.4 for the 4.4 series).

// neo4jProcess is one usersvc process on the real Neo4j.
type neo4jProcess struct {
	cmd    *exec.Cmd
	base   string
	logs   *syncbuffer.Buffer
	exited chan struct{} // closed once Wait returned
}

// neo4jCommand is the binary with args, on srv, auth off, metrics on a
// loopback port of its own; Pdeathsig kills it with the test binary.
func neo4jCommand(t *testing.T, srv *neo4jserver.Server, args []string, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(buildBinary(t), args...)
	cmd.Env = append(append([]string{"AUTH_DISABLED=true", "METRICS_ADDR=127.0.0.1:0"}, proxyEnv(srv, boltAddr(srv))...), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// startOnNeo4j starts a server process and waits until /readyz is 200,
// which it is only once the schema step has run.
func startOnNeo4j(t *testing.T, srv *neo4jserver.Server, env ...string) *neo4jProcess {
	t.Helper()
	addr := freePort(t)
	p := &neo4jProcess{cmd: neo4jCommand(t, srv, nil, append([]string{"LISTEN_ADDR=" + addr}, env...)...),
		base: "http://" + addr, logs: &syncbuffer.Buffer{Limit: 16 << 20}, exited: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() { _ = p.cmd.Process.Kill(); <-p.exited })
	deadline := time.Now().Add(60 * time.Second)
	for {
		if resp, err := http.Get(p.base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		select {
		case <-p.exited:
			t.Fatalf("usersvc exited before ready (%v):\n%s", p.cmd.ProcessState, p.logs)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("usersvc not ready in 60s:\n%s", p.logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop ends the process with SIGTERM and wants exit 0.
func (p *neo4jProcess) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("still running 30s after SIGTERM:\n%s", p.logs)
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit %d after SIGTERM:\n%s", code, p.logs)
	}
}

// auditKeys counts the audit records of source for each key.
func (p *neo4jProcess) auditKeys(source string) map[string]int {
	out := map[string]int{}
	sc := bufio.NewScanner(strings.NewReader(p.logs.String()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var rec struct {
			Audit  bool   `json:"audit"`
			Key    string `json:"key"`
			Source string `json:"source"`
		}
		if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Audit && rec.Source == source {
			out[rec.Key]++
		}
	}
	return out
}

// schemaListing lists the constraints and the indexes (but the built-in
// token lookups) as name, type, labels and properties, sorted.
func schemaListing(t *testing.T, srv *neo4jserver.Server) []string {
	t.Helper()
	var out []string
	for _, q := range []string{
		"SHOW CONSTRAINTS YIELD name, type, labelsOrTypes, properties RETURN 'constraint', name, type, labelsOrTypes, properties",
		"SHOW INDEXES YIELD name, type, labelsOrTypes, properties WHERE type <> 'LOOKUP' RETURN 'index', name, type, labelsOrTypes, properties",
	} {
		for _, r := range cypher(t, srv, q, nil) {
			out = append(out, strings.TrimSpace(fmt.Sprintln(r.Values...)))
		}
	}
	slices.Sort(out)
	return out
}

// graphState is every node with its labels and properties, and the schema.
func graphState(t *testing.T, srv *neo4jserver.Server) string {
	t.Helper()
	var nodes []string
	for _, r := range cypher(t, srv, "MATCH (n) RETURN labels(n), properties(n)", nil) {
		nodes = append(nodes, strings.TrimSpace(fmt.Sprintln(r.Values...)))
	}
	slices.Sort(nodes)
	return fmt.Sprintf("nodes %v\nschema %v", nodes, schemaListing(t, srv))
}

func countNodes(t *testing.T, srv *neo4jserver.Server, query string, params map[string]any) int64 {
	t.Helper()
	n, _ := cypher(t, srv, query, params)[0].Values[0].(int64)
	return n
}

// TestBinaryNeo4jSchemaAtStart: the User.key uniqueness constraint and the
// user_id and okta_id indexes are created at start, once however often the
// service starts. A graph where two User nodes share a key gets nothing:
// the service exits 2 with one line naming the key, the graph unchanged.
func TestBinaryNeo4jSchemaAtStart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the binary and Neo4j")
	}
	srv := cleanNeo4j(t)
	var first []string
	for start := range 2 {
		startOnNeo4j(t, srv).stop(t)
		got := schemaListing(t, srv)
		// Each once, on its label and property: the User.key constraint
		// by whatever name (databuilder creates it unnamed), the indexes
		// by theirs. A uniqueness constraint owns an index of its own.
		for _, want := range []struct{ kind, name, on string }{
			{"constraint", "", "[User] [key]"},
			{"index", "", "[User] [key]"},
			{"index", "user_user_id", "[User] [user_id]"},
			{"index", "user_okta_id", "[User] [okta_id]"},
			{"constraint", "", "[SyncLease] [key]"},
		} {
			var matched []string
			for _, line := range got {
				if strings.HasPrefix(line, want.kind+" ") && strings.HasSuffix(line, " "+want.on) {
					matched = append(matched, line)
				}
			}
			if len(matched) != 1 || want.name != "" && !strings.HasPrefix(matched[0], want.kind+" "+want.name+" ") {
				t.Errorf("start %d: %s %s on %s: %q in %q, want it once", start+1, want.kind, want.name, want.on, matched, got)
			}
			if want.kind == "constraint" && len(matched) == 1 && !strings.Contains(matched[0], "UNIQUE") {
				t.Errorf("start %d: %q is no uniqueness constraint", start+1, matched[0])
			}
		}
		if start == 0 {
			first = got
		} else if !slices.Equal(got, first) {
			t.Errorf("the second start changed the schema:\nfirst  %q\nsecond %q", first, got)
		}
	}

	neo4jserver.Clean(t, srv)
	cypher(t, srv, `CREATE (:User {key: 'twice@example.com', first_name: 'One'}), (:User {key: 'twice@example.com', first_name: 'Two'}),
		(:User {key: 'once@example.com', first_name: 'Once'})`, nil)
	before := graphState(t, srv)
	cmd := neo4jCommand(t, srv, nil, "LISTEN_ADDR="+freePort(t))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var err error
	select {
	case err = <-exited:
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
		t.Fatalf("still running 60s after start on a graph with duplicate keys:\n%s\n%s", stdout.String(), stderr.String())
	}
	if cmd.ProcessState.ExitCode() != exitConfig {
		t.Fatalf("exit = %v, want 2\nstdout %s\nstderr %s", err, stdout.String(), stderr.String())
	}
	if lines := strings.Split(strings.TrimSpace(stderr.String()), "\n"); len(lines) != 1 || !strings.Contains(lines[0], `"twice@example.com"`) {
		t.Fatalf("stderr = %q, want one line naming twice@example.com", stderr.String())
	}
	if after := graphState(t, srv); after != before {
		t.Fatalf("the refused start changed the graph:\nbefore %s\nafter  %s", before, after)
	}
	t.Logf("refused: %s", strings.TrimSpace(stderr.String()))
}

// concurrentClient holds a connection per request.
func concurrentClient(t *testing.T) *http.Client {
	tr := &http.Transport{MaxIdleConnsPerHost: 1024}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 60 * time.Second}
}

// fire sends n requests at once, request i built by req(i), and returns
// each status and body.
func fire(t *testing.T, client *http.Client, n int, req func(i int) *http.Request) ([]int, []string) {
	t.Helper()
	codes, bodies := make([]int, n), make([]string, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := req(i)
			<-start
			resp, err := client.Do(r)
			if err != nil {
				bodies[i] = err.Error()
				return
			}
			data, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			codes[i], bodies[i] = resp.StatusCode, string(data)
		}()
	}
	close(start)
	wg.Wait()
	return codes, bodies
}

// statusCounts is how many answers had each status (0: no answer).
func statusCounts(codes []int) map[int]int {
	out := map[int]int{}
	for _, c := range codes {
		out[c]++
	}
	return out
}

// storeFailures counts the distinct errors of the process's "dependency
// failure" records: why the store answered 503.
func (p *neo4jProcess) storeFailures() map[string]int {
	out := map[string]int{}
	for _, l := range strings.Split(p.logs.String(), "\n") {
		var rec struct{ Msg, Error string }
		if json.Unmarshal([]byte(l), &rec) == nil && rec.Msg == "dependency failure" {
			out[rec.Error]++
		}
	}
	return out
}

// TestBinaryNeo4jConcurrentFirstRequests: 500 simultaneous first requests
// for one directory person all answer 200 and leave exactly one node, at
// the default time budgets (the requests share their graph reads, so the
// one lookup does not queue behind 1,000 of them).
func TestBinaryNeo4jConcurrentFirstRequests(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the binary and Neo4j")
	}
	srv := cleanNeo4j(t)
	p := startOnNeo4j(t, srv, "DIRECTORY_FILE="+exampleDirectory(t))
	const n = 500
	began := time.Now()
	codes, bodies := fire(t, concurrentClient(t), n, func(int) *http.Request {
		r, _ := http.NewRequest(http.MethodGet, p.base+"/user/marie.curie@example.com", nil)
		return r
	})
	t.Logf("%d requests answered in %s: %v", n, time.Since(began).Round(time.Millisecond), statusCounts(codes))
	for i := range n {
		if codes[i] != http.StatusOK || !strings.Contains(bodies[i], `"email":"marie.curie@example.com"`) {
			t.Fatalf("request %d: %d %s\nanswers %v\nstore failures %v", i, codes[i], bodies[i], statusCounts(codes), p.storeFailures())
		}
	}
	if got := countNodes(t, srv, "MATCH (u:User) RETURN count(u)", nil); got != 1 {
		t.Fatalf("%d User nodes after %d first requests, want 1", got, n)
	}
	if got := countNodes(t, srv, "MATCH (u:User {key: 'marie.curie@example.com', okta_id: '00u1marie0000000001'}) RETURN count(u)", nil); got != 1 {
		t.Fatalf("the node is not Marie's: %d", got)
	}
	if w := p.auditKeys("file")["marie.curie@example.com"]; w != 1 {
		t.Fatalf("%d resolution writes, want 1", w)
	}
}

// TestBinaryNeo4jPutRacesResolution: a PUT /user with a person's full body
// and the first GET of that person, sent together, for every person of the
// example directory with an email of their own, round after round: one node
// per person, every field the PUT sent, and the directory id whenever the
// resolution wrote.
func TestBinaryNeo4jPutRacesResolution(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the binary and Neo4j")
	}
	srv := cleanNeo4j(t)
	p := startOnNeo4j(t, srv, "DIRECTORY_FILE="+exampleDirectory(t))
	client := concurrentClient(t)
	// The login-keyed people (a shared email) and the one whose login is
	// not their email are keyed by other rules; the race is the same.
	var emails []string
	for _, e := range []string{"marie.curie", "alan.turing", "katherine.johnson", "ada.lovelace", "dorothy.vaughan",
		"srinivasa.ramanujan", "emilie.duchatelet", "na.li", "soren.kierkegaard", "zoe.odegaard", "john.vonneumann",
		"hedy.lamarr", "barbara.liskov", "edsger.dijkstra", "margaret.hamilton", "claude.shannon", "frances.allen"} {
		emails = append(emails, e+"@example.com")
	}
	// What the directory alone writes for each person.
	directory := map[string]map[string]any{}
	for _, email := range emails {
		resp, body := call(t, http.MethodGet, p.base+"/user/"+email, "", "")
		var u map[string]any
		if err := json.Unmarshal([]byte(body), &u); resp.StatusCode != http.StatusOK || err != nil {
			t.Fatalf("GET %s = %d %s", email, resp.StatusCode, body)
		}
		for _, f := range []string{"github_username", "slack_id"} {
			if u[f] != nil {
				t.Fatalf("%s: the directory fills %s; the PUT's own fields must be ones it leaves empty", email, f)
			}
		}
		directory[email] = u
	}

	const rounds = 8
	var bothWrote, putFirst, resolvedFirst int
	for round := range rounds {
		cypher(t, srv, "MATCH (u:User) DETACH DELETE u", nil)
		resolvedBefore := p.auditKeys("file")
		// The full body: the directory's values (so that neither order
		// decides them) and two fields only the PUT has. No
		// other_key_values: a client does not know the directory id.
		puts := map[string]map[string]any{}
		for i, email := range emails {
			body := map[string]any{}
			for k, v := range directory[email] {
				if k != "other_key_values" {
					body[k] = v
				}
			}
			body["github_username"] = fmt.Sprintf("gh-%d-%d", round, i)
			body["slack_id"] = fmt.Sprintf("U%02d%02d", round, i)
			puts[email] = body
		}
		codes, bodies := fire(t, client, 2*len(emails), func(i int) *http.Request {
			email := emails[i/2]
			if i%2 == 0 {
				r, _ := http.NewRequest(http.MethodGet, p.base+"/user/"+email, nil)
				return r
			}
			data, _ := json.Marshal(puts[email])
			r, _ := http.NewRequest(http.MethodPut, p.base+"/user", bytes.NewReader(data))
			r.Header.Set("Content-Type", "application/json")
			return r
		})
		resolved := p.auditKeys("file")
		for i, email := range emails {
			get, put := codes[2*i], codes[2*i+1]
			if get != http.StatusOK || (put != http.StatusOK && put != http.StatusCreated) {
				t.Fatalf("round %d, %s: GET %d %s, PUT %d %s", round, email, get, bodies[2*i], put, bodies[2*i+1])
			}
			if n := countNodes(t, srv, "MATCH (u:User) WHERE u.key = $email OR u.email = $email RETURN count(u)", map[string]any{"email": email}); n != 1 {
				t.Fatalf("round %d, %s: %d nodes", round, email, n)
			}
			resp, body := call(t, http.MethodGet, p.base+"/user/"+email, "", "")
			var got map[string]any
			if err := json.Unmarshal([]byte(body), &got); resp.StatusCode != http.StatusOK || err != nil {
				t.Fatalf("round %d, %s: GET after = %d %s", round, email, resp.StatusCode, body)
			}
			for k, v := range puts[email] {
				if fmt.Sprint(got[k]) != fmt.Sprint(v) {
					t.Errorf("round %d, %s: %s = %v, the PUT sent %v", round, email, k, got[k], v)
				}
			}
			wrote := resolved[email] > resolvedBefore[email]
			okta := directory[email]["other_key_values"].(map[string]any)["okta_id"]
			gotOther, _ := got["other_key_values"].(map[string]any)
			if wrote && gotOther["okta_id"] != okta {
				t.Errorf("round %d, %s: the resolution wrote okta_id %v, the node has %v", round, email, okta, got["other_key_values"])
			}
			switch {
			case !wrote:
				putFirst++ // the GET found the PUT's node: nothing to resolve
			case put == http.StatusOK:
				resolvedFirst++
				bothWrote++
			default:
				bothWrote++
			}
		}
		if t.Failed() {
			t.FailNow()
		}
	}
	if got := countNodes(t, srv, "MATCH (u:User) RETURN count(u)", nil); got != int64(len(emails)) {
		t.Fatalf("%d User nodes, want %d", got, len(emails))
	}
	t.Logf("%d races: both wrote %d (resolution first %d), GET served the PUT's node %d", rounds*len(emails), bothWrote, resolvedFirst, putFirst)
	if bothWrote == 0 {
		t.Fatal("no race had both writers write: the test did not race them")
	}
}

// TestBinaryNeo4jReplicasShareFirstRequests: three processes on one Neo4j
// and one Okta org share 500 simultaneous first requests for one person
// (round-robin): all 200, one node, and at most one directory lookup per
// process. A lookup of an email is one GET by login plus one email search
// (okta.Directory.LookupUser: they run side by side), so at most
// three lookups are at most six API calls.
func TestBinaryNeo4jReplicasShareFirstRequests(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the binary and Neo4j")
	}
	srv := cleanNeo4j(t)
	org := oktaapi.New(t, oktaapi.WithSSWSToken("00ssws"))
	org.AddUsers(oktaapi.NewUser("00u1ada", "ada@example.com", "ada@example.com", "Ada", "Lovelace", "ACTIVE"))
	// Slow enough that requests keep arriving while the lookups run.
	org.SetLatency(200 * time.Millisecond)
	var procs []*neo4jProcess
	for range 3 {
		procs = append(procs, startOnNeo4j(t, srv, oktaEnv(org)...))
	}
	const n = 500
	began := time.Now()
	codes, bodies := fire(t, concurrentClient(t), n, func(i int) *http.Request {
		r, _ := http.NewRequest(http.MethodGet, procs[i%len(procs)].base+"/user/ada@example.com", nil)
		return r
	})
	t.Logf("%d requests answered in %s: %v", n, time.Since(began).Round(time.Millisecond), statusCounts(codes))
	for i := range n {
		if codes[i] != http.StatusOK || !strings.Contains(bodies[i], `"full_name":"Ada Lovelace"`) {
			p := procs[i%len(procs)]
			t.Fatalf("request %d (process %d): %d %s\nanswers %v\nstore failures %v", i, i%len(procs), codes[i], bodies[i], statusCounts(codes), p.storeFailures())
		}
	}
	if got := countNodes(t, srv, "MATCH (u:User) RETURN count(u)", nil); got != 1 {
		t.Fatalf("%d User nodes, want 1", got)
	}
	lookups := org.Count(func(r oktaapi.Request) bool {
		p, _ := url.PathUnescape(r.Path)
		return r.Method == http.MethodGet && p == "/api/v1/users/ada@example.com"
	})
	searches := org.Count(func(r oktaapi.Request) bool {
		return r.Path == "/api/v1/users" && strings.Contains(r.Search, "profile.email")
	})
	calls := org.Count(oktaapi.IsAPI)
	t.Logf("%d lookups (%d GETs by login, %d email searches, %d API calls in all)", lookups, lookups, searches, calls)
	if lookups < 1 || lookups > len(procs) {
		t.Fatalf("%d lookups, want 1 to %d", lookups, len(procs))
	}
	if searches > lookups || calls != lookups+searches || calls > 2*len(procs) {
		t.Fatalf("%d API calls (%d searches) for %d lookups, want at most 2 per lookup", calls, searches, lookups)
	}
	writes := 0
	for i, p := range procs {
		w := p.auditKeys("okta")["ada@example.com"]
		if w > 1 {
			t.Errorf("process %d wrote the person %d times", i, w)
		}
		writes += w
	}
	if writes != lookups {
		t.Errorf("%d resolution writes for %d lookups", writes, lookups)
	}
}

// TestBinaryNeo4jSyncLease: two `usersvc sync` started together on one
// Neo4j and one org: one syncs (0), the other is turned away (4). Then a
// holder is killed (SIGKILL) mid-run: its lease keeps others out until it
// expires (SYNC_LEASE_TTL, 1m at the least), then the next run takes it.
func TestBinaryNeo4jSyncLease(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the binary and Neo4j")
	}
	srv := cleanNeo4j(t)
	org := oktaapi.New(t, oktaapi.WithSSWSToken("00ssws"))
	org.AddUsers(syncPeople(600, "ACTIVE", syncStart)...)
	org.SetLatency(250 * time.Millisecond) // each run takes seconds
	env := append([]string{"SYNC_LEASE_TTL=1m", "LOG_FORMAT=text"}, oktaEnv(org)...)
	runSync := func(args ...string) (int, string) {
		cmd := neo4jCommand(t, srv, append([]string{"sync"}, args...), env...)
		var out syncbuffer.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		if _, ok := err.(*exec.ExitError); err != nil && !ok {
			t.Fatal(err)
		}
		return cmd.ProcessState.ExitCode(), out.String()
	}

	began := time.Now()
	var wg sync.WaitGroup
	codes, outs := make([]int, 2), make([]string, 2)
	for i := range codes {
		wg.Add(1)
		go func() { defer wg.Done(); codes[i], outs[i] = runSync() }()
	}
	wg.Wait()
	t.Logf("two runners together: done in %s", time.Since(began).Round(100*time.Millisecond))
	slices.Sort(codes)
	if !slices.Equal(codes, []int{exitOK, exitLeaseHeld}) {
		t.Fatalf("exit codes %v, want one 0 and one 4\n%s\n%s", codes, outs[0], outs[1])
	}
	if got := countNodes(t, srv, "MATCH (u:User) RETURN count(u)", nil); got != 600 {
		t.Fatalf("%d User nodes after the sync, want 600", got)
	}

	// A holder killed mid-run.
	holder := neo4jCommand(t, srv, []string{"sync", "--full"}, env...)
	var holderOut syncbuffer.Buffer
	holder.Stdout, holder.Stderr = &holderOut, &holderOut
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	held := make(chan struct{})
	go func() { _ = holder.Wait(); close(held) }()
	t.Cleanup(func() { _ = holder.Process.Kill(); <-held })
	owner := "-" + strconv.Itoa(holder.Process.Pid)
	deadline := time.Now().Add(30 * time.Second)
	for {
		recs := cypher(t, srv, "MATCH (l:SyncLease {key: 'okta'}) RETURN l.owner, l.expires_ms", nil)
		if len(recs) == 1 {
			if o, _ := recs[0].Values[0].(string); strings.HasSuffix(o, owner) {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the holder did not take the lease in 30s:\n%s", holderOut.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	select {
	case <-held:
		t.Fatalf("the holder finished before it could be killed:\n%s", holderOut.String())
	default:
	}
	if err := holder.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-held
	killed := time.Now()
	// The dead holder's lease (renewed at most once since: a quarter TTL
	// had not passed) still stands.
	recs := cypher(t, srv, "MATCH (l:SyncLease {key: 'okta'}) RETURN l.owner, l.expires_ms", nil)
	if o, _ := recs[0].Values[0].(string); !strings.HasSuffix(o, owner) {
		t.Fatalf("lease owner after the kill = %q, want the killed holder", o)
	}
	expires, _ := recs[0].Values[1].(int64)
	org.SetLatency(0)
	if code, out := runSync(); code != exitLeaseHeld {
		t.Fatalf("sync while the dead holder's lease stands: exit %d, want 4\n%s", code, out)
	}
	wait := time.Until(time.UnixMilli(expires))
	t.Logf("killed holder's lease expires in %s", wait.Round(time.Millisecond))
	time.Sleep(wait + 100*time.Millisecond)
	code, out := runSync()
	if code != exitOK || !strings.Contains(out, "fetched 600") {
		t.Fatalf("sync after the lease expired: exit %d, want 0\n%s", code, out)
	}
	t.Logf("the next run took the lease %s after the kill", time.Since(killed).Round(time.Second))
	// A finished run releases its lease: the node is gone.
	if recs := cypher(t, srv, "MATCH (l:SyncLease {key: 'okta'}) RETURN l.owner", nil); len(recs) != 0 {
		t.Fatalf("lease after the last run = %v, want released", recs[0].Values)
	}
	if got := countNodes(t, srv, "MATCH (u:User) RETURN count(u)", nil); got != 600 {
		t.Fatalf("%d User nodes, want 600", got)
	}
}
