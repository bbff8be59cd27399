package googleapi_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/usersvc/usersvc/testsupport/googleapi"
)

const adminEmail = "admin@example.com"

func newCustomer(t *testing.T, opts ...googleapi.Option) (*googleapi.Server, *googleapi.ServiceAccount) {
	t.Helper()
	srv := googleapi.New(t, opts...)
	admin := googleapi.NewUser("1", adminEmail, "Ad", "Min")
	admin.IsAdmin = true
	users := []googleapi.User{admin}
	for i := range 5 {
		u := googleapi.NewUser(fmt.Sprint(10+i), fmt.Sprintf("u%d@example.com", i), "U", fmt.Sprint(i))
		u.Suspended = i == 2
		users = append(users, u)
	}
	srv.AddUsers(users...)
	return srv, srv.NewServiceAccount(t)
}

// assertion signs claims with sa's key, as the JWT bearer grant wants.
func assertion(t *testing.T, sa *googleapi.ServiceAccount, claims map[string]any, kid string) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: sa.Key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func claims(srv *googleapi.Server, sa *googleapi.ServiceAccount, sub string) map[string]any {
	now := time.Now()
	return map[string]any{
		"iss": sa.ClientEmail, "scope": googleapi.ScopeUserReadonly, "aud": srv.TokenURL(),
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "sub": sub,
	}
}

type tokenAnswer struct {
	Status      int
	Error       string `json:"error"`
	AccessToken string `json:"access_token"`
	ExpiresIn   int    `json:"expires_in"`
	TokenType   string `json:"token_type"`
}

func exchange(t *testing.T, srv *googleapi.Server, grant, jwt string) tokenAnswer {
	t.Helper()
	resp, err := http.PostForm(srv.TokenURL(), url.Values{"grant_type": {grant}, "assertion": {jwt}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var a tokenAnswer
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		t.Fatal(err)
	}
	a.Status = resp.StatusCode
	return a
}

const grant = "urn:ietf:params:oauth:grant-type:jwt-bearer"

// TestTokenEndpoint: the JWT bearer grant as Google's server-to-server
// OAuth guide describes it: the assertion's signature, iss, aud, iat/exp
// and scope are checked; with sub, domain-wide delegation must cover the
// scopes (else unauthorized_client) and sub must be a user.
func TestTokenEndpoint(t *testing.T) {
	srv, sa := newCustomer(t)
	ok := exchange(t, srv, grant, assertion(t, sa, claims(srv, sa, adminEmail), sa.PrivateKeyID))
	if ok.Status != 200 || ok.AccessToken == "" || ok.TokenType != "Bearer" || ok.ExpiresIn < 3000 {
		t.Fatalf("%+v", ok)
	}
	stranger := googleapi.NewUnregisteredServiceAccount(t, srv.TokenURL())
	forged := *sa
	forged.Key = stranger.Key
	edit := func(k string, v any) map[string]any {
		c := claims(srv, sa, adminEmail)
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	tests := []struct {
		name   string
		grant  string
		jwt    string
		status int
		code   string
	}{
		{"another grant", "client_credentials", assertion(t, sa, claims(srv, sa, adminEmail), ""), 400, "unsupported_grant_type"},
		{"not a JWT", grant, "not.a.jwt", 400, "invalid_grant"},
		{"unknown account", grant, assertion(t, stranger, claims(srv, stranger, adminEmail), ""), 400, "invalid_grant"},
		{"signed by another key", grant, assertion(t, &forged, claims(srv, sa, adminEmail), ""), 400, "invalid_grant"},
		{"another key id", grant, assertion(t, sa, claims(srv, sa, adminEmail), "other"), 400, "invalid_grant"},
		{"wrong aud", grant, assertion(t, sa, edit("aud", "https://oauth2.googleapis.com/token"), ""), 400, "invalid_grant"},
		{"expired", grant, assertion(t, sa, edit("exp", time.Now().Add(-time.Minute).Unix()), ""), 400, "invalid_grant"},
		{"longer than an hour", grant, assertion(t, sa, edit("exp", time.Now().Add(2*time.Hour).Unix()), ""), 400, "invalid_grant"},
		{"no scope", grant, assertion(t, sa, edit("scope", nil), ""), 400, "invalid_scope"},
		{"a scope not delegated", grant, assertion(t, sa, edit("scope", googleapi.ScopeUser), ""), 401, "unauthorized_client"},
		{"a subject that is no user", grant, assertion(t, sa, edit("sub", "ghost@example.com"), ""), 400, "invalid_grant"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := exchange(t, srv, tt.grant, tt.jwt)
			if a.Status != tt.status || a.Error != tt.code || a.AccessToken != "" {
				t.Fatalf("%+v, want %d %s", a, tt.status, tt.code)
			}
		})
	}
	srv.SetDelegation(false)
	if a := exchange(t, srv, grant, assertion(t, sa, claims(srv, sa, adminEmail), "")); a.Status != 401 || a.Error != "unauthorized_client" {
		t.Fatalf("delegation withdrawn: %+v", a)
	}
	// Without sub the account acts as itself: a token, which the Directory
	// API refuses (the account is no administrator).
	nosub := exchange(t, srv, grant, assertion(t, sa, edit("sub", nil), ""))
	if nosub.Status != 200 {
		t.Fatalf("%+v", nosub)
	}
	if status, body := get(t, srv, "/admin/directory/v1/users/u1@example.com", nosub.AccessToken); status != 403 || body.reason() != "forbidden" {
		t.Fatalf("%d %+v", status, body)
	}
}

type errorBody struct {
	Error struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Errors  []struct {
			Reason string `json:"reason"`
			Domain string `json:"domain"`
		} `json:"errors"`
	} `json:"error"`
	ID            string `json:"id"`
	PrimaryEmail  string `json:"primaryEmail"`
	Users         []map[string]any
	NextPageToken string `json:"nextPageToken"`
}

func (b errorBody) reason() string {
	if len(b.Error.Errors) == 0 {
		return ""
	}
	return b.Error.Errors[0].Reason
}

func get(t *testing.T, srv *googleapi.Server, path, token string) (int, errorBody) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, srv.URL()+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var b errorBody
	if err := json.Unmarshal(data, &b); err != nil {
		t.Fatalf("%s: %q", path, data)
	}
	if resp.StatusCode >= 400 && (b.Error.Code != resp.StatusCode || b.Error.Message == "" || b.reason() == "") {
		t.Fatalf("%s: error body %s is not Google's shape", path, data)
	}
	return resp.StatusCode, b
}

// TestUsersAPI: users.get by primary email, alias or id; users.list pages
// with maxResults and nextPageToken; Google's error bodies.
func TestUsersAPI(t *testing.T) {
	srv, sa := newCustomer(t, googleapi.WithDomains("example.com"))
	u := googleapi.NewUser("99", "aliased@example.com", "Ali", "As")
	u.Aliases = []string{"other@example.com"}
	srv.AddUsers(u)
	tok := exchange(t, srv, grant, assertion(t, sa, claims(srv, sa, adminEmail), "")).AccessToken

	for _, key := range []string{"aliased@example.com", "ALIASED@example.com", "other@example.com", "99"} {
		if status, b := get(t, srv, "/admin/directory/v1/users/"+url.PathEscape(key), tok); status != 200 || b.ID != "99" {
			t.Fatalf("%s: %d %+v", key, status, b)
		}
	}
	for path, want := range map[string]struct {
		status int
		reason string
	}{
		"/admin/directory/v1/users/nobody@example.com":                  {404, "notFound"},
		"/admin/directory/v1/users/someone@gmail.com":                   {403, "forbidden"},
		"/admin/directory/v1/users/99?projection=everything":            {400, "invalid"},
		"/admin/directory/v1/users?customer=my_customer&maxResults=501": {400, "invalid"},
		"/admin/directory/v1/users?customer=C0other":                    {400, "badRequest"},
		"/admin/directory/v1/users":                                     {400, "badRequest"},
		"/admin/directory/v1/users?customer=my_customer&pageToken=x":    {400, "invalid"},
	} {
		if status, b := get(t, srv, path, tok); status != want.status || b.reason() != want.reason {
			t.Fatalf("%s: %d %q, want %d %q", path, status, b.reason(), want.status, want.reason)
		}
	}
	if status, b := get(t, srv, "/admin/directory/v1/users/99", ""); status != 401 || b.reason() != "authError" {
		t.Fatalf("no token: %d %+v", status, b)
	}

	// Paging: 7 users, 3 a page, by email; the token is only good for its
	// own listing.
	var emails []string
	path := "/admin/directory/v1/users?customer=my_customer&maxResults=3&orderBy=email"
	pages := 0
	for next := ""; ; {
		p := path
		if next != "" {
			p += "&pageToken=" + url.QueryEscape(next)
		}
		status, b := get(t, srv, p, tok)
		if status != 200 {
			t.Fatalf("%d %+v", status, b)
		}
		pages++
		for _, u := range b.Users {
			emails = append(emails, u["primaryEmail"].(string))
		}
		if b.NextPageToken == "" {
			break
		}
		next = b.NextPageToken
		if status, _ := get(t, srv, "/admin/directory/v1/users?customer=my_customer&maxResults=3&orderBy=givenName&pageToken="+url.QueryEscape(next), tok); status != 400 {
			t.Fatal("a token accepted for another listing")
		}
	}
	if pages != 3 || len(emails) != 7 || emails[0] != "admin@example.com" || emails[6] != "u4@example.com" {
		t.Fatalf("%d pages: %v", pages, emails)
	}
	if n := srv.Count(googleapi.IsList); n < 5 {
		t.Fatalf("counted %d list calls", n)
	}
}

// TestFaults: FailNext spends itself on API calls only; FailPage breaks
// one page a number of times; FailTokens breaks the token endpoint.
func TestFaults(t *testing.T) {
	srv, sa := newCustomer(t)
	tok := exchange(t, srv, grant, assertion(t, sa, claims(srv, sa, adminEmail), "")).AccessToken
	srv.FailNext(2, googleapi.UserRateLimited)
	if a := exchange(t, srv, grant, assertion(t, sa, claims(srv, sa, adminEmail), "")); a.Status != 200 {
		t.Fatal("FailNext reached the token endpoint")
	}
	for range 2 {
		if status, b := get(t, srv, "/admin/directory/v1/users/1", tok); status != 403 || b.reason() != "userRateLimitExceeded" || b.Error.Errors[0].Domain != "usageLimits" {
			t.Fatalf("%d %+v", status, b)
		}
	}
	if status, _ := get(t, srv, "/admin/directory/v1/users/1", tok); status != 200 {
		t.Fatal("FailNext outlasted n")
	}
	srv.FailNext(1, googleapi.RateLimited)
	if status, b := get(t, srv, "/admin/directory/v1/users/1", tok); status != 429 || b.reason() != "rateLimitExceeded" {
		t.Fatalf("%d %+v", status, b)
	}
	srv.FailNext(1, googleapi.QuotaExceeded)
	if status, b := get(t, srv, "/admin/directory/v1/users/1", tok); status != 403 || b.reason() != "quotaExceeded" {
		t.Fatalf("%d %+v", status, b)
	}
	srv.FailNext(1, googleapi.Unavailable)
	if status, b := get(t, srv, "/admin/directory/v1/users/1", tok); status != 503 || b.reason() != "backendError" {
		t.Fatalf("%d %+v", status, b)
	}
	srv.FailNext(1, googleapi.Dropped)
	req, _ := http.NewRequest(http.MethodGet, srv.URL()+"/admin/directory/v1/users/1", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	// A fresh connection: net/http resends a GET only on a reused one.
	fresh := &http.Client{Transport: &http.Transport{}}
	defer fresh.CloseIdleConnections()
	if resp, err := fresh.Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("a dropped connection answered")
	}

	srv.FailPage(2, googleapi.Unavailable, 1)
	list := "/admin/directory/v1/users?customer=my_customer&maxResults=2"
	_, first := get(t, srv, list, tok)
	second := list + "&pageToken=" + url.QueryEscape(first.NextPageToken)
	if status, _ := get(t, srv, second, tok); status != 503 {
		t.Fatal("page 2 not broken")
	}
	if status, _ := get(t, srv, second, tok); status != 200 {
		t.Fatal("page 2 broken more than once")
	}
	srv.FailPage(1, googleapi.Unavailable, -1)
	for range 3 {
		if status, _ := get(t, srv, list, tok); status != 503 {
			t.Fatal("page 1 not broken every time")
		}
	}
	srv.ClearFaults()
	if status, _ := get(t, srv, list, tok); status != 200 {
		t.Fatal("ClearFaults")
	}
	srv.FailTokens(1, googleapi.Unavailable)
	if a := exchange(t, srv, grant, assertion(t, sa, claims(srv, sa, adminEmail), "")); a.Status != 503 {
		t.Fatalf("%+v", a)
	}
	if srv.Count(googleapi.IsToken) != 3 || !strings.HasPrefix(srv.Requests()[0].Path, "/token") {
		t.Fatalf("requests %+v", srv.Requests())
	}
}
