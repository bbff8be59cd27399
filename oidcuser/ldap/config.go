package ldap

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	goldap "github.com/go-ldap/ldap/v3"
)

// Config configures a Directory. The environment variable beside each
// field is the one cmd/usersvc reads it from (DESIGN §4), and the one a
// validation error names.
type Config struct {
	// URL is the server: ldap://host[:389] or ldaps://host[:636], nothing
	// after the host (the base is BaseDN). LDAP_URL.
	URL string
	// StartTLS upgrades an ldap:// connection to TLS (RFC 4511 section
	// 4.14) before binding. LDAP_START_TLS.
	StartTLS bool
	// CAFile is a PEM file of the CAs that sign the server's certificate
	// (ldaps:// or StartTLS); empty: the system's roots. The server's
	// certificate is always verified. LDAP_CA_FILE.
	CAFile string
	// BindDN and BindPassword are usersvc's service account (a simple
	// bind, RFC 4513 section 5.1.3); both empty: anonymous. The caller
	// reads the password from LDAP_BIND_PASSWORD_FILE; it is never logged
	// nor put in an error. LDAP_BIND_DN.
	BindDN       string
	BindPassword string
	// BaseDN is the subtree searched for people. LDAP_BASE_DN.
	BaseDN string
	// UserFilter selects people (RFC 4515), ANDed with every search.
	// Default: (objectClass=person) for openldap; for ad
	// (&(objectClass=user)(!(objectClass=computer))), since AD's computer
	// accounts are persons and users too. LDAP_USER_FILTER.
	UserFilter string
	// Flavor names the schema the people follow: "openldap" (default:
	// inetOrgPerson, entryUUID, the ppolicy lock) or "ad" (Active
	// Directory: sAMAccountName, objectGUID, userAccountControl).
	// LDAP_FLAVOR.
	Flavor string
	// PageSize is the paged-results page size of a listing (RFC 2696);
	// default 500 (under AD's MaxPageSize of 1000).
	PageSize int
	// Timeout bounds each operation: connecting (TCP, TLS, bind) and
	// every request. Default 5s.
	Timeout time.Duration
	// Logger receives reconnects and listing retries; default: none.
	Logger *slog.Logger
}

// String describes the configuration without the password.
func (c Config) String() string {
	pw := ""
	if c.BindPassword != "" {
		pw = " password=<redacted>"
	}
	u := c.URL
	if parsed, err := url.Parse(c.URL); err == nil && parsed.User != nil {
		u = parsed.Redacted() // a URL must not carry credentials; validate refuses it
	}
	return fmt.Sprintf("ldap.Config{url=%s start_tls=%t ca_file=%q bind_dn=%q%s base_dn=%q filter=%q flavor=%s page_size=%d timeout=%s}",
		u, c.StartTLS, c.CAFile, c.BindDN, pw, c.BaseDN, c.UserFilter, c.Flavor, c.PageSize, c.Timeout)
}

// LogValue logs the configuration without the password.
func (c Config) LogValue() slog.Value { return slog.StringValue(c.String()) }

// Flavors.
const (
	FlavorOpenLDAP = "openldap"
	FlavorAD       = "ad"
)

// Defaults.
const (
	DefaultPageSize = 500
	DefaultTimeout  = 5 * time.Second
	// DefaultUserFilter is the openldap flavor's; DefaultADUserFilter
	// the ad flavor's.
	DefaultUserFilter   = "(objectClass=person)"
	DefaultADUserFilter = "(&(objectClass=user)(!(objectClass=computer)))"
)

// maxPageSize keeps a page's answer (and the memory of one page) bounded.
const maxPageSize = 10000

// settings is a validated Config: what a Directory runs with.
type settings struct {
	Config
	addr   string      // host:port to dial
	ldaps  bool        // TLS from the first byte
	tls    *tls.Config // ldaps or StartTLS; nil for plain ldap://
	flavor *flavor
}

// validate checks cfg and fills its defaults. Each error is one line that
// names the environment variable to fix.
func validate(cfg Config) (*settings, error) {
	s := &settings{Config: cfg}
	u, err := parseURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	s.ldaps = u.Scheme == "ldaps"
	port := u.Port()
	if port == "" {
		port = "389"
		if s.ldaps {
			port = "636"
		}
	}
	s.addr = net.JoinHostPort(u.Hostname(), port)
	if cfg.StartTLS && s.ldaps {
		return nil, errors.New("LDAP_START_TLS cannot be used with an ldaps:// LDAP_URL: the connection is TLS already")
	}
	if s.ldaps || cfg.StartTLS {
		if s.tls, err = tlsConfig(u.Hostname(), cfg.CAFile); err != nil {
			return nil, err
		}
	} else if cfg.CAFile != "" {
		return nil, errors.New("LDAP_CA_FILE is set but the connection is not TLS: use an ldaps:// LDAP_URL or LDAP_START_TLS=true")
	}

	switch {
	case cfg.BindDN != "" && cfg.BindPassword == "":
		// An empty password is an unauthenticated bind (RFC 4513 section
		// 5.1.2): servers accept it as anonymous, not as the DN.
		return nil, errors.New("LDAP_BIND_PASSWORD_FILE is empty or unset: a password is required with LDAP_BIND_DN")
	case cfg.BindDN == "" && cfg.BindPassword != "":
		return nil, errors.New("LDAP_BIND_DN is required with LDAP_BIND_PASSWORD_FILE")
	case cfg.BindDN != "":
		if _, err := goldap.ParseDN(cfg.BindDN); err != nil {
			return nil, fmt.Errorf("LDAP_BIND_DN %q is not a DN (RFC 4514): %v", cfg.BindDN, err)
		}
	}
	if strings.TrimSpace(cfg.BaseDN) == "" {
		return nil, errors.New("LDAP_BASE_DN is required: the subtree that holds the people (e.g. ou=people,dc=example,dc=com)")
	}
	if _, err := goldap.ParseDN(cfg.BaseDN); err != nil {
		return nil, fmt.Errorf("LDAP_BASE_DN %q is not a DN (RFC 4514): %v", cfg.BaseDN, err)
	}

	switch strings.ToLower(strings.TrimSpace(cfg.Flavor)) {
	case "", FlavorOpenLDAP:
		s.Flavor, s.flavor = FlavorOpenLDAP, &openLDAP
	case FlavorAD:
		s.Flavor, s.flavor = FlavorAD, &activeDirectory
	default:
		return nil, fmt.Errorf("LDAP_FLAVOR %q: want openldap or ad", cfg.Flavor)
	}
	s.UserFilter = strings.TrimSpace(cfg.UserFilter)
	if s.UserFilter == "" {
		s.UserFilter = s.flavor.defaultFilter
	}
	if _, err := goldap.CompileFilter(s.UserFilter); err != nil {
		return nil, fmt.Errorf("LDAP_USER_FILTER %q is not an LDAP filter (RFC 4515; parenthesised, e.g. (objectClass=person)): %v", s.UserFilter, err)
	}

	switch {
	case cfg.PageSize == 0:
		s.PageSize = DefaultPageSize
	case cfg.PageSize < 0 || cfg.PageSize > maxPageSize:
		return nil, fmt.Errorf("ldap: page size %d: want 1 to %d", cfg.PageSize, maxPageSize)
	}
	switch {
	case cfg.Timeout == 0:
		s.Timeout = DefaultTimeout
	case cfg.Timeout < 0:
		return nil, fmt.Errorf("ldap: timeout %s: want a positive duration", cfg.Timeout)
	}
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	return s, nil
}

func parseURL(raw string) (*url.URL, error) {
	if strings.TrimSpace(raw) == "" {
		return nil, errors.New("LDAP_URL is required: ldap://host[:port] or ldaps://host[:port]")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("LDAP_URL %q is not a URL: %v", raw, err)
	}
	switch strings.ToLower(u.Scheme) {
	case "ldap", "ldaps":
		u.Scheme = strings.ToLower(u.Scheme)
	default:
		return nil, fmt.Errorf("LDAP_URL %q: the scheme must be ldap:// or ldaps://", raw)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("LDAP_URL %q names no host", raw)
	}
	if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("LDAP_URL %q: give scheme://host[:port] only (the base DN goes in LDAP_BASE_DN, the filter in LDAP_USER_FILTER)", raw)
	}
	return u, nil
}

// tlsConfig verifies the server's certificate for host against the CAs
// in caFile (PEM), or the system's roots when caFile is empty.
func tlsConfig(host, caFile string) (*tls.Config, error) {
	c := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	if caFile == "" {
		return c, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("LDAP_CA_FILE: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("LDAP_CA_FILE %s holds no PEM certificate", caFile)
	}
	c.RootCAs = pool
	return c, nil
}
