package oidcuser

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/sync/singleflight"

	"github.com/usersvc/usersvc/proxy"
	"github.com/usersvc/usersvc/schema"
)

// UserStore is the part of the graph store resolution needs.
type UserStore interface {
	personStore
	LookupUser(ctx context.Context, key string) (schema.User, error)
}

// ResolverConfig configures directory resolution. A nil Directory turns it
// off: unknown users are simply not found.
type ResolverConfig struct {
	Directory Directory
	// Source names the directory in audit records and metrics (default
	// "okta"; "file" for the file directory).
	Source string
	// NegativeTTL is how long a "not in the directory" answer is remembered
	// (default 5m); NegativeSize bounds how many are (default 10000).
	NegativeTTL  time.Duration
	NegativeSize int
	// LookupTimeout bounds one directory lookup, whoever waits for it
	// (default 2s: the Amundsen frontend gives up after 3s).
	LookupTimeout time.Duration
	Logger        *slog.Logger
	Now           func() time.Time
	// Observer receives lookup and write events (metrics); optional.
	Observer Observer
}

// Observer is told about directory lookups, negative-cache hits and users
// written from the directory.
type Observer interface {
	// DirectoryLookup outcome is found, not_found, ambiguous, rate_limited
	// or error.
	DirectoryLookup(outcome string, elapsed time.Duration)
	NegativeCacheHit()
	UserWritten(source string, created bool)
}

type noObserver struct{}

func (noObserver) DirectoryLookup(string, time.Duration) {}
func (noObserver) NegativeCacheHit()                     {}
func (noObserver) UserWritten(string, bool)              {}

// Resolver answers GET /user/<id>: the graph when it knows the user, else
// the directory, whose answer is written to the graph.
type Resolver struct {
	store   UserStore
	cfg     ResolverConfig
	flights singleflight.Group
	reads   readBatches
	// readGraphFn is the method value store.LookupUser, made once: taken per
	// call it escapes to readBatches and costs an allocation a read.
	readGraphFn readFunc
	negative    *lru.Cache[string, time.Time] // key → when the entry expires
	// flightsEnded counts the lookups that have ended: a caller whose first
	// read missed looks at the graph again in its own flight only if one
	// ended since that read began (and may have stored the person).
	flightsEnded atomic.Uint64

	// credsLoggedAt rate-limits the error record about refused directory
	// credentials: every lookup fails alike until an operator acts.
	credsMu       sync.Mutex
	credsLoggedAt time.Time
	// credsRefused is the directory's last verdict on usersvc's
	// credentials: set by a refusal, cleared by any answer about a person.
	credsRefused error
}

// credentialsLogEvery is how often refused credentials are logged.
const credentialsLogEvery = time.Minute

// NewResolver builds a resolver over the store and, optionally, a directory.
func NewResolver(store UserStore, cfg ResolverConfig) *Resolver {
	if cfg.Source == "" {
		cfg.Source = "okta"
	}
	if cfg.NegativeTTL == 0 {
		cfg.NegativeTTL = 5 * time.Minute
	}
	if cfg.NegativeSize <= 0 {
		cfg.NegativeSize = 10000
	}
	if cfg.LookupTimeout <= 0 {
		cfg.LookupTimeout = 2 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Observer == nil {
		cfg.Observer = noObserver{}
	}
	negative, _ := lru.New[string, time.Time](cfg.NegativeSize) // size is positive
	r := &Resolver{store: store, cfg: cfg, negative: negative}
	r.readGraphFn = store.LookupUser
	if f, ok := store.(proxy.FailFast); ok {
		r.reads.knownDown = f.KnownDown
	}
	return r
}

// ResolveUser returns the user stored under key, resolving and storing them
// from the directory when the graph does not know them. A minimal node left
// by a follow/own write is completed the same way.
func (r *Resolver) ResolveUser(ctx context.Context, key string) (schema.User, error) {
	ended := r.flightsEnded.Load()
	stored, err := r.lookupGraph(ctx, key)
	switch {
	case err == nil && (!stored.IsStub() || r.cfg.Directory == nil):
		return stored, nil
	case err != nil && !schema.IsNotFound(err):
		return schema.User{}, err
	case r.cfg.Directory == nil:
		return schema.User{}, err
	}
	haveStub := err == nil

	if r.knownAbsent(key) {
		r.cfg.Observer.NegativeCacheHit()
		return r.fallback(key, stored, haveStub, nil)
	}
	// Concurrent first requests for one person share one lookup and one
	// write. The flight runs on its own deadline so that the first caller
	// giving up does not fail the others.
	v, err, _ := r.flights.Do(key, func() (any, error) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.LookupTimeout)
		defer cancel()
		defer r.flightsEnded.Add(1)
		// A caller that missed the graph just before an earlier flight stored
		// the user starts its flight after that one ended: look again first.
		// When no flight ended since this caller's first read began, this
		// resolver stored nothing the read could find: skipping it keeps two
		// graph reads off a first request's path (issue 31).
		if r.flightsEnded.Load() != ended {
			if u, err := r.lookupGraph(fctx, key); err == nil && !u.IsStub() {
				return u, nil
			}
		}
		if r.knownAbsent(key) {
			return nil, schema.Errorf(schema.KindNotFound, "user_id %s not found", key)
		}
		return r.resolve(fctx, key)
	})
	if err != nil {
		return r.fallback(key, stored, haveStub, err)
	}
	return v.(schema.User), nil
}

// lookupGraph finds the node key names: the node keyed so, else the node
// whose user_id is key (a person keyed by email, asked about by login).
// Concurrent callers for one key share reads (readBatches).
func (r *Resolver) lookupGraph(ctx context.Context, key string) (schema.User, error) {
	return r.reads.do(ctx, key, r.readGraphFn)
}

// NodeKey returns the graph key of the node a relation write by key must
// land on, so that a follow made by login reaches the person's email-keyed
// node: the node the graph knows under key or as its user_id, else the
// person the directory finds (written first), else key itself (the
// minimal node Amundsen writes for an unknown id).
func (r *Resolver) NodeKey(ctx context.Context, key string) (string, error) {
	u, err := r.ResolveUser(ctx, key)
	return nodeKey(key, u, err)
}

// ReadKey is NodeKey for reads: the graph alone, never the directory.
func (r *Resolver) ReadKey(ctx context.Context, key string) (string, error) {
	u, err := r.lookupGraph(ctx, key)
	return nodeKey(key, u, err)
}

// nodeKey is the found user's key, or key itself when nobody was found.
func nodeKey(key string, u schema.User, err error) (string, error) {
	switch {
	case err == nil:
		return u.Key(), nil
	case schema.IsNotFound(err):
		return key, nil
	}
	return "", err
}

// fallback answers when the directory does not give a user: a stub node in
// the graph is still a user (Amundsen would serve it), otherwise the error.
func (r *Resolver) fallback(key string, stored schema.User, haveStub bool, err error) (schema.User, error) {
	if haveStub {
		return stored, nil
	}
	if err == nil {
		err = schema.Errorf(schema.KindNotFound, "user_id %s not found", key)
	}
	return schema.User{}, err
}

func (r *Resolver) knownAbsent(key string) bool {
	exp, ok := r.negative.Get(key)
	if !ok {
		return false
	}
	if !r.cfg.Now().Before(exp) {
		r.negative.Remove(key)
		return false
	}
	return true
}

// resolve looks the person up and writes them under key.
func (r *Resolver) resolve(ctx context.Context, key string) (schema.User, error) {
	start := time.Now()
	u, err := r.cfg.Directory.LookupUser(ctx, key)
	r.cfg.Observer.DirectoryLookup(lookupOutcome(err), time.Since(start))
	r.noteCredentials(ctx, err)
	if schema.IsNotFound(err) {
		r.negative.Add(key, r.cfg.Now().Add(r.cfg.NegativeTTL))
		return schema.User{}, err
	}
	if err != nil {
		return schema.User{}, err
	}
	stored, created, err := writePerson(ctx, r.store, r.cfg.Logger, r.cfg.Source, key, u)
	if err != nil {
		return schema.User{}, err
	}
	r.cfg.Observer.UserWritten(r.cfg.Source, created)
	event, actor := "user_updated", "anonymous"
	if created {
		event = "user_created"
	}
	if p, ok := schema.PrincipalFrom(ctx); ok {
		actor = p.Subject
	}
	r.cfg.Logger.InfoContext(ctx, "audit", "audit", true, "event", event, "actor", actor, "key", stored.Key(),
		"source", r.cfg.Source, "outcome", "ok", "okta_id", u.OtherKeyValues[OtherKeyOktaID])
	return stored, nil
}

// noteCredentials keeps the directory's verdict on usersvc's credentials
// from one of its answers: a refusal is remembered (for health) and logged
// at most once per credentialsLogEvery; an answer about a person (found,
// not found, several) clears it; other failures say nothing about it.
func (r *Resolver) noteCredentials(ctx context.Context, err error) {
	refused := errors.Is(err, ErrDirectoryCredentials)
	r.credsMu.Lock()
	switch {
	case refused:
		r.credsRefused = err
	case err == nil || schema.IsNotFound(err) || schema.KindOf(err) == schema.KindConflict:
		r.credsRefused = nil
	}
	now := r.cfg.Now()
	due := refused && (r.credsLoggedAt.IsZero() || now.Sub(r.credsLoggedAt) >= credentialsLogEvery)
	if due {
		r.credsLoggedAt = now
	}
	r.credsMu.Unlock()
	if due {
		r.cfg.Logger.ErrorContext(ctx, "the directory refuses usersvc's credentials or permissions; lookups answer 503 until fixed",
			"source", r.cfg.Source, "error", err, "repeats_suppressed_for", credentialsLogEvery.String())
	}
}

// DirectoryCredentials is the health check of the directory's credentials:
// an error while its last answer refused them (lookups then answer 503),
// nil before any answer and once it answers about a person again. It
// makes no call: health probes must not spend the directory's rate limit.
func (r *Resolver) DirectoryCredentials(context.Context) error {
	r.credsMu.Lock()
	defer r.credsMu.Unlock()
	if r.credsRefused != nil {
		return schema.Unavailable("the directory refuses usersvc's credentials or permissions", 0, ErrDirectoryCredentials)
	}
	return nil
}

// ProbeDirectory asks a directory that can (Prober) once, at start, whether
// it accepts usersvc's credentials, so that a wrong secret shows in health
// and the log before the first unknown user does; within timeout.
func (r *Resolver) ProbeDirectory(ctx context.Context, timeout time.Duration) {
	p, ok := r.cfg.Directory.(Prober)
	if !ok {
		return
	}
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := p.Probe(pctx); errors.Is(err, ErrDirectoryCredentials) {
		r.noteCredentials(ctx, err)
	}
}

// lookupOutcome labels a directory answer for metrics.
func lookupOutcome(err error) string {
	switch {
	case err == nil:
		return "found"
	case schema.IsNotFound(err):
		return "not_found"
	case schema.KindOf(err) == schema.KindConflict:
		return "ambiguous"
	}
	var limited *RateLimitedError
	if errors.As(err, &limited) {
		return "rate_limited"
	}
	return "error"
}

// ForgetNotFound drops every remembered "not in the directory" answer: the
// directory changed (a new directory file, say), so they may be wrong now.
func (r *Resolver) ForgetNotFound() { r.negative.Purge() }
