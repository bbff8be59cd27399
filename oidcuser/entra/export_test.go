package entra

import (
	"context"
	"time"
)

// SetClock replaces the directory's clock (token lifetimes, throttling).
func (d *Directory) SetClock(now func() time.Time) { d.now = now }

// SetRetryBase sets the first backoff of a listing page that failed
// without a Retry-After.
func (d *Directory) SetRetryBase(base time.Duration) { d.retryBase = base }

// SetSleep replaces how the directory waits between listing attempts.
func (d *Directory) SetSleep(sleep func(ctx context.Context, d time.Duration) error) { d.sleep = sleep }
