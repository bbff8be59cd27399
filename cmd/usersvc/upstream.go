package main

import (
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/usersvc/usersvc/handlers"
	"github.com/usersvc/usersvc/handlers/upstream"
)

// UpstreamConfig is the pass-through to Amundsen's metadata service; URL is
// nil when it is off.
type UpstreamConfig struct {
	URL         *url.URL
	Timeout     time.Duration
	MaxBody     int64
	ForwardAuth bool
}

func loadUpstream(r *envReader) UpstreamConfig {
	u := UpstreamConfig{
		Timeout:     r.duration("UPSTREAM_TIMEOUT", 10*time.Second),
		MaxBody:     r.size("UPSTREAM_MAX_BODY", 10<<20),
		ForwardAuth: r.boolean("UPSTREAM_FORWARD_AUTH", true),
	}
	if u.Timeout == 0 {
		r.fail("UPSTREAM_TIMEOUT", "must be positive")
	}
	if u.MaxBody <= 0 {
		r.fail("UPSTREAM_MAX_BODY", "must be positive")
	}
	raw := r.str("METADATA_UPSTREAM_URL", "")
	if raw == "" {
		return u
	}
	parsed, err := url.Parse(raw)
	if err != nil || (parsed.Scheme != "http" && parsed.Scheme != "https") || parsed.Host == "" ||
		parsed.User != nil || parsed.RawQuery != "" || parsed.Fragment != "" || strings.Contains(parsed.Path, "//") {
		r.fail("METADATA_UPSTREAM_URL", "must be an http(s) base URL like http://amundsen-metadata:5002 (no user, query or fragment), got %q", raw)
		return u
	}
	u.URL = parsed
	return u
}

// sizeUnits are the suffixes UPSTREAM_MAX_BODY accepts, longest first.
var sizeUnits = []struct {
	suffix string
	factor int64
}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}, {"", 1}}

// size reads a byte count: a plain integer or one with a binary unit.
func (r *envReader) size(name string, def int64) int64 {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	for _, u := range sizeUnits {
		num, ok := strings.CutSuffix(v, u.suffix)
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
		if err != nil || n < 0 || n > (1<<40)/u.factor {
			break
		}
		return n * u.factor
	}
	r.fail(name, "must be a size such as 10MiB, 512KiB or 1048576, up to 1TiB, got %q", v)
	return def
}

// newUpstream builds the pass-through, or returns a nil handler when it is
// off. The reachability check is reported on /healthcheck only: the user
// routes work without the upstream, so readiness must not depend on it.
func newUpstream(cfg UpstreamConfig, trusted []netip.Prefix, log *slog.Logger, obs upstream.Observer) (http.Handler, []handlers.Check, func(), error) {
	if cfg.URL == nil {
		return nil, nil, func() {}, nil
	}
	p, err := upstream.New(upstream.Config{
		URL:         cfg.URL,
		Timeout:     cfg.Timeout,
		MaxBody:     cfg.MaxBody,
		ForwardAuth: cfg.ForwardAuth,
		Logger:      log,
		Observer:    obs,

		TrustedProxies: trusted,
	})
	if err != nil {
		return nil, nil, nil, &configError{Var: "METADATA_UPSTREAM_URL", Problem: err.Error()}
	}
	log.Info("passing other metadata routes through", "upstream", p.Target(), "timeout", cfg.Timeout.String(),
		"max_body", cfg.MaxBody, "forward_auth", cfg.ForwardAuth)
	return p, []handlers.Check{{Name: "upstream", Probe: p.Probe}}, p.Close, nil
}
