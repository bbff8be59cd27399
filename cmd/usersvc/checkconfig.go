package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/usersvc/usersvc/handlers/auth"
	"github.com/usersvc/usersvc/handlers/upstream"
	"github.com/usersvc/usersvc/oidcuser"
	"github.com/usersvc/usersvc/proxy/embedded"
	neo4jstore "github.com/usersvc/usersvc/proxy/neo4j"
	"github.com/usersvc/usersvc/schema"
)

// probeBudget bounds each dependency probe of check-config.
const probeBudget = 10 * time.Second

// dependencyProbe is one line of check-config: a configured dependency and
// how to reach it once.
type dependencyProbe struct {
	name  string
	probe func(ctx context.Context) (string, error)
}

// checkConfig is `usersvc check-config`: the configuration validated as
// the server validates it, then every configured dependency probed once
// (discovery and keys, the directory, the store, the upstream), one line
// each, without serving and without writing anything. Exit 0 when all
// pass, 1 when one fails, 2 for an invalid configuration.
func checkConfig(ctx context.Context, getenv func(string) string, stdout, stderr io.Writer) int {
	cfg, err := loadConfig(getenv)
	if err != nil {
		printConfigErrors(stderr, err)
		return exitConfig
	}
	fmt.Fprintln(stdout, "ok    configuration")
	log := slog.New(slog.DiscardHandler)
	failed := false
	for _, p := range dependencyProbes(cfg, log) {
		pctx, cancel := context.WithTimeout(ctx, probeBudget)
		detail, err := p.probe(pctx)
		cancel()
		if err != nil {
			failed = true
			fmt.Fprintf(stdout, "FAIL  %-13s %v\n", p.name, err)
			continue
		}
		fmt.Fprintf(stdout, "ok    %-13s %s\n", p.name, detail)
	}
	if failed {
		return exitFailure
	}
	return exitOK
}

func dependencyProbes(cfg Config, log *slog.Logger) []dependencyProbe {
	var probes []dependencyProbe
	if !cfg.AuthDisabled {
		probes = append(probes, dependencyProbe{"oidc", func(ctx context.Context) (string, error) {
			a, err := auth.New(auth.Config{DiscoveryURL: cfg.OIDC.ConfigURL, Audience: cfg.OIDC.Audience,
				HTTPClient: &http.Client{Timeout: cfg.OIDC.HTTPTimeout}, Logger: log})
			if err != nil {
				return "", err
			}
			if err := a.Discover(ctx); err != nil {
				return "", err
			}
			return "discovery document and signing keys loaded from " + cfg.OIDC.ConfigURL, nil
		}})
	}
	if cfg.Directory != "" {
		probes = append(probes, dependencyProbe{"directory", func(ctx context.Context) (string, error) {
			return probeDirectory(ctx, cfg, log)
		}})
	}
	probes = append(probes, dependencyProbe{"store", func(ctx context.Context) (string, error) {
		return probeStore(ctx, cfg, log)
	}})
	if cfg.Upstream.URL != nil {
		probes = append(probes, dependencyProbe{"upstream", func(ctx context.Context) (string, error) {
			p, err := upstream.New(upstream.Config{URL: cfg.Upstream.URL, Timeout: cfg.Upstream.Timeout, MaxBody: cfg.Upstream.MaxBody})
			if err != nil {
				return "", err
			}
			defer p.Close()
			if err := p.Probe(ctx); err != nil {
				return "", err
			}
			return p.Target() + "/healthcheck answers", nil
		}})
	}
	return probes
}

// probeDirectory asks a directory that can (Prober) whether it answers and
// accepts usersvc's credentials; another looks up a person nobody is (a
// random login): "not found" shows the same.
func probeDirectory(ctx context.Context, cfg Config, log *slog.Logger) (string, error) {
	dir, err := newDirectory(ctx, cfg, log, nil)
	if err != nil {
		return "", err
	}
	if c, ok := dir.(io.Closer); ok {
		defer c.Close()
	}
	if p, ok := dir.(oidcuser.Prober); ok {
		err = p.Probe(ctx)
	} else {
		b := make([]byte, 6)
		_, _ = rand.Read(b)
		_, err = dir.LookupUser(ctx, "usersvc-check-config-"+hex.EncodeToString(b))
		switch {
		case schema.IsNotFound(err):
			err = nil
		case err == nil:
			return "", errors.New("a made-up login was found: the directory does not answer lookups as expected")
		}
	}
	switch {
	case errors.Is(err, oidcuser.ErrDirectoryCredentials):
		return "", fmt.Errorf("%s refused usersvc's credentials or permissions", cfg.Directory)
	case err != nil:
		return "", err
	}
	switch cfg.Directory {
	case "file":
		return "file " + cfg.DirectoryFile + " read", nil
	case "okta":
		return "okta " + cfg.Okta.OrgURL + " answers and accepts the credentials", nil
	}
	return cfg.Directory + " answers and accepts the credentials", nil
}

// probeStore reaches the store without writing: Neo4j answers a query, or
// the embedded file opens.
func probeStore(ctx context.Context, cfg Config, log *slog.Logger) (string, error) {
	if cfg.ProxyClient == "neo4j" {
		n := cfg.Neo4j
		n.Logger, n.OtherKeys = log, cfg.OtherKeys
		s, err := neo4jstore.Open(n)
		if err != nil {
			return "", err
		}
		defer s.Close()
		if err := s.Health(ctx); err != nil {
			return "", fmt.Errorf("neo4j %s: %w", n.URI, err)
		}
		return "neo4j " + n.URI + " answers", nil
	}
	s, err := embedded.Open(cfg.EmbeddedDBPath, time.Second, embedded.WithOtherKeys(cfg.OtherKeys))
	if err != nil {
		return "", err
	}
	defer s.Close()
	return "embedded store " + cfg.EmbeddedDBPath + " opens", nil
}
