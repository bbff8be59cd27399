// Package introspector runs a real OpenID provider process (panva's npm
// oidc-provider, OpenID Certified) on loopback that mints opaque access
// tokens and serves RFC 7662 introspection and RFC 7009 revocation: the
// shape of Okta's org authorization server as seen by a resource server.
package introspector

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/usersvc/usersvc/testsupport/nodeproc"
)

// Client ids registered with the provider. ResourceServer is usersvc's own
// client (it introspects); Frontend and Stranger obtain tokens.
const (
	ResourceServer = "usersvc"
	Frontend       = "amundsen-frontend"
	Stranger       = "other-app"
)

// Audience is the aud of every access token the provider mints.
const Audience = "api://usersvc"

// Options shape the provider.
type Options struct {
	// IntrospectionAuthMethods, when set, is published as the discovery
	// document's introspection_endpoint_auth_methods_supported (oidc-provider
	// does not publish it by itself).
	IntrospectionAuthMethods []string
}

// Provider is a running provider process.
type Provider struct {
	proc    *nodeproc.Process
	issuer  string
	secrets map[string]string
}

func dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(file)
}

func randomSecret() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Start runs the provider on a free loopback port with fresh random client
// secrets; t.Cleanup stops it.
func Start(t testing.TB, o Options) *Provider {
	t.Helper()
	p, err := Launch(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	return p
}

// Launch is Start for programs that are not tests (cmd/loadgen): the
// caller must Stop the provider.
func Launch(o Options) (*Provider, error) {
	if _, err := os.Stat(filepath.Join(dir(), "node_modules", "oidc-provider")); err != nil {
		return nil, errors.New("oidc-provider is not installed: run `make node-deps` (make test does)")
	}
	p := &Provider{secrets: map[string]string{}}
	type client struct {
		ID     string `json:"client_id"`
		Secret string `json:"client_secret"`
	}
	var clients []client
	for _, id := range []string{ResourceServer, Frontend, Stranger} {
		p.secrets[id] = randomSecret()
		clients = append(clients, client{id, p.secrets[id]})
	}
	clientsJSON, _ := json.Marshal(clients)
	var hello struct {
		Issuer string `json:"issuer"`
	}
	proc, err := nodeproc.Start("OIDC provider", dir(), []string{"PORT=0", "CLIENTS=" + string(clientsJSON), "AUDIENCE=" + Audience,
		"INTROSPECTION_AUTH_METHODS=" + strings.Join(o.IntrospectionAuthMethods, ",")}, &hello)
	if err != nil {
		return nil, err
	}
	p.proc, p.issuer = proc, hello.Issuer
	return p, nil
}

// Issuer is http://127.0.0.1:PORT.
func (p *Provider) Issuer() string { return p.issuer }

// DiscoveryURL is the discovery document at the issuer root, as Okta's org
// authorization server publishes it.
func (p *Provider) DiscoveryURL() string { return p.issuer + "/.well-known/openid-configuration" }

// Secret is a registered client's secret.
func (p *Provider) Secret(clientID string) string { return p.secrets[clientID] }

// Stop ends the process.
func (p *Provider) Stop() { p.proc.Stop() }

// TokenOptions shape an access token obtained by a client_credentials grant.
// The identity fields become extra claims that introspection returns, as
// Okta's org introspection returns username, uid and the profile claims.
type TokenOptions struct {
	Client        string // default Frontend
	Username      string
	Email         string
	EmailVerified *bool
	UID           string
	Groups        []string
	Scopes        []string      // default users.read
	TTL           time.Duration // default 1h
	// JWT asks for the resource server whose access tokens are JWTs signed
	// with the provider's published keys, instead of opaque ones.
	JWT bool
}

// Token runs a client_credentials grant and returns the access token.
func (p *Provider) Token(t testing.TB, o TokenOptions) string {
	t.Helper()
	tok, err := p.Mint(o)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// Mint is Token returning its error.
func (p *Provider) Mint(o TokenOptions) (string, error) {
	if o.Client == "" {
		o.Client = Frontend
	}
	if len(o.Scopes) == 0 {
		o.Scopes = []string{"users.read"}
	}
	resource := "urn:usersvc:opaque"
	if o.JWT {
		resource = "urn:usersvc:jwt"
	}
	form := url.Values{"grant_type": {"client_credentials"}, "resource": {resource}, "scope": {strings.Join(o.Scopes, " ")}}
	set := func(k, v string) {
		if v != "" {
			form.Set(k, v)
		}
	}
	set("username", o.Username)
	set("email", o.Email)
	set("uid", o.UID)
	set("groups", strings.Join(o.Groups, ","))
	if o.EmailVerified != nil {
		form.Set("email_verified", strconv.FormatBool(*o.EmailVerified))
	}
	if o.TTL > 0 {
		form.Set("ttl", strconv.Itoa(int(o.TTL.Seconds())))
	}
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if err := p.post("/token", o.Client, form, &body); err != nil {
		return "", err
	}
	if body.AccessToken == "" {
		return "", errors.New("token response has no access_token")
	}
	return body.AccessToken, nil
}

// Revoke revokes token at the RFC 7009 endpoint, as the client it was
// issued to.
func (p *Provider) Revoke(t testing.TB, client, token string) {
	t.Helper()
	if err := p.post("/token/revocation", client, url.Values{"token": {token}, "token_type_hint": {"access_token"}}, nil); err != nil {
		t.Fatal(err)
	}
}

// Stats is what the provider counted at its introspection endpoint.
type Stats struct {
	Introspections int    `json:"introspections"`
	LastAuth       string `json:"last_auth"` // basic or post
}

// Stats reads the provider's introspection counters.
func (p *Provider) Stats(t testing.TB) Stats {
	t.Helper()
	s, err := p.ReadStats()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// ReadStats is Stats returning its error.
func (p *Provider) ReadStats() (Stats, error) {
	resp, err := http.Get(p.issuer + "/_test/stats")
	if err != nil {
		return Stats{}, fmt.Errorf("stats: %w", err)
	}
	defer resp.Body.Close()
	var s Stats
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		return Stats{}, fmt.Errorf("stats: %w", err)
	}
	return s, nil
}

// Introspections is how many introspection requests reached the provider.
func (p *Provider) Introspections(t testing.TB) int { t.Helper(); return p.Stats(t).Introspections }

// Fault makes the introspection endpoint misbehave: mode is none, 500
// (server error), html (200 with a non-JSON body), 401 (client credentials
// refused) or 400; delay holds every answer back.
func (p *Provider) Fault(t testing.TB, mode string, delay time.Duration) {
	t.Helper()
	resp, err := http.PostForm(p.issuer+"/_test/fault", url.Values{"mode": {mode}, "delay_ms": {strconv.Itoa(int(delay.Milliseconds()))}})
	if err != nil {
		t.Fatalf("fault: %v", err)
	}
	resp.Body.Close()
}

func (p *Provider) post(path, client string, form url.Values, out any) error {
	req, _ := http.NewRequest(http.MethodPost, p.issuer+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(client, p.secrets[client])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: status %d %s", path, resp.StatusCode, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	return nil
}
