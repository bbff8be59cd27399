package google

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/jwt"
)

// tokenMargin: a token this close to its expiry is replaced before use.
const tokenMargin = time.Minute

// tokenCache holds the access token the service account got for the
// subject (Google's last an hour). One fetch runs at a time, shared by
// every caller that needs it; each caller waits only as long as its own
// context allows, and the fetch itself is bounded by the client's timeout.
// golang.org/x/oauth2's token fetch makes one POST, never retried.
type tokenCache struct {
	conf   *jwt.Config
	client *http.Client

	mu      sync.Mutex
	tok     *oauth2.Token
	pending *tokenFetch
	running sync.WaitGroup
}

type tokenFetch struct {
	done chan struct{}
	tok  *oauth2.Token
	err  error
}

// get returns a live access token, fetching one when needed.
func (c *tokenCache) get(ctx context.Context) (string, error) {
	c.mu.Lock()
	if c.tok != nil && c.tok.AccessToken != "" && (c.tok.Expiry.IsZero() || time.Until(c.tok.Expiry) > tokenMargin) {
		tok := c.tok.AccessToken
		c.mu.Unlock()
		return tok, nil
	}
	f := c.pending
	if f == nil {
		f = &tokenFetch{done: make(chan struct{})}
		c.pending = f
		c.running.Add(1)
		go c.fetch(f)
	}
	c.mu.Unlock()
	select {
	case <-f.done:
		if f.err != nil {
			return "", f.err
		}
		return f.tok.AccessToken, nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

func (c *tokenCache) fetch(f *tokenFetch) {
	defer c.running.Done()
	// A new TokenSource each time: its own cache is not wanted, ours is.
	tctx := context.WithValue(context.Background(), oauth2.HTTPClient, c.client)
	tok, err := c.conf.TokenSource(tctx).Token()
	if err == nil && tok.AccessToken == "" {
		err = errors.New("the token endpoint answered no access_token")
	}
	c.mu.Lock()
	if err == nil {
		c.tok = tok
	}
	c.pending = nil
	c.mu.Unlock()
	f.tok, f.err = tok, tokenFailure(err)
	close(f.done)
}

// invalidate drops tok if it is the cached token (the API refused it).
func (c *tokenCache) invalidate(tok string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tok != nil && c.tok.AccessToken == tok {
		c.tok = nil
	}
}

// wait returns once no fetch is under way.
func (c *tokenCache) wait() { c.running.Wait() }

// authTransport puts the access token on every Directory API call.
type authTransport struct {
	tokens *tokenCache
	base   http.RoundTripper
}

func (t *authTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	tok, err := t.tokens.get(req.Context())
	if err != nil {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, err
	}
	r := req.Clone(req.Context())
	r.Header.Set("Authorization", "Bearer "+tok)
	resp, err := t.base.RoundTrip(r)
	if err == nil && resp.StatusCode == http.StatusUnauthorized {
		// A token the API no longer takes: the next call fetches another.
		t.tokens.invalidate(tok)
	}
	return resp, err
}

// tokenError is the token endpoint's refusal or failure. Its message holds
// the OAuth error code and description Google sent, never the assertion
// or the key.
type tokenError struct {
	refused bool // the endpoint refused the grant: the credentials are at fault
	status  int
	code    string
	message string
}

func (e *tokenError) Error() string { return e.message }

// tokenFailure classifies a token fetch error. Refusals (invalid_grant:
// the key or the subject is wrong; unauthorized_client: domain-wide
// delegation is not granted for the scope) are the operator's to fix;
// 429s, 5xx and network failures are the endpoint's.
func tokenFailure(err error) error {
	if err == nil {
		return nil
	}
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.Response == nil {
		return &tokenError{message: "the token endpoint did not answer: " + oneLine(err.Error())}
	}
	var body struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	_ = json.Unmarshal(re.Body, &body)
	status := re.Response.StatusCode
	te := &tokenError{status: status, code: body.Error}
	if status == http.StatusTooManyRequests || status >= 500 {
		te.message = fmt.Sprintf("the token endpoint answered %d", status)
		return te
	}
	te.refused = true
	hint := "check GOOGLE_CREDENTIALS_FILE and GOOGLE_ADMIN_SUBJECT"
	switch body.Error {
	case "unauthorized_client":
		hint = "grant the service account's client id domain-wide delegation for " + Scope + " in the Admin console"
	case "invalid_grant":
		hint = "the key may be deleted or disabled, or GOOGLE_ADMIN_SUBJECT may not be a user of the domain"
	}
	te.message = fmt.Sprintf("the token endpoint refused the service account (%d %s: %s); %s",
		status, oneLine(body.Error), oneLine(body.Description), hint)
	return te
}

// oneLine trims s to one line of at most 300 bytes.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
