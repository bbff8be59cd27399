package neo4jgraph

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	usersvcneo4j "github.com/usersvc/usersvc/proxy/neo4j"
)

// implementations maps statement names (proxy/neo4j.Statements) to their
// semantics on the in-memory graph.
func implementations() map[string]handler {
	m := map[string]handler{
		"CreateUserKeyConstraint": func(s *state, _ params, _ int64) (Result, error) {
			s.constraints["user_key_unique"] = true
			return Result{}, nil
		},
		"CreateLeaseKeyConstraint": func(s *state, _ params, _ int64) (Result, error) {
			s.constraints["sync_lease_key_unique"] = true
			return Result{}, nil
		},
		"CreateUserIDIndex": func(s *state, _ params, _ int64) (Result, error) {
			s.constraints["user_user_id"] = true
			return Result{}, nil
		},
		"CreateDirectoryIDIndex": func(s *state, _ params, _ int64) (Result, error) {
			s.constraints["user_okta_id"] = true
			return Result{}, nil
		},
		"DuplicateUserKey":      duplicateUserKey,
		"UserKeysByDirectoryID": userKeysByDirectoryID,
		"CountUserKey":          countUserKey,
		"MoveUser":              moveUser,
		"GetUserByUserID":       getUserByUserID,
		"GetSyncState":          getSyncState,
		"PutSyncState":          putSyncState,
		"LockLease":             lockLease,
		"AcquireLease":          acquireLease,
		"ReleaseLease":          releaseLease,
		"Ping": func(*state, params, int64) (Result, error) {
			return Result{Keys: []string{"ok"}, Records: [][]any{{int64(1)}}}, nil
		},
		"GetUser":                getUser,
		"GetActiveUsers":         getActiveUsers,
		"UpsertUser":             upsertUser,
		"FrequentlyUsedTables":   frequentlyUsedTables,
		"LoadTable":              loadTable,
		"LoadDashboard":          loadDashboard,
		"LoadFeature":            loadFeature,
		"LoadRead":               loadRead,
		"FixtureDatabuilderUser": fixtureDatabuilderUser,
		"FixtureWipe": func(s *state, _ params, _ int64) (Result, error) {
			s.nodes, s.rels = map[int64]*Node{}, map[int64]*Rel{}
			return Result{}, nil
		},
	}
	// The relation statements come from proxy/neo4j's relation table, so
	// the label and edge types here are the ones the store writes.
	for _, r := range usersvcneo4j.RelationStatements() {
		switch r.Op {
		case usersvcneo4j.OpAdd:
			m[r.Name] = addRelation(r.Label, r.Forward, r.Reverse)
		case usersvcneo4j.OpDelete:
			m[r.Name] = deleteRelation(r.Label, r.Forward, r.Reverse)
		case usersvcneo4j.OpUsers:
			m[r.Name] = usersOf(r.Label, r.Reverse)
		case usersvcneo4j.OpList:
			m[r.Name] = userResources(r.Label, r.Forward)
		}
	}
	return m
}

// userRow is RETURN u {.*} AS user, then the manager's full_name and email
// from MANAGE_BY, falling back to the user keyed by manager_email.
func (s *state) userRow(u *Node) []any {
	m := s.neighbour(u, "MANAGE_BY", "User", true)
	var byEmail *Node
	if email, ok := u.Props["manager_email"].(string); ok {
		byEmail = s.find("User", strings.ToLower(strings.TrimSpace(email)))
	}
	return []any{props(u), coalesce(prop(m, "full_name"), prop(byEmail, "full_name")), coalesce(prop(m, "email"), prop(byEmail, "email"))}
}

func coalesce(vs ...any) any {
	for _, v := range vs {
		if v != nil {
			return v
		}
	}
	return nil
}

var userKeys = []string{"user", "manager_fullname", "manager_email"}

func getUser(s *state, p params, _ int64) (Result, error) {
	key, err := p.str("key")
	if err != nil {
		return Result{}, err
	}
	res := Result{Keys: userKeys}
	if u := s.find("User", key); u != nil {
		res.Records = append(res.Records, s.userRow(u))
	}
	return res, nil
}

// getUserByUserID: MATCH (u:User {user_id: $user_id}), lowest key first.
func getUserByUserID(s *state, p params, _ int64) (Result, error) {
	id, err := p.str("user_id")
	if err != nil {
		return Result{}, err
	}
	res := Result{Keys: userKeys}
	var match *Node
	for _, u := range s.nodesWith("User") {
		if u.Props["user_id"] == id && (match == nil || u.Props["key"].(string) < match.Props["key"].(string)) {
			match = u
		}
	}
	if match != nil {
		res.Records = append(res.Records, s.userRow(match))
	}
	return res, nil
}

func userKeysByDirectoryID(s *state, p params, _ int64) (Result, error) {
	id, err := p.str("id")
	if err != nil {
		return Result{}, err
	}
	var keys []string
	for _, u := range s.nodesWith("User") {
		if u.Props["okta_id"] == id {
			keys = append(keys, u.Props["key"].(string))
		}
	}
	slices.Sort(keys)
	res := Result{Keys: []string{"key"}}
	for _, k := range keys {
		res.Records = append(res.Records, []any{k})
	}
	return res, nil
}

// duplicateUserKey answers the first key (in order) that several User
// nodes hold, with how many hold it.
func duplicateUserKey(s *state, _ params, _ int64) (Result, error) {
	counts := map[string]int64{}
	for _, n := range s.nodesWith("User") {
		if k, ok := n.Props["key"].(string); ok {
			counts[k]++
		}
	}
	res := Result{Keys: []string{"key", "nodes"}}
	var keys []string
	for k, n := range counts {
		if n > 1 {
			keys = append(keys, k)
		}
	}
	if len(keys) > 0 {
		k := slices.Min(keys)
		res.Records = [][]any{{k, counts[k]}}
	}
	return res, nil
}

func countUserKey(s *state, p params, _ int64) (Result, error) {
	key, err := p.str("key")
	if err != nil {
		return Result{}, err
	}
	n := int64(0)
	if s.find("User", key) != nil {
		n = 1
	}
	return Result{Keys: []string{"n"}, Records: [][]any{{n}}}, nil
}

// moveUser sets the key in place, refused by the uniqueness constraint as
// Neo4j refuses it.
func moveUser(s *state, p params, now int64) (Result, error) {
	keys, err := p.strs("from", "to")
	if err != nil {
		return Result{}, err
	}
	u := s.find("User", keys[0])
	if u == nil {
		return Result{Keys: []string{"moved"}, Records: [][]any{{int64(0)}}}, nil
	}
	if s.constraints["user_key_unique"] && s.find("User", keys[1]) != nil {
		return Result{}, &Error{Code: "Neo.ClientError.Schema.ConstraintValidationFailed", Message: "already exists with label `User` and property `key`"}
	}
	u.Props["key"] = keys[1]
	u.Props["publisher_last_updated_epoch_ms"] = now
	return Result{Keys: []string{"moved"}, Records: [][]any{{int64(1)}}}, nil
}

func getActiveUsers(s *state, _ params, _ int64) (Result, error) {
	users := s.nodesWith("User")
	slices.SortFunc(users, func(a, b *Node) int { return cmp.Compare(a.Props["key"].(string), b.Props["key"].(string)) })
	res := Result{Keys: []string{"user"}}
	for _, u := range users {
		if u.Props["is_active"] == true {
			res.Records = append(res.Records, []any{props(u)})
		}
	}
	return res, nil
}

// upsertUser: MERGE; SET u += $props on create and on match; each $derived
// value only where the property is null or empty; is_active and publisher
// stamps always; created is whether MERGE created the node.
func upsertUser(s *state, p params, now int64) (Result, error) {
	key, err := p.str("key")
	if err != nil {
		return Result{}, err
	}
	raw, err := p.value("props")
	if err != nil {
		return Result{}, err
	}
	set, ok := raw.(map[string]any)
	if !ok {
		return Result{}, &Error{Code: "Neo.ClientError.Statement.TypeError", Message: "props must be a map"}
	}
	active, err := p.value("is_active")
	if err != nil {
		return Result{}, err
	}
	rawDerived, err := p.value("derived")
	if err != nil {
		return Result{}, err
	}
	derived, ok := rawDerived.(map[string]any)
	if !ok {
		return Result{}, &Error{Code: "Neo.ClientError.Statement.TypeError", Message: "derived must be a map"}
	}
	u, created := s.merge("User", key)
	if created {
		u.Props["publisher_created_epoch_ms"] = now
	}
	for k, v := range set {
		if v == nil {
			delete(u.Props, k) // SET n += {k: null} removes k
			continue
		}
		u.Props[k] = v
	}
	u.Props["is_active"] = active
	for _, name := range []string{"user_id", "full_name", "display_name"} {
		if cur, ok := u.Props[name]; (!ok || cur == nil || cur == "") && derived[name] != nil {
			u.Props[name] = derived[name]
		}
	}
	u.Props["published_tag"] = "api_create_update_user"
	u.Props["publisher_last_updated_epoch_ms"] = now
	row := append(s.userRow(u), created)
	return Result{Keys: append(slices.Clone(userKeys), "created"), Records: [][]any{row}}, nil
}

func addRelation(label, fwd, rev string) handler {
	return func(s *state, p params, now int64) (Result, error) {
		keys, err := p.strs("user_key", "resource_key")
		if err != nil {
			return Result{}, err
		}
		res := Result{Keys: []string{"user_key"}}
		r := s.find(label, keys[1])
		if r == nil {
			return res, nil
		}
		u, created := s.merge("User", keys[0])
		if created {
			u.Props["email"] = keys[0]
			u.Props["published_tag"] = "api_add_resource_relation"
			u.Props["publisher_created_epoch_ms"] = now
		}
		s.mergeRel(u, fwd, r)
		s.mergeRel(r, rev, u)
		res.Records = [][]any{{keys[0]}}
		return res, nil
	}
}

func deleteRelation(label, fwd, rev string) handler {
	return func(s *state, p params, _ int64) (Result, error) {
		keys, err := p.strs("user_key", "resource_key")
		if err != nil {
			return Result{}, err
		}
		u := s.find("User", keys[0])
		r := s.find(label, keys[1])
		if u != nil && r != nil {
			s.deleteRel(s.rel(u, fwd, r))
			s.deleteRel(s.rel(r, rev, u))
		}
		return Result{}, nil
	}
}

// tablePath walks (t)<-[:TABLE]-(s)<-[:SCHEMA]-(c)<-[:CLUSTER]-(db) and the
// optional description. ok is false when the path is incomplete (MATCH
// drops such rows).
func (s *state) tablePath(t *Node) ([]any, bool) {
	sch := s.neighbour(t, "TABLE", "Schema", false)
	cl := s.neighbour(sch, "SCHEMA", "Cluster", false)
	db := s.neighbour(cl, "CLUSTER", "Database", false)
	if sch == nil || cl == nil || db == nil {
		return nil, false
	}
	desc := s.neighbour(t, "DESCRIPTION", "Description", true)
	return []any{prop(db, "name"), prop(cl, "name"), prop(sch, "name"), prop(t, "name"), prop(desc, "description")}, true
}

var tableKeys = []string{"database", "cluster", "schema", "name", "description"}

// userResources lists, for a user, the tables or dashboards over relType.
func userResources(label, relType string) handler {
	if label == "Dashboard" {
		return userDashboards(relType)
	}
	return userTables(relType)
}

func userTables(relType string) handler {
	return func(s *state, p params, _ int64) (Result, error) {
		key, err := p.str("user_key")
		if err != nil {
			return Result{}, err
		}
		res := Result{Keys: tableKeys}
		u := s.find("User", key)
		if u == nil {
			return res, nil
		}
		for _, r := range s.out(u, relType) {
			if t := s.nodes[r.To]; slices.Contains(t.Labels, "Table") {
				if row, ok := s.tablePath(t); ok && !containsRow(res.Records, row) {
					res.Records = append(res.Records, row)
				}
			}
		}
		return res, nil
	}
}

func userDashboards(relType string) handler {
	return func(s *state, p params, _ int64) (Result, error) {
		key, err := p.str("user_key")
		if err != nil {
			return Result{}, err
		}
		res := Result{Keys: []string{"uri", "cluster", "group_name", "group_url", "name", "url", "description", "last_successful_run_timestamp"}}
		u := s.find("User", key)
		if u == nil {
			return res, nil
		}
		for _, r := range s.out(u, relType) {
			d := s.nodes[r.To]
			if !slices.Contains(d.Labels, "Dashboard") {
				continue
			}
			g := s.neighbour(d, "DASHBOARD", "Dashboardgroup", false)
			c := s.neighbour(g, "DASHBOARD_GROUP", "Cluster", false)
			if g == nil || c == nil {
				continue
			}
			desc := s.neighbour(d, "DESCRIPTION", "Description", true)
			var ts any
			for _, er := range s.out(d, "EXECUTED") {
				e := s.nodes[er.To]
				parts := strings.Split(e.Props["key"].(string), "/")
				if len(parts) > 5 && parts[5] == "_last_successful_execution" {
					ts = e.Props["timestamp"]
				}
			}
			row := []any{d.Props["key"], prop(c, "name"), prop(g, "name"), prop(g, "dashboard_group_url"),
				d.Props["name"], d.Props["dashboard_url"], prop(desc, "description"), ts}
			if !containsRow(res.Records, row) {
				res.Records = append(res.Records, row)
			}
		}
		return res, nil
	}
}

func containsRow(rows [][]any, row []any) bool {
	return slices.ContainsFunc(rows, func(r []any) bool { return slices.Equal(r, row) })
}

func frequentlyUsedTables(s *state, p params, _ int64) (Result, error) {
	key, err := p.str("user_key")
	if err != nil {
		return Result{}, err
	}
	res := Result{Keys: append(slices.Clone(tableKeys), "published_tag", "read_count", "key")}
	u := s.find("User", key)
	if u == nil {
		return res, nil
	}
	type read struct {
		t     *Node
		tag   any
		count int64
	}
	var reads []read
	for _, r := range s.out(u, "READ") {
		// WHERE r.published_tag IS NOT NULL
		if t := s.nodes[r.To]; slices.Contains(t.Labels, "Table") && r.Props["published_tag"] != nil {
			n, _ := r.Props["read_count"].(int64)
			reads = append(reads, read{t, r.Props["published_tag"], n})
		}
	}
	slices.SortFunc(reads, func(a, b read) int {
		return cmp.Or(cmp.Compare(fmt.Sprint(b.tag), fmt.Sprint(a.tag)), cmp.Compare(b.count, a.count),
			cmp.Compare(a.t.Props["key"].(string), b.t.Props["key"].(string)))
	})
	for _, r := range reads[:min(len(reads), 50)] {
		if row, ok := s.tablePath(r.t); ok {
			res.Records = append(res.Records, append(row, r.tag, r.count, r.t.Props["key"]))
		}
	}
	return res, nil
}

func usersOf(label, relType string) handler {
	return func(s *state, p params, _ int64) (Result, error) {
		key, err := p.str("resource_key")
		if err != nil {
			return Result{}, err
		}
		res := Result{Keys: []string{"user_key"}}
		r := s.find(label, key)
		if r == nil {
			return res, nil
		}
		var keys []string
		for _, rel := range s.out(r, relType) {
			if u := s.nodes[rel.To]; slices.Contains(u.Labels, "User") {
				keys = append(keys, u.Props["key"].(string))
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			res.Records = append(res.Records, []any{k})
		}
		return res, nil
	}
}

// mergeNamed merges a node by key and sets name on create.
func (s *state) mergeNamed(label, key, name string) *Node {
	n, created := s.merge(label, key)
	if created {
		n.Props["name"] = name
	}
	return n
}

// both merges a relationship pair, as databuilder writes every edge.
func (s *state) both(a *Node, fwd string, b *Node, rev string) {
	s.mergeRel(a, fwd, b)
	s.mergeRel(b, rev, a)
}

func (s *state) describe(n *Node, key, description string) {
	if description == "" {
		return
	}
	d, _ := s.merge("Description", key+"/_description")
	d.Props["description"] = description
	s.both(n, "DESCRIPTION", d, "DESCRIPTION_OF")
}

func loadTable(s *state, p params, _ int64) (Result, error) {
	v, err := p.strs("database", "cluster", "schema", "key", "name", "description")
	if err != nil {
		return Result{}, err
	}
	database, cluster, schemaName, key, name, description := v[0], v[1], v[2], v[3], v[4], v[5]
	db := s.mergeNamed("Database", "database://"+database, database)
	c := s.mergeNamed("Cluster", database+"://"+cluster, cluster)
	sch := s.mergeNamed("Schema", database+"://"+cluster+"."+schemaName, schemaName)
	t, _ := s.merge("Table", key)
	t.Props["name"] = name
	s.both(db, "CLUSTER", c, "CLUSTER_OF")
	s.both(c, "SCHEMA", sch, "SCHEMA_OF")
	s.both(sch, "TABLE", t, "TABLE_OF")
	s.describe(t, key, description)
	return Result{}, nil
}

func loadDashboard(s *state, p params, _ int64) (Result, error) {
	v, err := p.strs("product", "cluster", "group_name", "group_url", "key", "name", "url", "description")
	if err != nil {
		return Result{}, err
	}
	product, cluster, groupName, groupURL, key, name, url, description := v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]
	ts, err := p.value("last_successful_run_timestamp")
	if err != nil {
		return Result{}, err
	}
	c := s.mergeNamed("Cluster", product+"_dashboard://"+cluster, cluster)
	g, _ := s.merge("Dashboardgroup", product+"_dashboard://"+cluster+"."+groupName)
	g.Props["name"], g.Props["dashboard_group_url"] = groupName, groupURL
	d, _ := s.merge("Dashboard", key)
	d.Props["name"], d.Props["dashboard_url"] = name, url
	s.both(c, "DASHBOARD_GROUP", g, "DASHBOARD_GROUP_OF")
	s.both(g, "DASHBOARD", d, "DASHBOARD_OF")
	s.describe(d, key, description)
	if ts != nil {
		e, _ := s.merge("Execution", key+"/execution/_last_successful_execution")
		e.Props["timestamp"], e.Props["state"] = ts, "succeeded"
		s.both(d, "EXECUTED", e, "EXECUTION_OF")
	}
	return Result{}, nil
}

func loadFeature(s *state, p params, _ int64) (Result, error) {
	v, err := p.strs("key", "name", "feature_group", "version")
	if err != nil {
		return Result{}, err
	}
	f, _ := s.merge("Feature", v[0])
	f.Props["name"], f.Props["feature_group"], f.Props["version"] = v[1], v[2], v[3]
	return Result{}, nil
}

func loadRead(s *state, p params, now int64) (Result, error) {
	keys, err := p.strs("table_key", "user_key")
	if err != nil {
		return Result{}, err
	}
	count, err := p.value("read_count")
	if err != nil {
		return Result{}, err
	}
	tag, err := p.value("published_tag")
	if err != nil {
		return Result{}, err
	}
	res := Result{Keys: []string{"user_key"}}
	t := s.find("Table", keys[0])
	if t == nil {
		return res, nil
	}
	u, created := s.merge("User", keys[1])
	if created {
		u.Props["email"], u.Props["published_tag"], u.Props["publisher_created_epoch_ms"] = keys[1], "catalog_load", now
	}
	for _, r := range []*Rel{s.mergeRel(u, "READ", t), s.mergeRel(t, "READ_BY", u)} {
		r.Props["read_count"], r.Props["published_tag"], r.Props["publisher_last_updated_epoch_ms"] = count, tag, now
	}
	res.Records = [][]any{{keys[1]}}
	return res, nil
}

func fixtureDatabuilderUser(s *state, p params, now int64) (Result, error) {
	v, err := p.strs("key", "email", "first_name", "last_name", "full_name", "team_name", "role_name", "manager_email", "manager_key")
	if err != nil {
		return Result{}, err
	}
	active, err := p.value("is_active")
	if err != nil {
		return Result{}, err
	}
	updated, err := p.value("updated_at")
	if err != nil {
		return Result{}, err
	}
	u, _ := s.merge("User", v[0])
	for k, val := range map[string]any{
		"email": v[1], "first_name": v[2], "last_name": v[3], "full_name": v[4], "is_active": active,
		"github_username": "", "team_name": v[5], "employee_type": "", "slack_id": "", "role_name": v[6],
		"manager_email": v[7], "updated_at": updated, "published_tag": "databuilder", "publisher_last_updated_epoch_ms": now,
	} {
		u.Props[k] = val
	}
	if m := s.find("User", v[8]); m != nil {
		s.both(u, "MANAGE_BY", m, "MANAGE")
	}
	return Result{}, nil
}

func getSyncState(s *state, p params, _ int64) (Result, error) {
	name, err := p.str("name")
	if err != nil {
		return Result{}, err
	}
	res := Result{Keys: []string{"watermark_ms", "complete", "updated_ms"}}
	if n := s.find("SyncState", name); n != nil {
		res.Records = [][]any{{n.Props["watermark_ms"], n.Props["complete"], n.Props["updated_ms"]}}
	}
	return res, nil
}

func putSyncState(s *state, p params, _ int64) (Result, error) {
	name, err := p.str("name")
	if err != nil {
		return Result{}, err
	}
	n, _ := s.merge("SyncState", name)
	for _, k := range []string{"watermark_ms", "complete", "updated_ms"} {
		v, err := p.value(k)
		if err != nil {
			return Result{}, err
		}
		n.Props[k] = v
	}
	return Result{}, nil
}

func acquireLease(s *state, p params, _ int64) (Result, error) {
	v, err := p.strs("name", "owner")
	if err != nil {
		return Result{}, err
	}
	now, err := p.value("now_ms")
	if err != nil {
		return Result{}, err
	}
	expires, err := p.value("expires_ms")
	if err != nil {
		return Result{}, err
	}
	l := s.find("SyncLease", v[0])
	if l == nil {
		return Result{Keys: []string{"acquired"}}, nil // MATCH found nothing
	}
	delete(l.Props, "_lock")
	owner, held := l.Props["owner"].(string)
	exp, _ := l.Props["expires_ms"].(int64)
	free := !held || owner == v[1] || exp < now.(int64)
	if free {
		l.Props["owner"], l.Props["expires_ms"] = v[1], expires
	}
	return Result{Keys: []string{"acquired"}, Records: [][]any{{free}}}, nil
}

// lockLease: MERGE the lease node and SET l._lock (Neo4j's write lock; the
// in-memory graph serialises write transactions anyway).
func lockLease(s *state, p params, _ int64) (Result, error) {
	name, err := p.str("name")
	if err != nil {
		return Result{}, err
	}
	l, _ := s.merge("SyncLease", name)
	l.Props["_lock"] = true
	return Result{Keys: []string{"key"}, Records: [][]any{{name}}}, nil
}

func releaseLease(s *state, p params, _ int64) (Result, error) {
	v, err := p.strs("name", "owner")
	if err != nil {
		return Result{}, err
	}
	if l := s.find("SyncLease", v[0]); l != nil && l.Props["owner"] == v[1] {
		delete(s.nodes, l.ID)
	}
	return Result{}, nil
}
