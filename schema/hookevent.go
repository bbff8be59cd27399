package schema

import "time"

// HookEvent is one event of an Okta event-hook delivery, as usersvc acts on
// it: its uuid (for deduplication), type, publication time and the
// directory ids of its User targets. The handler parses deliveries into it
// and the directory side applies it; one type serves both.
type HookEvent struct {
	UUID      string
	Type      string
	Published time.Time
	UserIDs   []string // ids of the targets of type User
}
