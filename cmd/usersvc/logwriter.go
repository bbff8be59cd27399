package main

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"sync"
	"time"
)

// bufferedLog batches log output: a write per request line would cost a
// system call on the hot path. Lines reach the output within flushEvery;
// audit records, warnings and errors are flushed at once (flushOnLevel),
// and close flushes the rest at shutdown.
type bufferedLog struct {
	mu   sync.Mutex
	w    *bufio.Writer
	stop chan struct{}
	done chan struct{}
}

const flushEvery = 200 * time.Millisecond

func newBufferedLog(out io.Writer) *bufferedLog {
	b := &bufferedLog{w: bufio.NewWriterSize(out, 64<<10), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(b.done)
		t := time.NewTicker(flushEvery)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				b.flush()
			case <-b.stop:
				b.flush()
				return
			}
		}
	}()
	return b
}

func (b *bufferedLog) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.w.Write(p)
}

func (b *bufferedLog) flush() {
	b.mu.Lock()
	defer b.mu.Unlock()
	_ = b.w.Flush()
}

// close stops the flusher after a last flush.
func (b *bufferedLog) close() {
	close(b.stop)
	<-b.done
}

// flushOnLevel flushes the buffer after every record at warn or above, so
// problems are never held back, and after every audit record (audit=true),
// which is logged before the response: a process killed right after
// answering must not lose the record of a committed write.
type flushOnLevel struct {
	slog.Handler
	flush func()
}

func (h flushOnLevel) Handle(ctx context.Context, r slog.Record) error {
	err := h.Handler.Handle(ctx, r)
	if r.Level >= slog.LevelWarn || isAudit(r) {
		h.flush()
	}
	return err
}

// isAudit reports whether the record carries audit=true.
func isAudit(r slog.Record) bool {
	audit := false
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "audit" && a.Value.Kind() == slog.KindBool && a.Value.Bool() {
			audit = true
			return false
		}
		return true
	})
	return audit
}

func (h flushOnLevel) WithAttrs(attrs []slog.Attr) slog.Handler {
	return flushOnLevel{h.Handler.WithAttrs(attrs), h.flush}
}

func (h flushOnLevel) WithGroup(name string) slog.Handler {
	return flushOnLevel{h.Handler.WithGroup(name), h.flush}
}
