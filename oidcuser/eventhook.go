package oidcuser

import (
	"context"
	"log/slog"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/usersvc/usersvc/schema"
)

// Okta Event Hooks (https://developer.okta.com/docs/concepts/event-hooks/
// and the guide "Event hook implementation") deliver System Log events to
// POST /okta/event-hooks. What Okta promises, and what this code builds on:
//   - a delivery must be answered within 3 seconds, else it times out and
//     Okta retries it (once); so deliveries are acknowledged at once and the
//     work happens here, on a bounded queue with one worker;
//   - delivery is at least once and in no guaranteed order; so events are
//     deduplicated by their uuid, and each event only says "look again":
//     the person is re-read from the directory by id, never taken from the
//     payload, so late or reordered deliveries end in the directory's
//     current state.

// HookEventTypes are the event types the hooks act on; others are
// acknowledged and ignored.
var HookEventTypes = map[string]bool{
	"user.lifecycle.create":           true,
	"user.lifecycle.activate":         true,
	"user.lifecycle.deactivate":       true,
	"user.lifecycle.suspend":          true,
	"user.lifecycle.unsuspend":        true,
	"user.lifecycle.delete.initiated": true,
	"user.account.update_profile":     true,
}

// HookObserver counts events by type and outcome (metrics). Outcomes:
// applied (a node was written), unchanged, ignored (a type the hooks do not
// act on), duplicate (a uuid seen before), rejected (the queue was full or
// shutting down), failed (the directory or the graph failed after retries).
type HookObserver interface {
	HookEvent(eventType, outcome string)
}

type noHookObserver struct{}

func (noHookObserver) HookEvent(string, string) {}

// HookStore is what applying an event needs of the graph.
type HookStore interface {
	personStore
}

// EventHooksConfig configures EventHooks.
type EventHooksConfig struct {
	// QueueSize bounds the events waiting for the worker (default 1000).
	QueueSize int
	// DedupeSize bounds the uuids remembered (default 10000).
	DedupeSize int
	// Retries of a directory or graph call that failed as unavailable
	// (default 3), after Backoff, doubling (default 500ms).
	Retries int
	Backoff time.Duration
	// LookupTimeout bounds one directory read (default 5s).
	LookupTimeout time.Duration
	Logger        *slog.Logger
	Observer      HookObserver
}

// EventHooks applies Okta event-hook deliveries: Submit queues them (the
// HTTP answer), Run applies them one at a time.
type EventHooks struct {
	cfg   EventHooksConfig
	apply *eventApplier

	mu     sync.Mutex // guards closed, sends on queue and seen
	closed bool
	queue  chan schema.HookEvent
	seen   *lru.Cache[string, struct{}]
}

// ErrHooksBusy is Submit's answer when the queue cannot take a delivery:
// unavailable, so the handler answers 503 with Retry-After and Okta
// redelivers.
var ErrHooksBusy = schema.Unavailable("the event queue is full; retry later", 5*time.Second, nil)

// NewEventHooks builds the processor.
func NewEventHooks(dir IDLookup, store HookStore, cfg EventHooksConfig) *EventHooks {
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 1000
	}
	if cfg.DedupeSize <= 0 {
		cfg.DedupeSize = 10000
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Observer == nil {
		cfg.Observer = noHookObserver{}
	}
	seen, _ := lru.New[string, struct{}](cfg.DedupeSize) // size is positive
	return &EventHooks{
		cfg:   cfg,
		apply: newEventApplier(dir, store, "hook", cfg.Retries, cfg.Backoff, cfg.LookupTimeout, cfg.Logger),
		queue: make(chan schema.HookEvent, cfg.QueueSize), seen: seen,
	}
}

// typeLabel bounds the metric's event_type label to the handled types.
func typeLabel(t string) string {
	if HookEventTypes[t] {
		return t
	}
	return "other"
}

// Submit queues the events of one delivery. Unhandled types are ignored
// and uuids seen before dropped. Either every new event is queued, or none
// is and ErrHooksBusy says so (queue full, or shutting down): their uuids
// are then not remembered, so Okta's redelivery is applied.
func (h *EventHooks) SubmitHookEvents(events []schema.HookEvent) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	var fresh []schema.HookEvent
	inDelivery := map[string]bool{}
	for _, ev := range events {
		switch {
		case !HookEventTypes[ev.Type]:
			h.cfg.Observer.HookEvent(typeLabel(ev.Type), "ignored")
		case inDelivery[ev.UUID] || h.seen.Contains(ev.UUID):
			h.cfg.Observer.HookEvent(ev.Type, "duplicate")
		default:
			inDelivery[ev.UUID] = true
			fresh = append(fresh, ev)
		}
	}
	if len(fresh) == 0 {
		return nil
	}
	if h.closed || len(h.queue)+len(fresh) > cap(h.queue) {
		for _, ev := range fresh {
			h.cfg.Observer.HookEvent(ev.Type, "rejected")
		}
		h.cfg.Logger.Warn("okta event hook: queue full or shutting down; delivery refused with 503 for Okta to retry", "events", len(fresh))
		return ErrHooksBusy
	}
	for _, ev := range fresh {
		h.seen.Add(ev.UUID, struct{}{})
		h.queue <- ev // room was checked under mu; only Submit sends
	}
	return nil
}

// Close stops taking deliveries; Run returns once the queue is drained.
func (h *EventHooks) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.closed {
		h.closed = true
		close(h.queue)
	}
}

// Run applies queued events one at a time until Close has been called and
// the queue is empty, or ctx ends (events still queued are then dropped:
// the sync is the backstop).
func (h *EventHooks) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-h.queue:
			if !ok {
				return
			}
			h.cfg.Observer.HookEvent(ev.Type, h.applyEvent(ctx, ev))
		}
	}
}

// applyEvent re-reads each target from the directory and writes their
// node; it returns the event's outcome.
func (h *EventHooks) applyEvent(ctx context.Context, ev schema.HookEvent) string {
	outcome := "unchanged"
	for _, id := range ev.UserIDs {
		written, err := h.apply.applyOne(ctx, ev, id)
		if err != nil {
			h.cfg.Logger.ErrorContext(ctx, "okta event hook: event not applied; the next sync catches up", "event_uuid", ev.UUID,
				"event_type", ev.Type, OtherKeyOktaID, id, "error", err)
			outcome = "failed"
			continue
		}
		if written && outcome != "failed" {
			outcome = "applied"
		}
	}
	return outcome
}
