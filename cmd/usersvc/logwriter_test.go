package main

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/usersvc/usersvc/testsupport/syncbuffer"
)

func TestBufferedLogFlushes(t *testing.T) {
	out := &syncbuffer.Buffer{}
	b := newBufferedLog(out)
	log := newLogger(Config{LogLevel: slog.LevelInfo, LogFormat: "json"}, b)

	log.Info("request")
	if strings.Contains(out.String(), "request") {
		t.Fatal("an info line was written through at once; it should be batched")
	}
	log.Warn("trouble")
	if !strings.Contains(out.String(), "trouble") || !strings.Contains(out.String(), "request") {
		t.Fatalf("a warning must flush the buffer: %q", out.String())
	}
	log.With("k", "v").Info("later")
	deadline := time.Now().Add(2 * time.Second)
	for !strings.Contains(out.String(), "later") {
		if time.Now().After(deadline) {
			t.Fatal("an info line was not flushed within the interval")
		}
		time.Sleep(10 * time.Millisecond)
	}
	log.Info("last words")
	b.close()
	if !strings.Contains(out.String(), "last words") {
		t.Fatal("close lost buffered lines")
	}
}

// TestAuditRecordsAreNotBuffered: an audit record reaches the output when
// it is logged (before the response is written); other info lines may wait.
func TestAuditRecordsAreNotBuffered(t *testing.T) {
	for _, format := range []string{"json", "text"} {
		out := &syncbuffer.Buffer{}
		b := newBufferedLog(out)
		log := newLogger(Config{LogLevel: slog.LevelInfo, LogFormat: format}, b)
		log.Info("request line")
		log.Info("not an audit", "audit", false)
		if strings.Contains(out.String(), "request line") {
			t.Fatalf("%s: an info line was written through at once; it should be batched", format)
		}
		log.LogAttrs(context.Background(), slog.LevelInfo, "audit", slog.Bool("audit", true), slog.String("event", "user_created"))
		if got := out.String(); !strings.Contains(got, "user_created") {
			t.Fatalf("%s: the audit record waits in the buffer: %q", format, got)
		}
		b.close()
	}
}
