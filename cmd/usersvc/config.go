package main

import (
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"
)

// envVar documents one setting. The table is the single list of names the
// service reads: `usersvc env` prints it and the chart tests check against it.
type envVar struct {
	Name    string
	Default string
	Help    string
}

var envVars = []envVar{
	{"LISTEN_ADDR", ":5002", "API listen address."},
	{"LOG_LEVEL", "info", "debug, info, warn or error."},
	{"LOG_FORMAT", "json", "json or text."},
	{"SHUTDOWN_TIMEOUT", "20s", "How long in-flight requests may run after SIGTERM."},
	{"AUTH_DISABLED", "false", "true turns bearer-token checks off (local use only)."},
	{"FLASK_OIDC_CONFIG_URL", "", "OIDC discovery URL; empty means auth off, allowed only with AUTH_DISABLED=true."},
	{"PROXY_CLIENT", "embedded (neo4j when PROXY_HOST is set)", "Graph store: neo4j or embedded."},
	{"PROXY_HOST", "", "Neo4j URI host, bolt://host or neo4j://host."},
	{"EMBEDDED_DB_PATH", "./data/usersvc.db", "File of the embedded store."},
	{"EMBEDDED_CATALOG_FILE", "", "Optional JSON catalog (tables, dashboards, features, reads) loaded into the embedded store at start."},
}

// Config is the service configuration, read once from the environment.
type Config struct {
	ListenAddr      string
	LogLevel        slog.Level
	LogFormat       string
	ShutdownTimeout time.Duration

	AuthDisabled  bool
	OIDCConfigURL string

	ProxyClient         string
	ProxyHost           string
	EmbeddedDBPath      string
	EmbeddedCatalogFile string
}

// configError names the variable at fault; main prints it as one line and
// exits 2.
type configError struct {
	Var     string
	Problem string
}

func (e *configError) Error() string { return e.Var + ": " + e.Problem }

// envReader reads typed values and keeps the first problem it meets.
type envReader struct {
	getenv func(string) string
	err    *configError
}

func (r *envReader) fail(name, format string, args ...any) {
	if r.err == nil {
		r.err = &configError{Var: name, Problem: fmt.Sprintf(format, args...)}
	}
}

func (r *envReader) str(name, def string) string {
	if v := strings.TrimSpace(r.getenv(name)); v != "" {
		return v
	}
	return def
}

func (r *envReader) boolean(name string, def bool) bool {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		r.fail(name, "must be true or false, got %q", v)
	}
	return b
}

func (r *envReader) duration(name string, def time.Duration) time.Duration {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		r.fail(name, "must be a non-negative duration such as 30s, got %q", v)
	}
	return d
}

func (r *envReader) oneOf(name, def string, allowed ...string) string {
	v := strings.ToLower(r.str(name, def))
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	r.fail(name, "must be one of %s, got %q", strings.Join(allowed, ", "), v)
	return def
}

func (r *envReader) listenAddr(name, def string) string {
	v := r.str(name, def)
	_, port, err := net.SplitHostPort(v)
	if err != nil {
		r.fail(name, "must be host:port or :port, got %q", v)
		return v
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		r.fail(name, "port must be a number from 0 to 65535, got %q", port)
	}
	return v
}

// loadConfig reads and validates the configuration.
func loadConfig(getenv func(string) string) (Config, error) {
	r := &envReader{getenv: getenv}
	var c Config
	c.ListenAddr = r.listenAddr("LISTEN_ADDR", ":5002")
	switch r.oneOf("LOG_LEVEL", "info", "debug", "info", "warn", "error") {
	case "debug":
		c.LogLevel = slog.LevelDebug
	case "warn":
		c.LogLevel = slog.LevelWarn
	case "error":
		c.LogLevel = slog.LevelError
	default:
		c.LogLevel = slog.LevelInfo
	}
	c.LogFormat = r.oneOf("LOG_FORMAT", "json", "json", "text")
	c.ShutdownTimeout = r.duration("SHUTDOWN_TIMEOUT", 20*time.Second)

	c.AuthDisabled = r.boolean("AUTH_DISABLED", false)
	c.OIDCConfigURL = r.str("FLASK_OIDC_CONFIG_URL", "")

	c.ProxyHost = r.str("PROXY_HOST", "")
	defaultClient := "embedded"
	if c.ProxyHost != "" {
		defaultClient = "neo4j"
	}
	c.ProxyClient = r.oneOf("PROXY_CLIENT", defaultClient, "neo4j", "embedded")
	c.EmbeddedDBPath = r.str("EMBEDDED_DB_PATH", "./data/usersvc.db")
	c.EmbeddedCatalogFile = r.str("EMBEDDED_CATALOG_FILE", "")

	if r.err == nil {
		validate(&c, r)
	}
	if r.err != nil {
		return Config{}, r.err
	}
	return c, nil
}

// validate checks rules that span variables.
func validate(c *Config, r *envReader) {
	if !c.AuthDisabled {
		// Token verification arrives with the OIDC middleware; until then the
		// service must not pretend to protect anything.
		r.fail("AUTH_DISABLED", "must be true: bearer-token verification is not available in this build")
	}
	if c.ProxyClient == "neo4j" {
		r.fail("PROXY_CLIENT", "the neo4j store is not available in this build; use embedded")
	}
}
