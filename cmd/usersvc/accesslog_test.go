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
}

// TestJSONAccessLogTimes: RFC 3339 with nanoseconds as slog writes it,
// through the writer's per-second cache: fractions with and without
// trailing zeros, none at all, other zones within the same second, the next
// second.
func TestJSONAccessLogTimes(t *testing.T) {
	var out bytes.Buffer
	l := newJSONAccessLog(&out, slog.LevelDebug, func() {})
	cet, ny := time.FixedZone("CET", 3600), time.FixedZone("", -5*3600-30*60)
	base := time.Date(2026, 12, 1, 9, 30, 59, 0, time.UTC)
	times := []time.Time{
		base, base.Add(123456789), base.Add(100000000), base.Add(120), base.Add(999999999),
		base.In(cet), base.Add(5).In(ny), base.Add(1), base.Add(time.Second), base.Add(time.Second + 10), base.Local(),
		time.Date(1999, 12, 31, 23, 59, 59, 1, time.UTC), time.Now(),
	}
	for _, tm := range times {
		r := accessRecord("/user/x", "GET", "id")
		r.Time = tm
		out.Reset()
		l.LogRequest(context.Background(), r)
		if got, want := out.String(), viaSlog(t, r); got != want {
			t.Errorf("%v:\ngot  %s\nwant %s", tm, got, want)
		}
	}
}

func FuzzJSONAccessLog(f *testing.F) {
	f.Add("/user/ada@example.com", "GET", "abc", int64(0), 0)
	f.Add("/user/\xff\u2028\"\\", "PUT", "x\ty", int64(-1), -1)
	f.Add("/user/x", "GET", "id", int64(1_700_000_000_123_000_000), 3600)
	f.Fuzz(func(t *testing.T, path, method, id string, unixNano int64, offset int) {
		r := accessRecord(path, method, id)
		if tm := time.Unix(0, unixNano); tm.Year() >= 0 && tm.Year() < 10000 && offset > -86400 && offset < 86400 {
			r.Time = tm.In(time.FixedZone("", offset))
		}
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
