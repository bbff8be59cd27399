package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/usersvc/usersvc/handlers"
	"github.com/usersvc/usersvc/oidcuser"
)

// startEventHooks starts the Okta event-hook worker when a secret is
// configured. The worker runs on a context of its own, not ctx: after
// SIGTERM it still applies what was acknowledged; stop(ctx) closes the
// queue and waits for the worker until ctx ends, then cancels it.
func startEventHooks(ctx context.Context, cfg Config, store oidcuser.HookStore, dir oidcuser.Directory, log *slog.Logger, m *metrics) (*handlers.EventHookConfig, func(context.Context), error) {
	if cfg.EventHook.Secret == "" {
		return nil, func(context.Context) {}, nil
	}
	byID, ok := dir.(oidcuser.IDLookup)
	if !ok {
		return nil, nil, &configError{Var: "OKTA_EVENT_HOOK_SECRET", Problem: fmt.Sprintf("directory %q cannot look people up by id", cfg.Directory)}
	}
	hooks := oidcuser.NewEventHooks(byID, store, oidcuser.EventHooksConfig{
		LookupTimeout: cfg.Resolver.LookupTimeout,
		Logger:        log,
		Observer:      m,
	})
	workCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() { defer close(done); hooks.Run(workCtx) }()
	stopped := false
	stop := func(wait context.Context) {
		if stopped {
			return
		}
		stopped = true
		hooks.Close()
		select {
		case <-done:
		case <-wait.Done():
			log.Warn("okta event hook: shutdown timeout reached; events still queued are left to the next sync")
		}
		cancel()
		<-done
	}
	log.Info("okta event hooks on", "path", handlers.EventHookPath, "header", cfg.EventHook.Header, "directory", cfg.Directory)
	return &handlers.EventHookConfig{Header: cfg.EventHook.Header, Secret: cfg.EventHook.Secret, Sink: hooks}, stop, nil
}
