package oidcuser

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"time"

	"github.com/usersvc/usersvc/proxy"
	"github.com/usersvc/usersvc/schema"
)

// SyncStore is what a sync reads and writes in the graph.
type SyncStore interface {
	proxy.SyncStore
	NodeMover
	GetUser(ctx context.Context, key string) (schema.User, error)
	GetUsers(ctx context.Context) ([]schema.User, error)
}

// SyncConfig configures a Syncer.
type SyncConfig struct {
	// Name keys the saved state and the lease (default "okta").
	Name string
	// Owner identifies this runner in the lease (e.g. host and pid).
	Owner    string
	LeaseTTL time.Duration // default 10m; renewed as the run progresses
	// MaxDeactivatePercent stops a run that would deactivate more than this
	// share of the active users, before it writes anything (default 10).
	MaxDeactivatePercent float64
	// TeamPattern, when set, takes team_name from the first group whose name
	// matches (its first submatch if it has one) instead of the profile's
	// department. Such a team never replaces a stored team_name (one written
	// through PUT /user, say) unless TeamOverwrite.
	TeamPattern   *regexp.Regexp
	TeamOverwrite bool
	Groups        GroupLister
	// Full ignores the saved watermark and reads everyone.
	Full bool
	// DryRun plans the run and reports it (SyncReport.Changes) without
	// writing anything: no user, no checkpoint, no lease.
	DryRun bool
	// Lookback re-reads people changed this long before the watermark:
	// Okta's search is eventually consistent, so a change can surface after
	// a later one was read. Unchanged people cost a read, not a write.
	// Default 2m; negative: none.
	Lookback time.Duration
	Logger   *slog.Logger
	Progress func(SyncProgress)
	Now      func() time.Time
}

// SyncProgress is reported as a run advances.
type SyncProgress struct {
	Phase string // "fetch" or "write"
	Done  int
	Total int // 0 while unknown (fetch)
}

// SyncReport sums up a run.
type SyncReport struct {
	Fetched     int
	Created     int
	Updated     int
	Unchanged   int // read again but already as in the graph: not written
	Deactivated int
	// Moved: people whose node moved to a new key (email changed, or now
	// shared), edges and all.
	Moved int
	// Skipped: people whose graph key belongs to someone else in the
	// directory (a shared email, say); nothing is written for them.
	Skipped   int
	Watermark time.Time
	Elapsed   time.Duration
	// Changes lists what a dry run would write, in order.
	Changes []SyncChange
}

// SyncChange is one write a dry run would make: Action is create, update,
// deactivate or move (From is then the key the node moves from).
type SyncChange struct {
	Action string
	Key    string
	From   string
}

// Sentinel outcomes of Run.
var (
	ErrLeaseHeld  = errors.New("another runner holds the sync lease")
	ErrMassChange = errors.New("mass-change guard tripped: nothing written")
	// ErrLeaseLost: another runner took the lease during the run, which
	// stopped before writing more.
	ErrLeaseLost = errors.New("the sync lease was taken by another runner: run stopped")
)

// Syncer imports people from the directory into the graph.
type Syncer struct {
	dir   Lister
	store SyncStore
	cfg   SyncConfig
}

// NewSyncer builds a syncer.
func NewSyncer(dir Lister, store SyncStore, cfg SyncConfig) *Syncer {
	if cfg.Name == "" {
		cfg.Name = "okta"
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = 10 * time.Minute
	}
	if cfg.MaxDeactivatePercent <= 0 {
		cfg.MaxDeactivatePercent = 10
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Progress == nil {
		cfg.Progress = func(SyncProgress) {}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Lookback == 0 {
		cfg.Lookback = 2 * time.Minute
	}
	cfg.Lookback = max(cfg.Lookback, 0)
	return &Syncer{dir: dir, store: store, cfg: cfg}
}

// pending is one person to write, in the order of the directory's clock.
type pending struct {
	user        schema.User
	oktaID      string
	lastUpdated time.Time
	stored      *schema.User // the node under the same key, if any
	// moveFrom is the key of the person's node when it stands elsewhere
	// (their email changed, or is now shared): it moves before the write.
	moveFrom string
}

// writeBatch is how many users are written between checkpoints.
const writeBatch = 100

// Run performs one sync. It returns ErrLeaseHeld when another runner is at
// work and ErrMassChange (with the report of what it would have done) when
// the guard trips.
func (s *Syncer) Run(ctx context.Context) (SyncReport, error) {
	start := s.cfg.Now()
	var rep SyncReport
	lease := &leaseKeeper{s: s, renewed: start, dryRun: true}
	if !s.cfg.DryRun {
		var err error
		if lease, err = s.acquireLease(ctx); err != nil {
			return rep, err
		}
		defer s.releaseLease(ctx)
	}

	state, err := s.store.GetSyncState(ctx, s.cfg.Name)
	if err != nil {
		return rep, fmt.Errorf("sync state: %w", err)
	}
	todo, err := s.fetch(ctx, s.resumeQuery(state), &rep, lease)
	if err != nil {
		return rep, err
	}
	if todo, err = s.plan(ctx, todo, &rep, lease); err != nil {
		return rep, err
	}
	if s.cfg.Full {
		// Only a whole listing shows who is gone: people deleted from the
		// directory (not merely deactivated) are never listed again. A
		// first run is not taken as one: the graph may hold people of
		// another source (databuilder) that it has never seen.
		if todo, err = s.deactivateDeleted(ctx, todo); err != nil {
			return rep, err
		}
	}
	if rep.Deactivated, err = s.guard(ctx, todo); err != nil {
		if s.cfg.DryRun {
			// Show what the guard stopped, too.
			s.describe(todo, &rep)
		}
		rep.Elapsed = s.cfg.Now().Sub(start)
		return rep, err
	}
	if err := s.applyTeams(ctx, todo, lease); err != nil {
		return rep, err
	}
	if s.cfg.DryRun {
		s.describe(todo, &rep)
		rep.Elapsed = s.cfg.Now().Sub(start)
		return rep, nil
	}
	// A full pass checkpoints its own progress: starting from the saved
	// watermark, an interrupted pass would save that (later) watermark, and
	// the next incremental run would never read the rest of the pass.
	from := state.Watermark
	if s.cfg.Full {
		from = time.Time{}
	}
	watermark, err := s.write(ctx, todo, from, &rep, lease)
	if err != nil {
		return rep, err
	}
	if watermark.Before(state.Watermark) {
		watermark = state.Watermark
	}
	rep.Watermark = watermark
	if err := s.checkpoint(ctx, watermark, true); err != nil {
		return rep, err
	}
	rep.Elapsed = s.cfg.Now().Sub(start)
	s.cfg.Logger.Info("directory sync finished", "fetched", rep.Fetched, "created", rep.Created, "updated", rep.Updated,
		"unchanged", rep.Unchanged, "deactivated", rep.Deactivated, "moved", rep.Moved, "skipped", rep.Skipped, "watermark", watermark, "elapsed", rep.Elapsed.String())
	return rep, nil
}

// acquireLease takes the single-runner lease, or reports ErrLeaseHeld.
func (s *Syncer) acquireLease(ctx context.Context) (*leaseKeeper, error) {
	ok, err := s.store.AcquireLease(ctx, s.cfg.Name, s.cfg.Owner, s.cfg.LeaseTTL)
	if err != nil {
		return nil, fmt.Errorf("sync lease: %w", err)
	}
	if !ok {
		return nil, ErrLeaseHeld
	}
	return &leaseKeeper{s: s, renewed: s.cfg.Now()}, nil
}

// releaseLeaseTimeout bounds giving the lease up: a hung store must not
// hold the process at exit (the lease then expires by its TTL).
const releaseLeaseTimeout = 5 * time.Second

func (s *Syncer) releaseLease(ctx context.Context) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseLeaseTimeout)
	defer cancel()
	if err := s.store.ReleaseLease(rctx, s.cfg.Name, s.cfg.Owner); err != nil {
		s.cfg.Logger.Warn("could not release the sync lease; it expires by itself", "error", err, "ttl", s.cfg.LeaseTTL.String())
	}
}

// resumeQuery is what to read: everyone on a full run or the first one,
// else the people changed since the saved watermark.
func (s *Syncer) resumeQuery(state proxy.SyncState) ListQuery {
	if s.cfg.Full || state.Watermark.IsZero() {
		return ListQuery{}
	}
	// An interrupted run resumes at its checkpoint, inclusive; the
	// look-back catches late arrivals.
	return ListQuery{UpdatedAfter: state.Watermark.Add(-s.cfg.Lookback), Inclusive: !state.Complete}
}

// fetch reads every person the query names before anything is written (the
// guard must see the whole change), keyed and in the directory's
// lastUpdated order.
func (s *Syncer) fetch(ctx context.Context, q ListQuery, rep *SyncReport, lease *leaseKeeper) ([]pending, error) {
	var fetched []Person
	err := s.dir.ListUsers(ctx, q, func(page []Person) error {
		fetched = append(fetched, page...)
		s.cfg.Progress(SyncProgress{Phase: "fetch", Done: len(fetched)})
		return lease.renew(ctx)
	})
	if err != nil {
		return nil, fmt.Errorf("read the directory: %w", err)
	}
	todo := keyPeople(fetched)
	rep.Fetched = len(fetched)
	slices.SortStableFunc(todo, func(a, b pending) int { return cmp.Compare(a.lastUpdated.UnixNano(), b.lastUpdated.UnixNano()) })
	return todo, nil
}

// write stores the people that changed, saving a checkpoint every
// writeBatch people, and returns the newest lastUpdated it got through.
func (s *Syncer) write(ctx context.Context, todo []pending, watermark time.Time, rep *SyncReport, lease *leaseKeeper) (time.Time, error) {
	for i, p := range todo {
		if err := ctx.Err(); err != nil {
			return time.Time{}, err
		}
		if err := lease.keep(ctx); err != nil {
			return time.Time{}, err
		}
		if p.moveFrom != "" {
			if err := moveNode(ctx, s.store, s.cfg.Logger, s.cfg.Name, p.oktaID, p.moveFrom, p.user.Key()); err != nil {
				return time.Time{}, fmt.Errorf("move %s to %s: %w", p.moveFrom, p.user.Key(), err)
			}
			rep.Moved++
		}
		switch {
		case p.moveFrom == "" && p.stored != nil && unchanged(*p.stored, p.user):
			rep.Unchanged++
		default:
			_, created, err := s.store.CreateUpdateUser(ctx, p.user)
			if err != nil {
				return time.Time{}, fmt.Errorf("write %s: %w", p.user.Key(), err)
			}
			if created {
				rep.Created++
			} else {
				rep.Updated++
			}
		}
		if p.lastUpdated.After(watermark) {
			watermark = p.lastUpdated
		}
		if (i+1)%writeBatch == 0 {
			// An interrupted run resumes here (inclusive).
			if err := s.checkpoint(ctx, watermark, false); err != nil {
				return time.Time{}, err
			}
			if err := lease.renew(ctx); err != nil {
				return time.Time{}, err
			}
		}
		s.cfg.Progress(SyncProgress{Phase: "write", Done: i + 1, Total: len(todo)})
	}
	return watermark, nil
}

// checkpoint saves the watermark; complete marks the run finished, so the
// next one reads strictly after it.
func (s *Syncer) checkpoint(ctx context.Context, watermark time.Time, complete bool) error {
	return s.store.PutSyncState(ctx, s.cfg.Name, proxy.SyncState{Watermark: watermark, Complete: complete, UpdatedAt: s.cfg.Now()})
}

// unchanged reports whether writing incoming over stored would change
// nothing a reader sees (writes never erase, so only non-empty values count).
func unchanged(stored, incoming schema.User) bool {
	merged := schema.MergeNonEmpty(stored, incoming)
	if !maps.Equal(merged.OtherKeyValues, stored.OtherKeyValues) {
		return false
	}
	merged.OtherKeyValues, stored.OtherKeyValues = nil, nil
	return reflect.DeepEqual(merged, stored)
}

// describe fills a dry run's report with the writes write would make.
func (s *Syncer) describe(todo []pending, rep *SyncReport) {
	for _, p := range todo {
		key := p.user.Key()
		if p.moveFrom != "" {
			rep.Moved++
			rep.Changes = append(rep.Changes, SyncChange{Action: "move", Key: key, From: p.moveFrom})
		}
		switch {
		case p.moveFrom == "" && p.stored != nil && unchanged(*p.stored, p.user):
			rep.Unchanged++
		case p.stored == nil:
			rep.Created++
			rep.Changes = append(rep.Changes, SyncChange{Action: "create", Key: key})
		case !p.user.IsActive && p.stored.IsActive && !p.stored.IsStub():
			rep.Changes = append(rep.Changes, SyncChange{Action: "deactivate", Key: key})
		default:
			rep.Updated++
			rep.Changes = append(rep.Changes, SyncChange{Action: "update", Key: key})
		}
	}
}

// leaseKeeper renews a run's lease through every long phase (fetch, plan,
// teams, writes), so that no phase can outlive SYNC_LEASE_TTL; a renewal
// that finds the lease taken stops the run before it writes more.
type leaseKeeper struct {
	s       *Syncer
	renewed time.Time
	dryRun  bool // a dry run holds no lease
}

// keep renews once a quarter of the TTL has passed since the last renewal.
func (l *leaseKeeper) keep(ctx context.Context) error {
	if l.s.cfg.Now().Sub(l.renewed) < l.s.cfg.LeaseTTL/4 {
		return nil
	}
	return l.renew(ctx)
}

func (l *leaseKeeper) renew(ctx context.Context) error {
	if l.dryRun {
		return nil
	}
	ok, err := l.s.store.AcquireLease(ctx, l.s.cfg.Name, l.s.cfg.Owner, l.s.cfg.LeaseTTL)
	if err != nil {
		return fmt.Errorf("renew the sync lease: %w", err)
	}
	if !ok {
		return ErrLeaseLost
	}
	l.renewed = l.s.cfg.Now()
	return nil
}

// keyPeople keys the people of a listing by PersonKey; an email shared by
// several of them keys each by login.
func keyPeople(fetched []Person) []pending {
	byEmail := map[string][]Person{}
	for _, p := range fetched {
		if e := schema.UserKey(p.Email); e != "" {
			byEmail[e] = append(byEmail[e], p)
		}
	}
	todo := make([]pending, 0, len(fetched))
	for _, p := range fetched {
		u := KeyedUser(p, byEmail[schema.UserKey(p.Email)])
		if u.Key() == "" {
			continue
		}
		todo = append(todo, pending{user: u, oktaID: p.ID, lastUpdated: p.LastUpdated})
	}
	return todo
}

// plan reads the node each person would be written to. A node keyed by the
// person's email that came from another directory person means the email
// is shared: the person is keyed by login instead. People whose key is
// still not theirs alone (several in this run, or a node of someone else)
// are dropped: writing them would attach one person's follows and
// ownership to another.
func (s *Syncer) plan(ctx context.Context, todo []pending, rep *SyncReport, lease *leaseKeeper) ([]pending, error) {
	owners := map[string]map[string]bool{}
	for _, p := range todo {
		k := p.user.Key()
		if owners[k] == nil {
			owners[k] = map[string]bool{}
		}
		owners[k][p.oktaID] = true
	}
	kept := todo[:0]
	for _, p := range todo {
		if err := lease.keep(ctx); err != nil {
			return nil, err
		}
		k := p.user.Key()
		if len(owners[k]) > 1 {
			s.skip(rep, k, "several directory people share this key")
			continue
		}
		stored, err := s.store.GetUser(ctx, k)
		if err == nil && ownedByOther(stored, p.oktaID) && rekeyAway(&p.user, p.user.Email) {
			k = p.user.Key()
			stored, err = s.store.GetUser(ctx, k)
		}
		switch {
		case schema.IsNotFound(err):
		case err != nil:
			return nil, fmt.Errorf("read %s: %w", k, err)
		default:
			if ownedByOther(stored, p.oktaID) {
				s.skip(rep, k, "the stored user came from another directory person")
				continue
			}
			p.stored = &stored
		}
		if p.moveFrom, err = priorNode(ctx, s.store, p.oktaID, k); err != nil {
			return nil, err
		}
		if p.moveFrom != "" && p.stored == nil {
			// The guard judges the change against the node that moves.
			if prior, err := s.store.GetUser(ctx, p.moveFrom); err == nil {
				p.stored = &prior
			}
		}
		kept = append(kept, p)
	}
	return kept, nil
}

func (s *Syncer) skip(rep *SyncReport, key, why string) {
	rep.Skipped++
	s.cfg.Logger.Warn("sync skipped a user: its key is ambiguous", "user_key", key, "reason", why)
}

// deactivateDeleted adds, to a whole listing's plan, the active nodes of
// directory people the listing no longer has (deleted, not deactivated):
// they are deactivated, within the mass-change guard. Nodes without a
// directory id (written through PUT /user, or by databuilder) are not the
// directory's to judge.
func (s *Syncer) deactivateDeleted(ctx context.Context, todo []pending) ([]pending, error) {
	listed := make(map[string]bool, len(todo))
	for _, p := range todo {
		listed[p.oktaID] = true
	}
	active, err := s.store.GetUsers(ctx)
	if err != nil {
		return nil, fmt.Errorf("list active users: %w", err)
	}
	for _, u := range active {
		id := u.OtherKeyValues[OtherKeyOktaID]
		if id == "" || listed[id] {
			continue
		}
		stored := u
		todo = append(todo, pending{user: schema.User{NodeKey: u.Key(), IsActive: false}, oktaID: id, stored: &stored})
		s.cfg.Logger.Info("directory person no longer listed; deactivating", "user_key", u.Key(), OtherKeyOktaID, id)
	}
	return todo, nil
}

// guard counts the active users the run would deactivate and refuses runs
// that would deactivate too many of them: a misconfigured directory or a
// half-broken export must not switch a company off.
func (s *Syncer) guard(ctx context.Context, todo []pending) (int, error) {
	active, err := s.store.GetUsers(ctx)
	if err != nil {
		return 0, err
	}
	deactivating := 0
	for _, p := range todo {
		if !p.user.IsActive && p.stored != nil && p.stored.IsActive && !p.stored.IsStub() {
			deactivating++
		}
	}
	if len(active) > 0 && float64(deactivating)*100/float64(len(active)) > s.cfg.MaxDeactivatePercent {
		s.cfg.Logger.Error("mass-change guard tripped: nothing written", "would_deactivate", deactivating,
			"active_users", len(active), "max_percent", s.cfg.MaxDeactivatePercent)
		return deactivating, fmt.Errorf("%w: %d of %d active users would be deactivated (limit %g%%)",
			ErrMassChange, deactivating, len(active), s.cfg.MaxDeactivatePercent)
	}
	return deactivating, nil
}

// applyTeams replaces department-derived teams with group-derived ones when
// a pattern is configured.
func (s *Syncer) applyTeams(ctx context.Context, todo []pending, lease *leaseKeeper) error {
	if s.cfg.TeamPattern == nil || s.cfg.Groups == nil {
		return nil
	}
	for i := range todo {
		if err := lease.keep(ctx); err != nil {
			return err
		}
		p := &todo[i]
		groups, err := s.cfg.Groups.Groups(ctx, p.oktaID)
		if err != nil {
			return fmt.Errorf("groups of %s: %w", p.user.Key(), err)
		}
		p.user.TeamName = teamFromGroups(s.cfg.TeamPattern, groups)
		if !s.cfg.TeamOverwrite && p.stored != nil && p.stored.TeamName != "" {
			p.user.TeamName = "" // an empty value never replaces the stored one
		}
	}
	return nil
}

func teamFromGroups(pattern *regexp.Regexp, groups []string) string {
	for _, g := range groups {
		if m := pattern.FindStringSubmatch(g); m != nil {
			if len(m) > 1 && m[1] != "" {
				return m[1]
			}
			return g
		}
	}
	return ""
}
