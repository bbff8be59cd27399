// Package auth verifies OIDC bearer tokens: the Go equivalent of flaskoidc,
// except that it checks signature, issuer, audience, expiry, client and
// scopes. It knows nothing of HTTP routing; handlers wrap it in middleware.
package auth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/usersvc/usersvc/schema"
)

// Config configures an Authenticator. Zero values take the documented
// defaults.
type Config struct {
	// DiscoveryURL is the OpenID discovery document; the issuer and JWKS URL
	// are taken from it.
	DiscoveryURL string
	// Audience must be one of the token's aud values.
	Audience string
	// AllowedClientIDs, when set, must contain the token's cid/azp/client_id.
	AllowedClientIDs []string
	// RequiredScopes must all be in the token's scp or scope claim.
	RequiredScopes []string
	// ClockSkew is the leeway on exp and nbf; zero is none (OIDC_CLOCK_SKEW
	// has the 60s default).
	ClockSkew time.Duration
	// UserIDClaim names the claim used as the caller's user id (default
	// "email"); the subject is used when the claim is absent. A dotted name
	// reaches into nested claims unless a claim has that very name.
	UserIDClaim string
	// GroupsClaim names the groups claim (default "groups"), dotted like
	// UserIDClaim (Keycloak: realm_access.roles).
	GroupsClaim string
	// CacheSize bounds the verified-token cache (default 10000; negative
	// turns it off). CacheMaxAge caps an entry's life (default 10m).
	CacheSize   int
	CacheMaxAge time.Duration
	// JWKSMinRefresh is the least time between key set refetches triggered by
	// unknown kids (default 10s).
	JWKSMinRefresh time.Duration
	// TokenValidation is ValidationAuto (default), ValidationJWT or
	// ValidationIntrospection (OIDC_TOKEN_VALIDATION).
	TokenValidation string
	// IntrospectionURL overrides the discovery document's
	// introspection_endpoint.
	IntrospectionURL string
	// ClientID and ClientSecret authenticate usersvc at the introspection
	// endpoint; without both, tokens are never introspected.
	ClientID, ClientSecret string
	// IntrospectionAudience, when set, must be in an introspected token's
	// aud. Unlike Audience it has no default: org authorization server
	// tokens carry the org URL.
	IntrospectionAudience string
	// IntrospectionCacheTTL caps how long an active answer is reused
	// (default 5m; the token's exp caps it too); IntrospectionNegativeTTL is
	// how long a refusal is (default 30s).
	IntrospectionCacheTTL    time.Duration
	IntrospectionNegativeTTL time.Duration
	// IntrospectionRate caps introspection calls per second, process-wide,
	// with a burst of the same size (default 20). IntrospectionClientRate
	// caps the calls one client address (IPv6: its /64) may cause (default
	// a quarter of IntrospectionRate, at least 1), so that one source
	// cannot spend the others' share.
	IntrospectionRate       float64
	IntrospectionClientRate float64
	// IntrospectionCacheSize bounds each introspection cache, active and
	// refused answers (default 10000). It is separate from CacheSize: the
	// introspection caches never turn off.
	IntrospectionCacheSize int
	// IntrospectionTimeout bounds one call (default 2s, inside the Amundsen
	// frontend's 3s).
	IntrospectionTimeout time.Duration
	// HTTPClient fetches discovery and keys (default: 10s timeout); its
	// transport also carries introspection calls.
	HTTPClient *http.Client
	Logger     *slog.Logger
	Now        func() time.Time
	// Observer receives cache and key-set events (metrics); optional. When
	// it is an IntrospectionObserver it hears of introspections too.
	Observer Observer
}

// Observer is told about token-cache lookups and JWKS fetches.
type Observer interface {
	TokenCache(hit bool)
	JWKSFetch(ok bool)
}

type noObserver struct{}

func (noObserver) TokenCache(bool) {}
func (noObserver) JWKSFetch(bool)  {}

// Authenticator verifies bearer credentials once the provider's keys are
// loaded; until then it answers unavailable.
type Authenticator struct {
	cfg      Config
	cache    *tokenCache
	intro    *introspector // nil: never introspect
	provider atomic.Pointer[provider]
	notReady atomic.Pointer[error] // why the last discovery failed
}

type provider struct {
	issuer        string
	verifier      *oidc.IDTokenVerifier
	keys          *keySet
	introspection introspectionEndpoint // url "" when none
}

// New validates cfg and returns an Authenticator that has not yet contacted
// the provider: call Start (or Discover).
func New(cfg Config) (*Authenticator, error) {
	u, err := url.Parse(cfg.DiscoveryURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("discovery URL must be an absolute http(s) URL")
	}
	if cfg.Audience == "" {
		return nil, errors.New("audience must not be empty")
	}
	if cfg.UserIDClaim == "" {
		cfg.UserIDClaim = "email"
	}
	if cfg.GroupsClaim == "" {
		cfg.GroupsClaim = "groups"
	}
	if cfg.CacheSize == 0 {
		cfg.CacheSize = 10000
	}
	if cfg.CacheMaxAge == 0 {
		cfg.CacheMaxAge = 10 * time.Minute
	}
	if cfg.JWKSMinRefresh == 0 {
		cfg.JWKSMinRefresh = 10 * time.Second
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Observer == nil {
		cfg.Observer = noObserver{}
	}
	if cfg.TokenValidation == "" {
		cfg.TokenValidation = ValidationAuto
	}
	if cfg.IntrospectionCacheTTL == 0 {
		cfg.IntrospectionCacheTTL = 5 * time.Minute
	}
	if cfg.IntrospectionNegativeTTL == 0 {
		cfg.IntrospectionNegativeTTL = 30 * time.Second
	}
	if cfg.IntrospectionRate == 0 {
		cfg.IntrospectionRate = 20
	}
	if cfg.IntrospectionClientRate == 0 {
		cfg.IntrospectionClientRate = max(1, cfg.IntrospectionRate/4)
	}
	if cfg.IntrospectionCacheSize <= 0 {
		cfg.IntrospectionCacheSize = 10000
	}
	if cfg.IntrospectionTimeout == 0 {
		cfg.IntrospectionTimeout = 2 * time.Second
	}
	hasCredentials := cfg.ClientID != "" && cfg.ClientSecret != ""
	switch cfg.TokenValidation {
	case ValidationAuto, ValidationJWT:
	case ValidationIntrospection:
		if !hasCredentials {
			return nil, errors.New("introspection needs a client id and secret")
		}
	default:
		return nil, fmt.Errorf("token validation must be auto, jwt or introspection")
	}
	if cfg.IntrospectionRate < 0 || cfg.IntrospectionClientRate < 0 || cfg.IntrospectionCacheTTL < 0 || cfg.IntrospectionNegativeTTL < 0 {
		return nil, errors.New("introspection rate and TTLs must not be negative")
	}
	if cfg.IntrospectionURL != "" {
		if _, err := endpointFrom(cfg.IntrospectionURL, discovery{}); err != nil {
			return nil, err
		}
	}
	a := &Authenticator{cfg: cfg, cache: newTokenCache(cfg.CacheSize, cfg.CacheMaxAge)}
	if cfg.TokenValidation != ValidationJWT && hasCredentials {
		a.intro = newIntrospector(cfg)
	}
	return a, nil
}

// Start discovers the provider in the background, retrying with capped
// backoff until it succeeds or ctx ends, so a provider that is briefly
// unreachable at start-up does not crash-loop the pod.
func (a *Authenticator) Start(ctx context.Context) {
	go func() {
		backoff := 500 * time.Millisecond
		lastProblem := ""
		for {
			err := a.Discover(ctx)
			if err == nil {
				return
			}
			a.notReady.Store(&err)
			var derr *DiscoveryError
			switch {
			case errors.As(err, &derr) && derr.Reached:
				// The URL answered, with something that is not a usable
				// discovery document: a configuration mistake, said once per
				// distinct problem rather than as "not reachable".
				if p := derr.Error(); p != lastProblem {
					lastProblem = p
					a.cfg.Logger.Error("FLASK_OIDC_CONFIG_URL does not serve a usable OIDC discovery document; protected routes answer 503 until it does",
						"discovery_url", a.cfg.DiscoveryURL, "problem", derr.Problem, "hint", derr.Hint, "retry_in", backoff.String())
				}
			default:
				a.cfg.Logger.Warn("OIDC provider not reachable yet; protected routes answer 503 until it is",
					"discovery_url", a.cfg.DiscoveryURL, "error", err, "retry_in", backoff.String())
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 5*time.Second)
		}
	}()
}

// DiscoveryError is a discovery document that could not be used. Reached
// tells a provider that answered (with HTML, a 404, a document lacking
// issuer or jwks_uri, or naming another issuer) from one that did not.
type DiscoveryError struct {
	Reached bool
	Problem string
	Hint    string
	cause   error
}

func (e *DiscoveryError) Error() string {
	if e.Hint == "" {
		return e.Problem
	}
	return e.Problem + " (" + e.Hint + ")"
}

func (e *DiscoveryError) Unwrap() error { return e.cause }

// hintURL is what FLASK_OIDC_CONFIG_URL must be.
const hintURL = "FLASK_OIDC_CONFIG_URL must be the issuer followed by /.well-known/openid-configuration, e.g. https://example.okta.com/oauth2/default/.well-known/openid-configuration"

// Discover fetches the discovery document and the key set once. On success
// the Authenticator is ready.
func (a *Authenticator) Discover(ctx context.Context) error {
	doc, err := a.fetchDiscovery(ctx)
	if err != nil {
		return err
	}
	endpoint, err := endpointFrom(a.cfg.IntrospectionURL, doc)
	if err != nil {
		return err
	}
	if a.cfg.TokenValidation == ValidationIntrospection && endpoint.url == "" {
		return errors.New("discovery document has no introspection_endpoint: set OIDC_INTROSPECTION_URL")
	}
	keys := &keySet{
		url:        doc.JWKSURI,
		client:     a.cfg.HTTPClient,
		minRefresh: a.cfg.JWKSMinRefresh,
		now:        a.cfg.Now,
		observe:    a.cfg.Observer.JWKSFetch,
	}
	if err := keys.fetch(ctx); err != nil {
		return err
	}
	verifier := oidc.NewVerifier(doc.Issuer, keys, &oidc.Config{
		ClientID:             a.cfg.Audience,
		SupportedSigningAlgs: allowedAlgorithms,
		// exp and nbf are checked in verifyJWT, each with exactly
		// ClockSkew. go-oidc checks exp with no leeway and adds a fixed
		// 5-minute allowance to nbf (v3.21.0 oidc/verify.go): shifting its
		// clock back by the skew, to give exp its leeway, made it reject
		// fresh tokens carrying nbf once the skew passed 5 minutes.
		SkipExpiryCheck: true,
	})
	a.provider.Store(&provider{issuer: doc.Issuer, verifier: verifier, keys: keys, introspection: endpoint})
	a.cfg.Logger.Info("OIDC provider ready", "issuer", doc.Issuer,
		"introspection", a.intro != nil && endpoint.url != "", "token_validation", a.cfg.TokenValidation)
	return nil
}

type discovery struct {
	Issuer                   string   `json:"issuer"`
	JWKSURI                  string   `json:"jwks_uri"`
	IntrospectionEndpoint    string   `json:"introspection_endpoint"`
	IntrospectionAuthMethods []string `json:"introspection_endpoint_auth_methods_supported"`
}

func (a *Authenticator) fetchDiscovery(ctx context.Context) (discovery, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.cfg.DiscoveryURL, nil)
	if err != nil {
		return discovery{}, fmt.Errorf("discovery request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := a.cfg.HTTPClient.Do(req)
	if err != nil {
		return discovery{}, &DiscoveryError{Problem: "discovery URL not reachable: " + err.Error(), cause: err}
	}
	defer resp.Body.Close()
	reached := func(problem, hint string) error { return &DiscoveryError{Reached: true, Problem: problem, Hint: hint} }
	if resp.StatusCode != http.StatusOK {
		return discovery{}, reached(fmt.Sprintf("discovery URL answered status %d, not a discovery document", resp.StatusCode), hintURL)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return discovery{}, &DiscoveryError{Problem: "reading the discovery document: " + err.Error(), cause: err}
	}
	var doc discovery
	if err := json.Unmarshal(body, &doc); err != nil {
		ct := resp.Header.Get("Content-Type")
		if ct == "" {
			ct = "no content type"
		}
		return discovery{}, reached(fmt.Sprintf("discovery URL answered %s that is not a JSON discovery document", ct), hintURL)
	}
	for name, v := range map[string]string{"issuer": doc.Issuer, "jwks_uri": doc.JWKSURI} {
		if u, err := url.Parse(v); err != nil || u.Host == "" {
			return discovery{}, reached("discovery document has no valid "+name, hintURL)
		}
	}
	// go-oidc refuses a document whose issuer is not exactly the one the
	// URL names (OpenID Connect Discovery 1.0 §4.3).
	if want, ok := strings.CutSuffix(a.cfg.DiscoveryURL, "/.well-known/openid-configuration"); ok && doc.Issuer != want {
		return discovery{}, reached(fmt.Sprintf("discovery document names issuer %q but was fetched from issuer %q", doc.Issuer, want),
			"the two must match exactly: check host (localhost is not 127.0.0.1), scheme, path and trailing slash of FLASK_OIDC_CONFIG_URL")
	}
	return doc, nil
}

// Ready reports whether keys are loaded and tokens can be verified; while
// not, the reason discovery last failed.
func (a *Authenticator) Ready(context.Context) error {
	if p := a.provider.Load(); p == nil || !p.keys.loaded() {
		if last := a.notReady.Load(); last != nil {
			return schema.Unavailable("authentication is not ready: "+(*last).Error(), retryAfterNotReady, *last)
		}
		return errNotReady
	}
	return nil
}

// retryAfterNotReady is the hint given while the provider has not been
// reached; the background loop retries at least this often.
const retryAfterNotReady = 5 * time.Second

var errNotReady = schema.Unavailable("authentication is not ready: the OIDC provider has not been reached yet", retryAfterNotReady, nil)

// Authenticate verifies the Authorization header value and returns the
// caller. Refusals are *Error; a provider that was never reached is a
// schema KindUnavailable error.
func (a *Authenticator) Authenticate(ctx context.Context, header string) (schema.Principal, error) {
	jwt, err := ExtractJWT(header)
	if err != nil {
		return schema.Principal{}, err
	}
	now := a.cfg.Now()
	cache := a.cache
	if a.intro != nil && !looksLikeJWT(jwt) {
		// Opaque tokens are only ever introspected: their answers live in
		// the introspection cache.
		cache = a.intro.answers
	}
	if p, ok := cache.get(jwt, now); ok {
		a.cfg.Observer.TokenCache(true)
		return p, nil
	}
	a.cfg.Observer.TokenCache(false)
	if a.intro == nil {
		return a.verifyJWT(ctx, jwt, now)
	}
	return a.authenticateEither(ctx, jwt, now)
}

// authenticateEither routes a token when introspection is possible: in
// auto mode a JWT whose kid the key set knows is verified locally; any
// other token (opaque, kid-less, or a kid still unknown after the bounded
// refresh) is introspected.
func (a *Authenticator) authenticateEither(ctx context.Context, tok string, now time.Time) (schema.Principal, error) {
	if !isB64Token(tok) {
		return schema.Principal{}, refuse(ReasonMalformed, nil)
	}
	introspect := func() (schema.Principal, error) {
		prov := a.provider.Load()
		if prov == nil {
			return schema.Principal{}, errNotReady
		}
		if prov.introspection.url == "" {
			// Discovery offered no endpoint: refuse as the JWT path would.
			return a.verifyJWT(ctx, tok, now)
		}
		return a.introspect(ctx, prov, tok)
	}
	if a.cfg.TokenValidation == ValidationIntrospection || !looksLikeJWT(tok) {
		return introspect()
	}
	if err := precheck(tok); err != nil {
		if ReasonOf(err) == ReasonNoKeyID {
			return introspect()
		}
		return schema.Principal{}, err
	}
	p, err := a.verifyJWT(ctx, tok, now)
	if ReasonOf(err) == ReasonUnknownKey {
		return introspect()
	}
	return p, err
}

// verifyJWT is the local path: pre-checks, signature, claims, policy.
func (a *Authenticator) verifyJWT(ctx context.Context, jwt string, now time.Time) (schema.Principal, error) {
	if err := precheck(jwt); err != nil {
		return schema.Principal{}, err
	}
	prov := a.provider.Load()
	if prov == nil {
		return schema.Principal{}, errNotReady
	}
	var keyErr error
	tok, err := prov.verifier.Verify(withKeyError(ctx, &keyErr), jwt)
	if err != nil {
		return schema.Principal{}, a.classify(prov, jwt, err, keyErr)
	}
	// A token without exp has a zero Expiry and is refused, as go-oidc's
	// own check refuses it.
	if tok.Expiry.Before(now.Add(-a.cfg.ClockSkew)) {
		return schema.Principal{}, refuse(ReasonExpired, &oidc.TokenExpiredError{Expiry: tok.Expiry})
	}
	var claims tokenClaims
	if err := tok.Claims(&claims); err != nil {
		return schema.Principal{}, refuse(ReasonMalformed, err)
	}
	if claims.NotBefore != nil && time.Unix(int64(*claims.NotBefore), 0).After(now.Add(a.cfg.ClockSkew)) {
		return schema.Principal{}, refuse(ReasonNotYetValid, nil)
	}
	p := a.principal(claims, "sub")
	if err := a.checkClientAndScopes(p); err != nil {
		return schema.Principal{}, err
	}
	a.cache.put(jwt, p, tok.Expiry, now)
	return p, nil
}

// checkClientAndScopes applies OIDC_ALLOWED_CLIENT_IDS and
// OIDC_REQUIRED_SCOPES, the same for verified and introspected tokens.
func (a *Authenticator) checkClientAndScopes(p schema.Principal) *Error {
	if len(a.cfg.AllowedClientIDs) > 0 && !slices.Contains(a.cfg.AllowedClientIDs, p.ClientID) {
		return refuse(ReasonClientNotAllowed, nil)
	}
	for _, s := range a.cfg.RequiredScopes {
		if !slices.Contains(p.Scopes, s) {
			return &Error{Reason: ReasonInsufficientScope, RequiredScopes: a.cfg.RequiredScopes}
		}
	}
	return nil
}

// tokenClaims are the claims usersvc reads beyond go-oidc's checks. Claims
// whose name is configurable are kept raw.
type tokenClaims struct {
	NotBefore *float64 `json:"nbf"`
	raw       map[string]json.RawMessage
}

func (c *tokenClaims) UnmarshalJSON(data []byte) error {
	if err := json.Unmarshal(data, &c.raw); err != nil {
		return err
	}
	if nbf, ok := c.raw["nbf"]; ok {
		var v float64
		if err := json.Unmarshal(nbf, &v); err != nil {
			return fmt.Errorf("nbf: %w", err)
		}
		c.NotBefore = &v
	}
	return nil
}

// lookup finds a claim by name; a name with dots that no claim carries as
// is walks nested objects ("realm_access.roles").
func (c tokenClaims) lookup(name string) (json.RawMessage, bool) {
	if raw, ok := c.raw[name]; ok || !strings.Contains(name, ".") {
		return raw, ok
	}
	obj := c.raw
	parts := strings.Split(name, ".")
	for i, part := range parts {
		raw, ok := obj[part]
		if !ok {
			return nil, false
		}
		if i == len(parts)-1 {
			return raw, true
		}
		obj = nil
		if json.Unmarshal(raw, &obj) != nil || obj == nil {
			return nil, false
		}
	}
	return nil, false
}

// str returns a string claim, or "" when absent or not a string.
func (c tokenClaims) str(name string) string {
	var s string
	if raw, ok := c.lookup(name); ok {
		_ = json.Unmarshal(raw, &s)
	}
	return s
}

// number returns a numeric claim (exp, nbf); ok is false when absent.
func (c tokenClaims) number(name string) (v float64, ok bool, err error) {
	raw, ok := c.raw[name]
	if !ok || string(raw) == "null" {
		return 0, false, nil
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return 0, false, fmt.Errorf("%s: %w", name, err)
	}
	return v, true, nil
}

// emailUnverified: the provider says outright that the email is not
// verified (a JSON false, or the string "false" some providers send).
func (c tokenClaims) emailUnverified() bool {
	raw := string(c.raw["email_verified"])
	return raw == "false" || raw == `"false"`
}

// list returns a claim that providers send either as an array of strings or
// as one space-separated string (scp, scope, groups).
func (c tokenClaims) list(name string) []string {
	raw, ok := c.lookup(name)
	if !ok {
		return nil
	}
	var arr []string
	if json.Unmarshal(raw, &arr) == nil {
		return arr
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return strings.Fields(s)
	}
	return nil
}

// principal reads the caller from verified claims or an introspection
// answer. The user id is the configured claim, else the first of
// fallbacks present.
func (a *Authenticator) principal(c tokenClaims, fallbacks ...string) schema.Principal {
	p := schema.Principal{
		Subject:         c.str("sub"),
		UserID:          c.str(a.cfg.UserIDClaim),
		Email:           c.str("email"),
		EmailUnverified: c.emailUnverified(),
		Groups:          c.list(a.cfg.GroupsClaim),
		Scopes:          c.list("scp"),
	}
	for _, name := range fallbacks {
		if p.UserID != "" {
			break
		}
		p.UserID = c.str(name)
	}

	if len(p.Scopes) == 0 {
		p.Scopes = c.list("scope")
	}
	for _, name := range []string{"cid", "azp", "client_id"} {
		if p.ClientID = c.str(name); p.ClientID != "" {
			break
		}
	}
	return p
}

type keyErrorKey struct{}

// withKeyError lets the key set report why a signature failed: go-oidc
// flattens that error into text.
func withKeyError(ctx context.Context, dst *error) context.Context {
	return context.WithValue(ctx, keyErrorKey{}, dst)
}

func reportKeyError(ctx context.Context, err error) {
	if dst, ok := ctx.Value(keyErrorKey{}).(*error); ok {
		*dst = err
	}
}

// classify turns a go-oidc failure into a refusal reason. Once the signature
// is known to be good, the unverified claims only serve to name which of
// go-oidc's later checks failed.
func (a *Authenticator) classify(prov *provider, jwt string, err, keyErr error) *Error {
	switch {
	case errors.Is(keyErr, errUnknownKey):
		return refuse(ReasonUnknownKey, err)
	case errors.Is(keyErr, errBadSignature):
		return refuse(ReasonBadSignature, err)
	case keyErr != nil:
		return refuse(ReasonMalformed, err)
	}
	var claims struct {
		Issuer   string          `json:"iss"`
		Audience json.RawMessage `json:"aud"`
	}
	if parts := strings.Split(jwt, "."); len(parts) == 3 {
		if payload, derr := base64.RawURLEncoding.DecodeString(parts[1]); derr == nil {
			_ = json.Unmarshal(payload, &claims)
		}
	}
	switch {
	case claims.Issuer != prov.issuer:
		return refuse(ReasonWrongIssuer, err)
	case !audienceContains(claims.Audience, a.cfg.Audience):
		return refuse(ReasonWrongAudience, err)
	case strings.Contains(err.Error(), "malformed"):
		return refuse(ReasonMalformed, err)
	}
	return refuse(ReasonInvalid, err)
}

func audienceContains(raw json.RawMessage, aud string) bool {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return one == aud
	}
	var many []string
	return json.Unmarshal(raw, &many) == nil && slices.Contains(many, aud)
}
