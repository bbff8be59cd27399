package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/usersvc/usersvc/handlers"
)

// viaSlog is the reference: the record through slog's own JSON handler, as
// handlers.SlogAccessLog writes it.
func viaSlog(t testing.TB, r handlers.AccessRecord) string {
	var buf bytes.Buffer
	handlers.SlogAccessLog{Handler: slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})}.LogRequest(context.Background(), r)
	return buf.String()
}

func viaWriter(t testing.TB, r handlers.AccessRecord) string {
	var buf bytes.Buffer
	l := newJSONAccessLog(&buf, slog.LevelDebug, func() {})
	l.LogRequest(context.Background(), r)
	return buf.String()
}

func accessRecord(path, method, requestID string) handlers.AccessRecord {
	return handlers.AccessRecord{Time: time.Date(2026, 12, 1, 9, 30, 0, 123456789, time.UTC), Level: slog.LevelInfo,
		Method: method, Route: "/user/:id", Path: path, Status: 200, Duration: 1234567 * time.Nanosecond, Bytes: 312, RequestID: requestID}
}

// TestJSONAccessLogMatchesSlog: the cheap writer's lines are slog's, byte
// for byte, for hostile paths too (the path is the caller's, decoded).
func TestJSONAccessLogMatchesSlog(t *testing.T) {
	paths := []string{
		"/user/ada@example.com",
		`/user/"quoted"\back\slash`,
		"/user/tab\tnew\nline\rcr",
		"/user/\x00\x01\x1f\x7f",
		"/user/<script>&amp;</script>",
		"/user/\u2028\u2029",
		"/user/\xff\xfe invalid \xc3",
		"/user/日本語-ünïcode-😀",
		"/user/" + strings.Repeat("x", 300) + "…",
		"",
	}
	for _, p := range paths {
		for _, level := range []slog.Level{slog.LevelInfo, slog.LevelError} {
			r := accessRecord(p, "GET", "0123456789abcdef0123456789abcdef")
			r.Level = level
			if level == slog.LevelError {
				r.Status, r.Method, r.Route = 503, "PROPFIND\x00", "unmatched"
			}
			if got, want := viaWriter(t, r), viaSlog(t, r); got != want {
				t.Errorf("path %q level %s:\ngot  %s\nwant %s", p, level, got, want)
			}
		}
	}
	// The local zone's offset, as slog writes it.
	r := accessRecord("/user/x", "GET", "id")
	r.Time = time.Date(2026, 12, 1, 9, 30, 0, 0, time.FixedZone("CET", 3600))
	if got, want := viaWriter(t, r), viaSlog(t, r); got != want {
		t.Errorf("zone:\ngot  %s\nwant %s", got, want)
	}
}

func FuzzJSONAccessLog(f *testing.F) {
	f.Add("/user/ada@example.com", "GET", "abc")
	f.Add("/user/\xff\u2028\"\\", "PUT", "x\ty")
	f.Fuzz(func(t *testing.T, path, method, id string) {
		r := accessRecord(path, method, id)
		if got, want := viaWriter(t, r), viaSlog(t, r); got != want {
			t.Fatalf("got  %s\nwant %s", got, want)
		}
	})
}

// TestJSONAccessLogLevels: LOG_LEVEL drops info records, never errors, and
// errors reach the output at once (as flushOnLevel does for slog records).
func TestJSONAccessLogLevels(t *testing.T) {
	var out bytes.Buffer
	b := newBufferedLog(&out)
	defer b.close()
	l := newAccessLog(Config{LogFormat: "json", LogLevel: slog.LevelWarn}, b)
	ctx := context.Background()
	if l.Enabled(ctx, slog.LevelInfo) || !l.Enabled(ctx, slog.LevelError) {
		t.Fatal("LOG_LEVEL=warn: info must be off, error on")
	}
	r := accessRecord("/user/x", "GET", "id")
	r.Level, r.Status = slog.LevelError, 500
	l.LogRequest(ctx, r)
	b.mu.Lock()
	got := out.String()
	b.mu.Unlock()
	if !strings.Contains(got, `"level":"ERROR","msg":"request"`) {
		t.Fatalf("an error record waited for the flusher: %q", got)
	}
	if newAccessLog(Config{LogFormat: "text"}, b) != nil {
		t.Fatal("text logs go through slog")
	}
}

// BenchmarkAccessLog compares the writer with the record through slog's
// JSON handler (what Deps.Logger would do), both into io.Discard.
func BenchmarkAccessLog(b *testing.B) {
	r := accessRecord("/user/ada@example.com", "GET", "0123456789abcdef0123456789abcdef")
	ctx := context.Background()
	b.Run("slog-json-handler", func(b *testing.B) {
		l := handlers.SlogAccessLog{Handler: slog.NewJSONHandler(io.Discard, nil)}
		b.ReportAllocs()
		for b.Loop() {
			l.LogRequest(ctx, r)
		}
	})
	b.Run("json-access-log", func(b *testing.B) {
		l := newJSONAccessLog(io.Discard, slog.LevelInfo, func() {})
		b.ReportAllocs()
		for b.Loop() {
			l.LogRequest(ctx, r)
		}
	})
}
