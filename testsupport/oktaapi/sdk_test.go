package oktaapi_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/okta/okta-sdk-golang/v2/okta"
	"github.com/okta/okta-sdk-golang/v2/okta/query"

	"github.com/usersvc/usersvc/testsupport/oktaapi"
)

func sdkClient(t *testing.T, org *oktaapi.Server) *okta.Client {
	t.Helper()
	t.Setenv("HOME", t.TempDir())
	_, c, err := okta.NewClient(context.Background(), okta.WithOrgUrl(org.URL()), okta.WithToken("t"),
		okta.WithCache(false), okta.WithTestingDisableHttpsCheck(true), okta.WithRateLimitMaxRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestPaginationThroughTheSDK: the SDK follows the Link rel="next" headers
// across pages, and plain lists leave deprovisioned people out.
func TestPaginationThroughTheSDK(t *testing.T) {
	org := oktaapi.New(t, oktaapi.WithSSWSToken("t"))
	for i := range 450 {
		status := "ACTIVE"
		if i%50 == 0 {
			status = "DEPROVISIONED"
		}
		org.AddUsers(oktaapi.NewUser(fmt.Sprintf("00u%04d", i), fmt.Sprintf("u%d@x.com", i), fmt.Sprintf("u%d@x.com", i), "U", fmt.Sprint(i), status))
	}
	c := sdkClient(t, org)
	ctx := context.Background()
	count := func(qp *query.Params) (int, int) {
		users, resp, err := c.User.ListUsers(ctx, qp)
		if err != nil {
			t.Fatal(err)
		}
		total, pages := len(users), 1
		for resp.HasNextPage() {
			var more []*okta.User
			resp, err = resp.Next(ctx, &more)
			if err != nil {
				t.Fatal(err)
			}
			total += len(more)
			pages++
		}
		return total, pages
	}
	if total, pages := count(&query.Params{Limit: 200}); total != 441 || pages != 3 {
		t.Fatalf("list: %d users in %d pages, want 441 in 3", total, pages)
	}
	if total, pages := count(&query.Params{Search: `profile.lastName sw "1"`, Limit: 50}); total != 111 || pages != 3 {
		// 1, 10–19, 100–199; search includes deprovisioned people.
		t.Fatalf("search: %d users in %d pages, want 111 in 3", total, pages)
	}
}

func TestErrorsThroughTheSDK(t *testing.T) {
	org := oktaapi.New(t, oktaapi.WithSSWSToken("t"), oktaapi.WithRateLimits(1, 1))
	c := sdkClient(t, org)
	ctx := context.Background()
	_, resp, err := c.User.GetUser(ctx, "nobody")
	var oerr *okta.Error
	if !errors.As(err, &oerr) || oerr.ErrorCode != oktaapi.CodeNotFound || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("404: %v", err)
	}
	if resp.Header.Get("X-Rate-Limit-Limit") != "1" || resp.Header.Get("X-Rate-Limit-Remaining") != "0" || resp.Header.Get("X-Rate-Limit-Reset") == "" || resp.Header.Get("Date") == "" {
		t.Fatalf("rate-limit headers = %v", resp.Header)
	}
	// The SDK swallows a 429 once its retries are spent: a plain error and no
	// response, which is why usersvc's transport answers 429s itself.
	before := len(org.Requests())
	_, resp, err = c.User.GetUser(ctx, "nobody")
	if err == nil || errors.As(err, &oerr) || resp != nil || len(org.Requests()) != before+1 {
		t.Fatalf("429 through the SDK: err %v, resp %v", err, resp)
	}
	_, _, err = c.User.ListUsers(ctx, &query.Params{Search: `profile.email eq "unterminated`})
	if !errors.As(err, &oerr) || oerr.ErrorCode != oktaapi.CodeInvalidSearch {
		t.Fatalf("bad search: %v", err)
	}
	bad := oktaapi.New(t, oktaapi.WithSSWSToken("right"))
	_, _, err = sdkClient(t, bad).User.GetUser(ctx, "x")
	if !errors.As(err, &oerr) || oerr.ErrorCode != oktaapi.CodeInvalidToken {
		t.Fatalf("bad token: %v", err)
	}
}
