package oidcuser

import (
	"context"
	"fmt"
	"sync"

	"github.com/usersvc/usersvc/schema"
)

// readBatches shares graph reads of one key between concurrent callers,
// without ever answering a caller with a read that began before it asked.
// A caller that finds a read of its key running waits for the next one,
// which starts when the running one ends and serves everyone who arrived
// meanwhile. Joining the running read instead (singleflight) could give a
// client that has just written the state from before its own write.
//
// Why at all: 500 first requests for one person each read the graph before
// they join the one directory lookup. Unshared, those 1,000 reads queue in
// the driver's pool ahead of the lookup's own reads, and on a cold Neo4j the
// lookup's budget runs out in the queue; shared, they are a handful.
type readBatches struct {
	// knownDown, when set, answers at once while the store is known to be
	// away: waiting for the read in flight (which may hang until its
	// connection times out) would turn a fast 503 into a slow one.
	knownDown func() error

	mu sync.Mutex
	// next has an entry for each key whose read runs: the batch gathering
	// the callers that will share the following read (nil until one asks).
	next map[string]*readBatch
}

type readBatch struct {
	ctx     context.Context // the first waiter's, without its cancellation
	waiting int             // callers that joined (tests watch it)
	done    chan struct{}
	u       schema.User
	err     error
}

type readFunc func(ctx context.Context, key string) (schema.User, error)

// do returns read(ctx, key), shared with the callers of do for the same key
// whose wait overlaps this one's.
func (b *readBatches) do(ctx context.Context, key string, read readFunc) (schema.User, error) {
	b.mu.Lock()
	if b.next == nil {
		b.next = make(map[string]*readBatch)
	}
	batch, running := b.next[key]
	if !running {
		// Nothing runs: read at once, on the caller's own context.
		b.next[key] = nil
		b.mu.Unlock()
		u, err := safeRead(ctx, key, read)
		b.finished(key, read, err)
		return u, err
	}
	if b.knownDown != nil {
		if err := b.knownDown(); err != nil {
			b.mu.Unlock()
			return schema.User{}, err
		}
	}
	if batch == nil {
		batch = &readBatch{ctx: context.WithoutCancel(ctx), done: make(chan struct{})}
		b.next[key] = batch
	}
	batch.waiting++
	b.mu.Unlock()
	select {
	case <-batch.done:
		return batch.u, batch.err
	case <-ctx.Done():
		return schema.User{}, ctx.Err()
	}
}

// finished is called when a read of key ends with err: the batch gathered
// meanwhile runs now, or the key is idle again. When the store was
// unavailable the batch shares that answer instead of queueing another
// read behind it: a failure is no stale data, and a store going down would
// otherwise make each waiter wait for two failing reads, not one.
func (b *readBatches) finished(key string, read readFunc, err error) {
	b.mu.Lock()
	batch := b.next[key]
	if batch == nil {
		delete(b.next, key)
		b.mu.Unlock()
		return
	}
	b.next[key] = nil // still running: the batch's read
	if schema.KindOf(err) == schema.KindUnavailable {
		delete(b.next, key)
		b.mu.Unlock()
		batch.err = err
		close(batch.done)
		return
	}
	b.mu.Unlock()
	go func() {
		batch.u, batch.err = safeRead(batch.ctx, key, read)
		close(batch.done)
		b.finished(key, read, batch.err)
	}()
}

// safeRead keeps a panicking read from leaving waiters behind forever.
func safeRead(ctx context.Context, key string, read readFunc) (u schema.User, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("graph read of %s: panic: %v", key, p)
		}
	}()
	return read(ctx, key)
}
