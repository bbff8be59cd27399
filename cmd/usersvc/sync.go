package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/usersvc/usersvc/handlers"
	"github.com/usersvc/usersvc/oidcuser"
	"github.com/usersvc/usersvc/proxy"
)

// Exit codes of `usersvc sync` beyond exitOK, exitFailure and exitConfig.
const (
	exitGuardTripped = 3 // the mass-change guard stopped the run; nothing written
	exitLeaseHeld    = 4 // another runner holds the lease; nothing done
)

const syncUsage = `usage: usersvc sync [--full] [--dry-run]

Imports people from the configured directory (Okta, or DIRECTORY_FILE) into
the graph store, with the same environment as the server. Incremental by
default: only people changed since the watermark saved by the last run.

  --full      read everyone, ignoring the saved watermark; deactivates
              people no longer in the directory
  --dry-run   print the creations, updates, moves and deactivations the
              run would make, and write nothing

exit codes: 0 done, 1 failed, 2 bad configuration,
            3 mass-change guard tripped (nothing written), 4 another runner holds the lease`

// runSync is `usersvc sync`: one run, progress on stderr, summary on stdout.
func runSync(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sync", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	full := fs.Bool("full", false, "")
	dryRun := fs.Bool("dry-run", false, "")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stdout, syncUsage)
			return exitOK
		}
		fmt.Fprintln(stderr, syncUsage)
		return exitConfig
	}
	// A sync serves no requests, so it runs with the server's environment
	// or without any authentication settings at all.
	syncEnv := func(name string) string {
		if name == "AUTH_DISABLED" && strings.TrimSpace(getenv("FLASK_OIDC_CONFIG_URL")) == "" {
			return "true"
		}
		return getenv(name)
	}
	cfg, err := loadConfig(syncEnv)
	if err != nil {
		printConfigErrors(stderr, err)
		return exitConfig
	}
	var term *terminal
	errOut := stderr
	if isTerminal(stderr) {
		term = &terminal{w: stderr}
		errOut = term
	}
	logOut := newBufferedLog(errOut)
	defer logOut.close()
	log := newLogger(cfg, logOut)

	syncer, closeAll, err := newSyncer(ctx, cfg, log, syncMode{full: *full, dryRun: *dryRun}, newProgressReporter(term, log))
	if err != nil {
		return failureExit(err, stderr, log, "sync could not start")
	}
	defer closeAll()

	rep, err := syncer.Run(ctx)
	logOut.flush()
	printSyncSummary(stdout, rep, err, *dryRun)
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, oidcuser.ErrMassChange):
		return exitGuardTripped
	case errors.Is(err, oidcuser.ErrLeaseHeld):
		return exitLeaseHeld
	default:
		log.Error("sync failed", "error", err)
		return exitFailure
	}
}

// newSyncer opens the store and the directory from cfg. The returned func
// closes both.
func newSyncer(ctx context.Context, cfg Config, log *slog.Logger, mode syncMode, progress func(oidcuser.SyncProgress)) (*oidcuser.Syncer, func(), error) {
	dir, err := newDirectory(ctx, cfg, log, nil) // a one-shot run exports no metrics
	if err != nil {
		return nil, nil, err
	}
	closeDir := func() {
		if c, ok := dir.(io.Closer); ok {
			_ = c.Close()
		}
	}
	store, ready, err := openStore(ctx, cfg, log)
	if err != nil {
		closeDir()
		return nil, nil, err
	}
	closeAll := func() {
		if err := store.Close(); err != nil {
			log.Error("closing store", "error", err)
		}
		closeDir()
	}
	syncer, err := buildSyncer(cfg, store, dir, log, mode, progress)
	if err == nil {
		err = waitReady(ctx, ready, 30*time.Second)
	}
	if err != nil {
		closeAll()
		return nil, nil, err
	}
	return syncer, closeAll, nil
}

// buildSyncer checks that the directory can be listed and the store can keep
// sync state.
// syncMode is how `usersvc sync` was asked to run.
type syncMode struct{ full, dryRun bool }

func buildSyncer(cfg Config, store proxy.Store, dir oidcuser.Directory, log *slog.Logger, mode syncMode, progress func(oidcuser.SyncProgress)) (*oidcuser.Syncer, error) {
	lister, ok := dir.(oidcuser.Lister)
	if !ok {
		return nil, &configError{Var: "DIRECTORY", Problem: "no directory to sync from: set OKTA_CLIENT_ORGURL (with credentials) or DIRECTORY_FILE"}
	}
	syncStore, ok := store.(oidcuser.SyncStore)
	if !ok {
		return nil, fmt.Errorf("the %s store cannot keep sync state", store.Kind())
	}
	return oidcuser.NewSyncer(lister, syncStore, syncConfig(cfg, dir, log, mode, progress)), nil
}

// scheduleSync starts SYNC_INTERVAL runs in the server.
func scheduleSync(ctx context.Context, cfg Config, store proxy.Store, dir oidcuser.Directory, ready []handlers.Check, log *slog.Logger, m *metrics) (stop func(), err error) {
	syncer, err := buildSyncer(cfg, store, dir, log, syncMode{}, newProgressReporter(nil, log))
	if err != nil {
		var cerr *configError
		if errors.As(err, &cerr) {
			cerr.Var, cerr.Problem = "SYNC_INTERVAL", "is set but there is "+cerr.Problem
		}
		return nil, err
	}
	log.Info("directory sync scheduled", "interval", cfg.Sync.Interval.String())
	return startSyncSchedule(ctx, cfg.Sync.Interval, syncer, ready, log, m), nil
}

func syncConfig(cfg Config, dir oidcuser.Directory, log *slog.Logger, mode syncMode, progress func(oidcuser.SyncProgress)) oidcuser.SyncConfig {
	host, _ := os.Hostname()
	sc := oidcuser.SyncConfig{
		// Each directory keeps its own watermark: switching from the file
		// to Okta must not skip Okta people older than the file's newest.
		Name:                 cfg.Directory,
		Owner:                fmt.Sprintf("%s-%d", host, os.Getpid()),
		LeaseTTL:             cfg.Sync.LeaseTTL,
		MaxDeactivatePercent: cfg.Sync.MaxDeactivatePercent,
		TeamPattern:          cfg.Sync.TeamPattern,
		TeamOverwrite:        cfg.Sync.TeamOverwrite,
		Full:                 mode.full,
		DryRun:               mode.dryRun,
		Logger:               log,
		Progress:             progress,
	}
	if groups, ok := dir.(oidcuser.GroupLister); ok {
		sc.Groups = groups
	} else if sc.TeamPattern != nil {
		log.Warn("SYNC_TEAM_GROUP_PATTERN is ignored: this directory has no group memberships")
	}
	return sc
}

// waitReady polls readiness checks (the Neo4j schema step) until they pass.
func waitReady(ctx context.Context, checks []handlers.Check, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for _, c := range checks {
		for {
			err := c.Probe(ctx)
			if err == nil {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("graph store not ready after %s: %s: %w", limit, c.Name, err)
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	return nil
}

func printSyncSummary(w io.Writer, rep oidcuser.SyncReport, err error, dryRun bool) {
	outcome := "done"
	switch {
	case errors.Is(err, oidcuser.ErrMassChange):
		outcome = "stopped by the mass-change guard; nothing written"
	case errors.Is(err, oidcuser.ErrLeaseHeld):
		outcome = "skipped: another runner holds the sync lease"
	case err != nil:
		outcome = "failed: " + err.Error()
	}
	if dryRun {
		outcome = "dry run, nothing written: " + outcome
		for _, c := range rep.Changes {
			if c.Action == "move" {
				fmt.Fprintf(w, "  would move %s -> %s\n", c.From, c.Key)
				continue
			}
			fmt.Fprintf(w, "  would %s %s\n", c.Action, c.Key)
		}
	}
	fmt.Fprintf(w, "sync %s\n  fetched %d, created %d, updated %d, unchanged %d, deactivated %d, moved %d, skipped %d\n", outcome,
		rep.Fetched, rep.Created, rep.Updated, rep.Unchanged, rep.Deactivated, rep.Moved, rep.Skipped)
	if !rep.Watermark.IsZero() {
		fmt.Fprintf(w, "  watermark %s\n", rep.Watermark.UTC().Format(time.RFC3339Nano))
	}
	if rep.Elapsed > 0 {
		fmt.Fprintf(w, "  elapsed %s\n", rep.Elapsed.Round(time.Millisecond))
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// terminal shares a terminal between log records and a progress line that
// is redrawn in place: a record first clears the line, the next progress
// report draws it again.
type terminal struct {
	mu       sync.Mutex
	w        io.Writer
	lineOpen bool
}

func (t *terminal) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.lineOpen {
		_, _ = io.WriteString(t.w, "\r\x1b[K")
		t.lineOpen = false
	}
	return t.w.Write(p)
}

// draw replaces the progress line; final leaves it on screen.
func (t *terminal) draw(line string, final bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	end := "\x1b[K"
	if final {
		end += "\n"
	}
	_, _ = io.WriteString(t.w, "\r"+line+end)
	t.lineOpen = !final
}

// newProgressReporter draws a one-line progress report (counts, rate, ETA)
// on a terminal; without one (term nil) it logs progress every 5 seconds.
func newProgressReporter(term *terminal, log *slog.Logger) func(oidcuser.SyncProgress) {
	p := &progress{term: term, log: log, now: time.Now}
	return p.report
}

type progress struct {
	mu         sync.Mutex
	term       *terminal
	log        *slog.Logger
	now        func() time.Time
	phase      string
	phaseStart time.Time
	last       time.Time
}

func (p *progress) report(s oidcuser.SyncProgress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if s.Phase != p.phase {
		p.phase, p.phaseStart, p.last = s.Phase, now, time.Time{}
	}
	every := 5 * time.Second
	if p.term != nil {
		every = 200 * time.Millisecond
	}
	finished := s.Total > 0 && s.Done == s.Total
	if now.Sub(p.last) < every && !finished {
		return
	}
	p.last = now
	rate := 0.0
	if elapsed := now.Sub(p.phaseStart).Seconds(); elapsed > 0 {
		rate = float64(s.Done) / elapsed
	}
	eta := ""
	if s.Total > 0 && rate > 0 && !finished {
		eta = time.Duration(float64(s.Total-s.Done) / rate * float64(time.Second)).Round(time.Second).String()
	}
	if p.term == nil {
		p.log.Info("sync progress", "phase", s.Phase, "done", s.Done, "total", s.Total,
			"per_second", int(rate), "eta", eta)
		return
	}
	line := fmt.Sprintf("%-5s %d", s.Phase, s.Done)
	if s.Total > 0 {
		line += fmt.Sprintf("/%d (%d%%)", s.Total, s.Done*100/s.Total)
	}
	if rate > 0 {
		line += fmt.Sprintf("  %.0f users/s", rate)
	}
	if eta != "" {
		line += "  ETA " + eta
	}
	p.term.draw(line, finished)
}

// startSyncSchedule runs the sync every interval in the server (first once
// the store is ready). The lease keeps it to one replica at a time. stop
// cancels a run in progress and waits for it.
func startSyncSchedule(ctx context.Context, interval time.Duration, syncer *oidcuser.Syncer, ready []handlers.Check, log *slog.Logger, m *metrics) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := waitReady(ctx, ready, time.Duration(1<<62)); err != nil {
			return
		}
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			start := time.Now()
			rep, err := syncer.Run(ctx)
			outcome := syncOutcome(err)
			m.SyncRun(outcome, rep, time.Since(start))
			switch outcome {
			case "ok", "lease_held":
				log.Debug("scheduled sync", "outcome", outcome)
			case "canceled":
				return
			default:
				log.Error("scheduled sync did not complete", "outcome", outcome, "error", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return func() { cancel(); <-done }
}

// syncOutcome is the metrics label of a run's result.
func syncOutcome(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, oidcuser.ErrLeaseHeld):
		return "lease_held"
	case errors.Is(err, oidcuser.ErrMassChange):
		return "guard_tripped"
	case errors.Is(err, context.Canceled):
		return "canceled"
	default:
		return "error"
	}
}
