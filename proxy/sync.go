package proxy

import (
	"context"
	"time"
)

// SyncState is where a directory sync stands. Watermark is the lastUpdated
// of the last user written; Complete says whether the run that wrote it got
// to the end (an incremental run then asks for later changes only) or was
// interrupted (the next run resumes at the watermark, inclusive). Cursor is
// where a reader of an event stream stands (the Okta System Log poller: the
// path and query of the next page, without scheme or host); "" for none.
type SyncState struct {
	Watermark time.Time
	Complete  bool
	UpdatedAt time.Time
	Cursor    string
}

// SyncStore keeps sync progress and the single-runner lease in the graph, so
// runs resume across restarts and replicas do not sync at the same time.
type SyncStore interface {
	// GetSyncState returns the state saved under name (zero if none).
	GetSyncState(ctx context.Context, name string) (SyncState, error)
	PutSyncState(ctx context.Context, name string, s SyncState) error
	// AcquireLease takes or renews the lease name for owner until now+ttl;
	// false when another owner holds an unexpired lease.
	AcquireLease(ctx context.Context, name, owner string, ttl time.Duration) (bool, error)
	// ReleaseLease gives the lease up if owner holds it.
	ReleaseLease(ctx context.Context, name, owner string) error
}
