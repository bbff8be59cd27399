package main

import (
	"fmt"
	"log/slog"

	"github.com/usersvc/usersvc/handlers"
	"github.com/usersvc/usersvc/oidcuser"
	"github.com/usersvc/usersvc/proxy"
)

// newSCIM turns on SCIM 2.0 provisioning when a token is configured. The
// endpoint writes through the observed store, so its calls show in the
// store metrics like every other path's.
func newSCIM(cfg Config, store proxy.Store, log *slog.Logger, m *metrics) (*handlers.SCIMConfig, error) {
	if len(cfg.SCIMTokens) == 0 {
		return nil, nil
	}
	ps, ok := store.(oidcuser.ProvisionStore)
	if !ok {
		return nil, fmt.Errorf("SCIM provisioning: the %s store cannot find people by SCIM id", store.Kind())
	}
	log.Info("scim provisioning on", "path", handlers.SCIMPath, "tokens", len(cfg.SCIMTokens))
	return &handlers.SCIMConfig{Tokens: cfg.SCIMTokens, Users: oidcuser.NewProvisioner(ps, log, m)}, nil
}
