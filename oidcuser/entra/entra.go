// Package entra is the Microsoft Entra ID directory: it finds, lists and
// re-reads people through Microsoft Graph v1.0's user API, authenticated
// as an application with the OAuth 2.0 client credentials grant and a
// client secret (ENTRA_TENANT_ID, ENTRA_CLIENT_ID,
// ENTRA_CLIENT_SECRET_FILE). The application needs the User.Read.All
// application permission with admin consent.
//
// It is a small client on golang.org/x/oauth2/clientcredentials and
// net/http rather than Microsoft's Graph SDK for Go: the four calls usersvc
// makes do not justify the SDK's build cost (measured for issue #30: see
// the commit that added this package).
//
// Mapping (Graph user → Amundsen user): userPrincipalName is the login and
// the user id, mail the email, givenName/surname/displayName the names,
// jobTitle the role, department the team, accountEnabled=false inactive,
// the manager's displayName, mail and id the manager fields, and the
// object id the directory id (okta_id, schema.DirectoryIDProperty).
package entra

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/usersvc/usersvc/oidcuser"
)

// Defaults of the public cloud.
const (
	DefaultGraphURL = "https://graph.microsoft.com"
	DefaultLoginURL = "https://login.microsoftonline.com"
	// DefaultPageSize is the largest page GET /users serves ("List users":
	// the maximum page size is 999 user objects).
	DefaultPageSize = 999
	// DefaultTimeout bounds each call to Graph or the token endpoint.
	DefaultTimeout = 10 * time.Second
)

// Config configures the directory.
type Config struct {
	// TenantID is the directory (tenant) id, a GUID, or one of its domain
	// names (ENTRA_TENANT_ID).
	TenantID string
	// ClientID is the application (client) id (ENTRA_CLIENT_ID).
	ClientID string
	// ClientSecret is the client secret's value; the caller reads it from
	// ENTRA_CLIENT_SECRET_FILE (surrounding white space is ignored). It is
	// sent to the token endpoint only, and never logged.
	ClientSecret string
	// GraphURL is Microsoft Graph's service root (ENTRA_GRAPH_URL,
	// default https://graph.microsoft.com; national clouds have their
	// own). The token's scope is GraphURL + "/.default".
	GraphURL string
	// LoginURL is the identity platform's authority host
	// (ENTRA_LOGIN_URL, default https://login.microsoftonline.com).
	LoginURL string
	// PageSize is $top for listings (default 999, at most 999).
	PageSize int
	// Timeout bounds each call (default 10s); the caller's context bounds
	// a whole lookup or listing.
	Timeout time.Duration
	// Transport carries every call (default: a clone of
	// http.DefaultTransport, closed by Close).
	Transport http.RoundTripper
	// Logger receives retries and throttling (default: discarded).
	Logger *slog.Logger
}

// Directory looks people up in Microsoft Entra ID. It is safe for
// concurrent use.
type Directory struct {
	graph     *url.URL // service root, no trailing slash
	graphRoot string   // graph.String()
	pageSize  int
	timeout   time.Duration
	client    *http.Client
	ownsConns bool
	tokens    *tokenCache
	log       *slog.Logger

	// now and sleep are the clock (tests replace them).
	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error
	// retryBase is the first backoff of a listing page that failed without
	// a Retry-After (doubling).
	retryBase time.Duration

	mu             sync.Mutex
	throttledUntil time.Time // Graph said to wait until then (Retry-After)
}

// The capabilities of the Entra directory (oidcuser.Directory's
// capability interfaces), checked by the compiler. It has no groups (no
// GroupLister) and no source to watch (no Reloader).
var (
	_ oidcuser.Directory = (*Directory)(nil)
	_ oidcuser.Lister    = (*Directory)(nil)
	_ oidcuser.IDLookup  = (*Directory)(nil)
	_ oidcuser.Prober    = (*Directory)(nil)
	_ io.Closer          = (*Directory)(nil)
)

// New validates cfg and builds the directory. It makes no call: readiness
// must not depend on the directory; Probe checks the credentials.
func New(ctx context.Context, cfg Config) (*Directory, error) {
	_ = ctx // symmetry with the other directories' constructors; nothing to wait for
	tenant := strings.TrimSpace(cfg.TenantID)
	switch {
	case tenant == "":
		return nil, errors.New("ENTRA_TENANT_ID is required (the directory's tenant id)")
	case !validTenant(tenant):
		return nil, fmt.Errorf("ENTRA_TENANT_ID %q is neither a tenant id (GUID) nor a domain name", tenant)
	}
	clientID := strings.TrimSpace(cfg.ClientID)
	if clientID == "" {
		return nil, errors.New("ENTRA_CLIENT_ID is required (the application's client id)")
	}
	secret := strings.TrimSpace(cfg.ClientSecret)
	if secret == "" {
		return nil, errors.New("ENTRA_CLIENT_SECRET_FILE is required and must hold the client secret (it is empty)")
	}
	graph, err := serviceURL("ENTRA_GRAPH_URL", cfg.GraphURL, DefaultGraphURL)
	if err != nil {
		return nil, err
	}
	login, err := serviceURL("ENTRA_LOGIN_URL", cfg.LoginURL, DefaultLoginURL)
	if err != nil {
		return nil, err
	}
	pageSize := cfg.PageSize
	switch {
	case pageSize == 0:
		pageSize = DefaultPageSize
	case pageSize < 1 || pageSize > DefaultPageSize:
		return nil, fmt.Errorf("entra page size %d is outside 1..%d", pageSize, DefaultPageSize)
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	transport, owns := cfg.Transport, false
	if transport == nil {
		transport, owns = http.DefaultTransport.(*http.Transport).Clone(), true
	}
	client := &http.Client{
		Transport: transport,
		// Graph does not redirect these calls; a redirect is answered as
		// it came, so the bearer token never follows one anywhere.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	d := &Directory{
		graph: graph, graphRoot: graph.String(), pageSize: pageSize, timeout: timeout,
		client: client, ownsConns: owns, log: logger,
		now: time.Now, sleep: oidcuser.Sleep, retryBase: time.Second,
	}
	d.tokens = &tokenCache{
		cfg: clientcredentials.Config{
			ClientID:     clientID,
			ClientSecret: secret,
			TokenURL:     login.String() + "/" + url.PathEscape(tenant) + "/oauth2/v2.0/token",
			Scopes:       []string{graph.String() + "/.default"},
			// The identity platform documents the secret as a form
			// parameter; never probe with the Authorization header first.
			AuthStyle: oauth2.AuthStyleInParams,
		},
		client:  client,
		timeout: timeout,
		now:     func() time.Time { return d.now() },
	}
	return d, nil
}

// Close releases idle connections of the transport the directory made.
func (d *Directory) Close() error {
	if d.ownsConns {
		d.client.CloseIdleConnections()
	}
	return nil
}

// validTenant accepts a GUID or a domain name: the value becomes a path
// segment of the token URL.
func validTenant(t string) bool {
	if len(t) > 253 {
		return false
	}
	for _, r := range t {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.') {
			return false
		}
	}
	return !strings.HasPrefix(t, ".") && !strings.HasPrefix(t, "-")
}

// serviceURL parses a service root: https, or http on loopback only (test
// servers); no user info, query or fragment; trailing slashes dropped.
func serviceURL(env, raw, def string) (*url.URL, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		raw = def
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" {
		// Not echoed: a mangled URL may hold a password.
		return nil, fmt.Errorf("%s is not an absolute URL (https://host)", env)
	}
	shown := u.Redacted() // never echo a password
	switch {
	case u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return nil, fmt.Errorf("%s %q must be a bare service URL (no credentials, query or fragment)", env, shown)
	case u.Scheme == "https":
	case u.Scheme == "http" && oidcuser.IsLoopbackHost(u.Hostname()):
	default:
		return nil, fmt.Errorf("%s %q must use https (plain http only to a loopback test server)", env, shown)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

// Probe checks, with a fresh token request and one cheap Graph call (GET
// /users?$top=1&$select=id), that the directory is reachable and that
// usersvc's credentials and permissions are accepted: a refused secret,
// client or tenant (AADSTS7000215, invalid_client...) or a 401/403 from
// Graph (Authorization_RequestDenied: no User.Read.All consent) is an
// error wrapping oidcuser.ErrDirectoryCredentials; an unreachable or
// failing service is KindUnavailable. The token is fetched anew because a
// cached one outlives a rotated secret by up to an hour.
func (d *Directory) Probe(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	if _, err := d.tokens.fetch(ctx); err != nil {
		return err
	}
	var page struct {
		Value []struct {
			ID string `json:"id"`
		} `json:"value"`
	}
	return d.get(ctx, d.endpoint("/users", query("$top", "1", "$select", "id")), &page)
}
