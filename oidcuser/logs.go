package oidcuser

import (
	"context"
	"errors"
	"time"

	"github.com/usersvc/usersvc/schema"
)

// The System Log reader is a directory capability (Okta's System Log API,
// oidcuser/okta): the poller (syslog.go) reads pages through it.

// LogsPath is the System Log API's path.
const LogsPath = "/api/v1/logs"

// LogPage is one page of the System Log as the poller needs it.
type LogPage struct {
	// Events in the order Okta sent them; events without a uuid or type
	// are left out and counted in Dropped.
	Events  []schema.HookEvent
	Dropped int
	// Next is the path and query of the rel="next" link (no scheme or
	// host); "" when the answer had none.
	Next string
	Rate RateWindow
}

// RateWindow is what Okta's rate-limit headers said of a bucket's window.
type RateWindow struct {
	Known     bool // false: the headers were absent or unreadable
	Limit     int
	Remaining int
	Reset     time.Time
}

// LogReader reads one page of the Okta System Log: pathQuery is a path
// under LogsPath with its query (a first request, or a next link).
type LogReader interface {
	ReadLogs(ctx context.Context, pathQuery string) (LogPage, error)
}

// ErrLogsRefused marks a System Log request Okta refused as invalid (400):
// a cursor it no longer knows, say.
var ErrLogsRefused = errors.New("okta refused the System Log request")
