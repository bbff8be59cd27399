package google

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// usersPath is the users collection, relative to the API's root.
const usersPath = "admin/directory/v1/users"

// maxBody bounds an answer read: a page of 500 users in the basic
// projection is well under 2 MiB, so anything near this is not the API's.
const maxBody = 32 << 20

// user is the part of the users resource the mapping reads.
type user struct {
	ID                 string    `json:"id"`
	PrimaryEmail       string    `json:"primaryEmail"`
	Name               *userName `json:"name"`
	Suspended          bool      `json:"suspended"`
	Archived           bool      `json:"archived"`
	Aliases            []string  `json:"aliases"`
	NonEditableAliases []string  `json:"nonEditableAliases"`
	// Organizations and relations are decoded only when read, and a
	// value of an unexpected shape only loses that field: the rest of the
	// person still counts.
	Organizations json.RawMessage `json:"organizations"`
	Relations     json.RawMessage `json:"relations"`
}

type userName struct {
	GivenName   string `json:"givenName"`
	FamilyName  string `json:"familyName"`
	FullName    string `json:"fullName"`
	DisplayName string `json:"displayName"`
}

type organization struct {
	Title      string `json:"title"`
	Department string `json:"department"`
	Primary    bool   `json:"primary"`
}

type relation struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

// userPage is one answer of users.list.
type userPage struct {
	Users         []user `json:"users"`
	NextPageToken string `json:"nextPageToken"`
}

// apiError is the Directory API's answer to a failed call: Google's JSON
// error body ({"error": {"code", "message", "errors": [{"reason"...}]}})
// with the answer's status. An answer without that body (a proxy's page,
// say) keeps only the status.
type apiError struct {
	code    int
	message string
	reasons []string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("the Directory API answered %d %s: %s", e.code, strings.Join(e.reasons, ","), oneLine(e.message))
}

// readAPIError builds the apiError of a non-2xx answer. The status line is
// authoritative: the body's own code only repeats it.
func readAPIError(resp *http.Response, body []byte) *apiError {
	e := &apiError{code: resp.StatusCode}
	var eb struct {
		Error *struct {
			Message string `json:"message"`
			Errors  []struct {
				Reason string `json:"reason"`
			} `json:"errors"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &eb) == nil && eb.Error != nil {
		e.message = eb.Error.Message
		for _, item := range eb.Error.Errors {
			e.reasons = append(e.reasons, item.Reason)
		}
	}
	return e
}

// userURL is users.get's URL for key (an email, alias or unique id). The
// key is one path segment: escaping keeps a "/" or "?" in it from
// reaching another resource.
func (d *Directory) userURL(key string) string {
	return d.root + usersPath + "/" + url.PathEscape(key) + "?" + url.Values{"projection": {"basic"}}.Encode()
}

// listURL is users.list's URL for the customer, in a stable order (email,
// ascending) so page tokens walk a consistent sequence.
func (d *Directory) listURL(pageToken string, maxResults int) string {
	q := url.Values{
		"customer":   {d.customer},
		"maxResults": {strconv.Itoa(maxResults)},
		"orderBy":    {"email"},
		"sortOrder":  {"ASCENDING"},
		"projection": {"basic"},
	}
	if pageToken != "" {
		q.Set("pageToken", pageToken)
	}
	return d.root + usersPath + "?" + q.Encode()
}

// fetch sends one GET of rawURL and decodes a 2xx answer into out. It
// makes exactly one request (call decides about retries); the client's
// transport adds the token. Errors are an *apiError for an answer, else
// the transport's or the decoder's error.
func (d *Directory) fetch(ctx context.Context, rawURL string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return fmt.Errorf("google directory request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "usersvc")
	resp, err := d.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		// The status alone decides the class: a body cut short still
		// leaves a 429 throttled and a 404 not found.
		return readAPIError(resp, body)
	}
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("the Directory API answered an unreadable body: %w", err)
	}
	return nil
}
