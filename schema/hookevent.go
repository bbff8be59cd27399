package schema

import (
	"time"
	"unicode/utf8"
)

// HookEvent is one event of an Okta event-hook delivery or a System Log
// page, as usersvc acts on it: its uuid (for deduplication), type,
// publication time and the directory ids of its User targets. The handler
// and the poller parse into it and the directory side applies it; one type
// serves both.
type HookEvent struct {
	UUID      string
	Type      string
	Published time.Time
	UserIDs   []string // ids of the targets of type User
}

// LogEvent is the part of Okta's LogEvent object usersvc reads: the System
// Log API's items and the events of an event-hook delivery
// (data.events) share it.
type LogEvent struct {
	UUID      string      `json:"uuid"`
	Published time.Time   `json:"published"`
	EventType string      `json:"eventType"`
	Target    []LogTarget `json:"target"`
}

// LogTarget is one of a LogEvent's targets.
type LogTarget struct {
	ID   string `json:"id"`
	Type string `json:"type"`
}

// maxEventField bounds a uuid, an event type and a target id.
const maxEventField = 256

func usableEventField(s string) bool {
	return s != "" && len(s) <= maxEventField && utf8.ValidString(s) && !HasControl(s)
}

// Usable reports whether the event has a uuid and a type usersvc can keep.
func (e LogEvent) Usable() bool { return usableEventField(e.UUID) && usableEventField(e.EventType) }

// BadUserTargets counts the targets of type User without a usable id.
func (e LogEvent) BadUserTargets() int {
	n := 0
	for _, t := range e.Target {
		if t.Type == "User" && !usableEventField(t.ID) {
			n++
		}
	}
	return n
}

// HookEvent is the event as usersvc acts on it: the ids of its User
// targets, those without a usable id left out.
func (e LogEvent) HookEvent() HookEvent {
	ev := HookEvent{UUID: e.UUID, Type: e.EventType, Published: e.Published}
	for _, t := range e.Target {
		if t.Type == "User" && usableEventField(t.ID) {
			ev.UserIDs = append(ev.UserIDs, t.ID)
		}
	}
	return ev
}
