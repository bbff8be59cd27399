package auth_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/usersvc/usersvc/handlers/auth"
	"github.com/usersvc/usersvc/schema"
	"github.com/usersvc/usersvc/testsupport/introspector"
	"github.com/usersvc/usersvc/testsupport/issuer"
	"github.com/usersvc/usersvc/testsupport/syncbuffer"
)

// The provider is panva's oidc-provider: its introspection endpoint
// (lib/actions/introspection.js) answers {"active":false} for any token it
// does not hold and, for an active one, spreads the token's extra claims
// and then sets active, client_id, exp, iat, iss, aud, scope and
// token_type, the members RFC 7662 §2.2 lists.

type introEnv struct {
	op   *introspector.Provider
	a    *auth.Authenticator
	logs *syncbuffer.Buffer
	obs  *countingObserver
}

// countingObserver records introspection results as the metrics see them.
type countingObserver struct {
	mu      sync.Mutex
	results map[string]int
}

func (o *countingObserver) TokenCache(bool) {}
func (o *countingObserver) JWKSFetch(bool)  {}
func (o *countingObserver) Introspection(result string, _ time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.results == nil {
		o.results = map[string]int{}
	}
	o.results[result]++
}

func (o *countingObserver) count(result string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.results[result]
}

func startIntro(t *testing.T, opts introspector.Options, mutate func(*auth.Config)) *introEnv {
	t.Helper()
	op := introspector.Start(t, opts)
	e := &introEnv{op: op, logs: &syncbuffer.Buffer{}, obs: &countingObserver{}}
	cfg := auth.Config{
		DiscoveryURL: op.DiscoveryURL(),
		// The JWT default audience (the client id) must not apply to
		// introspected tokens.
		Audience:     introspector.ResourceServer,
		ClientID:     introspector.ResourceServer,
		ClientSecret: op.Secret(introspector.ResourceServer),
		Logger:       slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Observer:     e.obs,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	a, err := auth.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Discover(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.a = a
	t.Cleanup(func() {
		if t.Failed() {
			return
		}
		if strings.Contains(e.logs.String(), "token=") {
			t.Error("logs carry a form with the token")
		}
	})
	return e
}

func (e *introEnv) calls(t *testing.T) int { return e.op.Introspections(t) }

func bearer(tok string) string { return "Bearer " + tok }

func amundsenForm(tok string) string {
	data, _ := json.Marshal(map[string]any{"access_token": tok, "expires_at": time.Now().Add(time.Hour).Unix(), "refresh_token": "r"})
	return "Bearer " + string(data)
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func TestIntrospectedTokens(t *testing.T) {
	e := startIntro(t, introspector.Options{}, func(c *auth.Config) {
		c.AllowedClientIDs = []string{introspector.Frontend}
		c.RequiredScopes = []string{"users.read"}
		c.GroupsClaim = "groups"
	})
	ctx := context.Background()
	ada := e.op.Token(t, introspector.TokenOptions{Username: "ada.login", Email: "ada@example.com", UID: "00u1", Groups: []string{"data-stewards"}})
	if strings.Count(ada, ".") == 2 {
		t.Fatalf("provider minted a JWT, want an opaque token: %q", ada[:10])
	}
	tests := []struct {
		name   string
		header string
		want   auth.Reason
	}{
		{"opaque token", bearer(ada), ""},
		{"amundsen JSON form", amundsenForm(ada), ""},
		{"garbage", bearer("not-a-token-we-know"), auth.ReasonInactive},
		{"garbage with dots", bearer("a.b.c"), auth.ReasonInactive},
		{"not a b64token", bearer("abc$def"), auth.ReasonMalformed},
		{"wrong client", bearer(e.op.Token(t, introspector.TokenOptions{Client: introspector.Stranger, Email: "ada@example.com"})), auth.ReasonClientNotAllowed},
		{"missing scope", bearer(e.op.Token(t, introspector.TokenOptions{Email: "ada@example.com", Scopes: []string{"users.write"}})), auth.ReasonInsufficientScope},
		{"over 8 KiB", bearer(strings.Repeat("a", auth.MaxTokenBytes+1)), auth.ReasonTooLarge},
		{"alg none JWT", bearer(issuer.ForgeNone("k", map[string]any{"sub": "x"})), auth.ReasonBadAlgorithm},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := e.a.Authenticate(ctx, tt.header)
			if got := auth.ReasonOf(err); got != tt.want {
				t.Fatalf("reason = %q (err %v), want %q", got, err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), "not-a-token") {
				t.Fatalf("error echoes the token: %v", err)
			}
			if tt.want == "" {
				want := schema.Principal{Subject: "ada.login", UserID: "ada@example.com", Email: "ada@example.com",
					ClientID: introspector.Frontend, Groups: []string{"data-stewards"}, Scopes: []string{"users.read"}}
				if fmt.Sprint(p) != fmt.Sprint(want) {
					t.Fatalf("principal = %+v\nwant        %+v", p, want)
				}
			}
		})
	}
	// Wrong client, missing scope, garbage: each refusal was remembered, so
	// asking again costs nothing.
	before := e.calls(t)
	for _, tt := range tests {
		_, _ = e.a.Authenticate(ctx, tt.header)
	}
	if got := e.calls(t) - before; got != 0 {
		t.Fatalf("repeating the table made %d introspection calls, want 0", got)
	}
}

// TestIntrospectionUserIDFallbacks: FLASK_OIDC_USER_ID_FIELD first, then
// username, then sub (Okta's org introspection answers carry the login in
// both).
func TestIntrospectionUserIDFallbacks(t *testing.T) {
	e := startIntro(t, introspector.Options{}, func(c *auth.Config) { c.UserIDClaim = "uid" })
	ctx := context.Background()
	p, err := e.a.Authenticate(ctx, bearer(e.op.Token(t, introspector.TokenOptions{Username: "ada.login", UID: "00u1"})))
	if err != nil || p.UserID != "00u1" {
		t.Fatalf("user id from uid = %q, %v", p.UserID, err)
	}
	p, err = e.a.Authenticate(ctx, bearer(e.op.Token(t, introspector.TokenOptions{Username: "ada.login"})))
	if err != nil || p.UserID != "ada.login" || p.Subject != "ada.login" {
		t.Fatalf("user id from username = %+v, %v", p, err)
	}
	// A client_credentials token of oidc-provider has neither: no user id
	// claim at all, and no sub (the grant has no end-user).
	f := false
	p, err = e.a.Authenticate(ctx, bearer(e.op.Token(t, introspector.TokenOptions{Email: "eve@example.com", EmailVerified: &f})))
	if err != nil || p.UserID != "" || !p.EmailUnverified {
		t.Fatalf("no id claims = %+v, %v", p, err)
	}
}

func TestIntrospectionCallsAreSharedAndCached(t *testing.T) {
	e := startIntro(t, introspector.Options{}, nil)
	ctx := context.Background()

	t.Run("50 requests with one token make at most one call", func(t *testing.T) {
		tok := bearer(e.op.Token(t, introspector.TokenOptions{Email: "ada@example.com"}))
		before := e.calls(t)
		for range 50 {
			if _, err := e.a.Authenticate(ctx, tok); err != nil {
				t.Fatal(err)
			}
		}
		if got := e.calls(t) - before; got > 1 {
			t.Fatalf("%d calls, want at most 1", got)
		}
	})
	t.Run("50 concurrent first requests share one call", func(t *testing.T) {
		tok := bearer(e.op.Token(t, introspector.TokenOptions{Email: "bob@example.com"}))
		before := e.calls(t)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range 50 {
			wg.Go(func() {
				<-start
				if p, err := e.a.Authenticate(ctx, tok); err != nil || p.Email != "bob@example.com" {
					t.Errorf("concurrent: %+v %v", p, err)
				}
			})
		}
		close(start)
		wg.Wait()
		if got := e.calls(t) - before; got != 1 {
			t.Fatalf("%d calls, want exactly 1", got)
		}
	})
	t.Run("an inactive token repeated makes one call", func(t *testing.T) {
		tok := bearer(randomToken())
		before := e.calls(t)
		for range 50 {
			if _, err := e.a.Authenticate(ctx, tok); auth.ReasonOf(err) != auth.ReasonInactive {
				t.Fatalf("random token: %v", err)
			}
		}
		if got := e.calls(t) - before; got != 1 {
			t.Fatalf("%d calls, want 1", got)
		}
	})
}

// TestRevokedTokenRefusedOnceCacheExpires: RFC 7009 revocation is seen at
// the next introspection, i.e. when the cached answer runs out.
func TestRevokedTokenRefusedOnceCacheExpires(t *testing.T) {
	clk := newClock()
	clk.ns.Store(time.Now().UnixNano())
	e := startIntro(t, introspector.Options{}, func(c *auth.Config) {
		c.Now = clk.Now
		c.IntrospectionCacheTTL = time.Minute
	})
	ctx := context.Background()
	raw := e.op.Token(t, introspector.TokenOptions{Email: "ada@example.com"})
	if _, err := e.a.Authenticate(ctx, bearer(raw)); err != nil {
		t.Fatal(err)
	}
	e.op.Revoke(t, introspector.Frontend, raw)
	if _, err := e.a.Authenticate(ctx, bearer(raw)); err != nil {
		t.Fatalf("within the cache TTL the cached answer stands: %v", err)
	}
	clk.Advance(61 * time.Second)
	before := e.calls(t)
	if _, err := e.a.Authenticate(ctx, bearer(raw)); auth.ReasonOf(err) != auth.ReasonInactive {
		t.Fatalf("revoked token after the cache TTL: %v, want inactive", err)
	}
	if e.calls(t)-before != 1 {
		t.Fatal("the expired entry did not lead to a new introspection")
	}
}

// TestIntrospectedExpiry: the answer's exp is checked with the skew on our
// clock, and caps the cache entry.
func TestIntrospectedExpiry(t *testing.T) {
	clk := newClock()
	clk.ns.Store(time.Now().UnixNano())
	e := startIntro(t, introspector.Options{}, func(c *auth.Config) {
		c.Now = clk.Now
		c.ClockSkew = 10 * time.Second
	})
	ctx := context.Background()
	short := bearer(e.op.Token(t, introspector.TokenOptions{Email: "ada@example.com", TTL: 30 * time.Second}))
	if _, err := e.a.Authenticate(ctx, short); err != nil {
		t.Fatal(err)
	}
	// Past exp + skew on our clock: the cache entry ends at exp+skew, and the
	// provider (whose clock has not moved) still calls it active, so only
	// our exp check can refuse it.
	clk.Advance(45 * time.Second)
	if _, err := e.a.Authenticate(ctx, short); auth.ReasonOf(err) != auth.ReasonExpired {
		t.Fatalf("token past exp+skew: %v, want expired", err)
	}
	long := bearer(e.op.Token(t, introspector.TokenOptions{Email: "ada@example.com"}))
	if _, err := e.a.Authenticate(ctx, long); err != nil {
		t.Fatalf("an hour-long token: %v", err)
	}
}

// TestAutoModeRouting: which tokens are verified locally and which are
// introspected, counted at the provider.
func TestAutoModeRouting(t *testing.T) {
	e := startIntro(t, introspector.Options{}, func(c *auth.Config) { c.Audience = introspector.Audience })
	ctx := context.Background()
	iss := issuer.Start(t)
	foreign := iss.Claims(time.Now(), "ada@example.com")
	tests := []struct {
		name  string
		tok   string
		calls int
		want  auth.Reason
	}{
		{"JWT with a known kid is verified locally", e.op.Token(t, introspector.TokenOptions{JWT: true, Scopes: []string{"users.read"}}), 0, ""},
		{"opaque token is introspected", e.op.Token(t, introspector.TokenOptions{Email: "ada@example.com"}), 1, ""},
		// The provider refuses to introspect JWTs it did not mint opaque
		// (lib/shared/reject_structured_tokens.js) or does not know: either
		// way, not active.
		{"kid-less JWT is introspected", issuer.Sign(t, iss.Keys()[0], foreign, false), 1, auth.ReasonInactive},
		{"JWT with an unknown kid is introspected", issuer.Sign(t, iss.Keys()[0], foreign, true), 1, auth.ReasonInactive},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.calls(t)
			_, err := e.a.Authenticate(ctx, bearer(tt.tok))
			if got := auth.ReasonOf(err); got != tt.want {
				t.Fatalf("reason = %q (%v), want %q", got, err, tt.want)
			}
			if got := e.calls(t) - before; got != tt.calls {
				t.Fatalf("%d introspection calls, want %d", got, tt.calls)
			}
		})
	}
}

func TestModes(t *testing.T) {
	ctx := context.Background()
	t.Run("jwt mode refuses opaque tokens without a call", func(t *testing.T) {
		e := startIntro(t, introspector.Options{}, func(c *auth.Config) { c.TokenValidation = auth.ValidationJWT })
		tok := e.op.Token(t, introspector.TokenOptions{Email: "ada@example.com"})
		if _, err := e.a.Authenticate(ctx, bearer(tok)); auth.ReasonOf(err) != auth.ReasonMalformed {
			t.Fatalf("opaque token in jwt mode: %v", err)
		}
		if e.calls(t) != 0 {
			t.Fatal("jwt mode introspected")
		}
	})
	t.Run("auto without a client secret refuses opaque tokens as before", func(t *testing.T) {
		e := startIntro(t, introspector.Options{}, func(c *auth.Config) { c.ClientSecret = "" })
		tok := e.op.Token(t, introspector.TokenOptions{Email: "ada@example.com"})
		if _, err := e.a.Authenticate(ctx, bearer(tok)); auth.ReasonOf(err) != auth.ReasonMalformed {
			t.Fatalf("opaque token without credentials: %v", err)
		}
		if e.calls(t) != 0 {
			t.Fatal("introspected without credentials")
		}
	})
	t.Run("introspection mode introspects JWTs with a known kid too", func(t *testing.T) {
		e := startIntro(t, introspector.Options{}, func(c *auth.Config) { c.TokenValidation = auth.ValidationIntrospection })
		tok := e.op.Token(t, introspector.TokenOptions{JWT: true})
		_, _ = e.a.Authenticate(ctx, bearer(tok))
		if e.calls(t) != 1 {
			t.Fatalf("calls = %d, want 1", e.calls(t))
		}
	})
	t.Run("introspection mode needs a client id and secret", func(t *testing.T) {
		_, err := auth.New(auth.Config{DiscoveryURL: "https://idp.example.com/.well-known/openid-configuration", Audience: "a",
			TokenValidation: auth.ValidationIntrospection, ClientID: "usersvc"})
		if err == nil {
			t.Fatal("accepted introspection without a secret")
		}
	})
}

// TestClientAuthenticationMethod: client_secret_basic unless discovery
// publishes introspection_endpoint_auth_methods_supported without it.
func TestClientAuthenticationMethod(t *testing.T) {
	for _, tt := range []struct {
		name    string
		methods []string
		want    string
	}{
		{"not published", nil, "basic"},
		{"basic published", []string{"client_secret_post", "client_secret_basic"}, "basic"},
		{"only post published", []string{"client_secret_post", "private_key_jwt"}, "post"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := startIntro(t, introspector.Options{IntrospectionAuthMethods: tt.methods}, nil)
			if _, err := e.a.Authenticate(context.Background(), bearer(e.op.Token(t, introspector.TokenOptions{Email: "a@example.com"}))); err != nil {
				t.Fatal(err)
			}
			if got := e.op.Stats(t).LastAuth; got != tt.want {
				t.Fatalf("client authentication = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestIntrospectionEndpointFaults: every way the endpoint can fail answers
// an uncached token 503 with Retry-After within 3s, never 401; cached tokens
// keep working; 400 means not active.
func TestIntrospectionEndpointFaults(t *testing.T) {
	e := startIntro(t, introspector.Options{}, nil)
	ctx := context.Background()
	cached := bearer(e.op.Token(t, introspector.TokenOptions{Email: "ada@example.com"}))
	if _, err := e.a.Authenticate(ctx, cached); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		mode  string
		delay time.Duration
	}{
		{"500", 0}, {"html", 0}, {"401", 0}, {"none", 3 * time.Second},
	} {
		t.Run(fmt.Sprintf("%s delay %s", tt.mode, tt.delay), func(t *testing.T) {
			e.op.Fault(t, tt.mode, tt.delay)
			t.Cleanup(func() { e.op.Fault(t, "none", 0) })
			fresh := bearer(e.op.Token(t, introspector.TokenOptions{Email: "bob@example.com"}))
			errorsBefore := e.obs.count("error")
			start := time.Now()
			_, err := e.a.Authenticate(ctx, fresh)
			elapsed := time.Since(start)
			var se *schema.Error
			if schema.KindOf(err) != schema.KindUnavailable || !asSchemaError(err, &se) || se.RetryAfter < time.Second {
				t.Fatalf("fresh token = %v, want unavailable with a retry hint", err)
			}
			if elapsed > 3*time.Second {
				t.Fatalf("answered after %s, want within 3s", elapsed)
			}
			if e.obs.count("error") != errorsBefore+1 {
				t.Fatal("the refusal did not come from a failed call (rate cap?)")
			}
			if _, err := e.a.Authenticate(ctx, cached); err != nil {
				t.Fatalf("cached token during the fault: %v", err)
			}
		})
	}
	t.Run("400 is not active", func(t *testing.T) {
		e.op.Fault(t, "400", 0)
		t.Cleanup(func() { e.op.Fault(t, "none", 0) })
		_, err := e.a.Authenticate(ctx, bearer(e.op.Token(t, introspector.TokenOptions{Email: "bob@example.com"})))
		if auth.ReasonOf(err) != auth.ReasonInactive {
			t.Fatalf("400 answer: %v, want inactive", err)
		}
	})
	t.Run("refused credentials log one error line", func(t *testing.T) {
		e.op.Fault(t, "401", 0)
		t.Cleanup(func() { e.op.Fault(t, "none", 0) })
		for range 5 {
			_, _ = e.a.Authenticate(ctx, bearer(randomToken()))
		}
		// The earlier 401 subtest logged it once already; five more within
		// the minute add nothing.
		if n := strings.Count(e.logs.String(), "refused usersvc's client credentials"); n != 1 {
			t.Fatalf("credential error logged %d times, want 1", n)
		}
	})
	t.Run("provider stopped", func(t *testing.T) {
		fresh := bearer(e.op.Token(t, introspector.TokenOptions{Email: "carol@example.com"}))
		e.op.Stop()
		errorsBefore := e.obs.count("error")
		start := time.Now()
		_, err := e.a.Authenticate(ctx, fresh)
		if schema.KindOf(err) != schema.KindUnavailable || time.Since(start) > 3*time.Second {
			t.Fatalf("provider down: %v after %s", err, time.Since(start))
		}
		if e.obs.count("error") != errorsBefore+1 {
			t.Fatal("the refusal did not come from a failed call (rate cap?)")
		}
		if _, err := e.a.Authenticate(ctx, cached); err != nil {
			t.Fatalf("cached token with the provider down: %v", err)
		}
		if err := e.a.Ready(ctx); err != nil {
			t.Fatalf("readiness depends on introspection: %v", err)
		}
	})
	if e.obs.count("error") < 5 || e.obs.count("active") < 1 || e.obs.count("inactive") < 1 {
		t.Fatalf("observer results = %v", e.obs.results)
	}
	if strings.Contains(e.logs.String(), strings.TrimPrefix(cached, "Bearer ")) {
		t.Fatal("a token reached the logs")
	}
}

func asSchemaError(err error, dst **schema.Error) bool {
	e, ok := err.(*schema.Error)
	if ok {
		*dst = e
	}
	return ok
}

// TestFloodOfRandomTokens: 1,000 random tokens cost at most the token
// bucket (rate × seconds + burst); beyond it callers get 503 (not 401, not a
// queue), and a cached token's latency is unaffected.
func TestFloodOfRandomTokens(t *testing.T) {
	const ratePerSec = 20
	e := startIntro(t, introspector.Options{}, func(c *auth.Config) { c.IntrospectionRate = ratePerSec })
	ctx := context.Background()
	cached := bearer(e.op.Token(t, introspector.TokenOptions{Email: "ada@example.com"}))
	if _, err := e.a.Authenticate(ctx, cached); err != nil {
		t.Fatal(err)
	}
	p99 := func(d []time.Duration) time.Duration {
		slices.Sort(d)
		return d[len(d)*99/100]
	}
	measure := func(n int) []time.Duration {
		out := make([]time.Duration, 0, n)
		for range n {
			s := time.Now()
			if _, err := e.a.Authenticate(ctx, cached); err != nil {
				t.Errorf("cached token: %v", err)
			}
			out = append(out, time.Since(s))
		}
		return out
	}
	quiet := p99(measure(2000))

	before := e.calls(t)
	start := time.Now()
	var (
		mu                    sync.Mutex
		unavailable, inactive int
		other                 []error
		floodLatency          []time.Duration
		wg                    sync.WaitGroup
		tokens                = make(chan string)
	)
	for range 50 {
		wg.Go(func() {
			for tok := range tokens {
				_, err := e.a.Authenticate(ctx, bearer(tok))
				mu.Lock()
				switch {
				case schema.KindOf(err) == schema.KindUnavailable:
					unavailable++
				case auth.ReasonOf(err) == auth.ReasonInactive:
					inactive++
				default:
					other = append(other, err)
				}
				mu.Unlock()
			}
		})
	}
	// The flood is spread over about 1.5s so that the bucket refills while
	// it lasts; the cached token is measured until it ends.
	flooding, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-flooding:
				return
			default:
				floodLatency = append(floodLatency, measure(100)...)
			}
		}
	}()
	tick := time.NewTicker(1500 * time.Microsecond)
	for range 1000 {
		<-tick.C
		tokens <- randomToken()
	}
	tick.Stop()
	close(tokens)
	wg.Wait()
	close(flooding)
	<-done
	elapsed := time.Since(start)
	calls := e.calls(t) - before
	bound := int(ratePerSec*elapsed.Seconds()) + ratePerSec + 1
	t.Logf("flood: %d calls in %s (bound %d), %d inactive, %d unavailable; cached p99 quiet %s, during flood %s",
		calls, elapsed.Round(time.Millisecond), bound, inactive, unavailable, quiet, p99(floodLatency))
	if calls > bound {
		t.Fatalf("%d introspection calls in %s, want at most %d", calls, elapsed, bound)
	}
	if len(other) > 0 {
		t.Fatalf("%d answers were neither inactive nor unavailable, e.g. %v", len(other), other[0])
	}
	if inactive != calls || unavailable != 1000-calls {
		t.Fatalf("inactive %d, unavailable %d for %d calls", inactive, unavailable, calls)
	}
	// A cache hit is microseconds; the flood must not push it into the
	// range of a network call.
	if got := p99(floodLatency); got > max(20*quiet, 5*time.Millisecond) {
		t.Fatalf("cached p99 during the flood %s, quiet %s", got, quiet)
	}
	if e.obs.count("rate_limited") != unavailable {
		t.Fatalf("rate_limited observed %d, want %d", e.obs.count("rate_limited"), unavailable)
	}
}

// TestIntrospectionAnswerChecks runs the checks on answers a real provider
// will not produce on demand (another issuer, an org-URL audience), from
// an endpoint given by OIDC_INTROSPECTION_URL.
func TestIntrospectionAnswerChecks(t *testing.T) {
	iss := issuer.Start(t)
	var answer map[string]any
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(answer)
	}))
	t.Cleanup(srv.Close)
	now := time.Now()
	base := func() map[string]any {
		// The shape of Okta's org introspection answer (Okta API reference,
		// /oauth2/v1/introspect): aud is the org URL.
		return map[string]any{"active": true, "sub": "ada.login", "username": "ada.login", "uid": "00u1",
			"client_id": "frontend", "scope": "openid users.read", "iss": iss.URL(), "aud": "https://example.okta.com",
			"exp": now.Add(time.Hour).Unix(), "email": "ada@example.com",
			"realm_access": map[string]any{"roles": []string{"steward"}}}
	}
	tests := []struct {
		name     string
		audience string
		groups   string
		mut      func(map[string]any)
		want     auth.Reason
	}{
		{"org audience accepted without OIDC_AUDIENCE", "", "", nil, ""},
		{"explicit audience checked", "api://default", "", nil, auth.ReasonWrongAudience},
		{"explicit audience present", "https://example.okta.com", "", nil, ""},
		{"other issuer", "", "", func(m map[string]any) { m["iss"] = "https://evil.example.com" }, auth.ReasonWrongIssuer},
		{"no iss, no exp: accepted", "", "", func(m map[string]any) { delete(m, "iss"); delete(m, "exp") }, ""},
		{"expired", "", "", func(m map[string]any) { m["exp"] = now.Add(-2 * time.Minute).Unix() }, auth.ReasonExpired},
		{"exp not a number", "", "", func(m map[string]any) { m["exp"] = "soon" }, auth.ReasonMalformed},
		{"active as a string is not active", "", "", func(m map[string]any) { m["active"] = "true" }, auth.ReasonInactive},
		{"nested groups", "", "realm_access.roles", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := auth.New(auth.Config{DiscoveryURL: iss.DiscoveryURL(), Audience: issuer.Audience,
				IntrospectionURL: srv.URL, ClientID: "usersvc", ClientSecret: "test-secret",
				IntrospectionAudience: tt.audience, GroupsClaim: tt.groups})
			if err != nil {
				t.Fatal(err)
			}
			if err := a.Discover(context.Background()); err != nil {
				t.Fatal(err)
			}
			m := base()
			if tt.mut != nil {
				tt.mut(m)
			}
			mu.Lock()
			answer = m
			mu.Unlock()
			p, err := a.Authenticate(context.Background(), bearer(randomToken()))
			if got := auth.ReasonOf(err); got != tt.want {
				t.Fatalf("reason = %q (%v), want %q", got, err, tt.want)
			}
			if tt.groups != "" && fmt.Sprint(p.Groups) != "[steward]" {
				t.Fatalf("groups = %v", p.Groups)
			}
		})
	}
}

// TestIntrospectionRefusesRefreshTokens: an active introspection answer
// whose token_type names anything but an access token (RFC 7662 §2.2
// token_type; Okta answers "Bearer" for access tokens) is refused, so a
// leaked refresh token is no API credential. The endpoint here is a plain
// loopback server answering as the RFC shows, behind a real issuer's keys.
func TestIntrospectionRefusesRefreshTokens(t *testing.T) {
	iss := issuer.Start(t)
	for _, tc := range []struct {
		tokenType string
		want      auth.Reason
	}{
		{"refresh_token", auth.ReasonWrongTokenType},
		{"id_token", auth.ReasonWrongTokenType},
		{"Bearer", ""},
		{"", ""},
	} {
		endpoint := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			answer := map[string]any{"active": true, "sub": "ghopper", "username": "ghopper", "client_id": "amundsen",
				"iss": iss.URL(), "exp": time.Now().Add(time.Hour).Unix()}
			if tc.tokenType != "" {
				answer["token_type"] = tc.tokenType
			}
			_ = json.NewEncoder(w).Encode(answer)
		}))
		a, err := auth.New(auth.Config{DiscoveryURL: iss.DiscoveryURL(), Audience: issuer.Audience, ClientID: "usersvc", ClientSecret: "s",
			IntrospectionURL: endpoint.URL})
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Discover(context.Background()); err != nil {
			t.Fatal(err)
		}
		_, err = a.Authenticate(context.Background(), bearer(randomToken()))
		if got := auth.ReasonOf(err); got != tc.want || (tc.want == "" && err != nil) {
			t.Errorf("token_type %q: %v (reason %q), want reason %q", tc.tokenType, err, got, tc.want)
		}
		endpoint.Close()
	}
}
