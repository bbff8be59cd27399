// Package google is the Google Workspace directory: it finds and lists
// people through the Admin SDK Directory API (users.get and users.list, over
// plain net/http), as a service account acting for an administrator through
// domain-wide delegation (golang.org/x/oauth2/jwt's JWT bearer grant).
//
// Google's Go SDK (google.golang.org/api) is not used: for two GET calls it
// brought grpc, OpenTelemetry and cloud.google.com/go/auth into the binary
// (5.4 MB of stripped binary and 3.4 MiB of resident memory at idle,
// measured on usersvc, whether or not a Google directory is configured).
// golang.org/x/oauth2/google is not used either, since it links the GCE
// metadata client and the external-account flows; the key file's few
// fields are read here.
//
// A person's login and email are their primary email (Workspace holds an
// email once: no two people share one). Suspended or archived people are
// inactive. The primary organization (else the first) gives role_name
// (title) and team_name (department); the manager relation names the
// manager by email, and the manager's own record gives their name.
//
// The Directory API keeps no "last updated" time on users and lists
// cannot be filtered by one: every listing reads everyone, and people come
// with a zero LastUpdated (a sync's watermark never advances, so each run
// reads the whole directory).
package google

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2/jwt"

	"github.com/usersvc/usersvc/oidcuser"
)

// Defaults.
const (
	DefaultCustomer     = "my_customer"
	DefaultDirectoryURL = "https://admin.googleapis.com/"
	// DefaultPageSize is users.list's largest maxResults (the API accepts
	// 1 to 500).
	DefaultPageSize = 500
	DefaultTimeout  = 15 * time.Second
	// DefaultBackoff and DefaultMaxBackoff follow the Directory API's
	// "Limits and quotas" page: retry throttled and failed requests with
	// exponential backoff, waiting 2^n seconds plus a random fraction of
	// a second, up to a maximum backoff of 32 or 64 seconds.
	DefaultBackoff      = time.Second
	DefaultMaxBackoff   = 32 * time.Second
	DefaultPageAttempts = 5
)

// Scope is the one OAuth scope usersvc asks for: reading users.
const Scope = "https://www.googleapis.com/auth/admin.directory.user.readonly"

// Config configures the Google Workspace directory. The environment
// variables in the comments are cmd/usersvc's names.
type Config struct {
	// CredentialsJSON is the service account's JSON key (the file
	// GOOGLE_CREDENTIALS_FILE names). Its private key is never logged nor
	// put in an error; its token_uri is where tokens are fetched.
	CredentialsJSON []byte
	// Subject is the administrator the service account acts as through
	// domain-wide delegation (GOOGLE_ADMIN_SUBJECT).
	Subject string
	// Customer is users.list's customer (GOOGLE_CUSTOMER, default
	// "my_customer": the subject's own customer).
	Customer string
	// DirectoryURL is the API's root (GOOGLE_DIRECTORY_URL, default
	// https://admin.googleapis.com/); https, or http on loopback (tests).
	DirectoryURL string
	// PageSize is users.list's maxResults (default and at most 500).
	PageSize int
	// Timeout bounds each HTTP call, token fetches included (default 15s).
	Timeout time.Duration
	// Transport carries every call (default: a clone of
	// http.DefaultTransport).
	Transport http.RoundTripper
	Logger    *slog.Logger

	// Backoff is the first wait before a throttled or failed call is
	// retried (default 1s); each further retry doubles it, plus a random
	// jitter of up to Backoff, up to MaxBackoff (default 32s).
	Backoff    time.Duration
	MaxBackoff time.Duration
	// PageAttempts is how many times a listing page (or a manager it
	// needs) is tried before the whole listing fails (default 5).
	PageAttempts int
}

// Directory looks people up in Google Workspace.
type Directory struct {
	client    *http.Client
	root      string // the API's root, ending in "/"
	tokens    *tokenCache
	transport http.RoundTripper
	customer  string
	pageSize  int
	backoff   time.Duration
	maxWait   time.Duration
	attempts  int
	log       *slog.Logger
	gate      gate
}

// The directory's capabilities (oidcuser discovers them by type
// assertion).
var (
	_ oidcuser.Directory = (*Directory)(nil)
	_ oidcuser.Lister    = (*Directory)(nil)
	_ oidcuser.IDLookup  = (*Directory)(nil)
	_ oidcuser.Prober    = (*Directory)(nil)
	_ io.Closer          = (*Directory)(nil)
)

// serviceAccountKey is the part of a service account's JSON key that is
// checked before use.
type serviceAccountKey struct {
	Type         string `json:"type"`
	ClientEmail  string `json:"client_email"`
	PrivateKey   string `json:"private_key"`
	PrivateKeyID string `json:"private_key_id"`
	TokenURI     string `json:"token_uri"`
}

// New checks cfg and builds the directory. It makes no call: Probe checks
// that Google accepts the credentials. Errors are one line naming the
// setting at fault, and never quote the key.
func New(_ context.Context, cfg Config) (*Directory, error) {
	key, err := parseKey(cfg.CredentialsJSON)
	if err != nil {
		return nil, err
	}
	subject := strings.TrimSpace(cfg.Subject)
	switch {
	case subject == "":
		return nil, errors.New("GOOGLE_ADMIN_SUBJECT is not set: name the administrator the service account acts as (domain-wide delegation)")
	case !strings.Contains(subject, "@") || strings.ContainsAny(subject, " \t\r\n/"):
		return nil, errors.New("GOOGLE_ADMIN_SUBJECT must be an administrator's email address")
	}
	endpoint := cfg.DirectoryURL
	if endpoint == "" {
		endpoint = DefaultDirectoryURL
	}
	if endpoint, err = checkURL(endpoint); err != nil {
		return nil, fmt.Errorf("GOOGLE_DIRECTORY_URL %w", err)
	}
	if !strings.HasSuffix(endpoint, "/") {
		endpoint += "/" // paths are appended to the root, which may have a path of its own
	}
	customer := strings.TrimSpace(cfg.Customer)
	if customer == "" {
		customer = DefaultCustomer
	}
	cfg = withDefaults(cfg)

	base := cfg.Transport
	if base == nil {
		base = http.DefaultTransport.(*http.Transport).Clone()
	}
	conf := &jwt.Config{
		Email:        key.ClientEmail,
		PrivateKey:   []byte(key.PrivateKey),
		PrivateKeyID: key.PrivateKeyID,
		Scopes:       []string{Scope},
		TokenURL:     key.TokenURI,
		Subject:      subject,
	}
	tokens := &tokenCache{conf: conf, client: &http.Client{Transport: base, Timeout: cfg.Timeout}}
	client := &http.Client{Transport: &authTransport{tokens: tokens, base: base}, Timeout: cfg.Timeout}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Directory{
		client: client, root: endpoint, tokens: tokens, transport: base, customer: customer,
		pageSize: cfg.PageSize, backoff: cfg.Backoff, maxWait: cfg.MaxBackoff, attempts: cfg.PageAttempts,
		log: log,
	}, nil
}

func withDefaults(cfg Config) Config {
	if cfg.PageSize <= 0 || cfg.PageSize > DefaultPageSize {
		cfg.PageSize = DefaultPageSize
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = DefaultBackoff
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	cfg.MaxBackoff = max(cfg.MaxBackoff, cfg.Backoff)
	if cfg.PageAttempts <= 0 {
		cfg.PageAttempts = DefaultPageAttempts
	}
	return cfg
}

// parseKey checks the service account key. Its errors never quote the
// file: it holds a private key.
func parseKey(data []byte) (serviceAccountKey, error) {
	var key serviceAccountKey
	if len(strings.TrimSpace(string(data))) == 0 {
		return key, errors.New("GOOGLE_CREDENTIALS_FILE is not set or empty: give the service account's JSON key")
	}
	if err := json.Unmarshal(data, &key); err != nil {
		return key, errors.New("GOOGLE_CREDENTIALS_FILE is not a readable JSON key file")
	}
	if key.Type != "service_account" {
		return key, errors.New(`GOOGLE_CREDENTIALS_FILE is not a service account key (its "type" must be "service_account")`)
	}
	if key.ClientEmail == "" || key.PrivateKey == "" {
		return key, errors.New("GOOGLE_CREDENTIALS_FILE lacks client_email or private_key")
	}
	if !rsaKey(key.PrivateKey) {
		return key, errors.New("GOOGLE_CREDENTIALS_FILE: private_key is not a PEM RSA private key")
	}
	if key.TokenURI == "" {
		key.TokenURI = "https://oauth2.googleapis.com/token" // what Google's keys name
	}
	uri, err := checkURL(key.TokenURI)
	if err != nil {
		return key, fmt.Errorf("GOOGLE_CREDENTIALS_FILE: token_uri %w", err)
	}
	key.TokenURI = uri
	return key, nil
}

// rsaKey reports whether pemText is an RSA private key (PKCS#8, as Google
// issues them, or PKCS#1).
func rsaKey(pemText string) bool {
	block, _ := pem.Decode([]byte(pemText))
	if block == nil {
		return false
	}
	if k, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		_, ok := k.(*rsa.PrivateKey)
		return ok
	}
	_, err := x509.ParsePKCS1PrivateKey(block.Bytes)
	return err == nil
}

// checkURL accepts an absolute https URL, or http to a loopback host.
func checkURL(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", errors.New("must be an absolute https URL without query or credentials")
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && oidcuser.IsLoopbackHost(u.Hostname()):
	default:
		return "", errors.New("must be an https URL (http only on loopback)")
	}
	return u.String(), nil
}

// Close releases idle connections once any token fetch under way is over.
func (d *Directory) Close() error {
	d.tokens.wait()
	if c, ok := d.transport.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
	return nil
}

// gate holds interactive calls back while the directory is throttled:
// Google's quotas are per project and administrator, so every call shares
// them, and a lookup sent into a spent quota only spends it further.
// Strikes count consecutive throttled answers; each pushes the gate's
// opening out by an exponentially growing backoff.
type gate struct {
	mu      sync.Mutex
	until   time.Time
	strikes int
}

// remaining is how long the gate stays closed.
func (g *gate) remaining() time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	return time.Until(g.until)
}

// strike records a throttled answer and returns how long to hold back.
func (g *gate) strike(backoff func(n int) time.Duration) time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.strikes++
	if until := time.Now().Add(backoff(g.strikes)); until.After(g.until) {
		g.until = until
	}
	return time.Until(g.until)
}

// open records an answered call: the quota is flowing again.
func (g *gate) open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.strikes = 0
}
