package main

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/usersvc/usersvc/handlers"
	"github.com/usersvc/usersvc/schema"
)

// jsonAccessLog writes access records byte for byte as slog's JSONHandler
// does (TestJSONAccessLogMatchesSlog), appending them straight into a pooled
// buffer. Through slog, the record was the largest piece of the warm path
// that usersvc itself adds: about 3 µs of CPU a request under the harness,
// this writer about a third of it (docs/performance.md).
type jsonAccessLog struct {
	w     io.Writer
	level slog.Level
	flush func() // after warnings and errors, as flushOnLevel does
	bufs  sync.Pool
	last  atomic.Pointer[second]
}

// second is the formatted date, time and zone of one second: the records of
// a second share them (time.Format was 1.4 % of the warm path's samples).
type second struct {
	unix int64
	loc  *time.Location
	date []byte // 2006-01-02T15:04:05
	zone []byte // Z07:00
}

// appendTime appends t as time.RFC3339Nano does, which is slog's format.
func (l *jsonAccessLog) appendTime(b []byte, t time.Time) []byte {
	c := l.last.Load()
	if c == nil || c.unix != t.Unix() || c.loc != t.Location() {
		c = &second{unix: t.Unix(), loc: t.Location(),
			date: t.AppendFormat(nil, "2006-01-02T15:04:05"), zone: t.AppendFormat(nil, "Z07:00")}
		l.last.Store(c)
	}
	b = append(b, c.date...)
	if ns := t.Nanosecond(); ns != 0 {
		// ".999999999": nine digits with the trailing zeros dropped.
		var frac [10]byte
		frac[0] = '.'
		for i := 9; i > 0; i-- {
			frac[i] = byte('0' + ns%10)
			ns /= 10
		}
		n := len(frac)
		for frac[n-1] == '0' {
			n--
		}
		b = append(b, frac[:n]...)
	}
	return append(b, c.zone...)
}

// newAccessLog returns the writer for JSON logs, or nil (the slog path) for
// LOG_FORMAT=text.
func newAccessLog(cfg Config, w *bufferedLog) handlers.AccessLog {
	if cfg.LogFormat != "json" {
		return nil
	}
	return newJSONAccessLog(w, cfg.LogLevel, w.flush)
}

func newJSONAccessLog(w io.Writer, level slog.Level, flush func()) *jsonAccessLog {
	l := &jsonAccessLog{w: w, level: level, flush: flush}
	l.bufs.New = func() any { b := make([]byte, 0, 512); return &b }
	return l
}

func (l *jsonAccessLog) Enabled(_ context.Context, level slog.Level) bool { return level >= l.level }

func (l *jsonAccessLog) LogRequest(_ context.Context, r handlers.AccessRecord) {
	bp := l.bufs.Get().(*[]byte)
	b := append((*bp)[:0], `{"time":"`...)
	b = l.appendTime(b, r.Time)
	b = append(b, `","level":`...)
	b = schema.AppendJSONString(b, r.Level.String(), false)
	b = append(b, `,"msg":"request","method":`...)
	b = schema.AppendJSONString(b, r.Method, false)
	b = append(b, `,"route":`...)
	b = schema.AppendJSONString(b, r.Route, false)
	b = append(b, `,"path":`...)
	b = schema.AppendJSONString(b, r.Path, false)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(r.Status), 10)
	b = append(b, `,"duration":`...)
	b = strconv.AppendInt(b, int64(r.Duration), 10) // slog writes durations as nanoseconds
	b = append(b, `,"bytes":`...)
	b = strconv.AppendInt(b, int64(r.Bytes), 10)
	b = append(b, `,"request_id":`...)
	b = schema.AppendJSONString(b, r.RequestID, false)
	b = append(b, "}\n"...)
	_, _ = l.w.Write(b)
	if r.Level >= slog.LevelWarn {
		l.flush()
	}
	if cap(b) <= 4<<10 { // a hostile path must not pin a large buffer
		*bp = b
		l.bufs.Put(bp)
	}
}
