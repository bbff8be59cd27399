package main

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/usersvc/usersvc/oidcuser"
)

func TestSyncProgress(t *testing.T) {
	var out, logs bytes.Buffer
	for _, tty := range []bool{true, false} {
		out.Reset()
		logs.Reset()
		clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		p := &progress{log: slog.New(slog.NewTextHandler(&logs, nil)), now: func() time.Time { return clock }}
		if tty {
			p.term = &terminal{w: &out}
		}
		p.report(oidcuser.SyncProgress{Phase: "fetch", Done: 0})
		for done := 100; done <= 1000; done += 100 {
			clock = clock.Add(time.Second)
			p.report(oidcuser.SyncProgress{Phase: "fetch", Done: done})
		}
		p.report(oidcuser.SyncProgress{Phase: "write", Done: 0, Total: 1000})
		for done := 50; done <= 1000; done += 50 {
			clock = clock.Add(time.Second)
			p.report(oidcuser.SyncProgress{Phase: "write", Done: done, Total: 1000})
		}
		if tty {
			for _, want := range []string{"\rfetch 1000  100 users/s\x1b[K", "\rwrite 500/1000 (50%)  50 users/s  ETA 10s\x1b[K", "\rwrite 1000/1000 (100%)  50 users/s\x1b[K\n"} {
				if !strings.Contains(out.String(), want) {
					t.Fatalf("terminal output lacks %q:\n%q", want, out.String())
				}
			}
			if !strings.HasSuffix(out.String(), "\n") || logs.Len() != 0 {
				t.Fatalf("terminal run: output %q, logs %q", out.String(), logs.String())
			}
			continue
		}
		// Elsewhere: structured records every 5s (and the last one), no bar.
		if out.Len() != 0 || !strings.Contains(logs.String(), "phase=write done=1000 total=1000 per_second=50") {
			t.Fatalf("non-terminal run: output %q, logs:\n%s", out.String(), logs.String())
		}
		if n := strings.Count(logs.String(), "sync progress"); n < 5 || n > 10 {
			t.Fatalf("%d progress records for a 30s run, want one every 5s", n)
		}
	}
}

// TestTerminalKeepsLogsOffTheProgressLine: a log record clears the progress
// line rather than being appended to it.
func TestTerminalKeepsLogsOffTheProgressLine(t *testing.T) {
	var out bytes.Buffer
	term := &terminal{w: &out}
	term.draw("write 5/10", false)
	_, _ = term.Write([]byte("level=WARN msg=x\n"))
	term.draw("write 10/10", true)
	_, _ = term.Write([]byte("done\n"))
	want := "\rwrite 5/10\x1b[K\r\x1b[Klevel=WARN msg=x\n\rwrite 10/10\x1b[K\ndone\n"
	if out.String() != want {
		t.Fatalf("terminal got %q, want %q", out.String(), want)
	}
}
