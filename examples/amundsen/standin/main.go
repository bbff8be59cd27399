// Command standin is a tiny stand-in for Amundsen's metadata service, for
// the two-process pass-through demo (make run-passthrough): usersvc serves
// the user API and passes every other metadata route here. It answers a few
// routes in the shapes of metadata_service/api/table.py and popular_tables,
// keeps what is written in memory, and logs each request target exactly as
// it arrived, so one can see that keys with "//" reach it untouched.
//
// It is not Amundsen: no graph, no auth checks, no persistence.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

type table struct {
	Database    string   `json:"database"`
	Cluster     string   `json:"cluster"`
	Schema      string   `json:"schema"`
	Name        string   `json:"name"`
	Key         string   `json:"key"`
	Description *string  `json:"description"`
	Tags        []tag    `json:"tags"`
	Owners      []owner  `json:"owners"`
	Columns     []string `json:"columns"`
}

type tag struct {
	TagType string `json:"tag_type"`
	TagName string `json:"tag_name"`
}

type owner struct {
	UserID string `json:"user_id"`
	Email  string `json:"email"`
}

type catalog struct {
	mu     sync.Mutex
	tables map[string]*table
}

// newCatalog holds the tables of examples/catalog.json, so the demo's
// follow calls on usersvc and the table calls here name the same keys.
func newCatalog() *catalog {
	desc := "One row per customer order."
	c := &catalog{tables: map[string]*table{}}
	for _, t := range []table{
		{Database: "hive", Cluster: "gold", Schema: "sales", Name: "orders", Description: &desc},
		{Database: "hive", Cluster: "gold", Schema: "sales", Name: "refunds"},
		{Database: "hive", Cluster: "gold", Schema: "core", Name: "accounts"},
		{Database: "postgres", Cluster: "prod", Schema: "analytics", Name: "events"},
	} {
		t.Key = fmt.Sprintf("%s://%s.%s/%s", t.Database, t.Cluster, t.Schema, t.Name)
		t.Tags, t.Owners, t.Columns = []tag{}, []owner{}, []string{}
		c.tables[t.Key] = &t
	}
	return c
}

func main() {
	addr := flag.String("addr", "127.0.0.1:5003", "listen address")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	c := newCatalog()
	srv := &http.Server{
		Addr: *addr,
		// A bare handler, not a ServeMux: the mux would clean "//" in keys.
		Handler:           logged(log, c),
		ReadHeaderTimeout: 5 * time.Second,
	}
	log.Info("metadata stand-in listening", "addr", *addr)
	if err := srv.ListenAndServe(); err != nil {
		log.Error("stand-in stopped", "error", err)
		os.Exit(1)
	}
}

func logged(log *slog.Logger, c *catalog) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := "absent"
		if r.Header.Get("Authorization") != "" {
			auth = "present" // never the value
		}
		log.Info("request", "method", r.Method, "target", r.RequestURI, "authorization", auth,
			"request_id", r.Header.Get("X-Request-Id"))
		c.serve(w, r)
	})
}

func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func message(w http.ResponseWriter, status int, format string, args ...any) {
	reply(w, status, map[string]string{"message": fmt.Sprintf(format, args...)})
}

// serve routes like Flask's <path:...> converters: the key is whatever
// lies between /table/ and the last known suffix.
func (c *catalog) serve(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case p == "/healthcheck":
		reply(w, http.StatusOK, map[string]any{"status": "ok", "checks": map[string]any{}})
	case p == "/user" || strings.HasPrefix(p, "/user/"):
		// usersvc owns these: reaching the stand-in would be a bug.
		message(w, http.StatusInternalServerError, "the stand-in never serves %s: usersvc should have answered", p)
	case p == "/popular_tables/" || strings.HasPrefix(p, "/popular_tables/"):
		reply(w, http.StatusOK, map[string]any{"popular_tables": c.list()})
	case p == "/popular_resources/" || strings.HasPrefix(p, "/popular_resources/"):
		reply(w, http.StatusOK, map[string]any{"table": c.list(), "dashboard": []any{}})
	case strings.HasPrefix(p, "/table/"):
		c.serveTable(w, r, strings.TrimPrefix(p, "/table/"))
	default:
		message(w, http.StatusNotFound, "the stand-in does not serve %s", p)
	}
}

func (c *catalog) list() []table {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]table, 0, len(c.tables))
	for _, t := range c.tables {
		out = append(out, *t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

func (c *catalog) serveTable(w http.ResponseWriter, r *http.Request, rest string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if key, ok := strings.CutSuffix(rest, "/description"); ok {
		t := c.tables[key]
		if t == nil {
			message(w, http.StatusNotFound, "table_uri %s does not exist", key)
			return
		}
		switch r.Method {
		case http.MethodGet:
			reply(w, http.StatusOK, map[string]any{"description": t.Description})
		case http.MethodPut:
			var body struct {
				Description string `json:"description"`
			}
			if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&body); err != nil {
				message(w, http.StatusBadRequest, "description must be JSON")
				return
			}
			t.Description = &body.Description
			reply(w, http.StatusOK, nil)
		default:
			message(w, http.StatusMethodNotAllowed, "method not allowed")
		}
		return
	}
	if i := strings.LastIndex(rest, "/owner/"); i > 0 {
		key, who := rest[:i], rest[i+len("/owner/"):]
		t := c.tables[key]
		if t == nil {
			message(w, http.StatusNotFound, "table_uri %s does not exist", key)
			return
		}
		switch r.Method {
		case http.MethodPut:
			if !slices.ContainsFunc(t.Owners, func(o owner) bool { return o.UserID == who }) {
				t.Owners = append(t.Owners, owner{UserID: who, Email: who})
			}
			message(w, http.StatusOK, "The owner %s for table_uri %s is added successfully", who, key)
		case http.MethodDelete:
			t.Owners = slices.DeleteFunc(t.Owners, func(o owner) bool { return o.UserID == who })
			message(w, http.StatusOK, "The owner %s for table_uri %s is deleted successfully", who, key)
		default:
			message(w, http.StatusMethodNotAllowed, "method not allowed")
		}
		return
	}
	if r.Method != http.MethodGet {
		message(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	t := c.tables[rest]
	if t == nil {
		message(w, http.StatusNotFound, "table_uri %s does not exist", rest)
		return
	}
	reply(w, http.StatusOK, t)
}
