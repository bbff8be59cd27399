package okta

import (
	"context"
	"errors"
	"github.com/usersvc/usersvc/oidcuser"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	oktasdk "github.com/okta/okta-sdk-golang/v2/okta"

	"github.com/usersvc/usersvc/schema"
)

// The Okta System Log API (https://developer.okta.com/docs/reference/api/system-log/):
// GET /api/v1/logs answers a JSON array of LogEvent objects and a
// `Link: <https://{org}/api/v1/logs?...&after=...>; rel="next"` header.
// A polling request (sortOrder=ASCENDING, no `until`) always has a next
// link, also when the page is empty; following it is how a reader keeps its
// place. The endpoint has its own rate-limit bucket, reported in the
// X-Rate-Limit-Limit, -Remaining and -Reset (UTC epoch seconds) headers.

var _ oidcuser.LogReader = (*Directory)(nil)

// ReadLogs fetches one page of the System Log through the directory's Okta
// client: its authentication (SSWS or a private-key JWT's access token, which
// then needs the okta.logs.read scope), its transport (the Budget: rate-limit
// windows, resets translated) and its HTTPS check.
func (d *Directory) ReadLogs(ctx context.Context, pathQuery string) (oidcuser.LogPage, error) {
	if !strings.HasPrefix(pathQuery, oidcuser.LogsPath+"?") && pathQuery != oidcuser.LogsPath {
		return oidcuser.LogPage{}, schema.Errorf(schema.KindInvalid, "not a System Log request: %q", pathQuery)
	}
	rq := d.client.CloneRequestExecutor()
	req, err := rq.WithAccept("application/json").NewRequest(http.MethodGet, pathQuery, nil)
	if err != nil {
		return oidcuser.LogPage{}, classifyLogsError(ctx, nil, err)
	}
	var raw []schema.LogEvent
	resp, err := rq.Do(ctx, req, &raw)
	if err != nil {
		return oidcuser.LogPage{}, classifyLogsError(ctx, resp, err)
	}
	page := oidcuser.LogPage{Rate: rateWindow(resp.Header), Next: nextLink(resp.Header)}
	for _, e := range raw {
		if !e.Usable() {
			page.Dropped++
			continue
		}
		page.Events = append(page.Events, e.HookEvent())
	}
	return page, nil
}

// classifyLogsError classifies a /logs failure as lookups are classified,
// except that a refused request is the request's fault, not a person's.
func classifyLogsError(ctx context.Context, resp *oktasdk.Response, err error) error {
	c := classifyOktaError(ctx, "System Log request", resp, err)
	if schema.IsNotFound(c) {
		return &schema.Error{Kind: schema.KindInvalid, Message: "okta refused the System Log request", Err: errors.Join(oidcuser.ErrLogsRefused, err)}
	}
	return c
}

// rateWindow reads X-Rate-Limit-Limit, -Remaining and -Reset.
func rateWindow(h http.Header) oidcuser.RateWindow {
	limit, err1 := strconv.Atoi(h.Get("X-Rate-Limit-Limit"))
	remaining, err2 := strconv.Atoi(h.Get("X-Rate-Limit-Remaining"))
	reset, err3 := strconv.ParseInt(h.Get("X-Rate-Limit-Reset"), 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return oidcuser.RateWindow{}
	}
	return oidcuser.RateWindow{Known: true, Limit: limit, Remaining: remaining, Reset: time.Unix(reset, 0)}
}

// nextLink returns the path and query of the rel="next" Link, or "". A
// Link header may hold several links separated by commas.
func nextLink(h http.Header) string {
	for _, v := range h.Values("Link") {
		for _, link := range splitLinks(v) {
			target, params, ok := strings.Cut(link, ";")
			if !ok || !hasRelNext(params) {
				continue
			}
			target = strings.TrimSpace(target)
			if !strings.HasPrefix(target, "<") || !strings.HasSuffix(target, ">") {
				continue
			}
			u, err := url.Parse(target[1 : len(target)-1])
			if err != nil || u.EscapedPath() != oidcuser.LogsPath {
				continue
			}
			return u.RequestURI()
		}
	}
	return ""
}

// splitLinks splits a Link header value at the commas between links (a
// comma inside <...> belongs to the URL).
func splitLinks(v string) []string {
	var out []string
	depth, start := 0, 0
	for i, c := range v {
		switch c {
		case '<':
			depth++
		case '>':
			depth = max(depth-1, 0)
		case ',':
			if depth == 0 {
				out = append(out, v[start:i])
				start = i + 1
			}
		}
	}
	return append(out, v[start:])
}

func hasRelNext(params string) bool {
	for _, p := range strings.Split(params, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		if ok && strings.EqualFold(strings.TrimSpace(k), "rel") {
			for _, rel := range strings.Fields(strings.Trim(strings.TrimSpace(v), `"`)) {
				if strings.EqualFold(rel, "next") {
					return true
				}
			}
		}
	}
	return false
}
