// Command usersvc serves Amundsen's metadata user API: it answers "who is
// this user?" from the graph and, for people the graph does not know yet,
// from the identity provider's directory.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/usersvc/usersvc/docs"
	"github.com/usersvc/usersvc/handlers"
	"github.com/usersvc/usersvc/handlers/auth"
	"github.com/usersvc/usersvc/oidcuser"
	"github.com/usersvc/usersvc/oidcuser/entra"
	"github.com/usersvc/usersvc/oidcuser/file"
	"github.com/usersvc/usersvc/oidcuser/google"
	"github.com/usersvc/usersvc/oidcuser/ldap"
	"github.com/usersvc/usersvc/oidcuser/okta"
	"github.com/usersvc/usersvc/proxy"
	"github.com/usersvc/usersvc/proxy/embedded"
	neo4jstore "github.com/usersvc/usersvc/proxy/neo4j"
	"github.com/usersvc/usersvc/schema"
)

// version and commit are set at build time (-ldflags -X); see the Dockerfile.
var (
	version = "dev"
	commit  = "unknown"
)

const (
	exitOK      = 0
	exitFailure = 1
	exitConfig  = 2
)

func main() {
	tuneGC(os.Getenv)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	warnUnknownVariables(os.Environ(), os.Stderr)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is main without process globals, so tests can drive it.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 {
		cmd = args[0]
	}
	switch cmd {
	case "serve":
	case "env":
		printEnv(stdout)
		return exitOK
	case "check":
		return check(args[1:], stdout, stderr)
	case "check-config":
		gin.SetMode(gin.ReleaseMode)
		return checkConfig(ctx, getenv, stdout, stderr)
	case "version", "--version", "-version":
		b := buildInfo()
		fmt.Fprintf(stdout, "usersvc %s (commit %s, %s)\n", b.Version, b.Commit, b.GoVersion)
		return exitOK
	case "sync":
		return runSync(ctx, args[1:], getenv, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, "usage: usersvc [serve|sync|env|check-config|version|check URL]\n\nserve         run the API (default)\nsync          import people from the directory into the graph (usersvc sync --help)\nenv           list the environment variables it reads\ncheck-config  validate the configuration and probe each dependency once, without serving\nversion       print the version, the commit and Go's version\ncheck URL     exit 0 when URL answers 2xx within 5s (container probes and helm test)")
		return exitOK
	default:
		fmt.Fprintf(stderr, "usersvc: unknown command %q (try: usersvc help)\n", cmd)
		return exitConfig
	}

	// gin's debug banner and route dump are noise in a service's logs.
	gin.SetMode(gin.ReleaseMode)
	cfg, err := loadConfig(getenv)
	if err != nil {
		printConfigErrors(stderr, err)
		return exitConfig
	}
	logOut := newBufferedLog(stdout)
	defer logOut.close()
	log := newLogger(cfg, logOut)
	if err := serve(ctx, cfg, log, newAccessLog(cfg, logOut)); err != nil {
		return failureExit(err, stderr, log, "usersvc stopped")
	}
	return exitOK
}

// failureExit reports err the way its kind asks: a configuration problem or
// a graph the store refuses as one line on stderr (exit 2), anything else as
// a log record (exit 1).
func failureExit(err error, stderr io.Writer, log *slog.Logger, msg string) int {
	var cerr *configError
	if errors.As(err, &cerr) {
		printConfigErrors(stderr, cerr)
		return exitConfig
	}
	var dup *neo4jstore.DuplicateKeyError
	if errors.As(err, &dup) {
		fmt.Fprintf(stderr, "usersvc: %v\n", dup)
		return exitConfig
	}
	log.Error(msg, "error", err)
	return exitFailure
}

// printConfigErrors writes one line per configuration problem.
func printConfigErrors(stderr io.Writer, err error) {
	var all configErrors
	if !errors.As(err, &all) {
		var one *configError
		if errors.As(err, &one) {
			all = configErrors{one}
		}
	}
	if len(all) == 0 {
		fmt.Fprintf(stderr, "usersvc: invalid configuration: %v\n", err)
		return
	}
	for _, e := range all {
		fmt.Fprintf(stderr, "usersvc: invalid configuration: %v\n", e)
	}
}

// check GETs a URL: the probe of images that have no shell or curl.
func check(args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprintln(stderr, "usage: usersvc check URL")
		return exitConfig
	}
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(args[0])
	if err != nil {
		fmt.Fprintf(stderr, "usersvc check: %v\n", err)
		return exitFailure
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	fmt.Fprintf(stdout, "%d %s\n", resp.StatusCode, strings.TrimSpace(string(body)))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return exitFailure
	}
	return exitOK
}

func newLogger(cfg Config, w *bufferedLog) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	var h slog.Handler = slog.NewJSONHandler(w, opts)
	if cfg.LogFormat == "text" {
		h = slog.NewTextHandler(w, opts)
	}
	return slog.New(flushOnLevel{Handler: h, flush: w.flush})
}

func printEnv(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tDEFAULT\tMEANING")
	for _, v := range envVars {
		def := v.Default
		if def == "" {
			def = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", v.Name, def, v.Help)
	}
	_ = tw.Flush()
}

// serve wires the service from cfg and runs it until ctx ends, then drains
// in-flight requests for up to cfg.ShutdownTimeout. access (optional)
// writes the access log; nil sends it through log.
func serve(ctx context.Context, cfg Config, log *slog.Logger, access handlers.AccessLog) error {
	build := buildInfo()
	m := newMetrics(build)
	authCfg, ready, err := setupAuth(ctx, cfg, log, m)
	if err != nil {
		return err
	}

	opened, storeReady, err := openStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer func() {
		if err := opened.Close(); err != nil {
			log.Error("closing store", "error", err)
		}
	}()
	var refused <-chan error // a graph the store cannot use ends the server
	if n, ok := opened.(*neo4jstore.Store); ok {
		refused = n.Refused()
	}
	// Every writer of this process (API, resolution, sync, hooks, SCIM, the
	// System Log poller) goes through rawStore, so the read cache sees
	// every write it must drop answers for.
	rawStore, invalidate := withGraphCache(opened, cfg.GraphCache, m)
	store := proxy.Observed(rawStore, m)

	directory, err := newDirectory(ctx, cfg, log, m.RateLimitRemaining)
	if err != nil {
		return err
	}
	resolver := oidcuser.NewResolver(store, oidcuser.ResolverConfig{
		Directory:     directory,
		Source:        cfg.Directory,
		NegativeTTL:   cfg.Resolver.NegativeTTL,
		NegativeSize:  cfg.Resolver.NegativeSize,
		LookupTimeout: cfg.Resolver.LookupTimeout,
		Logger:        log,
		Observer:      m,
	})
	var advisory []handlers.Check
	if directory != nil {
		advisory = append(advisory, handlers.Check{Name: "directory:" + cfg.Directory, Probe: resolver.DirectoryCredentials})
		probed := make(chan struct{})
		go func() { defer close(probed); resolver.ProbeDirectory(ctx, 10*time.Second) }()
		defer func() { <-probed }()
	}
	if reloader, ok := directory.(oidcuser.Reloader); ok {
		watchCtx, stopWatch := context.WithCancel(ctx)
		watched := make(chan struct{})
		go func() { defer close(watched); reloader.Watch(watchCtx, time.Second, resolver.ForgetNotFound) }()
		defer func() { stopWatch(); <-watched }()
	}
	if cfg.Sync.Interval > 0 {
		stopSync, err := scheduleSync(ctx, cfg, rawStore, directory, storeReady, log, m)
		if err != nil {
			return err
		}
		defer stopSync()
	}
	upstreamHandler, upstreamChecks, stopUpstream, err := newUpstream(cfg.Upstream, cfg.TrustedProxies, log, m)
	if err != nil {
		return err
	}
	defer stopUpstream()
	spec, err := docs.OpenAPIJSON()
	if err != nil {
		return fmt.Errorf("openapi document: %w", err)
	}

	hookCfg, stopHooks, err := startEventHooks(ctx, cfg, store, directory, log, m)
	if err != nil {
		return err
	}
	defer func() {
		// Unless shutdown drained it already (below), the server is
		// failing: stop the worker now.
		now, cancel := context.WithCancel(context.Background())
		cancel()
		stopHooks(now)
	}()

	stopSyslog, err := startSyslogPoller(ctx, cfg, rawStore, store, directory, storeReady, log, m)
	if err != nil {
		return err
	}
	defer func() {
		now, cancel := context.WithCancel(context.Background())
		cancel()
		stopSyslog(now)
	}()

	scimCfg, err := newSCIM(cfg, store, log, m)
	if err != nil {
		return err
	}

	handler := handlers.New(handlers.Deps{
		Logger:        log,
		AccessLog:     access,
		Users:         resolver,
		Store:         store,
		Decoder:       schema.NewUserDecoder(),
		Health:        []handlers.Check{{Name: "store:" + store.Kind(), Probe: store.Health}},
		Ready:         append(storeReady, ready...),
		Auth:          authCfg,
		Observer:      m,
		Build:         build,
		OpenAPI:       spec,
		CORSOrigins:   cfg.CORSOrigins,
		Upstream:      upstreamHandler,
		UpstreamWrote: invalidate,
		Reported:      upstreamChecks,
		Advisory:      advisory,

		TrustedProxies: cfg.TrustedProxies,
		EventHook:      hookCfg,
		SCIM:           scimCfg,
	})
	if cfg.MetricsAddr != "" {
		stopMetrics, err := serveMetrics(cfg.MetricsAddr, m, cfg.PprofEnabled, log)
		if err != nil {
			return err
		}
		defer stopMetrics()
	}

	ln, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.ListenAddr, err)
	}
	srv := newHTTPServer(handler, log)
	conns := newConnTracker()
	srv.ConnState = conns.hook
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("usersvc listening", "addr", ln.Addr().String(), "store", store.Kind())

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case err := <-refused:
		_ = srv.Close()
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: draining in-flight requests", "timeout", cfg.ShutdownTimeout.String())
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := drain(shutdownCtx, srv, ln, conns, errc); err != nil {
		return fmt.Errorf("graceful shutdown: %w", err)
	}
	// No delivery can arrive now: apply what was acknowledged, within
	// what is left of SHUTDOWN_TIMEOUT.
	stopHooks(shutdownCtx)
	stopSyslog(shutdownCtx)
	log.Info("shutdown complete")
	return nil
}

// newHTTPServer sets every server timeout so slow or idle clients cannot hold
// connections forever.
func newHTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// setupAuth builds the bearer-token verifier and starts provider discovery in
// the background; until keys load, /readyz fails and protected routes 503.
func setupAuth(ctx context.Context, cfg Config, log *slog.Logger, obs auth.Observer) (handlers.AuthConfig, []handlers.Check, error) {
	if cfg.AuthDisabled {
		log.Warn("AUTH_DISABLED=true: every route is open without a bearer token; never run like this in production")
		return handlers.AuthConfig{}, nil, nil
	}
	o := cfg.OIDC
	if u, _ := url.Parse(o.ConfigURL); u.Scheme == "http" && !isLoopbackHost(u.Hostname()) {
		log.Warn("FLASK_OIDC_CONFIG_URL uses plain http: keys can be tampered with in transit; use https", "url", o.ConfigURL)
	}
	cacheSize := o.TokenCacheSize
	if cacheSize == 0 {
		cacheSize = -1 // the auth package reads 0 as "default"
	}
	authenticator, err := auth.New(auth.Config{
		DiscoveryURL:     o.ConfigURL,
		Audience:         o.Audience,
		AllowedClientIDs: o.AllowedClientIDs,
		RequiredScopes:   o.RequiredScopes,
		ClockSkew:        o.ClockSkew,
		UserIDClaim:      o.UserIDField,
		GroupsClaim:      o.GroupsClaim,
		CacheSize:        cacheSize,
		HTTPClient:       &http.Client{Timeout: o.HTTPTimeout},
		Logger:           log,
		Observer:         obs,

		TokenValidation:          o.TokenValidation,
		IntrospectionURL:         o.IntrospectionURL,
		ClientID:                 o.ClientID,
		ClientSecret:             o.ClientSecret,
		IntrospectionAudience:    introspectionAudience(o),
		IntrospectionCacheTTL:    o.IntrospectionCacheTTL,
		IntrospectionNegativeTTL: o.IntrospectionNegTTL,
		IntrospectionRate:        float64(o.IntrospectionRate),
		IntrospectionClientRate:  float64(o.IntrospectionClientRate),
		IntrospectionCacheSize:   o.IntrospectionCacheSize,
	})
	if err != nil {
		return handlers.AuthConfig{}, nil, &configError{Var: "FLASK_OIDC_CONFIG_URL", Problem: err.Error()}
	}
	authenticator.Start(ctx)
	if o.ClientID != "" && o.ClientSecret != "" && o.TokenValidation != "jwt" && !o.AudienceSet && len(o.AllowedClientIDs) == 0 {
		// Okta's org authorization server gives every token its org URL as
		// aud: without a client list, any app's access token is accepted.
		log.Warn("introspected tokens are accepted from any client of the provider; set OIDC_ALLOWED_CLIENT_IDS to the Amundsen frontend's client id")
	}
	log.Info("bearer-token authentication on", "discovery_url", o.ConfigURL, "audience", o.Audience,
		"token_validation", o.TokenValidation, "introspection_credentials", o.ClientID != "" && o.ClientSecret != "",
		"open_endpoints", strings.Join(o.Whitelist, ","))
	return handlers.AuthConfig{
		Authenticator: authenticator,
		Allowlist:     o.Whitelist,
		WriteGroups:   o.WriteGroups,
	}, []handlers.Check{{Name: "oidc", Probe: authenticator.Ready}}, nil
}

// introspectionAudience is OIDC_AUDIENCE only when it was set: org
// authorization server tokens carry the org URL as aud, so the client-id
// default would refuse every one of them.
func introspectionAudience(o OIDCConfig) string {
	if o.AudienceSet {
		return o.Audience
	}
	return ""
}

// newDirectory returns the directory unknown users are resolved from, or nil
// when none is configured. onRateRemaining (optional) observes Okta's
// remaining rate limit.
func newDirectory(ctx context.Context, cfg Config, log *slog.Logger, onRateRemaining func(bucket string, remaining int)) (oidcuser.Directory, error) {
	// Each directory logs its own retries and reconnects.
	cfg.Entra.Logger, cfg.Google.Logger, cfg.LDAP.Logger = log, log, log
	switch cfg.Directory {
	case "file":
		dir, err := file.Open(cfg.DirectoryFile, log)
		if err != nil {
			return nil, &configError{Var: "DIRECTORY_FILE", Problem: err.Error()}
		}
		log.Info("resolving unknown users from a directory file", "path", cfg.DirectoryFile, "people", dir.Len())
		return dir, nil
	case "entra":
		return wrapDirectory(entra.New(ctx, cfg.Entra))("ENTRA_TENANT_ID", log, "resolving unknown users from Microsoft Entra ID", "tenant", cfg.Entra.TenantID)
	case "google":
		return wrapDirectory(google.New(ctx, cfg.Google))("GOOGLE_CREDENTIALS_FILE", log, "resolving unknown users from Google Workspace", "subject", cfg.Google.Subject)
	case "ldap":
		return wrapDirectory(ldap.New(ctx, cfg.LDAP))("LDAP_URL", log, "resolving unknown users from LDAP", "url", cfg.LDAP.URL, "flavor", cfg.LDAP.Flavor)
	case "okta":
	default:
		log.Info("no directory configured: users unknown to the graph answer 404")
		return nil, nil
	}
	o, budget := cfg.Okta.Config, cfg.Okta.Budget
	budget.OnRemaining = onRateRemaining
	// nil: the budget builds its own *http.Transport, so the directory's
	// Close closes only its own connections, not http.DefaultTransport's.
	o.Transport = oidcuser.NewBudget(nil, budget)
	dir, err := okta.New(ctx, o)
	if err != nil {
		return nil, &configError{Var: "OKTA_CLIENT_ORGURL", Problem: err.Error()}
	}
	log.Info("resolving unknown users from Okta", "org_url", o.OrgURL, "mode", o.AuthorizationMode)
	return dir, nil
}

// wrapDirectory turns a directory constructor's answer into newDirectory's:
// a refused configuration is a configError (exit 2), naming variable when
// the constructor's message names none.
func wrapDirectory[D oidcuser.Directory](dir D, err error) func(variable string, log *slog.Logger, msg string, args ...any) (oidcuser.Directory, error) {
	return func(variable string, log *slog.Logger, msg string, args ...any) (oidcuser.Directory, error) {
		if err != nil {
			return nil, &configError{Var: variable, Problem: err.Error()}
		}
		log.Info(msg, args...)
		return dir, nil
	}
}

// buildInfo describes this binary: ldflags when set, else the module's own
// build information.
func buildInfo() handlers.BuildInfo {
	info, _ := debug.ReadBuildInfo()
	return describeBuild(version, commit, info)
}

// describeBuild applies the rule to any build's information (nil when the
// binary carries none): the ldflags values win; a VCS-stamped build supplies
// its pseudo-version and vcs.revision; a -buildvcs=false build has neither
// ("(devel)"), so "dev" and "unknown" stay.
func describeBuild(ldVersion, ldCommit string, info *debug.BuildInfo) handlers.BuildInfo {
	b := handlers.BuildInfo{Version: ldVersion, Commit: ldCommit, GoVersion: runtime.Version()}
	if info == nil {
		return b
	}
	b.GoVersion = info.GoVersion
	if b.Version == "dev" && info.Main.Version != "" && info.Main.Version != "(devel)" {
		b.Version = info.Main.Version
	}
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" && b.Commit == "unknown" {
			b.Commit = s.Value
		}
	}
	return b
}

// serveMetrics runs /metrics on its own listener, so scrapes never compete
// with API traffic and the port can stay cluster-internal. With pprof, the
// same listener serves Go's profiling endpoints (PPROF_ENABLED): the API
// port never does.
func serveMetrics(addr string, m *metrics, pprof bool, log *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics listen on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	if pprof {
		addPprof(mux)
		log.Warn("PPROF_ENABLED=true: profiling endpoints are served on the metrics listener", "addr", ln.Addr().String())
	}
	srv := newHTTPServer(mux, log)
	go func() { _ = srv.Serve(ln) }()
	log.Info("metrics listening", "addr", ln.Addr().String())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}

func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// openStore opens the configured graph store and returns it with the
// readiness checks it adds to its health probe.
func openStore(ctx context.Context, cfg Config, log *slog.Logger) (proxy.Store, []handlers.Check, error) {
	if cfg.ProxyClient == "neo4j" {
		n := cfg.Neo4j
		n.Logger, n.OtherKeys = log, cfg.OtherKeys
		s, err := neo4jstore.Open(n)
		if err != nil {
			return nil, nil, &configError{Var: "PROXY_HOST", Problem: err.Error()}
		}
		s.Start(ctx)
		log.Info("graph store: neo4j", "uri", n.URI, "database", n.Database)
		return s, []handlers.Check{{Name: "neo4j_schema", Probe: s.SchemaReady}}, nil
	}
	s, err := embedded.Open(cfg.EmbeddedDBPath, 5*time.Second, embedded.WithOtherKeys(cfg.OtherKeys))
	if err != nil {
		return nil, nil, fmt.Errorf("embedded store: %w", err)
	}
	if cfg.EmbeddedCatalogFile != "" {
		if err := loadCatalogFile(ctx, s, cfg.EmbeddedCatalogFile); err != nil {
			_ = s.Close()
			return nil, nil, &configError{Var: "EMBEDDED_CATALOG_FILE", Problem: err.Error()}
		}
		log.Info("catalog loaded into embedded store", "file", cfg.EmbeddedCatalogFile)
	}
	log.Info("graph store: embedded", "path", cfg.EmbeddedDBPath)
	return s, nil, nil
}

func loadCatalogFile(ctx context.Context, s proxy.CatalogLoader, path string) error {
	c, err := schema.ReadCatalogFile(path)
	if err != nil {
		return err
	}
	return s.LoadCatalog(ctx, c)
}
