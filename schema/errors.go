// Package schema holds the domain types of usersvc: Amundsen's user and
// resource shapes, key normalisation, input validation and the error kinds
// every other package reports in. It depends on no other project package.
package schema

import (
	"errors"
	"fmt"
	"time"
)

// ErrorKind classifies a failure so that the HTTP layer can map it to a status
// in one place without knowing which package produced it.
type ErrorKind int

const (
	// KindInternal is the zero value on purpose: an unclassified error is a
	// server fault, never the caller's.
	KindInternal ErrorKind = iota
	KindInvalid
	KindNotFound
	KindConflict
	KindTooLarge
	KindUnauthorized
	KindForbidden
	KindUnavailable
)

func (k ErrorKind) String() string {
	switch k {
	case KindInvalid:
		return "invalid"
	case KindNotFound:
		return "not_found"
	case KindConflict:
		return "conflict"
	case KindTooLarge:
		return "too_large"
	case KindUnauthorized:
		return "unauthorized"
	case KindForbidden:
		return "forbidden"
	case KindUnavailable:
		return "unavailable"
	default:
		return "internal"
	}
}

// Error is a classified error whose Message is safe to show to API callers.
// The wrapped Err carries detail for logs only.
type Error struct {
	Kind    ErrorKind
	Message string
	// RetryAfter is a hint for KindUnavailable: how long the caller should
	// wait before trying again. Zero means no hint.
	RetryAfter time.Duration
	Err        error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf builds a classified error with a caller-safe message.
func Errorf(kind ErrorKind, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// Unavailable reports a dependency failure (store, directory) that a retry may
// cure. cause is kept for logs; message is what callers see.
func Unavailable(message string, retryAfter time.Duration, cause error) *Error {
	return &Error{Kind: KindUnavailable, Message: message, RetryAfter: retryAfter, Err: cause}
}

// KindOf returns the kind of the first classified error in err's chain, or
// KindInternal when there is none.
func KindOf(err error) ErrorKind {
	if err == nil {
		return KindInternal // what errors.As would say; returning first keeps e off the heap on the hot path
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindInternal
}

// IsNotFound reports whether err is classified as not found.
func IsNotFound(err error) bool { return KindOf(err) == KindNotFound }
