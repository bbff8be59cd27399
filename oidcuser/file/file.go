package file

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/usersvc/usersvc/oidcuser"
	"github.com/usersvc/usersvc/oidcuser/okta"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/usersvc/usersvc/schema"
)

// Directory serves people from a JSON file in the shape of Okta's
// GET /api/v1/users answer (an array of user objects), so an export of a
// real org works unchanged. It stands in for Okta the way the embedded store
// stands in for Neo4j: same mapping, matching, conflicts and status rules.
//
// The file is checked for changes (modification time and size) when it is
// used (at most twice a second) and by Watch, and re-read without a restart.
// A change that does not parse is logged and the last good contents stay in
// use.
type Directory struct {
	path string
	log  *slog.Logger
	now  func() time.Time

	mu       sync.Mutex
	people   *filePeople
	stamp    fileStamp
	checked  time.Time
	onChange func()
}

type fileStamp struct {
	mod  time.Time
	size int64
}

// filePeople is one parsed version of the file; it is never modified.
type filePeople struct {
	users []okta.User      // in file order
	byKey map[string][]int // lower-cased login and email → indexes
	order []int            // indexes sorted by lastUpdated, then id
	stamp fileStamp        // the file version it was read from
}

// sameEmail is everyone in the file under email.
func (p *filePeople) sameEmail(email string) []oidcuser.Person {
	var out []oidcuser.Person
	for _, i := range p.byKey[strings.ToLower(email)] {
		out = append(out, p.users[i].Person())
	}
	return out
}

// FileError locates a problem in a directory file.
type FileError struct {
	Path  string
	Line  int
	Field string // e.g. "[3].profile.login"; empty for syntax errors
	Msg   string
}

func (e *FileError) Error() string {
	loc := fmt.Sprintf("%s:%d", e.Path, e.Line)
	if e.Field != "" {
		return fmt.Sprintf("%s: %s: %s", loc, e.Field, e.Msg)
	}
	return loc + ": " + e.Msg
}

// Open reads the directory file; a missing or invalid file is an error
// (a *FileError when the content is at fault).
func Open(path string, log *slog.Logger) (*Directory, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &Directory{path: path, log: log, now: time.Now}
	people, err := readPeopleFile(path)
	if err != nil {
		return nil, err
	}
	d.people, d.stamp, d.checked = people, people.stamp, d.now()
	return d, nil
}

// Len reports how many people the directory holds now.
func (d *Directory) Len() int { return len(d.current().users) }

// Watch checks the file every interval until ctx ends, so changes are
// picked up even when no lookup reaches the directory, and calls onChange
// after each re-read (to drop cached "not found" answers, say).
func (d *Directory) Watch(ctx context.Context, every time.Duration, onChange func()) {
	d.mu.Lock()
	d.onChange = onChange
	d.mu.Unlock()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			d.current()
		}
	}
}

// current returns the people, re-reading the file when it changed. The
// file is parsed outside the lock, so lookups are not held up by a re-read.
func (d *Directory) current() *filePeople {
	d.mu.Lock()
	people, now := d.people, d.now()
	if now.Sub(d.checked) < time.Second/2 {
		d.mu.Unlock()
		return people
	}
	d.checked = now
	st, err := statFile(d.path)
	if err != nil || st == d.stamp {
		if err != nil && d.stamp != (fileStamp{}) {
			d.log.Error("directory file unreadable; keeping the people read before", "path", d.path, "error", err)
			d.stamp = fileStamp{} // reported once; read again when it is back
		}
		d.mu.Unlock()
		return people
	}
	d.stamp = st // a broken version is reported once, not on every call
	d.mu.Unlock()

	fresh, err := readPeopleFile(d.path)
	if err != nil {
		d.log.Error("directory file changed but is invalid; keeping the people read before", "path", d.path, "error", err)
		return people
	}
	d.mu.Lock()
	if fresh.stamp != d.stamp {
		// The file changed again while it was read: the next check reads
		// the newer version; never replace it with this older one.
		d.mu.Unlock()
		return people
	}
	d.people = fresh
	onChange := d.onChange
	d.mu.Unlock()
	d.log.Info("directory file re-read", "path", d.path, "people", len(fresh.users))
	if onChange != nil {
		onChange()
	}
	return fresh
}

func statFile(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	return stampOf(fi), nil
}

func stampOf(fi os.FileInfo) fileStamp { return fileStamp{mod: fi.ModTime(), size: fi.Size()} }

// oktaStatuses are the user statuses Okta's API returns.
var oktaStatuses = []string{"STAGED", "PROVISIONED", "ACTIVE", "RECOVERY", "PASSWORD_EXPIRED", "LOCKED_OUT", "SUSPENDED", "DEPROVISIONED"}

// maxDirectoryFile bounds what is read into memory.
const maxDirectoryFile = 256 << 20

func readPeopleFile(path string) (*filePeople, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat() // of the file read, even if the path is replaced meanwhile
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, maxDirectoryFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxDirectoryFile {
		return nil, &FileError{Path: path, Line: 1, Msg: fmt.Sprintf("larger than %d MiB", maxDirectoryFile>>20)}
	}
	people, err := parsePeople(path, data)
	if err != nil {
		return nil, err
	}
	people.stamp = stampOf(fi)
	return people, nil
}

// parsePeople decodes and checks the file, one array element at a time so
// problems are reported with the line of the person at fault.
func parsePeople(path string, data []byte) (*filePeople, error) {
	lineAt := func(offset int64) int { return 1 + bytes.Count(data[:min(int(offset), len(data))], []byte("\n")) }
	syntaxErr := func(err error, dec *json.Decoder) error {
		off := dec.InputOffset()
		var se *json.SyntaxError
		if errors.As(err, &se) {
			off = se.Offset
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return &FileError{Path: path, Line: lineAt(int64(len(data))), Msg: "unexpected end of file"}
		}
		return &FileError{Path: path, Line: lineAt(off), Msg: "not valid JSON: " + err.Error()}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return nil, syntaxErr(err, dec)
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return nil, &FileError{Path: path, Line: lineAt(dec.InputOffset()), Msg: "must be a JSON array of Okta user objects (the GET /api/v1/users answer)"}
	}
	p := &filePeople{byKey: map[string][]int{}}
	ids := map[string]int{}
	logins := map[string]int{}
	for i := 0; dec.More(); i++ {
		start := dec.InputOffset()
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, syntaxErr(err, dec)
		}
		// InputOffset is before the separating whitespace and comma.
		line := lineAt(start + leadingSkip(data, start))
		u, field, msg := checkPerson(raw)
		if msg == "" {
			if j, dup := ids[u.ID]; dup {
				field, msg = "id", fmt.Sprintf("%q is also the id of person [%d]", u.ID, j)
			} else if j, dup := logins[strings.ToLower(u.Login())]; dup {
				field, msg = "profile.login", fmt.Sprintf("%q is also the login of person [%d] (logins are unique, case-insensitively)", u.Login(), j)
			}
		}
		if msg != "" {
			if field != "" {
				field = fmt.Sprintf("[%d].%s", i, field)
			} else {
				field = fmt.Sprintf("[%d]", i)
			}
			return nil, &FileError{Path: path, Line: line, Field: field, Msg: msg}
		}
		ids[u.ID], logins[strings.ToLower(u.Login())] = i, i
		p.users = append(p.users, u)
		for _, k := range []string{u.Login(), u.Email()} {
			if k = strings.ToLower(k); k != "" && !slices.Contains(p.byKey[k], i) {
				p.byKey[k] = append(p.byKey[k], i)
			}
		}
	}
	if _, err := dec.Token(); err != nil {
		return nil, syntaxErr(err, dec)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, &FileError{Path: path, Line: lineAt(dec.InputOffset()), Msg: "unexpected content after the array"}
	}
	p.order = make([]int, len(p.users))
	for i := range p.order {
		p.order[i] = i
	}
	slices.SortStableFunc(p.order, func(a, b int) int {
		ua, ub := p.users[a], p.users[b]
		return cmp.Or(ua.LastUpdated.Compare(ub.LastUpdated), strings.Compare(ua.ID, ub.ID))
	})
	return p, nil
}

// leadingSkip counts the whitespace and comma between offset and the next
// value, so a person's line is where its object starts.
func leadingSkip(data []byte, offset int64) int64 {
	n := int64(0)
	for i := offset; i < int64(len(data)); i++ {
		switch data[i] {
		case ' ', '\t', '\r', '\n', ',':
			n++
		default:
			return n
		}
	}
	return n
}

// checkPerson decodes one user object and checks what usersvc relies on;
// it returns the failing field and why.
func checkPerson(raw json.RawMessage) (u okta.User, field, msg string) {
	var shape map[string]json.RawMessage
	if err := json.Unmarshal(raw, &shape); err != nil {
		return u, "", "must be a JSON object (an Okta user)"
	}
	str := func(rm json.RawMessage) (string, string) {
		var s string
		if len(rm) == 0 || string(rm) == "null" {
			return "", "is missing"
		}
		if err := json.Unmarshal(rm, &s); err != nil {
			return "", "must be a string"
		}
		if strings.TrimSpace(s) == "" {
			return "", "must not be empty"
		}
		return s, ""
	}
	var problem string
	if u.ID, problem = str(shape["id"]); problem != "" {
		return u, "id", problem
	}
	if u.Status, problem = str(shape["status"]); problem != "" {
		return u, "status", problem
	}
	if !slices.Contains(oktaStatuses, u.Status) {
		return u, "status", fmt.Sprintf("%q is not an Okta status (%s)", u.Status, strings.Join(oktaStatuses, ", "))
	}
	if rm, ok := shape["lastUpdated"]; ok && string(rm) != "null" {
		if err := json.Unmarshal(rm, &u.LastUpdated); err != nil {
			return u, "lastUpdated", "must be a timestamp such as 2026-01-02T03:04:05.000Z"
		}
	}
	if len(shape["profile"]) == 0 || string(shape["profile"]) == "null" {
		return u, "profile", "is missing"
	}
	if err := json.Unmarshal(shape["profile"], &u.Profile); err != nil {
		return u, "profile", "must be an object"
	}
	for _, name := range []string{"login", "email"} {
		v, ok := u.Profile[name]
		s, isString := v.(string)
		switch {
		case !ok || v == nil:
			return u, "profile." + name, "is missing"
		case !isString:
			return u, "profile." + name, "must be a string"
		case strings.TrimSpace(s) == "":
			return u, "profile." + name, "must not be empty"
		}
	}
	for _, name := range []string{"firstName", "lastName", "displayName", "title", "department", "userType", "manager", "managerId", "profileUrl"} {
		if v, ok := u.Profile[name]; ok && v != nil {
			if _, isString := v.(string); !isString {
				return u, "profile." + name, "must be a string"
			}
		}
	}
	if rm, ok := shape["_links"]; ok && string(rm) != "null" {
		if err := json.Unmarshal(rm, &u.Links); err != nil {
			return u, "_links", "must be an object with self.href"
		}
	}
	return u, "", ""
}

// LookupUser finds the person id names by login, then by email, with the
// Okta directory's rules (pickMatch).
func (d *Directory) LookupUser(ctx context.Context, id string) (schema.User, error) {
	if err := ctx.Err(); err != nil {
		return schema.User{}, schema.Unavailable("lookup canceled", 0, err)
	}
	p := d.current()
	idx := p.byKey[strings.ToLower(strings.TrimSpace(id))]
	candidates := make([]oidcuser.Person, 0, len(idx))
	for _, i := range idx {
		candidates = append(candidates, p.users[i].Person())
	}
	match, err := oidcuser.PickMatch(id, candidates)
	if err != nil {
		return schema.User{}, err
	}
	return oidcuser.KeyedUser(match, p.sameEmail(match.Email)), nil
}

// filePageSize matches the Okta directory's page size.
const filePageSize = 200

// ListUsers pages through the people in lastUpdated order, as the Okta
// directory does.
func (d *Directory) ListUsers(ctx context.Context, q oidcuser.ListQuery, fn func([]oidcuser.Person) error) error {
	p := d.current()
	page := make([]oidcuser.Person, 0, filePageSize)
	for _, i := range p.order {
		u := p.users[i]
		if !q.UpdatedAfter.IsZero() && (u.LastUpdated.Before(q.UpdatedAfter) || (!q.Inclusive && u.LastUpdated.Equal(q.UpdatedAfter))) {
			continue
		}
		page = append(page, u.Person())
		if len(page) == filePageSize {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := fn(page); err != nil {
				return err
			}
			page = make([]oidcuser.Person, 0, filePageSize)
		}
	}
	if len(page) > 0 {
		return fn(page)
	}
	return nil
}

// LookupByID finds the person whose directory id is id (the file's "id").
func (d *Directory) LookupByID(ctx context.Context, id string) (schema.User, error) {
	if err := ctx.Err(); err != nil {
		return schema.User{}, schema.Unavailable("lookup canceled", 0, err)
	}
	p := d.current()
	for _, u := range p.users {
		if u.ID != id {
			continue
		}
		return oidcuser.KeyedUser(u.Person(), p.sameEmail(u.Email())), nil
	}
	return schema.User{}, schema.Errorf(schema.KindNotFound, "directory id %s not found", id)
}

// The capabilities of the file directory, checked by the compiler.
var (
	_ oidcuser.Directory = (*Directory)(nil)
	_ oidcuser.Lister    = (*Directory)(nil)
	_ oidcuser.Reloader  = (*Directory)(nil)
	_ oidcuser.IDLookup  = (*Directory)(nil)
)
