// Package oidcprovider runs a real OpenID provider process
// (npm oauth2-mock-server) on loopback for integration tests.
package oidcprovider

import (
	"encoding/json"
	"fmt"
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

// Provider is a running provider process.
type Provider struct {
	t      testing.TB
	proc   *nodeproc.Process
	issuer string
	port   int
}

// dir is this package's directory, where server.mjs and node_modules live.
func dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(file)
}

// Start runs the provider on a free loopback port; t.Cleanup stops it.
func Start(t testing.TB) *Provider {
	t.Helper()
	p, err := start(t, 0)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Run starts the provider outside a test (the load harness, cmd/loadgen);
// the caller must Stop it.
func Run() (*Provider, error) { return start(nil, 0) }

// start runs the process; with a t, t.Cleanup stops it.
func start(t testing.TB, port int) (*Provider, error) {
	if t != nil {
		t.Helper()
	}
	if _, err := os.Stat(filepath.Join(dir(), "node_modules", "oauth2-mock-server")); err != nil {
		return nil, fmt.Errorf("oauth2-mock-server is not installed: run `npm ci --prefix testsupport/oidcprovider` (make test does)")
	}
	var hello struct {
		Issuer string `json:"issuer"`
		Port   int    `json:"port"`
	}
	proc, err := nodeproc.Start("OIDC provider", dir(), []string{"PORT=" + strconv.Itoa(port)}, &hello)
	if err != nil {
		return nil, err
	}
	p := &Provider{t: t, proc: proc, issuer: hello.Issuer, port: hello.Port}
	if t != nil {
		t.Cleanup(p.Stop)
	}
	return p, nil
}

// Issuer is the provider's issuer identifier, http://localhost:PORT.
func (p *Provider) Issuer() string { return p.issuer }

// DiscoveryURL is the OpenID discovery document's address.
func (p *Provider) DiscoveryURL() string { return p.issuer + "/.well-known/openid-configuration" }

// Stop ends the process.
func (p *Provider) Stop() { p.proc.Stop() }

// Restart starts a new process on the same port (with new signing keys). The
// old process may take a moment to release the port, so it retries.
func (p *Provider) Restart() *Provider {
	p.t.Helper()
	p.Stop()
	var err error
	for range 25 {
		var np *Provider
		if np, err = start(p.t, p.port); err == nil {
			return np
		}
		time.Sleep(200 * time.Millisecond)
	}
	p.t.Fatalf("restart OIDC provider on port %d: %v", p.port, err)
	return nil
}

// TokenOptions shape the claims of a minted access token.
type TokenOptions struct {
	Audience  string // default api://default
	Groups    []string
	Scopes    []string // scp
	ClientID  string   // cid
	Subject   string
	Email     string
	ExpiresIn *time.Duration
	// NotBeforeIn sets nbf this far from now; without it the provider's
	// own nbf applies (oauth2-mock-server sets iat - 10s on every token).
	NotBeforeIn *time.Duration
}

// Token mints an access token with a client-credentials grant.
func (p *Provider) Token(t testing.TB, o TokenOptions) string {
	t.Helper()
	tok, err := p.MintToken(o)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// MintToken is Token for callers without a testing.TB.
func (p *Provider) MintToken(o TokenOptions) (string, error) {
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"usersvc-test"}, "scope": {"openid"}}
	set := func(k, v string) {
		if v != "" {
			form.Set(k, v)
		}
	}
	set("aud", o.Audience)
	set("groups", strings.Join(o.Groups, ","))
	set("scp", strings.Join(o.Scopes, ","))
	set("cid", o.ClientID)
	set("sub", o.Subject)
	set("email", o.Email)
	if o.ExpiresIn != nil {
		form.Set("expires_in", strconv.Itoa(int(o.ExpiresIn.Seconds())))
	}
	if o.NotBeforeIn != nil {
		form.Set("nbf_offset", strconv.Itoa(int(o.NotBeforeIn.Seconds())))
	}
	resp, err := http.PostForm(p.issuer+"/token", form)
	if err != nil {
		return "", fmt.Errorf("token request: %w", err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusOK || body.AccessToken == "" {
		return "", fmt.Errorf("token response %d: %v", resp.StatusCode, err)
	}
	return body.AccessToken, nil
}
