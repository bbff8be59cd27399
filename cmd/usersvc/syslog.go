package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/usersvc/usersvc/handlers"
	"github.com/usersvc/usersvc/oidcuser"
	"github.com/usersvc/usersvc/proxy"
)

// syslogStore joins the raw store's cursor and lease (proxy.SyncStore) with
// the observed store people are written through, as the hooks write them.
type syslogStore struct {
	proxy.SyncStore
	oidcuser.HookStore
}

// startSyslogPoller starts Okta System Log polling when
// OKTA_EVENTS_POLL_INTERVAL is on (the default with DIRECTORY=okta), once
// the store is ready. Like the hook worker it runs on a context of its own:
// stop(ctx) lets the page in hand be applied and its cursor saved until ctx
// ends, then cancels it.
func startSyslogPoller(ctx context.Context, cfg Config, rawStore proxy.Store, store oidcuser.HookStore, dir oidcuser.Directory,
	ready []handlers.Check, log *slog.Logger, m *metrics) (func(context.Context), error) {
	if cfg.EventsPoll.Interval <= 0 {
		return func(context.Context) {}, nil
	}
	logs, okLogs := dir.(oidcuser.LogReader)
	byID, okID := dir.(oidcuser.IDLookup)
	if !okLogs || !okID {
		return nil, &configError{Var: "OKTA_EVENTS_POLL_INTERVAL", Problem: fmt.Sprintf("directory %q has no System Log: set DIRECTORY=okta or OKTA_EVENTS_POLL_INTERVAL=off", cfg.Directory)}
	}
	syncStore, ok := rawStore.(proxy.SyncStore)
	if !ok {
		return nil, fmt.Errorf("the %s store cannot keep the System Log cursor", rawStore.Kind())
	}
	host, _ := os.Hostname()
	poller := oidcuser.NewSyslogPoller(logs, byID, syslogStore{SyncStore: syncStore, HookStore: store}, oidcuser.SyslogConfig{
		Interval:      cfg.EventsPoll.Interval,
		Owner:         fmt.Sprintf("%s-%d", host, os.Getpid()),
		MinGap:        time.Minute / time.Duration(cfg.EventsPoll.MaxRate),
		LookupTimeout: cfg.Resolver.LookupTimeout,
		Logger:        log,
		Observer:      m,
	})
	workCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := waitReady(workCtx, ready, time.Duration(1<<62)); err != nil {
			return
		}
		poller.Run(workCtx)
	}()
	log.Info("okta system log polling on", "interval", cfg.EventsPoll.Interval.String(), "max_calls_per_minute", cfg.EventsPoll.MaxRate,
		"lease", oidcuser.DefaultSyslogName)
	stopped := false
	return func(wait context.Context) {
		if stopped {
			return
		}
		stopped = true
		poller.Close()
		select {
		case <-done:
		case <-wait.Done():
			log.Warn("okta system log: shutdown timeout reached; the page in hand is read again by the next poller")
		}
		cancel()
		<-done
	}, nil
}
