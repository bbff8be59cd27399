package entra

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"golang.org/x/sync/singleflight"

	"github.com/usersvc/usersvc/oidcuser"
	"github.com/usersvc/usersvc/schema"
)

// tokenCache holds the application's access token until shortly before it
// expires; concurrent callers share one token request.
type tokenCache struct {
	cfg     clientcredentials.Config
	client  *http.Client
	timeout time.Duration
	now     func() time.Time

	group   singleflight.Group
	mu      sync.Mutex
	token   string
	renewAt time.Time
}

// Tokens are renewed a tenth of their lifetime before they expire (at most
// five minutes before): the identity platform issues them for an hour or
// so ("expires_in"), and a token must not lapse in flight.
const maxRenewMargin = 5 * time.Minute

// get returns a valid token, fetching one when none is cached.
func (c *tokenCache) get(ctx context.Context) (string, error) {
	c.mu.Lock()
	tok, renewAt := c.token, c.renewAt
	c.mu.Unlock()
	if tok != "" && c.now().Before(renewAt) {
		return tok, nil
	}
	return c.fetch(ctx)
}

// drop forgets tok (Graph refused it: expired or revoked), so the next get
// fetches a new one. A newer token cached meanwhile is kept.
func (c *tokenCache) drop(tok string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token == tok {
		c.token, c.renewAt = "", time.Time{}
	}
}

// fetch requests a token from the token endpoint and caches it. Callers
// arriving while a request is in flight share it; each waits no longer
// than its own context allows.
func (c *tokenCache) fetch(ctx context.Context) (string, error) {
	ch := c.group.DoChan("token", func() (any, error) {
		// Not the first caller's context: its cancellation must not fail
		// the others. The timeout bounds the request.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.timeout)
		defer cancel()
		fctx = context.WithValue(fctx, oauth2.HTTPClient, c.client)
		start := c.now()
		t, err := c.cfg.Token(fctx)
		if err != nil {
			return "", classifyTokenError(fctx, err)
		}
		renewAt := start.Add(time.Hour)
		if !t.Expiry.IsZero() {
			// The library computed the expiry from expires_in on its own
			// clock; the lifetime is what counts.
			life := max(time.Until(t.Expiry), 0)
			renewAt = start.Add(life - min(life/10, maxRenewMargin))
		}
		c.mu.Lock()
		c.token, c.renewAt = t.AccessToken, renewAt
		c.mu.Unlock()
		return t.AccessToken, nil
	})
	select {
	case <-ctx.Done():
		return "", schema.Unavailable("the directory's token endpoint did not answer in time", retryTimeout, ctx.Err())
	case res := <-ch:
		if res.Err != nil {
			return "", res.Err
		}
		return res.Val.(string), nil
	}
}

// aadsts finds the identity platform's error code in an error description
// ("AADSTS7000215: Invalid client secret provided...").
var aadsts = regexp.MustCompile(`AADSTS\d+`)

// Token endpoint errors that mean usersvc's own application registration
// is wrong: the operator must act (Microsoft Entra authentication and
// authorization error codes).
var credentialCodes = map[string]bool{
	"AADSTS7000215": true, // invalid client secret
	"AADSTS7000222": true, // the client secret has expired
	"AADSTS7000218": true, // no client_secret sent
	"AADSTS700016":  true, // application not found in the tenant
	"AADSTS90002":   true, // tenant not found
	"AADSTS900023":  true, // tenant identifier is not valid
	"AADSTS1002012": true, // scope not valid for the client credentials flow
	"AADSTS7000112": true, // application is disabled
}

// classifyTokenError turns a token endpoint failure into a classified
// error. The message names the HTTP status, the OAuth error and the
// AADSTS code only: never the request (it carried the secret) nor the
// whole answer.
func classifyTokenError(ctx context.Context, err error) error {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return transportError(ctx, "the directory's token endpoint", err)
	}
	status := 0
	var header http.Header
	if re.Response != nil {
		status, header = re.Response.StatusCode, re.Response.Header
	}
	code := aadsts.FindString(re.ErrorDescription)
	summary := fmt.Sprintf("token endpoint answered %d %s %s", status, re.ErrorCode, code)
	cause := errors.New(strings.TrimSpace(summary))
	switch {
	case credentialCodes[code], re.ErrorCode == "invalid_client", re.ErrorCode == "unauthorized_client",
		re.ErrorCode == "invalid_scope", status == http.StatusUnauthorized:
		return schema.Unavailable("the directory refused usersvc's credentials ("+strings.TrimSpace(re.ErrorCode+" "+code)+")",
			retryCredentials, errors.Join(oidcuser.ErrDirectoryCredentials, cause))
	case status == http.StatusTooManyRequests || status >= 500:
		return schema.Unavailable("the directory's token endpoint is unavailable", retryAfterOr(header, retryUnavailable), cause)
	}
	return schema.Unavailable("the directory's token endpoint refused the request", retryUnavailable, cause)
}
