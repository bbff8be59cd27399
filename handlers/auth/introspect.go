package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
	"golang.org/x/time/rate"

	"github.com/usersvc/usersvc/schema"
)

// Token validation modes (OIDC_TOKEN_VALIDATION).
const (
	ValidationAuto          = "auto"
	ValidationJWT           = "jwt"
	ValidationIntrospection = "introspection"
)

// maxIntrospectionBytes bounds the answer we read from the endpoint.
const maxIntrospectionBytes = 64 << 10

// retryAfterIntrospectionDown is the hint given while the endpoint fails.
const retryAfterIntrospectionDown = 5 * time.Second

// credentialLogEvery spaces the error line about refused client credentials:
// every uncached token would otherwise log it.
const credentialLogEvery = time.Minute

// IntrospectionObserver is told about every introspection outcome (active,
// inactive, error, rate_limited). An Observer may implement it.
type IntrospectionObserver interface {
	Introspection(result string, elapsed time.Duration)
}

// introspector asks the provider's RFC 7662 endpoint about tokens that
// cannot be verified locally (Okta's org authorization server mints such
// access tokens). Calls are shared per token, capped process-wide by a
// token bucket and per client address by a smaller one, and their answers
// cached both ways, so a flood of random tokens costs at most the bucket,
// never slows cached tokens, and never spends another client's share.
type introspector struct {
	clientID, secret string
	client           *http.Client
	limiter          *rate.Limiter
	perClient        *clientLimiters
	retryAfter       time.Duration // hint when the bucket is empty
	group            singleflight.Group
	answers          *tokenCache
	refusals         *refusalCache
	lastCredLog      atomic.Int64 // unix nanos of the last credentials error line
	observe          func(result string, elapsed time.Duration)
}

func newIntrospector(cfg Config) *introspector {
	transport := cfg.HTTPClient.Transport
	in := &introspector{
		clientID: cfg.ClientID,
		secret:   cfg.ClientSecret,
		client: &http.Client{
			Transport: transport,
			Timeout:   cfg.IntrospectionTimeout,
			// A redirect would replay the client secret to another address.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		limiter:    rate.NewLimiter(rate.Limit(cfg.IntrospectionRate), max(1, int(cfg.IntrospectionRate))),
		perClient:  newClientLimiters(cfg.IntrospectionClientRate, cfg.IntrospectionCacheSize),
		retryAfter: time.Duration(math.Ceil(1/cfg.IntrospectionRate)) * time.Second,
		// The introspection caches have their own size: turning the JWT
		// cache off must not send every request to the provider.
		answers:  newTokenCache(cfg.IntrospectionCacheSize, cfg.IntrospectionCacheTTL),
		refusals: newRefusalCache(cfg.IntrospectionCacheSize),
		observe:  func(string, time.Duration) {},
	}
	if o, ok := cfg.Observer.(IntrospectionObserver); ok {
		in.observe = o.Introspection
	}
	return in
}

// introspectionEndpoint is what discovery says about the endpoint.
type introspectionEndpoint struct {
	url string
	// post sends the client credentials in the form (client_secret_post)
	// instead of an Authorization header (client_secret_basic).
	post bool
}

// endpointFrom picks the endpoint and client authentication method: the
// override wins over discovery; client_secret_basic unless the provider
// publishes a method list without it (RFC 8414 §2 introspection_endpoint_auth_methods_supported).
func endpointFrom(override string, doc discovery) (introspectionEndpoint, error) {
	e := introspectionEndpoint{url: doc.IntrospectionEndpoint}
	if override != "" {
		e.url = override
	}
	if e.url == "" {
		return introspectionEndpoint{}, nil
	}
	if u, err := url.Parse(e.url); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return introspectionEndpoint{}, fmt.Errorf("introspection endpoint is not an absolute http(s) URL")
	}
	methods := doc.IntrospectionAuthMethods
	if len(methods) > 0 && !slices.Contains(methods, "client_secret_basic") && slices.Contains(methods, "client_secret_post") {
		e.post = true
	}
	return e, nil
}

var errCredentialsRefused = errors.New("introspection endpoint refused our client credentials")

// introspect authenticates token through the endpoint, from the caches when
// it can.
func (a *Authenticator) introspect(ctx context.Context, prov *provider, token string) (schema.Principal, error) {
	in := a.intro
	now := a.cfg.Now()
	key := digest(token)
	if p, ok := in.answers.get(token, now); ok {
		return p, nil
	}
	if r, ok := in.refusals.get(key, now); ok {
		return schema.Principal{}, r
	}
	client := clientFrom(ctx)
	ch := in.group.DoChan(string(key[:]), func() (any, error) {
		// A flight that finished just before this one began has cached its
		// answer: use it rather than call again.
		if p, ok := in.answers.get(token, a.cfg.Now()); ok {
			return p, nil
		}
		if r, ok := in.refusals.get(key, a.cfg.Now()); ok {
			return nil, r
		}
		// The client's own share first, so a client over it never takes
		// from the shared bucket.
		if !in.perClient.allow(client) || !in.limiter.Allow() {
			in.observe("rate_limited", 0)
			return nil, schema.Unavailable("too many new tokens to introspect; retry shortly", in.retryAfter, nil)
		}
		// The flight outlives any one caller; the client timeout bounds it.
		return a.callIntrospection(context.WithoutCancel(ctx), prov, token, key)
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return schema.Principal{}, res.Err
		}
		return res.Val.(schema.Principal), nil
	case <-ctx.Done():
		return schema.Principal{}, schema.Unavailable("token introspection did not finish", retryAfterIntrospectionDown, ctx.Err())
	}
}

func (a *Authenticator) callIntrospection(ctx context.Context, prov *provider, token string, key [32]byte) (schema.Principal, error) {
	in := a.intro
	start := time.Now()
	status, body, err := in.post(ctx, prov.introspection, token)
	elapsed := time.Since(start)
	unavailable := func(cause error) (schema.Principal, error) {
		in.observe("error", elapsed)
		a.cfg.Logger.WarnContext(ctx, "token introspection failed", "error", cause, "elapsed", elapsed.String())
		return schema.Principal{}, schema.Unavailable("token introspection is unavailable; retry shortly", retryAfterIntrospectionDown, cause)
	}
	switch {
	case err != nil:
		return unavailable(err)
	case status == http.StatusBadRequest:
		// RFC 7662 §2.3: a token the server cannot use is answered as not
		// active; some servers answer 400 instead (Okta does for a malformed
		// token).
		in.observe("inactive", elapsed)
		return a.refuseIntrospected(key, refuse(ReasonInactive, nil))
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		in.observe("error", elapsed)
		if last := in.lastCredLog.Load(); time.Since(time.Unix(0, last)) >= credentialLogEvery &&
			in.lastCredLog.CompareAndSwap(last, time.Now().UnixNano()) {
			a.cfg.Logger.ErrorContext(ctx, "the introspection endpoint refused usersvc's client credentials: check FLASK_OIDC_CLIENT_ID and FLASK_OIDC_CLIENT_SECRET",
				"status", status)
		}
		return schema.Principal{}, schema.Unavailable("token introspection is unavailable; retry shortly", retryAfterIntrospectionDown, errCredentialsRefused)
	case status != http.StatusOK:
		return unavailable(fmt.Errorf("introspection endpoint answered status %d", status))
	}
	var answer tokenClaims
	if err := json.Unmarshal(body, &answer); err != nil || answer.raw == nil {
		return unavailable(fmt.Errorf("introspection answer is not a JSON object: %w", err))
	}
	if active, ok := answer.raw["active"]; !ok || string(active) != "true" {
		in.observe("inactive", elapsed)
		return a.refuseIntrospected(key, refuse(ReasonInactive, nil))
	}
	in.observe("active", elapsed)
	p, exp, rerr := a.acceptIntrospected(prov, answer)
	if rerr != nil {
		return a.refuseIntrospected(key, rerr)
	}
	now := a.cfg.Now()
	until := now.Add(a.cfg.IntrospectionCacheTTL)
	if !exp.IsZero() && exp.Before(until) {
		until = exp
	}
	in.answers.put(token, p, until, now)
	return p, nil
}

func (a *Authenticator) refuseIntrospected(key [32]byte, r *Error) (schema.Principal, error) {
	a.intro.refusals.put(key, r, a.cfg.Now().Add(a.cfg.IntrospectionNegativeTTL))
	return schema.Principal{}, r
}

// acceptIntrospected applies the checks an active answer must pass and
// returns the caller and the token's exp (zero when absent). RFC 7662 §2.2
// makes every member but active optional: each check runs when its member
// is present, except the client and scope checks, which need theirs.
func (a *Authenticator) acceptIntrospected(prov *provider, c tokenClaims) (schema.Principal, time.Time, *Error) {
	now := a.cfg.Now()
	skew := a.cfg.ClockSkew
	var exp time.Time
	if v, ok, err := c.number("exp"); err != nil {
		return schema.Principal{}, exp, refuse(ReasonMalformed, err)
	} else if ok {
		exp = time.Unix(int64(v), 0)
		if !now.Add(-skew).Before(exp) {
			return schema.Principal{}, exp, refuse(ReasonExpired, nil)
		}
		// The skew lets an answer through; the cache must not keep it
		// beyond the same leeway.
		exp = exp.Add(skew)
	}
	if v, ok, err := c.number("nbf"); err != nil {
		return schema.Principal{}, exp, refuse(ReasonMalformed, err)
	} else if ok && time.Unix(int64(v), 0).After(now.Add(skew)) {
		return schema.Principal{}, exp, refuse(ReasonNotYetValid, nil)
	}
	// Only access tokens are credentials for an API (RFC 6750). A refresh
	// token presented as a bearer is refused whatever the server says of
	// it: Okta names the type of an active token in token_type.
	if tt := c.str("token_type"); tt != "" && !strings.EqualFold(tt, "Bearer") && !strings.EqualFold(tt, "access_token") {
		return schema.Principal{}, exp, refuse(ReasonWrongTokenType, nil)
	}
	if _, ok := c.raw["iss"]; ok && c.str("iss") != prov.issuer {
		return schema.Principal{}, exp, refuse(ReasonWrongIssuer, nil)
	}
	// Org authorization server tokens carry the org URL as audience, so
	// only an explicitly configured audience is required here.
	if a.cfg.IntrospectionAudience != "" && !audienceContains(c.raw["aud"], a.cfg.IntrospectionAudience) {
		return schema.Principal{}, exp, refuse(ReasonWrongAudience, nil)
	}
	// Okta's org introspection answers carry the login as sub and username.
	p := a.principal(c, "username", "sub")
	if p.Subject == "" {
		p.Subject = c.str("username")
	}
	if err := a.checkClientAndScopes(p); err != nil {
		return schema.Principal{}, exp, err
	}
	return p, exp, nil
}

// post sends the RFC 7662 §2.1 request and returns the status and body.
func (in *introspector) post(ctx context.Context, e introspectionEndpoint, token string) (int, []byte, error) {
	form := url.Values{"token": {token}, "token_type_hint": {"access_token"}}
	if e.post {
		form.Set("client_id", in.clientID)
		form.Set("client_secret", in.secret)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, nil, fmt.Errorf("introspection request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if !e.post {
		// RFC 6749 §2.3.1: id and secret are form-encoded before Basic.
		req.SetBasicAuth(url.QueryEscape(in.clientID), url.QueryEscape(in.secret))
	}
	resp, err := in.client.Do(req)
	if err != nil {
		// The URL error names the endpoint, never the token (it is in the body).
		return 0, nil, fmt.Errorf("introspection call: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxIntrospectionBytes))
	if err != nil {
		return 0, nil, fmt.Errorf("read introspection answer: %w", err)
	}
	return resp.StatusCode, body, nil
}

// isB64Token reports whether tok fits RFC 6750 §2.1's b64token, the only
// shape a bearer credential can take; anything else is refused without a
// call.
func isB64Token(tok string) bool {
	end := len(tok)
	for end > 0 && tok[end-1] == '=' {
		end--
	}
	if end == 0 {
		return false
	}
	for i := 0; i < end; i++ {
		c := tok[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-', c == '.', c == '_', c == '~', c == '+', c == '/':
		default:
			return false
		}
	}
	return true
}
