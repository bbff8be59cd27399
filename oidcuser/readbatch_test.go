package oidcuser

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/usersvc/usersvc/schema"
)

// gatedGraph is a one-user graph whose reads take the value at their start
// and then wait at a gate, so a test decides when each read ends.
type gatedGraph struct {
	mu    sync.Mutex
	title string
	reads atomic.Int32
	gate  chan struct{}
}

func (g *gatedGraph) read(ctx context.Context, key string) (schema.User, error) {
	g.mu.Lock()
	u := schema.User{NodeKey: key, RoleName: g.title}
	g.mu.Unlock()
	g.reads.Add(1)
	select {
	case <-g.gate:
		return u, nil
	case <-ctx.Done():
		return schema.User{}, ctx.Err()
	}
}

func (g *gatedGraph) write(title string) {
	g.mu.Lock()
	g.title = title
	g.mu.Unlock()
}

// waitWaiting waits until n callers have joined the batch queued for key.
func waitWaiting(t *testing.T, b *readBatches, key string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b.mu.Lock()
		got := 0
		if next := b.next[key]; next != nil {
			got = next.waiting
		}
		b.mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d callers waiting for the next read of %s, want %d", got, key, n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestReadBatchesShareOneReadAmongCallersWhoArriveDuringAnother(t *testing.T) {
	g := &gatedGraph{title: "v1", gate: make(chan struct{})}
	var b readBatches
	first := make(chan error, 1)
	go func() { _, err := b.do(context.Background(), "ada", g.read); first <- err }()
	for g.reads.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	const n = 200
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u, err := b.do(context.Background(), "ada", g.read)
			if err == nil && u.RoleName != "v1" {
				err = errors.New("wrong user: " + u.RoleName)
			}
			errs <- err
		}()
	}
	waitWaiting(t, &b, "ada", n)
	close(g.gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	// One read for the first caller, one shared by the other 200.
	if got := g.reads.Load(); got != 2 {
		t.Fatalf("%d graph reads for %d callers, want 2", got, n+1)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.next) != 0 {
		t.Fatalf("idle keys kept: %v", b.next)
	}
}

// A read that began before a write must not answer a caller who asks after
// the write: that would be a client reading its own write back stale. Plain
// singleflight sharing fails this.
func TestReadBatchesNeverAnswerWithAReadOlderThanTheCall(t *testing.T) {
	g := &gatedGraph{title: "before", gate: make(chan struct{})}
	var b readBatches
	go func() { _, _ = b.do(context.Background(), "ada", g.read) }() // in flight, holds "before"
	for g.reads.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	g.write("after")
	got := make(chan schema.User, 1)
	go func() { u, _ := b.do(context.Background(), "ada", g.read); got <- u }()
	waitWaiting(t, &b, "ada", 1)
	close(g.gate)
	if u := <-got; u.RoleName != "after" {
		t.Fatalf("a caller who asked after the write read %q", u.RoleName)
	}
}

func TestReadBatchesCallerGivingUpLeavesOthersServed(t *testing.T) {
	g := &gatedGraph{title: "v", gate: make(chan struct{})}
	var b readBatches
	go func() { _, _ = b.do(context.Background(), "ada", g.read) }()
	for g.reads.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	// The batch's first waiter gives up; the read it would have started
	// still runs for the second.
	ctx, cancel := context.WithCancel(context.Background())
	gaveUp := make(chan error, 1)
	go func() { _, err := b.do(ctx, "ada", g.read); gaveUp <- err }()
	waitWaiting(t, &b, "ada", 1)
	stayed := make(chan error, 1)
	go func() { _, err := b.do(context.Background(), "ada", g.read); stayed <- err }()
	waitWaiting(t, &b, "ada", 2)
	cancel()
	if err := <-gaveUp; !errors.Is(err, context.Canceled) {
		t.Fatalf("the caller that gave up got %v", err)
	}
	close(g.gate)
	if err := <-stayed; err != nil {
		t.Fatalf("the caller that stayed got %v", err)
	}
}

func TestReadBatchesPanickingReadReleasesItsKey(t *testing.T) {
	var b readBatches
	boom := func(context.Context, string) (schema.User, error) { panic("boom") }
	if _, err := b.do(context.Background(), "ada", boom); err == nil {
		t.Fatal("a panicking read answered no error")
	}
	done := make(chan error, 1)
	go func() {
		_, err := b.do(context.Background(), "ada", func(context.Context, string) (schema.User, error) { return schema.User{}, nil })
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the key stayed busy after a read panicked")
	}
}

// A read that finds the store unavailable answers the callers queued behind
// it too, rather than have them wait for a second failing read.
func TestReadBatchesShareAnUnavailableStore(t *testing.T) {
	gate := make(chan struct{})
	var reads atomic.Int32
	down := func(ctx context.Context, key string) (schema.User, error) {
		reads.Add(1)
		<-gate
		return schema.User{}, schema.Unavailable("the graph store is unavailable", time.Second, errors.New("connection refused"))
	}
	var b readBatches
	first := make(chan error, 1)
	go func() { _, err := b.do(context.Background(), "ada", down); first <- err }()
	for reads.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	queued := make(chan error, 1)
	go func() { _, err := b.do(context.Background(), "ada", down); queued <- err }()
	waitWaiting(t, &b, "ada", 1)
	close(gate)
	for _, ch := range []chan error{first, queued} {
		if err := <-ch; schema.KindOf(err) != schema.KindUnavailable {
			t.Fatalf("got %v, want unavailable", err)
		}
	}
	if n := reads.Load(); n != 1 {
		t.Fatalf("%d reads of an unavailable store, want 1", n)
	}
	// The key is idle again: the next caller reads afresh.
	if _, err := b.do(context.Background(), "ada", func(context.Context, string) (schema.User, error) { return schema.User{}, nil }); err != nil {
		t.Fatal(err)
	}
}

// While the store is known to be away, a caller does not wait behind a
// read in flight (which may hang until its connection times out): it gets
// the store's fail-fast answer at once.
func TestReadBatchesAnswerAtOnceWhileTheStoreIsKnownDown(t *testing.T) {
	g := &gatedGraph{title: "v", gate: make(chan struct{})}
	defer close(g.gate)
	var down atomic.Bool
	b := readBatches{knownDown: func() error {
		if down.Load() {
			return schema.Unavailable("the graph store is unavailable", time.Second, errors.New("known down"))
		}
		return nil
	}}
	go func() { _, _ = b.do(context.Background(), "ada", g.read) }() // hangs at the gate
	for g.reads.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	down.Store(true)
	done := make(chan error, 1)
	go func() { _, err := b.do(context.Background(), "ada", g.read); done <- err }()
	select {
	case err := <-done:
		if schema.KindOf(err) != schema.KindUnavailable {
			t.Fatalf("got %v, want unavailable", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the caller waited behind the hanging read although the store is known down")
	}
}
