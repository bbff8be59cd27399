package okta

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"github.com/usersvc/usersvc/oidcuser"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	josev3 "github.com/go-jose/go-jose/v3"
	oktasdk "github.com/okta/okta-sdk-golang/v2/okta"
	"github.com/okta/okta-sdk-golang/v2/okta/query"

	"github.com/usersvc/usersvc/schema"
)

// Config configures the Okta directory. The names mirror the SDK's
// OKTA_CLIENT_* settings.
type Config struct {
	OrgURL string
	// AuthorizationMode is "SSWS" (API token) or "PrivateKey" (OAuth 2.0
	// client credentials with a private-key JWT).
	AuthorizationMode string
	Token             string
	ClientID          string
	Scopes            []string
	// PrivateKey is a PEM (PKCS#1 or PKCS#8; RSA or EC P-256) for PrivateKey
	// mode; PrivateKeyID is its kid.
	PrivateKey        string
	PrivateKeyID      string
	DisableHTTPSCheck bool
	// Transport carries every call (normally a Budget).
	Transport http.RoundTripper
	// BatchBackoff is the first wait before a sync page or group list is
	// retried after the directory failed (default 1s, doubling).
	BatchBackoff time.Duration
}

// Directory looks people up through okta-sdk-golang/v2.
type Directory struct {
	client       *oktasdk.Client
	transport    http.RoundTripper
	batchBackoff time.Duration
}

// Close releases the directory's idle connections.
func (d *Directory) Close() error {
	if c, ok := d.transport.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
	return nil
}

// New builds the SDK client. Every SDK setting is given explicitly,
// because the SDK silently merges ~/.okta/okta.yaml, ./.okta.yaml and
// OKTA_* variables into anything left unset.
func New(ctx context.Context, cfg Config) (*Directory, error) {
	orgURL := strings.TrimRight(cfg.OrgURL, "/") // a trailing slash breaks the SDK's paths
	transport := cfg.Transport
	if transport == nil {
		transport = oidcuser.NewBudget(nil, oidcuser.BudgetConfig{})
	}
	opts := []oktasdk.ConfigSetter{
		oktasdk.WithOrgUrl(orgURL),
		oktasdk.WithCache(false), // on by default, lists included: stale answers
		// Callers' contexts bound lookups; the Budget bounds the SDK's
		// context-less token fetches.
		oktasdk.WithHttpClientPtr(&http.Client{Transport: transport}),
		oktasdk.WithRequestTimeout(0),      // the caller's context bounds each lookup
		oktasdk.WithRateLimitMaxRetries(0), // the Budget answers 429s; the SDK must not sleep
		oktasdk.WithRateLimitMaxBackOff(0),
		oktasdk.WithConnectionTimeout(10),
		oktasdk.WithTestingDisableHttpsCheck(cfg.DisableHTTPSCheck),
		oktasdk.WithProxyHost(""), oktasdk.WithProxyPort(0), oktasdk.WithProxyUsername(""), oktasdk.WithProxyPassword(""),
		oktasdk.WithUserAgentExtra("usersvc"),
		oktasdk.WithClientAssertion(""),
		oktasdk.WithPrivateKey(""), oktasdk.WithPrivateKeyId(""), oktasdk.WithPrivateKeySigner(nil),
	}
	switch strings.ToLower(cfg.AuthorizationMode) {
	case "", "ssws":
		if cfg.Token == "" {
			return nil, errors.New("SSWS mode needs an API token")
		}
		opts = append(opts, oktasdk.WithAuthorizationMode("SSWS"), oktasdk.WithToken(cfg.Token), oktasdk.WithClientId(""), oktasdk.WithScopes(nil))
	case "privatekey":
		signer, err := newAssertionSigner(cfg.PrivateKey, cfg.PrivateKeyID)
		if err != nil {
			return nil, err
		}
		if cfg.ClientID == "" {
			return nil, errors.New("PrivateKey mode needs a client id")
		}
		scopes := cfg.Scopes
		if len(scopes) == 0 {
			scopes = []string{"okta.users.read"}
		}
		opts = append(opts, oktasdk.WithAuthorizationMode("PrivateKey"), oktasdk.WithToken(""),
			oktasdk.WithClientId(cfg.ClientID), oktasdk.WithScopes(scopes), oktasdk.WithPrivateKeySigner(signer))
	default:
		return nil, fmt.Errorf("authorization mode %q is not SSWS or PrivateKey", cfg.AuthorizationMode)
	}
	_, client, err := oktasdk.NewClient(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("okta client: %w", err)
	}
	backoff := cfg.BatchBackoff
	if backoff <= 0 {
		backoff = time.Second
	}
	return &Directory{client: client, transport: transport, batchBackoff: backoff}, nil
}

// ValidatePrivateKey reports whether pemText is a private key New can
// sign client assertions with.
func ValidatePrivateKey(pemText string) error {
	_, err := newAssertionSigner(pemText, "")
	return err
}

// newAssertionSigner signs the client assertion. It reads PKCS#8 keys (what
// the Admin Console produces) as well as PKCS#1, which is all the SDK's own
// parser accepts; PEMs pasted into env vars with literal \n are accepted.
func newAssertionSigner(pemText, keyID string) (josev3.Signer, error) {
	block, _ := pem.Decode([]byte(strings.ReplaceAll(pemText, `\n`, "\n")))
	if block == nil {
		return nil, errors.New("private key is not PEM")
	}
	var key crypto.PrivateKey
	var err error
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("private key PEM type %q is not supported", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("parse private key: %w", err)
	}
	var alg josev3.SignatureAlgorithm
	switch key.(type) {
	case *rsa.PrivateKey:
		alg = josev3.RS256
	case *ecdsa.PrivateKey:
		alg = josev3.ES256
	default:
		return nil, fmt.Errorf("private key type %T is not RSA or EC", key)
	}
	opts := &josev3.SignerOptions{}
	if keyID != "" {
		opts = opts.WithHeader("kid", keyID)
	}
	return josev3.NewSigner(josev3.SigningKey{Algorithm: alg, Key: key}, opts)
}

// LookupUser finds the person id names: GET by login first (strongly
// consistent, the higher rate limit), then an exact email search.
// The answer is keyed by PersonKey, so whether the person's email is
// shared is looked up too.
func (d *Directory) LookupUser(ctx context.Context, id string) (schema.User, error) {
	// An id shaped like an email needs the email search whatever the GET
	// answers (the person's email, or no login match), so both run at once:
	// a cold lookup then costs one Okta round trip, not two.
	// The search never outlives the lookup: an early return cancels it and
	// waits, so no Okta call lands after the answer.
	var byEmail *oidcuser.Pending[[]User]
	if strings.Contains(id, "@") {
		// Such a lookup needs the search whatever the GET answers (Okta
		// requires every person's email), so while either bucket is known to
		// be spent it answers now and sends neither call for nothing.
		if wait := d.spent(oidcuser.BucketGetUser, oidcuser.BucketListUsers); wait > 0 {
			return schema.User{}, classifyOktaError(ctx, id, nil, &oidcuser.RateLimitedError{RetryAfter: wait})
		}
		sctx, cancel := context.WithCancel(ctx)
		byEmail = oidcuser.Start(func() ([]User, error) { return d.searchEmail(sctx, id) })
		defer func() { cancel(); _, _ = byEmail.Wait() }()
	}
	u, err := d.byLogin(ctx, id)
	if err == nil {
		var sameEmail []User
		if u.Email() != "" {
			var err error
			if byEmail != nil && strings.EqualFold(u.Email(), id) {
				sameEmail, err = byEmail.Wait()
			} else {
				sameEmail, err = d.searchEmail(ctx, u.Email())
			}
			if err != nil {
				return schema.User{}, err
			}
		}
		return oidcuser.KeyedUser(u.Person(), persons(sameEmail)), nil
	}
	if !schema.IsNotFound(err) {
		return schema.User{}, err
	}
	if byEmail == nil {
		// Okta's profile.email is always an address: no search can match,
		// and a random id costs one call.
		return schema.User{}, err
	}
	found, err := byEmail.Wait()
	if err != nil {
		return schema.User{}, err
	}
	candidates := persons(found)
	match, err := oidcuser.PickMatch(id, candidates)
	if err != nil {
		return schema.User{}, err
	}
	return oidcuser.KeyedUser(match, candidates), nil
}

// spent is how long the first of buckets that the directory's Budget knows
// to be spent refuses calls; 0 when none is, or without a Budget.
func (d *Directory) spent(buckets ...string) time.Duration {
	b, ok := d.transport.(*oidcuser.Budget)
	if !ok {
		return 0
	}
	for _, bucket := range buckets {
		if wait := b.Spent(bucket); wait > 0 {
			return wait
		}
	}
	return 0
}

// byLogin fetches /api/v1/users/{login}. Okta also answers that path for a
// user id; such an answer only counts when login or email is the id asked
// about, so "00u..." ids never alias people.
func (d *Directory) byLogin(ctx context.Context, id string) (User, error) {
	user, resp, err := d.client.User.GetUser(ctx, url.PathEscape(id))
	if err != nil {
		return User{}, classifyOktaError(ctx, id, resp, err)
	}
	ou, err := fromSDK(user)
	if err != nil {
		return User{}, err
	}
	if _, err := oidcuser.PickMatch(id, []oidcuser.Person{ou.Person()}); err != nil {
		return User{}, err
	}
	return ou, nil
}

// searchEmail runs search=profile.email eq "<id>". Search is eventually
// consistent and includes SUSPENDED and DEPROVISIONED people.
func (d *Directory) searchEmail(ctx context.Context, id string) ([]User, error) {
	expr, err := SearchEqual("profile.email", id)
	if err != nil {
		return nil, err
	}
	users, resp, err := d.client.User.ListUsers(ctx, &query.Params{Search: expr, Limit: 200})
	if err != nil {
		return nil, classifyOktaError(ctx, id, resp, err)
	}
	return fromSDKUsers(users)
}

// fromSDK converts the SDK's user into User through JSON, the one
// shape both the SDK and the file directory share.
func fromSDK(u *oktasdk.User) (User, error) {
	if u == nil {
		return User{}, schema.Unavailable("directory returned an empty user", 0, nil)
	}
	data, err := json.Marshal(u)
	if err != nil {
		return User{}, fmt.Errorf("encode okta user: %w", err)
	}
	var ou User
	if err := json.Unmarshal(data, &ou); err != nil {
		return User{}, schema.Unavailable("directory returned an unreadable user", 0, err)
	}
	return ou, nil
}

// fromSDKUsers converts a page of SDK users.
func fromSDKUsers(users []*oktasdk.User) ([]User, error) {
	out := make([]User, 0, len(users))
	for _, u := range users {
		ou, err := fromSDK(u)
		if err != nil {
			return nil, err
		}
		out = append(out, ou)
	}
	return out, nil
}

// Batch calls (sync pages, group lists) wait out spent rate-limit windows
// up to maxRateWaits times, and retry other failures of the directory up to
// maxTransientRetries times with backoff: a long sync should ride out a blip
// that an interactive lookup reports at once.
const (
	maxRateWaits        = 10
	maxTransientRetries = 3
)

// ListUsers pages through people in lastUpdated order (a search, so every
// status is included), calling fn for each page. A spent rate-limit budget
// is waited out (Retry-After) and brief outages retried rather than treated
// as failure.
func (d *Directory) ListUsers(ctx context.Context, q oidcuser.ListQuery, fn func([]oidcuser.Person) error) error {
	since := q.UpdatedAfter
	if since.IsZero() {
		since = time.Unix(0, 0)
	}
	op := "gt"
	if q.Inclusive {
		op = "ge"
	}
	params := &query.Params{
		Search:    fmt.Sprintf(`lastUpdated %s "%s"`, op, since.UTC().Format("2006-01-02T15:04:05.000Z")),
		SortBy:    "lastUpdated",
		SortOrder: "asc",
		Limit:     200,
	}
	var users []*oktasdk.User
	var resp *oktasdk.Response
	err := retryBatchCall(ctx, d.batchBackoff, func() error {
		var err error
		users, resp, err = d.client.User.ListUsers(ctx, params)
		return classifyOktaError(ctx, "", resp, err)
	})
	// A page that still fails after its retries fails the whole listing:
	// ending the loop quietly would let the caller take a partial listing
	// for a complete one.
	for pageNo := 1; ; pageNo++ {
		if err != nil {
			return fmt.Errorf("page %d: %w", pageNo, err)
		}
		page, convErr := fromSDKUsers(users)
		if convErr != nil {
			return fmt.Errorf("page %d: %w", pageNo, convErr)
		}
		if err := fn(persons(page)); err != nil {
			return err
		}
		if resp == nil || !resp.HasNextPage() {
			return nil
		}
		current := resp
		err = retryBatchCall(ctx, d.batchBackoff, func() error {
			users = nil
			var err error
			resp, err = current.Next(ctx, &users)
			return classifyOktaError(ctx, "", resp, err)
		})
	}
}

// retryBatchCall runs call, sleeping out Retry-After hints of spent
// rate-limit windows and backing off after other unavailability. Answers
// that are not the directory failing (not found, say) return at once.
func retryBatchCall(ctx context.Context, backoff time.Duration, call func() error) error {
	rateWaits, retries := 0, 0
	for {
		err := call()
		if err == nil || schema.KindOf(err) != schema.KindUnavailable || ctx.Err() != nil {
			return err
		}
		var limited *oidcuser.RateLimitedError
		var wait time.Duration
		switch {
		case errors.As(err, &limited) && rateWaits < maxRateWaits:
			rateWaits++
			var e *schema.Error
			if errors.As(err, &e) {
				wait = e.RetryAfter
			}
			wait = min(max(wait, 100*time.Millisecond), time.Minute)
		case limited == nil && retries < maxTransientRetries:
			retries++
			wait, backoff = backoff, backoff*2
		default:
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// Groups returns the names of the groups the person (by Okta id) is in.
func (d *Directory) Groups(ctx context.Context, oktaID string) ([]string, error) {
	var groups []*oktasdk.Group
	var names []string
	err := retryBatchCall(ctx, d.batchBackoff, func() error {
		var err error
		var resp *oktasdk.Response
		groups, resp, err = d.client.User.ListUserGroups(ctx, url.PathEscape(oktaID))
		return classifyOktaError(ctx, oktaID, resp, err)
	})
	if err != nil {
		return nil, err
	}
	for _, g := range groups {
		if g != nil && g.Profile != nil && g.Profile.Name != "" {
			names = append(names, g.Profile.Name)
		}
	}
	return names, nil
}

// LookupByID re-reads one person by their Okta user id (GET
// /api/v1/users/{id}, strongly consistent): the event hooks' source of
// truth, whatever an event's payload says. The answer counts only when its
// id is the one asked about. Whether the person's email is shared is looked
// up too, so they are keyed by PersonKey as everywhere else.
func (d *Directory) LookupByID(ctx context.Context, id string) (schema.User, error) {
	user, resp, err := d.client.User.GetUser(ctx, url.PathEscape(id))
	if err != nil {
		return schema.User{}, classifyOktaError(ctx, id, resp, err)
	}
	ou, err := fromSDK(user)
	if err != nil {
		return schema.User{}, err
	}
	if ou.ID != id {
		return schema.User{}, schema.Errorf(schema.KindNotFound, "directory id %s not found", id)
	}
	var sameEmail []User
	if ou.Email() != "" {
		if sameEmail, err = d.searchEmail(ctx, ou.Email()); err != nil {
			return schema.User{}, err
		}
	}
	return oidcuser.KeyedUser(ou.Person(), persons(sameEmail)), nil
}

// The capabilities of the Okta directory, checked by the compiler.
var (
	_ oidcuser.Directory   = (*Directory)(nil)
	_ oidcuser.Lister      = (*Directory)(nil)
	_ oidcuser.GroupLister = (*Directory)(nil)
	_ oidcuser.IDLookup    = (*Directory)(nil)
	_ io.Closer            = (*Directory)(nil)
)
