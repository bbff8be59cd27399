package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/usersvc/usersvc/oidcuser"
	"github.com/usersvc/usersvc/oidcuser/entra"
	"github.com/usersvc/usersvc/oidcuser/google"
	"github.com/usersvc/usersvc/oidcuser/ldap"
	"github.com/usersvc/usersvc/oidcuser/okta"
	"github.com/usersvc/usersvc/proxy"
	neo4jstore "github.com/usersvc/usersvc/proxy/neo4j"
	"github.com/usersvc/usersvc/schema"
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
	{"METRICS_ADDR", ":9102", "Prometheus /metrics listener, separate from the API; off disables it."},
	{"PPROF_ENABLED", "false", "true adds Go's profiling endpoints (/debug/pprof/) to the METRICS_ADDR listener, never the API port; needs METRICS_ADDR."},
	{"CORS_ALLOWED_ORIGINS", "", "Comma list of browser origins (scheme://host[:port]) allowed to call the API, or *; empty: CORS off."},
	{"LOG_LEVEL", "info", "debug, info, warn or error."},
	{"LOG_FORMAT", "json", "json or text."},
	{"SHUTDOWN_TIMEOUT", "20s", "How long in-flight requests may run after SIGTERM."},
	{"AUTH_DISABLED", "false", "true turns bearer-token checks off (local use only); required when FLASK_OIDC_CONFIG_URL is empty."},
	{"FLASK_OIDC_CONFIG_URL", "", "OIDC discovery URL (<issuer>/.well-known/openid-configuration); the issuer and keys come from it."},
	{"FLASK_OIDC_CLIENT_ID", "", "OIDC client id; the default audience."},
	{"FLASK_OIDC_CLIENT_SECRET", "", "With FLASK_OIDC_CLIENT_ID, authenticates token introspection (secret; never logged); without it tokens are only verified as JWTs."},
	{"FLASK_OIDC_SCOPES", "", "Accepted for flaskoidc compatibility (scopes the frontend requests); see OIDC_REQUIRED_SCOPES."},
	{"FLASK_OIDC_PROVIDER_NAME", "", "Accepted for flaskoidc compatibility; unused."},
	{"FLASK_OIDC_REDIRECT_URI", "", "Accepted for flaskoidc compatibility (a login flow setting); unused."},
	{"FLASK_OIDC_OVERWRITE_REDIRECT_URI", "", "Accepted for flaskoidc compatibility; unused."},
	{"FLASK_OIDC_USER_ID_FIELD", "email", "Token claim used as the caller's user id (falls back to sub; introspected: username, then sub); a dotted name reaches into nested claims."},
	{"FLASK_OIDC_WHITELISTED_ENDPOINTS", "status,healthcheck,health", "Comma list of paths (without slashes) or endpoint names (api.healthcheck, api.healthcheckapi) open without a token; exact GET/HEAD match."},
	{"OIDC_AUDIENCE", "FLASK_OIDC_CLIENT_ID", "Expected aud (Okta custom authorization server: api://default)."},
	{"OIDC_ALLOWED_CLIENT_IDS", "", "Comma list; when set, the token's cid/azp/client_id must be one of them."},
	{"OIDC_REQUIRED_SCOPES", "", "Comma or space list of scopes every token must carry (scp array or scope string)."},
	{"OIDC_CLOCK_SKEW", "60s", "Leeway on exp and nbf; 0 is none (at most 10m)."},
	{"OIDC_GROUPS_CLAIM", "groups", "Token claim holding the caller's groups; a dotted name (realm_access.roles) reaches into nested claims, a claim named with the dot wins."},
	{"OIDC_WRITE_GROUPS", "", "Comma list; when set, writing another user's data (PUT /user, follow/own) needs one of these groups."},
	{"OIDC_TOKEN_CACHE_SIZE", "10000", "Verified tokens remembered (by SHA-256) until their exp; 0 turns the cache off."},
	{"OIDC_HTTP_TIMEOUT", "10s", "Timeout for discovery and JWKS requests."},
	{"OIDC_TOKEN_VALIDATION", "auto", "auto: JWTs with a known kid are verified locally, other tokens introspected (RFC 7662) when an endpoint and client secret exist; jwt: never introspect; introspection: always."},
	{"OIDC_INTROSPECTION_URL", "introspection_endpoint of the discovery document", "Token introspection endpoint override."},
	{"OIDC_INTROSPECTION_CACHE_TTL", "5m", "How long an active introspection answer is reused (never past the token's exp)."},
	{"OIDC_INTROSPECTION_NEGATIVE_TTL", "30s", "How long a refused token (inactive, or not for us) is remembered."},
	{"OIDC_INTROSPECTION_RATE", "20", "Introspection calls per second, process-wide (token bucket, burst the same); beyond it new tokens get 503 with Retry-After."},
	{"OIDC_INTROSPECTION_CLIENT_RATE", "a quarter of OIDC_INTROSPECTION_RATE (at least 1)", "Introspection calls per second that one client address (IPv6: its /64) may cause, so one source cannot spend the others' share; behind a proxy, set TRUSTED_PROXIES."},
	{"OIDC_INTROSPECTION_CACHE_SIZE", "10000", "Introspection answers remembered, active and refused each (by SHA-256); always on, whatever OIDC_TOKEN_CACHE_SIZE says."},
	{"TRUSTED_PROXIES", "", "Comma list of CIDRs (or addresses) of proxies whose X-Forwarded-For, -Proto and -Host are believed: the client address and public URL come from them. Empty: none, the peer is the client."},
	{"DIRECTORY", "the one directory configured (okta when Okta is, file when DIRECTORY_FILE is set), else off", "Where unknown users are resolved from: okta, entra, google, ldap, file or off. Settings of two directories without DIRECTORY, or of one other than DIRECTORY, exit 2."},
	{"DIRECTORY_FILE", "", "JSON file of people in the shape of Okta's GET /api/v1/users answer; re-read when it changes."},
	{"OKTA_CLIENT_ORGURL", "scheme+host of an Okta OIDC issuer", "Okta org URL for resolving unknown users; no Okta config turns resolution off."},
	{"OKTA_CLIENT_AUTHORIZATIONMODE", "SSWS", "SSWS (API token) or PrivateKey (OAuth 2.0 private-key JWT)."},
	{"OKTA_CLIENT_TOKEN", "", "SSWS API token (secret; never logged)."},
	{"OKTA_CLIENT_CLIENTID", "", "OAuth client id for PrivateKey mode."},
	{"OKTA_CLIENT_SCOPES", "okta.users.read", "OAuth scopes for PrivateKey mode (comma list)."},
	{"OKTA_CLIENT_PRIVATEKEY", "", "PEM (PKCS#1 or PKCS#8, RSA or EC) or a path to one, for PrivateKey mode (secret)."},
	{"OKTA_CLIENT_PRIVATEKEYID", "", "kid of the private key."},
	{"OKTA_TESTING_DISABLE_HTTPS_CHECK", "false", "Allow a plain-http org URL (test servers only)."},
	{"OKTA_REQUEST_TIMEOUT", "2s", "Deadline of one directory lookup (the Amundsen frontend waits 3s)."},
	{"OKTA_MAX_CONCURRENT", "8", "Most Okta calls in flight at once."},
	{"OKTA_RATE_LIMIT_RESERVE", "10", "Calls of each rate-limit window left unused; past it, lookups answer 503 until the window resets."},
	{"ENTRA_TENANT_ID", "", "Microsoft Entra ID: the tenant (directory) id; with DIRECTORY=entra."},
	{"ENTRA_CLIENT_ID", "", "Entra: the application (client) id of usersvc's app registration (Microsoft Graph application permission User.Read.All)."},
	{"ENTRA_CLIENT_SECRET_FILE", "", "Entra: file holding the client secret's value (secret; never logged)."},
	{"ENTRA_GRAPH_URL", "https://graph.microsoft.com", "Entra: Microsoft Graph's root (national clouds have their own)."},
	{"ENTRA_LOGIN_URL", "https://login.microsoftonline.com", "Entra: the identity platform's token host."},
	{"GOOGLE_CREDENTIALS_FILE", "", "Google Workspace: the service account's JSON key (secret; never logged); with DIRECTORY=google."},
	{"GOOGLE_ADMIN_SUBJECT", "", "Google: the administrator the service account acts as (domain-wide delegation of admin.directory.user.readonly)."},
	{"GOOGLE_CUSTOMER", "my_customer", "Google: the customer users.list lists (my_customer: the subject's own)."},
	{"GOOGLE_DIRECTORY_URL", "https://admin.googleapis.com/", "Google: the Admin SDK Directory API's root."},
	{"LDAP_URL", "", "LDAP or Active Directory: ldap://host or ldaps://host; with DIRECTORY=ldap."},
	{"LDAP_START_TLS", "false", "LDAP: upgrade an ldap:// connection with StartTLS before binding."},
	{"LDAP_CA_FILE", "", "LDAP: PEM file of the CAs that sign the server's certificate (default: the system's); the certificate is always verified."},
	{"LDAP_BIND_DN", "", "LDAP: usersvc's service account DN (empty: anonymous)."},
	{"LDAP_BIND_PASSWORD_FILE", "", "LDAP: file holding the bind password (secret; never logged); required with LDAP_BIND_DN."},
	{"LDAP_BASE_DN", "", "LDAP: the subtree searched for people."},
	{"LDAP_USER_FILTER", "(objectClass=person); with ad (&(objectClass=user)(!(objectClass=computer)))", "LDAP: the filter (RFC 4515) that selects people, ANDed with every search."},
	{"LDAP_FLAVOR", "openldap", "LDAP: openldap (inetOrgPerson: uid, mail, givenName, sn, cn, title, departmentNumber, manager) or ad (sAMAccountName, userPrincipalName, department, userAccountControl)."},
	{"OKTA_EVENT_HOOK_SECRET_FILE", "", "File holding the secret Okta sends with event hooks; turns on POST /okta/event-hooks (needs DIRECTORY okta or file). Secret: never logged."},
	{"OKTA_EVENT_HOOK_SECRET", "", "The event-hook secret itself, instead of OKTA_EVENT_HOOK_SECRET_FILE (secret; never logged)."},
	{"OKTA_EVENT_HOOK_HEADER", "Authorization", "Header Okta sends the event-hook secret in (the hook's Authentication field)."},
	{"OKTA_EVENTS_POLL_INTERVAL", "30s with DIRECTORY=okta, else off", "Okta System Log polling (GET /api/v1/logs), the backstop behind event hooks for deliveries that were lost: how long to wait once caught up; 0 or off disables. The /logs rate limit is small (20 to 120 calls a minute by plan) and shared with SIEM exporters: 30s is 2 calls a minute. One replica polls (a lease in the graph) and the cursor is kept in the graph. Needs DIRECTORY=okta, and in PrivateKey mode the okta.logs.read scope."},
	{"SCIM_TOKEN_FILE", "", "File holding the bearer token(s) SCIM clients (Okta, Entra ID) send, one per line, at most two (rotation); turns on SCIM 2.0 provisioning at /scim/v2. Secret: never logged."},
	{"SCIM_TOKEN", "", "The SCIM bearer token(s) themselves, comma-separated, at most two, instead of SCIM_TOKEN_FILE (secret; never logged). At least 16 characters of A-Z a-z 0-9 - . _ ~ + / (RFC 6750)."},
	{"OKTA_EVENTS_POLL_MAX_RATE", "10", "Most System Log calls a minute while catching up after a burst; the poller also leaves half of each /logs rate-limit window to other clients."},
	{"NEGATIVE_CACHE_TTL", "5m", "How long 'not in the directory' is remembered."},
	{"NEGATIVE_CACHE_SIZE", "10000", "How many such answers are remembered."},
	{"SYNC_INTERVAL", "0 (off)", "Run the directory sync in the server this often; a lease in the graph keeps it to one replica."},
	{"SYNC_MAX_DEACTIVATE_PERCENT", "10", "A sync that would deactivate more than this share of active users stops before writing."},
	{"SYNC_TEAM_GROUP_PATTERN", "", "Regular expression on directory group names; the first match (its first submatch if any) becomes team_name."},
	{"SYNC_TEAM_OVERWRITE", "false", "Let group-derived teams replace team_name values already stored (e.g. written through PUT /user)."},
	{"SYNC_LEASE_TTL", "10m", "How long a sync runner's lease lasts without renewal."},
	{"PROXY_CLIENT", "embedded (neo4j when PROXY_HOST is set)", "Graph store: neo4j or embedded."},
	{"PROXY_HOST", "", "Neo4j host as a URI: bolt://host or neo4j://host (+s/+ssc schemes too); bolt:// is assumed without a scheme."},
	{"PROXY_PORT", "7687", "Neo4j Bolt port (unless PROXY_HOST names one)."},
	{"CREDENTIALS_PROXY_USER", "neo4j", "Neo4j user."},
	{"CREDENTIALS_PROXY_PASSWORD", "", "Neo4j password (secret; never logged)."},
	{"PROXY_ENCRYPTED", "false", "Use TLS to Neo4j."},
	{"PROXY_VALIDATE_SSL", "false", "With PROXY_ENCRYPTED, verify Neo4j's certificate against the system CAs (false trusts any certificate, as Amundsen does)."},
	{"PROXY_DATABASE", "", "Neo4j database name; empty is the server's default."},
	{"PROXY_MAX_POOL_SIZE", "50", "Most Neo4j connections per replica."},
	{"PROXY_CONNECT_TIMEOUT", "1s", "Timeout of dialing Neo4j (waiting for a pooled connection gets five times as long); while Neo4j is known to be down, store routes answer 503 at once."},
	{"PROXY_TX_TIMEOUT", "10s", "Server-side limit of one Neo4j transaction."},
	{"PROXY_RETRY_TIME", "2s", "How long one call may retry transient Neo4j failures."},
	{"GRAPH_CACHE_TTL", "2s", "Read cache of users and their follow/own/read lists: how long an answer is reused, the staleness bound for changes other writers (another replica, databuilder, Amundsen's metadata service) make to the graph. Every write through this process (including passed-through requests) drops the cache at once. 0 turns it off; at most 1m."},
	{"GRAPH_CACHE_SIZE", "10000", "Most answers the read cache keeps."},
	{"USER_OTHER_KEYS", "okta_id", "Comma list of user node properties returned as other_key_values (Amundsen metadata's setting); none turns them off."},
	{"EMBEDDED_DB_PATH", "./data/usersvc.db", "File of the embedded store."},
	{"EMBEDDED_CATALOG_FILE", "", "Optional JSON catalog (tables, dashboards, features, reads) loaded into the embedded store at start."},
	{"METADATA_UPSTREAM_URL", "", "Amundsen metadata service base URL (e.g. http://amundsen-metadata:5002): every route usersvc does not own is passed through to it after authentication; empty: off."},
	{"UPSTREAM_TIMEOUT", "10s", "Longest wait on the upstream: connecting, its answer's headers, any pause while a body flows; then 504."},
	{"UPSTREAM_MAX_BODY", "10MiB", "Largest request body passed through (bytes, or with KiB/MiB/GiB); larger ones get 413."},
	{"UPSTREAM_FORWARD_AUTH", "true", "Pass the caller's Authorization header on to the upstream (its flaskoidc reads it); false strips it."},
}

// Config is the service configuration, read once from the environment.
type Config struct {
	ListenAddr      string
	MetricsAddr     string // "" when off
	PprofEnabled    bool   // /debug/pprof/ on the metrics listener
	CORSOrigins     []string
	LogLevel        slog.Level
	LogFormat       string
	ShutdownTimeout time.Duration

	AuthDisabled bool
	OIDC         OIDCConfig

	// Directory is "okta", "file" or "" (no resolution).
	Directory     string
	DirectoryFile string
	Okta          OktaConfig
	Entra         entra.Config
	Google        google.Config
	LDAP          ldap.Config
	Resolver      ResolverConfig
	Sync          SyncConfig
	EventHook     EventHookConfig
	EventsPoll    EventsPollConfig
	// SCIMTokens turns on SCIM 2.0 provisioning at /scim/v2 (at most two:
	// the current token and the next, while a client is being rotated).
	SCIMTokens []string

	ProxyClient         string
	ProxyHost           string
	Neo4j               neo4jstore.Config
	EmbeddedDBPath      string
	EmbeddedCatalogFile string
	// GraphCache is the read cache in front of either store (TTL 0: off).
	GraphCache proxy.CacheConfig

	Upstream UpstreamConfig
	// TrustedProxies are the peers whose X-Forwarded-* headers are believed.
	TrustedProxies []netip.Prefix
	// OtherKeys are the node properties both stores return as
	// other_key_values.
	OtherKeys schema.OtherKeys
}

// OIDCConfig is the bearer-token verification setup.
type OIDCConfig struct {
	ConfigURL        string
	ClientID         string
	Audience         string
	UserIDField      string
	Whitelist        []string
	AllowedClientIDs []string
	RequiredScopes   []string
	ClockSkew        time.Duration
	GroupsClaim      string
	WriteGroups      []string
	TokenCacheSize   int
	HTTPTimeout      time.Duration

	ClientSecret string
	// AudienceSet: OIDC_AUDIENCE was given, so introspected tokens must
	// carry it too (the client-id default applies to JWTs only).
	AudienceSet             bool
	TokenValidation         string
	IntrospectionURL        string
	IntrospectionCacheTTL   time.Duration
	IntrospectionNegTTL     time.Duration
	IntrospectionRate       int
	IntrospectionClientRate int
	IntrospectionCacheSize  int
}

// OktaConfig is the directory setup, parsed into oidcuser's own types;
// Enabled is false when no Okta is configured (unknown users are then 404).
type OktaConfig struct {
	Enabled bool
	okta.Config
	Budget oidcuser.BudgetConfig
}

// SyncConfig tunes the directory sync.
type SyncConfig struct {
	Interval             time.Duration
	MaxDeactivatePercent float64
	TeamPattern          *regexp.Regexp
	TeamOverwrite        bool
	LeaseTTL             time.Duration
}

// EventHookConfig turns on Okta Event Hooks; Secret "" is off.
type EventHookConfig struct {
	Secret string
	Header string
}

// EventsPollConfig turns on Okta System Log polling; Interval 0 is off.
type EventsPollConfig struct {
	Interval time.Duration
	MaxRate  int // calls a minute
}

// ResolverConfig tunes resolution of unknown users.
type ResolverConfig struct {
	LookupTimeout time.Duration
	NegativeTTL   time.Duration
	NegativeSize  int
}

// configError names the variable at fault; main prints it as one line and
// exits 2.
type configError struct {
	Var     string
	Problem string
}

func (e *configError) Error() string { return e.Var + ": " + e.Problem }

// configErrors are every problem of one configuration, so that an operator
// fixes them in one round; main prints one line each and exits 2.
type configErrors []*configError

func (e configErrors) Error() string {
	lines := make([]string, len(e))
	for i, c := range e {
		lines[i] = c.Error()
	}
	return strings.Join(lines, "\n")
}

// envReader reads typed values and keeps every problem it meets, the first
// one for each variable (later ones follow from it).
type envReader struct {
	getenv func(string) string
	errs   configErrors
}

func (r *envReader) fail(name, format string, args ...any) {
	if !r.failed(name) {
		r.errs = append(r.errs, &configError{Var: name, Problem: fmt.Sprintf(format, args...)})
	}
}

func (r *envReader) failed(name string) bool {
	for _, e := range r.errs {
		if e.Var == name {
			return true
		}
	}
	return false
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

// list splits a comma (and, with spaces, space) separated value.
func (r *envReader) list(name, def string, spaces bool) []string {
	v := r.str(name, def)
	sep := func(c rune) bool { return c == ',' || spaces && (c == ' ' || c == '\t') }
	var out []string
	for _, f := range strings.FieldsFunc(v, sep) {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// prefixes reads a comma list of CIDRs; a bare address is its own /32 or
// /128.
func (r *envReader) prefixes(name string) []netip.Prefix {
	var out []netip.Prefix
	for _, v := range r.list(name, "", false) {
		p, err := netip.ParsePrefix(v)
		if err != nil {
			a, aerr := netip.ParseAddr(v)
			if aerr != nil {
				r.fail(name, "%q is not a CIDR or an IP address", v)
				return nil
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		out = append(out, p.Masked())
	}
	return out
}

func (r *envReader) integer(name string, def, lo, hi int) int {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		r.fail(name, "must be an integer from %d to %d, got %q", lo, hi, v)
	}
	return n
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
	if v := r.str("METRICS_ADDR", ":9102"); !strings.EqualFold(v, "off") {
		c.MetricsAddr = r.listenAddr("METRICS_ADDR", ":9102")
	}
	c.PprofEnabled = r.boolean("PPROF_ENABLED", false)
	if c.PprofEnabled && c.MetricsAddr == "" {
		r.fail("PPROF_ENABLED", "needs the metrics listener (METRICS_ADDR is off); profiling is never served on the API port")
	}
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
	c.CORSOrigins = r.list("CORS_ALLOWED_ORIGINS", "", false)
	for _, o := range c.CORSOrigins {
		if u, err := url.Parse(o); o != "*" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.Trim(u.Path, "/") != "") {
			r.fail("CORS_ALLOWED_ORIGINS", "%q is not an origin like https://amundsen.example.com", o)
		}
	}

	c.AuthDisabled = r.boolean("AUTH_DISABLED", false)
	c.OIDC = loadOIDC(r)

	c.Okta = loadOkta(r, c.OIDC.ConfigURL)
	c.DirectoryFile = r.str("DIRECTORY_FILE", "")
	defaultDirectory := "off"
	others := configuredDirectories(r)
	switch {
	case len(others) > 1:
		defaultDirectory = others[0]
		if r.str("DIRECTORY", "") == "" {
			r.fail("DIRECTORY", "must choose one directory: settings of %s are set", strings.Join(others, " and "))
		}
	case len(others) == 1 && r.str("OKTA_CLIENT_ORGURL", "") == "" && c.DirectoryFile == "":
		defaultDirectory = others[0]
	case c.Okta.Enabled:
		defaultDirectory = "okta"
	case c.DirectoryFile != "":
		defaultDirectory = "file"
	}
	chosen := r.oneOf("DIRECTORY", defaultDirectory, "okta", "entra", "google", "ldap", "file", "off")
	checkMarkers(r, chosen)
	switch chosen {
	case "entra":
		c.Directory, c.Entra = "entra", loadEntra(r)
	case "google":
		c.Directory, c.Google = "google", loadGoogle(r)
	case "ldap":
		c.Directory, c.LDAP = "ldap", loadLDAP(r)
	case "okta":
		c.Directory = "okta"
		if !c.Okta.Enabled {
			r.fail("OKTA_CLIENT_ORGURL", "must be set (with OKTA_CLIENT_TOKEN or a private key) when DIRECTORY=okta")
		}
	case "file":
		c.Directory = "file"
		if c.DirectoryFile == "" {
			r.fail("DIRECTORY_FILE", "must name a file when DIRECTORY=file")
		}
	}
	c.Resolver = ResolverConfig{
		LookupTimeout: r.duration("OKTA_REQUEST_TIMEOUT", 2*time.Second),
		NegativeTTL:   r.duration("NEGATIVE_CACHE_TTL", 5*time.Minute),
		NegativeSize:  r.integer("NEGATIVE_CACHE_SIZE", 10000, 1, 10_000_000),
	}
	if c.Resolver.LookupTimeout == 0 {
		r.fail("OKTA_REQUEST_TIMEOUT", "must be positive")
	}

	c.EventHook = loadEventHook(r, c.Directory)
	c.EventsPoll = loadEventsPoll(r, c.Directory)
	c.SCIMTokens = loadSCIMTokens(r)

	c.Sync = SyncConfig{
		Interval:      r.duration("SYNC_INTERVAL", 0),
		TeamOverwrite: r.boolean("SYNC_TEAM_OVERWRITE", false),
		LeaseTTL:      r.duration("SYNC_LEASE_TTL", 10*time.Minute),
	}
	c.Sync.MaxDeactivatePercent = float64(r.integer("SYNC_MAX_DEACTIVATE_PERCENT", 10, 1, 100))
	if p := r.str("SYNC_TEAM_GROUP_PATTERN", ""); p != "" {
		re, err := regexp.Compile(p)
		if err != nil {
			r.fail("SYNC_TEAM_GROUP_PATTERN", "is not a regular expression: %v", err)
		}
		c.Sync.TeamPattern = re
	}
	if c.Sync.LeaseTTL < time.Minute {
		r.fail("SYNC_LEASE_TTL", "must be at least 1m")
	}

	c.ProxyHost = r.str("PROXY_HOST", "")
	defaultClient := "embedded"
	if c.ProxyHost != "" {
		defaultClient = "neo4j"
	}
	c.ProxyClient = r.oneOf("PROXY_CLIENT", defaultClient, "neo4j", "embedded")
	c.Neo4j = loadNeo4j(r, c.ProxyHost, c.ProxyClient == "neo4j")
	c.EmbeddedDBPath = r.str("EMBEDDED_DB_PATH", "./data/usersvc.db")
	c.EmbeddedCatalogFile = r.str("EMBEDDED_CATALOG_FILE", "")
	c.GraphCache = proxy.CacheConfig{
		TTL:  r.duration("GRAPH_CACHE_TTL", 2*time.Second),
		Size: r.integer("GRAPH_CACHE_SIZE", 10000, 1, 10_000_000),
	}
	if c.GraphCache.TTL > time.Minute {
		r.fail("GRAPH_CACHE_TTL", "must be at most 1m (0 turns the cache off)")
	}
	c.Upstream = loadUpstream(r)
	c.TrustedProxies = r.prefixes("TRUSTED_PROXIES")
	c.OtherKeys = loadOtherKeys(r)

	validate(&c, r)
	if len(r.errs) > 0 {
		return Config{}, r.errs
	}
	return c, nil
}

// loadEventHook reads the Okta Event Hooks settings. The hooks re-read
// each person from the directory, so they need one.
func loadEventHook(r *envReader, directory string) EventHookConfig {
	h := EventHookConfig{Header: r.str("OKTA_EVENT_HOOK_HEADER", "Authorization")}
	file := r.str("OKTA_EVENT_HOOK_SECRET_FILE", "")
	secret := r.str("OKTA_EVENT_HOOK_SECRET", "")
	switch {
	case file != "" && secret != "":
		r.fail("OKTA_EVENT_HOOK_SECRET", "must not be set together with OKTA_EVENT_HOOK_SECRET_FILE: choose one")
	case file != "":
		data, err := os.ReadFile(file)
		if err != nil {
			r.fail("OKTA_EVENT_HOOK_SECRET_FILE", "cannot be read: %v", err)
			break
		}
		if secret = strings.TrimSpace(string(data)); secret == "" {
			r.fail("OKTA_EVENT_HOOK_SECRET_FILE", "is empty")
		}
	}
	if schema.HasControl(secret) {
		r.fail("OKTA_EVENT_HOOK_SECRET", "must not hold control characters (a header value cannot)")
	}
	if !validHeaderName(h.Header) {
		r.fail("OKTA_EVENT_HOOK_HEADER", "must be an HTTP header name (letters, digits and -), got %q", h.Header)
	}
	if secret != "" && directory != "okta" && directory != "file" {
		r.fail("OKTA_EVENT_HOOK_SECRET", "event hooks re-read each person from the directory: set DIRECTORY=okta (with OKTA_CLIENT_ORGURL) or DIRECTORY=file")
	}
	h.Secret = secret
	return h
}

// scimToken is RFC 6750's b64token, at least 16 long: a token an
// Authorization header carries as it is, and not one a person guesses.
var scimToken = regexp.MustCompile(`^[A-Za-z0-9._~+/-]{16,}=*$`)

// loadSCIMTokens reads SCIM_TOKEN_FILE (one token per line) or SCIM_TOKEN
// (comma-separated): at most two, so a client can be moved to a new token
// while the old one still works.
func loadSCIMTokens(r *envReader) []string {
	file := r.str("SCIM_TOKEN_FILE", "")
	value := r.str("SCIM_TOKEN", "")
	var tokens []string
	name := "SCIM_TOKEN"
	switch {
	case file != "" && value != "":
		r.fail("SCIM_TOKEN", "must not be set together with SCIM_TOKEN_FILE: choose one")
		return nil
	case file != "":
		name = "SCIM_TOKEN_FILE"
		data, err := os.ReadFile(file)
		if err != nil {
			r.fail(name, "cannot be read: %v", err)
			return nil
		}
		for _, line := range strings.Split(string(data), "\n") {
			if t := strings.TrimSpace(line); t != "" {
				tokens = append(tokens, t)
			}
		}
		if len(tokens) == 0 {
			r.fail(name, "is empty")
			return nil
		}
	case value != "":
		for _, t := range strings.Split(value, ",") {
			tokens = append(tokens, strings.TrimSpace(t))
		}
	}
	if len(tokens) > 2 {
		r.fail(name, "holds %d tokens; at most two (the current one and the next)", len(tokens))
		return nil
	}
	for i, t := range tokens {
		if !scimToken.MatchString(t) {
			r.fail(name, "token %d is not a bearer token of at least 16 characters of A-Z a-z 0-9 - . _ ~ + / (RFC 6750)", i+1)
			return nil
		}
	}
	return tokens
}

// loadEventsPoll reads the System Log polling settings: on by default with
// Okta (every org has the System Log, even one without event hooks), and
// only with Okta.
func loadEventsPoll(r *envReader, directory string) EventsPollConfig {
	p := EventsPollConfig{MaxRate: r.integer("OKTA_EVENTS_POLL_MAX_RATE", 10, 1, 600)}
	v := r.str("OKTA_EVENTS_POLL_INTERVAL", "")
	switch {
	case v == "":
		if directory == "okta" {
			p.Interval = 30 * time.Second
		}
		return p
	case strings.EqualFold(v, "off"):
		return p
	}
	d, err := time.ParseDuration(v)
	switch {
	case err != nil || d < 0:
		r.fail("OKTA_EVENTS_POLL_INTERVAL", "must be a duration such as 30s, or off, got %q", v)
	case d == 0:
	case d < time.Second || d > 24*time.Hour:
		r.fail("OKTA_EVENTS_POLL_INTERVAL", "must be from 1s to 24h (or off), got %q", v)
	case directory != "okta":
		r.fail("OKTA_EVENTS_POLL_INTERVAL", "polls Okta's System Log: set DIRECTORY=okta (with OKTA_CLIENT_ORGURL), or leave it unset or off")
	default:
		p.Interval = d
	}
	return p
}

// validHeaderName accepts header names of letters, digits and dashes.
func validHeaderName(name string) bool {
	if name == "" || len(name) > 128 {
		return false
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// loadOtherKeys reads USER_OTHER_KEYS; "none" is the explicit empty list
// (an empty value means the default, as for every variable).
func loadOtherKeys(r *envReader) schema.OtherKeys {
	names := r.list("USER_OTHER_KEYS", "okta_id", false)
	if len(names) == 1 && names[0] == "none" {
		return schema.OtherKeys{}
	}
	keys, err := schema.ParseOtherKeys(names)
	if err != nil {
		var e *schema.Error
		msg := err.Error()
		if errors.As(err, &e) {
			msg = strings.TrimPrefix(e.Message, "other_key_values: ")
		}
		r.fail("USER_OTHER_KEYS", "%s", msg)
	}
	return keys
}

func loadOIDC(r *envReader) OIDCConfig {
	o := OIDCConfig{
		ConfigURL:        r.str("FLASK_OIDC_CONFIG_URL", ""),
		ClientID:         r.str("FLASK_OIDC_CLIENT_ID", ""),
		UserIDField:      r.str("FLASK_OIDC_USER_ID_FIELD", "email"),
		Whitelist:        r.list("FLASK_OIDC_WHITELISTED_ENDPOINTS", "status,healthcheck,health", false),
		AllowedClientIDs: r.list("OIDC_ALLOWED_CLIENT_IDS", "", false),
		RequiredScopes:   r.list("OIDC_REQUIRED_SCOPES", "", true),
		ClockSkew:        r.duration("OIDC_CLOCK_SKEW", 60*time.Second),
		GroupsClaim:      r.str("OIDC_GROUPS_CLAIM", "groups"),
		WriteGroups:      r.list("OIDC_WRITE_GROUPS", "", false),
		TokenCacheSize:   r.integer("OIDC_TOKEN_CACHE_SIZE", 10000, 0, 10_000_000),
		HTTPTimeout:      r.duration("OIDC_HTTP_TIMEOUT", 10*time.Second),
	}
	o.ClientSecret = r.str("FLASK_OIDC_CLIENT_SECRET", "")
	o.TokenValidation = r.oneOf("OIDC_TOKEN_VALIDATION", "auto", "auto", "jwt", "introspection")
	o.IntrospectionURL = r.str("OIDC_INTROSPECTION_URL", "")
	o.IntrospectionCacheTTL = r.duration("OIDC_INTROSPECTION_CACHE_TTL", 5*time.Minute)
	o.IntrospectionNegTTL = r.duration("OIDC_INTROSPECTION_NEGATIVE_TTL", 30*time.Second)
	o.IntrospectionRate = r.integer("OIDC_INTROSPECTION_RATE", 20, 1, 10000)
	o.IntrospectionClientRate = r.integer("OIDC_INTROSPECTION_CLIENT_RATE", max(1, o.IntrospectionRate/4), 1, 10000)
	o.IntrospectionCacheSize = r.integer("OIDC_INTROSPECTION_CACHE_SIZE", 10000, 1, 10_000_000)
	if u, err := url.Parse(o.IntrospectionURL); o.IntrospectionURL != "" && (err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "") {
		r.fail("OIDC_INTROSPECTION_URL", "must be an absolute http(s) URL")
	}
	if o.TokenValidation == "introspection" && (o.ClientID == "" || o.ClientSecret == "") {
		r.fail("OIDC_TOKEN_VALIDATION", "introspection needs FLASK_OIDC_CLIENT_ID and FLASK_OIDC_CLIENT_SECRET")
	}
	if o.IntrospectionCacheTTL == 0 {
		r.fail("OIDC_INTROSPECTION_CACHE_TTL", "must be positive")
	}
	if o.IntrospectionNegTTL == 0 {
		r.fail("OIDC_INTROSPECTION_NEGATIVE_TTL", "must be positive")
	}
	// Read, never stored: flaskoidc settings that an Amundsen deployment
	// carries but a resource server does not need.
	for _, name := range []string{"FLASK_OIDC_SCOPES", "FLASK_OIDC_PROVIDER_NAME",
		"FLASK_OIDC_REDIRECT_URI", "FLASK_OIDC_OVERWRITE_REDIRECT_URI"} {
		_ = r.str(name, "")
	}
	o.AudienceSet = r.str("OIDC_AUDIENCE", "") != ""
	o.Audience = r.str("OIDC_AUDIENCE", o.ClientID)
	if o.ClockSkew > 10*time.Minute {
		r.fail("OIDC_CLOCK_SKEW", "must be at most 10m, got %s", o.ClockSkew)
	}
	if o.HTTPTimeout == 0 {
		r.fail("OIDC_HTTP_TIMEOUT", "must be positive")
	}
	return o
}

// oktaDomains are the hosts of Okta orgs; an OIDC issuer on one of them
// names the org whose Users API resolves people.
var oktaDomains = []string{".okta.com", ".oktapreview.com", ".okta-emea.com", ".okta-gov.com", ".okta.mil"}

func loadOkta(r *envReader, oidcConfigURL string) OktaConfig {
	o := OktaConfig{
		Config: okta.Config{
			OrgURL:            strings.TrimRight(r.str("OKTA_CLIENT_ORGURL", ""), "/"),
			AuthorizationMode: r.oneOf("OKTA_CLIENT_AUTHORIZATIONMODE", "ssws", "ssws", "privatekey"),
			Token:             r.str("OKTA_CLIENT_TOKEN", ""),
			ClientID:          r.str("OKTA_CLIENT_CLIENTID", ""),
			Scopes:            r.list("OKTA_CLIENT_SCOPES", "okta.users.read", true),
			PrivateKey:        r.str("OKTA_CLIENT_PRIVATEKEY", ""),
			PrivateKeyID:      r.str("OKTA_CLIENT_PRIVATEKEYID", ""),
			DisableHTTPSCheck: r.boolean("OKTA_TESTING_DISABLE_HTTPS_CHECK", false),
		},
		Budget: oidcuser.BudgetConfig{
			MaxConcurrent: r.integer("OKTA_MAX_CONCURRENT", 8, 1, 75),
			Reserve:       r.integer("OKTA_RATE_LIMIT_RESERVE", 10, 0, 1000),
		},
	}
	explicitOrg := o.OrgURL != ""
	if !explicitOrg {
		if u, err := url.Parse(oidcConfigURL); err == nil && u.Host != "" {
			for _, d := range oktaDomains {
				if strings.HasSuffix(strings.ToLower(u.Hostname()), d) {
					o.OrgURL = u.Scheme + "://" + u.Host
				}
			}
		}
	}
	hasCredentials := o.Token != "" || o.PrivateKey != ""
	switch {
	case !explicitOrg && !hasCredentials:
		return o // no Okta configured: resolution off
	case o.OrgURL == "":
		r.fail("OKTA_CLIENT_ORGURL", "must be set when Okta credentials are given (it is derived only from an Okta OIDC issuer)")
	case o.AuthorizationMode == "ssws" && o.Token == "":
		r.fail("OKTA_CLIENT_TOKEN", "must be set for SSWS mode when OKTA_CLIENT_ORGURL is set")
	case o.AuthorizationMode == "privatekey" && o.ClientID == "":
		r.fail("OKTA_CLIENT_CLIENTID", "must be set for PrivateKey mode")
	case o.AuthorizationMode == "privatekey" && o.PrivateKey == "":
		r.fail("OKTA_CLIENT_PRIVATEKEY", "must be set for PrivateKey mode")
	}
	if u, err := url.Parse(o.OrgURL); o.OrgURL != "" && (err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && o.DisableHTTPSCheck))) {
		r.fail("OKTA_CLIENT_ORGURL", "must be an https URL (http only with OKTA_TESTING_DISABLE_HTTPS_CHECK=true)")
	}
	if o.AuthorizationMode == "privatekey" && o.PrivateKey != "" && !strings.Contains(o.PrivateKey, "-----BEGIN") {
		data, err := os.ReadFile(o.PrivateKey)
		if err != nil {
			r.fail("OKTA_CLIENT_PRIVATEKEY", "is neither a PEM nor a readable file: %v", err)
		}
		o.PrivateKey = string(data)
	}
	if o.AuthorizationMode == "privatekey" && o.PrivateKey != "" {
		if err := okta.ValidatePrivateKey(o.PrivateKey); err != nil {
			r.fail("OKTA_CLIENT_PRIVATEKEY", "%v", err)
		}
	}
	o.Enabled = true
	return o
}

// neo4jSchemes are the driver's URI schemes; +s verifies the certificate,
// +ssc trusts any.
var neo4jSchemes = []string{"bolt", "bolt+s", "bolt+ssc", "neo4j", "neo4j+s", "neo4j+ssc"}

// loadNeo4j builds the driver URI from Amundsen's PROXY_* settings.
func loadNeo4j(r *envReader, host string, used bool) neo4jstore.Config {
	n := neo4jstore.Config{
		Username:       r.str("CREDENTIALS_PROXY_USER", "neo4j"),
		Password:       r.str("CREDENTIALS_PROXY_PASSWORD", ""),
		Database:       r.str("PROXY_DATABASE", ""),
		MaxPoolSize:    r.integer("PROXY_MAX_POOL_SIZE", 50, 1, 1000),
		ConnectTimeout: r.duration("PROXY_CONNECT_TIMEOUT", time.Second),
		TxTimeout:      r.duration("PROXY_TX_TIMEOUT", 10*time.Second),
		RetryTime:      r.duration("PROXY_RETRY_TIME", 2*time.Second),
	}
	portVar := r.str("PROXY_PORT", "")
	encrypted := r.boolean("PROXY_ENCRYPTED", false)
	validate := r.boolean("PROXY_VALIDATE_SSL", false)
	if !used {
		return n
	}
	if host == "" {
		r.fail("PROXY_HOST", "must be set when PROXY_CLIENT=neo4j")
		return n
	}
	if !strings.Contains(host, "://") {
		host = "bolt://" + host
	}
	u, err := url.Parse(host)
	if err != nil || u.Hostname() == "" || (u.Path != "" && u.Path != "/") {
		r.fail("PROXY_HOST", "must be a host or a URI like bolt://neo4j.example.com, got %q", host)
		return n
	}
	scheme := strings.ToLower(u.Scheme)
	if !slices.Contains(neo4jSchemes, scheme) {
		r.fail("PROXY_HOST", "scheme must be one of %s, got %q", strings.Join(neo4jSchemes, ", "), u.Scheme)
		return n
	}
	if encrypted && !strings.Contains(scheme, "+") {
		// Amundsen's flags map onto the driver's TLS schemes.
		if validate {
			scheme += "+s"
		} else {
			scheme += "+ssc"
		}
	}
	port := u.Port()
	switch {
	case port == "" && portVar == "":
		port = "7687"
	case port == "":
		port = portVar
	case portVar != "" && portVar != port:
		r.fail("PROXY_PORT", "%s conflicts with the port in PROXY_HOST (%s)", portVar, port)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		r.fail("PROXY_PORT", "must be a port number, got %q", port)
	}
	n.URI = scheme + "://" + net.JoinHostPort(u.Hostname(), port)
	return n
}

// validate checks rules that span variables.
func validate(c *Config, r *envReader) {
	switch {
	case c.OIDC.ConfigURL == "" && !c.AuthDisabled:
		r.fail("FLASK_OIDC_CONFIG_URL", "must be set, or AUTH_DISABLED=true must turn authentication off explicitly")
	case c.OIDC.ConfigURL != "" && c.AuthDisabled:
		r.fail("AUTH_DISABLED", "must not be true while FLASK_OIDC_CONFIG_URL is set: choose one")
	case c.OIDC.ConfigURL != "":
		u, err := url.Parse(c.OIDC.ConfigURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			r.fail("FLASK_OIDC_CONFIG_URL", "must be an absolute http(s) URL of the discovery document")
		} else if c.OIDC.Audience == "" {
			r.fail("OIDC_AUDIENCE", "must be set when FLASK_OIDC_CLIENT_ID is empty")
		}
	}
}
