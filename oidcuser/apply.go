package oidcuser

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/usersvc/usersvc/schema"
)

// eventApplier brings a person's node to the directory's current state
// because an Okta event named them: the event hooks (source "hook") and the
// System Log poller (source "syslog") share it. An event only says "look
// again": each target is re-read from the directory by id, never taken
// from the event, so late, repeated or reordered events end in the
// directory's current state.
type eventApplier struct {
	dir   IDLookup
	store HookStore
	// source names the path in audit records ("hook", "syslog").
	source string
	// Retries of a directory or graph call that failed as unavailable,
	// after backoff, doubling; each call bounded by lookupTimeout.
	retries       int
	backoff       time.Duration
	lookupTimeout time.Duration
	log           *slog.Logger
}

// newEventApplier builds the applier with the defaults both event paths
// share: retries 3 (negative: none), backoff 500ms, lookupTimeout 5s.
func newEventApplier(dir IDLookup, store HookStore, source string, retries int, backoff, lookupTimeout time.Duration, log *slog.Logger) *eventApplier {
	if retries < 0 {
		retries = 0
	} else if retries == 0 {
		retries = 3
	}
	if backoff <= 0 {
		backoff = 500 * time.Millisecond
	}
	if lookupTimeout <= 0 {
		lookupTimeout = 5 * time.Second
	}
	return &eventApplier{dir: dir, store: store, source: source, retries: retries, backoff: backoff, lookupTimeout: lookupTimeout, log: log}
}

// retry runs call, retrying unavailability with backoff, bounded.
func (a *eventApplier) retry(ctx context.Context, call func(context.Context) error) error {
	backoff := a.backoff
	for attempt := 0; ; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, a.lookupTimeout)
		err := call(cctx)
		cancel()
		if err == nil || attempt >= a.retries || ctx.Err() != nil ||
			(schema.KindOf(err) != schema.KindUnavailable && !errors.Is(err, context.DeadlineExceeded)) {
			return err
		}
		var e *schema.Error
		wait := backoff
		if errors.As(err, &e) && e.RetryAfter > wait {
			wait = min(e.RetryAfter, time.Minute)
		}
		backoff *= 2
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// applyOne brings one person's node to the directory's current state; ev
// is the event that named them (for the audit record).
func (a *eventApplier) applyOne(ctx context.Context, ev schema.HookEvent, id string, extra ...any) (bool, error) {
	var u schema.User
	err := a.retry(ctx, func(cctx context.Context) error {
		var err error
		u, err = a.dir.LookupByID(cctx, id)
		return err
	})
	switch {
	case schema.IsNotFound(err):
		return a.deactivateGone(ctx, ev, id, extra...)
	case err != nil:
		return false, fmt.Errorf("read %s from the directory: %w", id, err)
	}
	var written bool
	err = a.retry(ctx, func(cctx context.Context) error {
		var err error
		written, err = a.writeUser(cctx, ev, u, extra...)
		return err
	})
	return written, err
}

// writeUser writes the person as the directory has them now, through the
// one-person path resolution uses (keying rule, moves); a node already as
// the directory says is not written.
func (a *eventApplier) writeUser(ctx context.Context, ev schema.HookEvent, u schema.User, extra ...any) (bool, error) {
	oktaID := u.OtherKeyValues[OtherKeyOktaID]
	stored, err := a.store.GetUser(ctx, u.Key())
	switch {
	case err == nil && stored.OtherKeyValues[OtherKeyOktaID] == oktaID && unchanged(stored, u):
		return false, nil
	case err != nil && !schema.IsNotFound(err):
		return false, err
	}
	hadNode := err == nil
	wasActive := hadNode && stored.IsActive
	written, created, err := writePerson(ctx, a.store, a.log, a.source, u.Key(), u)
	if err != nil {
		return false, err
	}
	event := "user_updated"
	switch {
	case created:
		event = "user_created"
	case wasActive && !written.IsActive:
		event = "user_deactivated"
	case hadNode && !wasActive && written.IsActive:
		event = "user_reactivated"
	}
	a.audit(ctx, ev, event, written.Key(), oktaID, extra...)
	return true, nil
}

// deactivateGone marks the nodes of a person the directory no longer has
// (deleted) inactive; nodes are never deleted.
func (a *eventApplier) deactivateGone(ctx context.Context, ev schema.HookEvent, id string, extra ...any) (bool, error) {
	var keys []string
	err := a.retry(ctx, func(cctx context.Context) error {
		var err error
		keys, err = a.store.UserKeysByDirectoryID(cctx, id)
		return err
	})
	if err != nil {
		return false, err
	}
	wrote := false
	for _, k := range keys {
		err := a.retry(ctx, func(cctx context.Context) error {
			stored, err := a.store.GetUser(cctx, k)
			if err != nil || !stored.IsActive {
				return err
			}
			if _, _, err := a.store.CreateUpdateUser(cctx, schema.User{NodeKey: k, IsActive: false}); err != nil {
				return err
			}
			wrote = true
			a.audit(ctx, ev, "user_deactivated", k, id, append([]any{"reason", "no longer in the directory"}, extra...)...)
			return nil
		})
		if err != nil && !schema.IsNotFound(err) {
			return wrote, err
		}
	}
	return wrote, nil
}

func (a *eventApplier) audit(ctx context.Context, ev schema.HookEvent, event, key, oktaID string, extra ...any) {
	args := append([]any{"audit", true, "event", event, "actor", "okta", "key", key, "source", a.source, "outcome", "ok",
		OtherKeyOktaID, oktaID, "okta_event_type", ev.Type, "event_uuid", ev.UUID}, extra...)
	a.log.InfoContext(ctx, "audit", args...)
}
