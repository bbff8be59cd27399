package entraapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/usersvc/usersvc/testsupport/entraapi"
)

// tokenRequest posts the client credentials form to the token endpoint.
func tokenRequest(t *testing.T, srv *entraapi.Server, tenant string, form url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := http.PostForm(srv.LoginURL()+"/"+tenant+"/oauth2/v2.0/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

func credentials(srv *entraapi.Server) url.Values {
	return url.Values{
		"client_id": {srv.ClientID()}, "client_secret": {srv.ClientSecret()},
		"scope": {srv.GraphURL() + "/.default"}, "grant_type": {"client_credentials"},
	}
}

func token(t *testing.T, srv *entraapi.Server) string {
	t.Helper()
	status, body := tokenRequest(t, srv, srv.TenantID(), credentials(srv))
	if status != http.StatusOK {
		t.Fatalf("token: %d %v", status, body)
	}
	return body["access_token"].(string)
}

// graph sends GET {graph}{pathAndQuery} with the token; body decoded.
func graph(t *testing.T, srv *entraapi.Server, tok, pathAndQuery string) (int, http.Header, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, srv.GraphURL()+pathAndQuery, nil)
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	data, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(data, &body); err != nil {
		t.Fatalf("%s: %v: %s", pathAndQuery, err, data)
	}
	return resp.StatusCode, resp.Header, body
}

func errorCode(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	code, _ := e["code"].(string)
	return code
}

// TestTokenEndpoint: the client credentials grant with a shared secret
// ("Microsoft identity platform and the OAuth 2.0 client credentials
// flow": request parameters, successful response, error response).
func TestTokenEndpoint(t *testing.T) {
	srv := entraapi.New(t, entraapi.WithTokenLifetime(time.Hour))
	status, body := tokenRequest(t, srv, srv.TenantID(), credentials(srv))
	if status != http.StatusOK || body["token_type"] != "Bearer" || body["expires_in"] != float64(3600) || body["access_token"] == "" {
		t.Fatalf("%d %v", status, body)
	}
	with := func(k, v string) url.Values {
		f := credentials(srv)
		f.Set(k, v)
		return f
	}
	for _, tc := range []struct {
		name   string
		tenant string
		form   url.Values
		status int
		err    string
		code   float64
	}{
		{"wrong secret", srv.TenantID(), with("client_secret", "nope"), 401, "invalid_client", 7000215},
		{"no secret", srv.TenantID(), with("client_secret", ""), 401, "invalid_client", 7000218},
		{"unknown client", srv.TenantID(), with("client_id", "someone-else"), 400, "unauthorized_client", 700016},
		{"unknown tenant", "contoso.example", credentials(srv), 400, "invalid_request", 90002},
		{"scope without /.default", srv.TenantID(), with("scope", srv.GraphURL()+"/User.Read.All"), 400, "invalid_scope", 1002012},
		{"another resource", srv.TenantID(), with("scope", "https://graph.microsoft.com/.default"), 400, "invalid_scope", 1002012},
		{"grant type", srv.TenantID(), with("grant_type", "password"), 400, "unsupported_grant_type", 70003},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := tokenRequest(t, srv, tc.tenant, tc.form)
			codes, _ := body["error_codes"].([]any)
			desc, _ := body["error_description"].(string)
			if status != tc.status || body["error"] != tc.err || len(codes) != 1 || codes[0] != tc.code ||
				!strings.HasPrefix(desc, fmt.Sprintf("AADSTS%d: ", int(tc.code))) || body["trace_id"] == "" || body["correlation_id"] == "" {
				t.Fatalf("%d %v", status, body)
			}
			if strings.Contains(desc, srv.ClientSecret()) {
				t.Fatal("the error holds the secret")
			}
		})
	}

	// The real x/oauth2 client gets a token and parses the refusals.
	cc := clientcredentials.Config{ClientID: srv.ClientID(), ClientSecret: srv.ClientSecret(),
		TokenURL: srv.LoginURL() + "/" + srv.TenantID() + "/oauth2/v2.0/token", Scopes: []string{srv.GraphURL() + "/.default"},
		AuthStyle: oauth2.AuthStyleInParams}
	tok, err := cc.Token(context.Background())
	if err != nil || tok.AccessToken == "" || time.Until(tok.Expiry) < 59*time.Minute {
		t.Fatalf("%+v, %v", tok, err)
	}
	srv.RotateSecret()
	_, err = cc.Token(context.Background())
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "invalid_client" || !strings.Contains(re.ErrorDescription, "AADSTS7000215") {
		t.Fatalf("%v", err)
	}
}

func tenantWith(t *testing.T, users ...entraapi.User) (*entraapi.Server, string) {
	srv := entraapi.New(t)
	srv.AddUsers(users...)
	return srv, token(t, srv)
}

func TestAuthorization(t *testing.T) {
	srv, tok := tenantWith(t, entraapi.NewUser(entraapi.ObjectID(1), "ada@example.com", "ada@example.com", "Ada", "Lovelace"))
	for _, tc := range []struct {
		tok    string
		status int
		code   string
	}{
		{"", 401, entraapi.CodeInvalidToken},
		{"forged", 401, entraapi.CodeInvalidToken},
		{tok, 200, ""},
	} {
		status, _, body := graph(t, srv, tc.tok, "/v1.0/users/ada@example.com")
		if status != tc.status || errorCode(body) != tc.code {
			t.Fatalf("token %q: %d %v", tc.tok, status, body)
		}
	}
	srv.Deny(true)
	if status, _, body := graph(t, srv, tok, "/v1.0/users/ada@example.com"); status != 403 || errorCode(body) != entraapi.CodeDenied {
		t.Fatalf("denied: %d %v", status, body)
	}
	srv.Deny(false)
	srv.ExpireTokens()
	if status, _, body := graph(t, srv, tok, "/v1.0/users/ada@example.com"); status != 401 || !strings.Contains(fmt.Sprint(body), "expired") {
		t.Fatalf("expired: %d %v", status, body)
	}
}

// TestGetUser: GET /users/{id | userPrincipalName} ("Get user"): the UPN
// matches in any case, the default properties leave accountEnabled and
// department out, $select picks properties, unknown ones are a 400, and a
// missing user is 404 Request_ResourceNotFound.
func TestGetUser(t *testing.T) {
	u := entraapi.NewUser(entraapi.ObjectID(1), "ada@example.com", "ada.lovelace@example.com", "Ada", "Lovelace")
	u.Department, u.AccountEnabled = "Analytics", false
	dollar := entraapi.NewUser(entraapi.ObjectID(2), "$o'svc@example.com", "", "S", "Vc")
	srv, tok := tenantWith(t, u, dollar)

	status, _, body := graph(t, srv, tok, "/v1.0/users/ADA@example.com")
	if status != 200 || body["id"] != u.ID || body["mail"] != u.Mail || body["surname"] != "Lovelace" {
		t.Fatalf("%d %v", status, body)
	}
	if _, ok := body["accountEnabled"]; ok {
		t.Fatal("accountEnabled is not a default property")
	}
	status, _, body = graph(t, srv, tok, "/v1.0/users/"+u.ID+"?$select=id,AccountEnabled,department")
	if status != 200 || body["accountEnabled"] != false || body["department"] != "Analytics" || len(body) != 4 { // with @odata.context
		t.Fatalf("%d %v", status, body)
	}
	if status, _, body = graph(t, srv, tok, "/v1.0/users/ada@example.com?$select=id,shoeSize"); status != 400 {
		t.Fatalf("unknown property: %d %v", status, body)
	}
	if status, _, body = graph(t, srv, tok, "/v1.0/users/nobody@example.com"); status != 404 || errorCode(body) != entraapi.CodeNotFound {
		t.Fatalf("%d %v", status, body)
	}
	// A UPN beginning with $: /users/$x is a 400; /users('$x') finds it,
	// quotes inside doubled.
	if status, _, _ = graph(t, srv, tok, "/v1.0/users/"+url.PathEscape(dollar.UserPrincipalName)); status != 400 {
		t.Fatalf("/users/$...: %d", status)
	}
	key := url.PathEscape(entraapi.Quote(dollar.UserPrincipalName))
	if status, _, body = graph(t, srv, tok, "/v1.0/users("+key+")?$select=id"); status != 200 || body["id"] != dollar.ID {
		t.Fatalf("/users('$...'): %d %v", status, body)
	}
}

func TestManager(t *testing.T) {
	boss := entraapi.NewUser(entraapi.ObjectID(1), "grace@example.com", "grace@example.com", "Grace", "Hopper")
	ada := entraapi.NewUser(entraapi.ObjectID(2), "ada@example.com", "ada@example.com", "Ada", "Lovelace")
	ada.ManagerID = boss.ID
	srv, tok := tenantWith(t, boss, ada)
	status, _, body := graph(t, srv, tok, "/v1.0/users/ada@example.com/manager?$select=displayName,mail")
	if status != 200 || body["displayName"] != "Grace Hopper" || body["mail"] != "grace@example.com" || body["@odata.type"] != "#microsoft.graph.user" {
		t.Fatalf("%d %v", status, body)
	}
	// "If the user has no manager assigned, this method returns a 404
	// Not Found error code" ("List manager").
	if status, _, body = graph(t, srv, tok, "/v1.0/users/grace@example.com/manager"); status != 404 || errorCode(body) != entraapi.CodeNotFound {
		t.Fatalf("%d %v", status, body)
	}
	// $expand=manager on a list.
	status, _, body = graph(t, srv, tok, "/v1.0/users?$select=id&$expand=manager($select=displayName)")
	value := body["value"].([]any)
	if status != 200 || len(value) != 2 {
		t.Fatalf("%d %v", status, body)
	}
	for _, v := range value {
		m := v.(map[string]any)
		if m["id"] == ada.ID && m["manager"].(map[string]any)["displayName"] != "Grace Hopper" {
			t.Fatalf("%v", m)
		}
		if m["id"] == boss.ID && m["manager"] != nil {
			t.Fatalf("%v", m)
		}
	}
}

func TestParseFilter(t *testing.T) {
	for _, tc := range []struct {
		expr, prop, value string
		err               error // nil, ErrUnsupportedFilter, or any syntax error (errSyntax)
	}{
		{"mail eq 'ada@example.com'", "mail", "ada@example.com", nil},
		{"mail eq 'o''brien@example.com'", "mail", "o'brien@example.com", nil},
		{"Mail eq ''''", "mail", "'", nil},
		{"userPrincipalName eq 'x y'", "userPrincipalName", "x y", nil},
		{"mail eq 'o'brien@example.com'", "", "", entraapi.ErrUnsupportedFilter}, // the literal ends at the quote
		{"mail eq 'a' or mail eq 'b'", "", "", entraapi.ErrUnsupportedFilter},
		{"startswith(mail,'a')", "", "", entraapi.ErrUnsupportedFilter},
		{"otherMails/any(x:x eq 'a')", "", "", entraapi.ErrUnsupportedFilter},
		{"mail ne 'a'", "", "", entraapi.ErrUnsupportedFilter},
		{"shoeSize eq '42'", "", "", entraapi.ErrUnsupportedFilter},
		{"mail eq 'unterminated", "", "", errSyntax},
		{"mail eq ada@example.com", "", "", errSyntax},
		{"mail", "", "", errSyntax},
		{"mail is 'a'", "", "", errSyntax},
	} {
		f, err := entraapi.ParseFilter(tc.expr)
		switch {
		case tc.err == nil && (err != nil || f.Property != tc.prop || f.Value != tc.value):
			t.Errorf("%q: %+v, %v", tc.expr, f, err)
		case tc.err == entraapi.ErrUnsupportedFilter && err != entraapi.ErrUnsupportedFilter:
			t.Errorf("%q: %v, want unsupported", tc.expr, err)
		case tc.err == errSyntax && (err == nil || err == entraapi.ErrUnsupportedFilter):
			t.Errorf("%q: %v, want a syntax error", tc.expr, err)
		}
	}
	if f, err := entraapi.ParseFilter("accountEnabled eq false"); err != nil || f.Bool == nil || *f.Bool {
		t.Errorf("%+v, %v", f, err)
	}
	if got := entraapi.Quote("o'brien"); got != "'o''brien'" {
		t.Errorf("Quote: %s", got)
	}
}

var errSyntax = errors.New("syntax")

func TestFilterOverHTTP(t *testing.T) {
	a := entraapi.NewUser(entraapi.ObjectID(1), "flann@example.com", "O'Brien@Example.com", "Flann", "O'Brien")
	b := entraapi.NewUser(entraapi.ObjectID(2), "other@example.com", "o'brien@example.com", "Other", "O'Brien")
	c := entraapi.NewUser(entraapi.ObjectID(3), "ada@example.com", "ada@example.com", "Ada", "Lovelace")
	srv, tok := tenantWith(t, a, b, c)
	q := func(filter string) string {
		return "/v1.0/users?$filter=" + strings.ReplaceAll(url.QueryEscape(filter), "+", "%20")
	}
	status, _, body := graph(t, srv, tok, q("mail eq 'o''brien@example.com'"))
	if status != 200 || len(body["value"].([]any)) != 2 {
		t.Fatalf("%d %v", status, body)
	}
	for filter, code := range map[string]string{
		"mail eq 'o'brien@example.com'":    entraapi.CodeUnsupported,
		"startswith(mail,'o')":             entraapi.CodeUnsupported,
		"mail eq 'unterminated":            entraapi.CodeBadRequest,
		"mail eq 'x' or mail eq 'y'":       entraapi.CodeUnsupported,
		"mail eq 'ada@example.com' and ''": entraapi.CodeUnsupported,
	} {
		if status, _, body := graph(t, srv, tok, q(filter)); status != 400 || errorCode(body) != code {
			t.Errorf("%s: %d %v, want 400 %s", filter, status, body, code)
		}
	}
}

// TestPaging: $top pages with an @odata.nextLink carrying a $skiptoken and
// the request's other parameters ("Paging Microsoft Graph data"); the
// token is bound to those parameters; $skip is not supported on users;
// $top is 1..999; $expand pages hold at most 100.
func TestPaging(t *testing.T) {
	var users []entraapi.User
	for i := range 150 {
		users = append(users, entraapi.NewUser(entraapi.ObjectID(i), fmt.Sprintf("u%03d@example.com", i), "", "U", fmt.Sprint(i)))
	}
	srv, tok := tenantWith(t, users...)
	next := "/v1.0/users?$select=id&$top=40"
	seen := map[string]bool{}
	var links []string
	for pages := 0; next != ""; pages++ {
		status, _, body := graph(t, srv, tok, next)
		if status != 200 || pages > 10 {
			t.Fatalf("%s: %d %v", next, status, body)
		}
		for _, v := range body["value"].([]any) {
			seen[v.(map[string]any)["id"].(string)] = true
		}
		link, _ := body["@odata.nextLink"].(string)
		next = strings.TrimPrefix(link, srv.GraphURL())
		if link != "" {
			links = append(links, link)
			if !strings.Contains(link, "$skiptoken=") || !strings.Contains(link, "$select=id") || !strings.Contains(link, "$top=40") {
				t.Fatalf("nextLink %s", link)
			}
		}
	}
	if len(seen) != 150 || len(links) != 3 {
		t.Fatalf("%d users over %d links", len(seen), len(links))
	}
	pages := []int{}
	for _, r := range srv.Requests() {
		if r.Page > 0 {
			pages = append(pages, r.Page)
		}
	}
	if fmt.Sprint(pages) != "[1 2 3 4]" {
		t.Fatalf("pages recorded %v", pages)
	}
	// The token with other parameters, or a made-up one: 400.
	tampered := strings.Replace(strings.TrimPrefix(links[0], srv.GraphURL()), "$select=id", "$select=id,mail", 1)
	if status, _, body := graph(t, srv, tok, tampered); status != 400 {
		t.Fatalf("tampered nextLink: %d %v", status, body)
	}
	if status, _, _ := graph(t, srv, tok, "/v1.0/users?$skiptoken=made-up"); status != 400 {
		t.Fatalf("made-up token: %d", status)
	}
	for _, bad := range []string{"$top=0", "$top=1000", "$top=x", "$skip=10"} {
		if status, _, _ := graph(t, srv, tok, "/v1.0/users?"+bad); status != 400 {
			t.Fatalf("%s: %d", bad, status)
		}
	}
	status, _, body := graph(t, srv, tok, "/v1.0/users")
	if status != 200 || len(body["value"].([]any)) != 100 {
		t.Fatalf("default page: %d, %d users", status, len(body["value"].([]any)))
	}
	status, _, body = graph(t, srv, tok, "/v1.0/users?$top=999&$expand=manager")
	if status != 200 || len(body["value"].([]any)) != 100 || body["@odata.nextLink"] == nil {
		t.Fatalf("$expand page: %d, %d users", status, len(body["value"].([]any)))
	}
	srv.SetNextLinkBase("http://foreign.example")
	_, _, body = graph(t, srv, tok, "/v1.0/users?$top=100")
	if link, _ := body["@odata.nextLink"].(string); !strings.HasPrefix(link, "http://foreign.example/v1.0/users?") {
		t.Fatalf("nextLink %s", link)
	}
}

func TestFaults(t *testing.T) {
	users := []entraapi.User{}
	for i := range 5 {
		users = append(users, entraapi.NewUser(entraapi.ObjectID(i), fmt.Sprintf("u%d@example.com", i), "", "U", fmt.Sprint(i)))
	}
	srv, tok := tenantWith(t, users...)
	before := srv.Calls()

	srv.FailNext(2, entraapi.Throttled(2500*time.Millisecond))
	for i, want := range []int{429, 429, 200} {
		status, h, body := graph(t, srv, tok, "/v1.0/users/u1@example.com")
		if status != want || (want == 429 && (h.Get("Retry-After") != "3" || errorCode(body) != entraapi.CodeThrottled)) {
			t.Fatalf("call %d: %d %v %v", i, status, h, body)
		}
	}
	if n := srv.Calls() - before; n != 3 {
		t.Fatalf("counted %d calls, want 3", n)
	}

	// Page 2 of a listing fails twice, then answers.
	srv.FailPage(2, 2, entraapi.Unavailable())
	_, _, body := graph(t, srv, tok, "/v1.0/users?$top=2")
	link := strings.TrimPrefix(body["@odata.nextLink"].(string), srv.GraphURL())
	for _, want := range []int{503, 503, 200} {
		if status, _, body := graph(t, srv, tok, link); status != want {
			t.Fatalf("page 2: %d %v, want %d", status, body, want)
		}
	}

	// A dropped connection: no answer at all.
	srv.DropNext(1)
	req, _ := http.NewRequest(http.MethodGet, srv.GraphURL()+"/v1.0/users", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("dropped connection answered %d", resp.StatusCode)
	}

	// An outage reaches the token endpoint too; ClearFaults ends it.
	srv.Outage()
	if status, _ := tokenRequest(t, srv, srv.TenantID(), credentials(srv)); status != 503 {
		t.Fatalf("token during an outage: %d", status)
	}
	if status, _, _ := graph(t, srv, tok, "/v1.0/users"); status != 503 {
		t.Fatalf("graph during an outage: %d", status)
	}
	srv.ClearFaults()
	if status, _, _ := graph(t, srv, tok, "/v1.0/users"); status != 200 {
		t.Fatalf("after the outage: %d", status)
	}

	// A rotated secret: the old one is refused, the new one works.
	old := credentials(srv)
	srv.RotateSecret()
	if status, body := tokenRequest(t, srv, srv.TenantID(), old); status != 401 || body["error"] != "invalid_client" {
		t.Fatalf("old secret: %d %v", status, body)
	}
	token(t, srv)
}
