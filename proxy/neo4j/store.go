// Package neo4j is the production graph store: proxy.Store on the official
// neo4j-go-driver/v5, over the graph Amundsen's metadata service and
// databuilder share (DESIGN §3).
package neo4j

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/neo4j/neo4j-go-driver/v5/neo4j"
	"github.com/neo4j/neo4j-go-driver/v5/neo4j/config"

	"github.com/usersvc/usersvc/proxy"
	"github.com/usersvc/usersvc/schema"
)

// Config configures the store.
type Config struct {
	// URI is the full driver URI (bolt://, neo4j://, with +s / +ssc for TLS).
	URI      string
	Username string
	Password string
	// Database is the database name; empty means the server's default.
	Database    string
	MaxPoolSize int
	// ConnectTimeout bounds opening a connection; TxTimeout is the server-side
	// limit of one transaction; RetryTime bounds the driver's retries of
	// transient failures in one call.
	ConnectTimeout time.Duration
	TxTimeout      time.Duration
	RetryTime      time.Duration
	Logger         *slog.Logger
	// OtherKeys are the node properties read back as other_key_values
	// (USER_OTHER_KEYS, as Amundsen metadata names the setting); nil means
	// schema.DefaultOtherKeys, an empty list none.
	OtherKeys schema.OtherKeys
}

// Store is the Neo4j graph store.
type Store struct {
	driver neo4j.DriverWithContext
	cfg    Config
	// relations holds the generated relation statements (relations.go).
	relations map[relationStatementKey]string
	// schemaReady records that the start-up schema step ran (successfully or
	// with a logged lack of privilege).
	schemaReady atomic.Bool
	// refused is set instead when the graph cannot get the schema.
	refused refusal
	// firstDial serialises the driver's first connection attempt: v5.28.4
	// initialises a connector field lazily inside every Connect, a data race
	// when the first connections open concurrently.
	firstDial sync.Once
	// down fails calls fast while the server is known to be away
	// (breaker.go); closed stops the monitor.
	down   breaker
	closed chan struct{}
	once   sync.Once
}

// Open builds the driver. It does not contact the server: Start does, in the
// background, so that a Neo4j that is down at start-up cannot crash-loop the
// service.
func Open(cfg Config) (*Store, error) {
	if cfg.MaxPoolSize <= 0 {
		cfg.MaxPoolSize = 50
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = time.Second
	}
	if cfg.TxTimeout <= 0 {
		cfg.TxTimeout = 10 * time.Second
	}
	if cfg.RetryTime <= 0 {
		cfg.RetryTime = 2 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.OtherKeys == nil {
		cfg.OtherKeys = schema.DefaultOtherKeys()
	}
	driver, err := neo4j.NewDriverWithContext(cfg.URI, neo4j.BasicAuth(cfg.Username, cfg.Password, ""), func(c *config.Config) {
		c.MaxConnectionPoolSize = cfg.MaxPoolSize
		c.SocketConnectTimeout = cfg.ConnectTimeout
		// Waiting for a pooled connection under load is not an outage:
		// it gets longer than a dial.
		c.ConnectionAcquisitionTimeout = 5 * cfg.ConnectTimeout
		c.MaxTransactionRetryTime = cfg.RetryTime
		c.UserAgent = "usersvc"
	})
	if err != nil {
		return nil, fmt.Errorf("neo4j driver for %s: %w", redactURI(cfg.URI), err)
	}
	return &Store{driver: driver, cfg: cfg, relations: relationStatementTexts(), closed: make(chan struct{})}, nil
}

// redactURI keeps credentials that may be embedded in a URI out of logs.
func redactURI(uri string) string {
	if at := strings.LastIndex(uri, "@"); at >= 0 {
		if scheme := strings.Index(uri, "://"); scheme >= 0 && scheme < at {
			return uri[:scheme+3] + "***@" + uri[at+1:]
		}
	}
	return uri
}

// Start connects in the background with capped backoff, then creates the
// uniqueness constraint. Until then store calls fail as unavailable.
func (s *Store) Start(ctx context.Context) {
	go s.monitor(ctx)
	go func() {
		s.warm(ctx)
		backoff := 500 * time.Millisecond
		for {
			vctx, cancel := context.WithTimeout(ctx, s.cfg.ConnectTimeout)
			err := s.driver.VerifyConnectivity(vctx)
			cancel()
			if err == nil {
				s.down.close() // reached: the schema step must not fail fast
				s.EnsureSchema(ctx)
				return
			}
			s.cfg.Logger.Warn("neo4j not reachable yet; store routes answer 503 until it is",
				"uri", redactURI(s.cfg.URI), "error", err, "retry_in", backoff.String())
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 5*time.Second)
		}
	}()
}

// warm makes the first connection attempt alone (see firstDial).
func (s *Store) warm(ctx context.Context) {
	s.firstDial.Do(func() {
		vctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ConnectTimeout)
		defer cancel()
		_ = s.driver.VerifyConnectivity(vctx)
	})
}

// schemaStatements are what the start-up schema step creates, in order.
var schemaStatements = []string{stmtCreateUserKeyConstraint, stmtCreateUserIDIndex, stmtCreateDirectoryIDIndex,
	stmtCreateSCIMIDIndex, stmtCreateSCIMExternalIDIndex, stmtCreateLeaseKeyConstraint}

// EnsureSchema creates the User.key uniqueness constraint (MERGE alone races
// without it; databuilder used to be the only one creating it), the
// User.user_id index that resolves logins to email-keyed nodes and the
// indexes on the properties of proxy.IndexedUserProperties. An account
// without the privilege is logged, not fatal: the service still works. A
// graph with duplicate keys is refused instead (Refused), nothing created.
func (s *Store) EnsureSchema(ctx context.Context) {
	// Neo4j refuses to drop a constraint and create its equivalent in one
	// transaction, so the named one of earlier versions goes first, alone
	// (a no-op on every graph that never had it).
	_, err := write(s, ctx, func(tx neo4j.ManagedTransaction) (struct{}, error) {
		_, err := collect(ctx, tx, stmtDropNamedUserKeyConstraint, nil)
		return struct{}{}, err
	})
	if err == nil {
		_, err = write(s, ctx, func(tx neo4j.ManagedTransaction) (struct{}, error) {
			// Duplicate keys first: then nothing is created at all.
			if err := duplicateKey(ctx, tx); err != nil {
				return struct{}{}, err
			}
			for _, stmt := range schemaStatements {
				if _, err := collect(ctx, tx, stmt, nil); err != nil {
					return struct{}{}, err
				}
			}
			return struct{}{}, nil
		})
	}
	if dup := s.duplicateKeys(ctx, err); dup != nil {
		s.refused.set(dup)
		return
	}
	var nerr *neo4j.Neo4jError
	switch {
	case err == nil:
		s.cfg.Logger.Info("neo4j ready; User.key uniqueness constraint and User.user_id index in place")
	case errors.As(err, &nerr) && strings.HasPrefix(nerr.Code, "Neo.ClientError.Security."):
		s.cfg.Logger.Warn("neo4j account may not create the User.key uniqueness constraint and the indexes on User; "+
			"create them once as an admin: "+strings.Join(schemaStatements, "; "), "code", nerr.Code)
	default:
		s.cfg.Logger.Error("creating the User.key uniqueness constraint failed", "error", err)
	}
	s.schemaReady.Store(true)
}

// Kind names the implementation.
func (s *Store) Kind() string { return "neo4j" }

// Close releases the connection pool.
func (s *Store) Close() error {
	s.once.Do(func() { close(s.closed) })
	return s.driver.Close(context.Background())
}

// Health runs a trivial read, past the fail-fast window: readiness must
// see the server come back.
func (s *Store) Health(ctx context.Context) error {
	err := s.ping(ctx)
	if err == nil {
		s.down.close()
	}
	return classify(err)
}

// ping runs the trivial read and returns the driver's own error.
func (s *Store) ping(ctx context.Context) error {
	s.warm(ctx)
	sess := s.session(ctx, neo4j.AccessModeRead)
	defer sess.Close(context.WithoutCancel(ctx))
	_, err := neo4j.ExecuteRead(ctx, sess, func(tx neo4j.ManagedTransaction) (struct{}, error) {
		_, err := collect(ctx, tx, stmtPing, nil)
		return struct{}{}, err
	}, neo4j.WithTxTimeout(s.cfg.TxTimeout))
	return err
}

// SchemaReady reports whether the start-up schema step has run; readiness
// waits for it so no write races the uniqueness constraint.
func (s *Store) SchemaReady(context.Context) error {
	if err := s.refused.get(); err != nil {
		return err
	}
	if !s.schemaReady.Load() {
		return schema.Unavailable("neo4j schema set-up has not run yet", time.Second, nil)
	}
	return nil
}

// userFields maps User node properties (the JSON names Amundsen uses for
// both) to the fields of u.
func userFields(u *schema.User) map[string]*string {
	return map[string]*string{
		"user_id": &u.UserID, "email": &u.Email, "first_name": &u.FirstName, "last_name": &u.LastName,
		"full_name": &u.FullName, "display_name": &u.DisplayName, "github_username": &u.GithubUsername,
		"team_name": &u.TeamName, "slack_id": &u.SlackID, "employee_type": &u.EmployeeType,
		"manager_fullname": &u.ManagerFullname, "manager_email": &u.ManagerEmail, "manager_id": &u.ManagerID,
		"role_name": &u.RoleName, "profile_url": &u.ProfileURL,
	}
}

// userFromRecord reads a user node as Amundsen does: missing user_id falls
// back to email, missing is_active means active, ” (databuilder's empty)
// is empty, the manager's name comes from MANAGE_BY when the node has none
// of its own, and other_key_values are the node's properties named in
// otherKeys (metadata's neo4j_proxy.py _build_user_from_record).
func userFromRecord(rec *neo4j.Record, otherKeys schema.OtherKeys) (schema.User, error) {
	raw, _ := rec.Get("user")
	props, ok := raw.(map[string]any)
	if !ok {
		return schema.User{}, fmt.Errorf("user record is %T, not a map", raw)
	}
	u := schema.User{IsActive: true}
	// Other writers store other types: databuilder's publisher reads its
	// CSV with pandas, so a digits-only team_name arrives as an integer,
	// which Amundsen's metadata service answers as its string.
	for name, dst := range userFields(&u) {
		if v, ok := schema.PropertyString(props[name]); ok {
			*dst = v
		}
	}
	if v, ok := props["is_active"].(bool); ok {
		u.IsActive = v
	}
	if u.UserID == "" {
		u.UserID = u.Email
	}
	u.NodeKey, _ = props["key"].(string)
	u.OtherKeyValues = otherKeys.Read(props)
	// Nodes written by earlier usersvc versions hold the entries as one
	// JSON-string property; they fill configured keys not yet properties.
	if okv, ok := props["other_key_values"].(string); ok && okv != "" {
		var legacy map[string]string
		_ = json.Unmarshal([]byte(okv), &legacy)
		u.OtherKeyValues = otherKeys.Legacy(u.OtherKeyValues, legacy)
	}
	if u.ManagerFullname == "" {
		u.ManagerFullname, _ = recordString(rec, "manager_fullname")
	}
	if u.ManagerEmail == "" {
		u.ManagerEmail, _ = recordString(rec, "manager_email")
	}
	return u, nil
}

func recordString(rec *neo4j.Record, key string) (string, bool) {
	v, _ := rec.Get(key)
	s, ok := v.(string)
	return s, ok
}

// GetUser returns the user node with the given key.
func (s *Store) GetUser(ctx context.Context, key string) (schema.User, error) {
	return query(s, ctx, stmtGetUser, map[string]any{"key": key}, func(recs []*neo4j.Record) (schema.User, error) {
		if len(recs) == 0 {
			return schema.User{}, schema.Errorf(schema.KindNotFound, "user_id %s not found", key)
		}
		return userFromRecord(recs[0], s.cfg.OtherKeys)
	})
}

// GetUserByUserID returns the node whose user_id property is userID.
func (s *Store) GetUserByUserID(ctx context.Context, userID string) (schema.User, error) {
	return query(s, ctx, stmtGetUserByUserID, map[string]any{"user_id": userID}, func(recs []*neo4j.Record) (schema.User, error) {
		if len(recs) == 0 {
			return schema.User{}, schema.Errorf(schema.KindNotFound, "user_id %s not found", userID)
		}
		return userFromRecord(recs[0], s.cfg.OtherKeys)
	})
}

// LookupUser reads the node keyed key and the node whose user_id is key in
// one statement, and picks between them by proxy.PickNode.
func (s *Store) LookupUser(ctx context.Context, key string) (schema.User, error) {
	return query(s, ctx, stmtLookupUser, map[string]any{"key": key}, func(recs []*neo4j.Record) (schema.User, error) {
		var found [2]schema.User
		errs := [2]error{schema.Errorf(schema.KindNotFound, "user_id %s not found", key), schema.Errorf(schema.KindNotFound, "user_id %s not found", key)}
		for _, rec := range recs {
			rank, _ := valueOrNil(rec, "rank").(int64)
			if rank != 0 && rank != 1 {
				return schema.User{}, fmt.Errorf("lookup row of rank %d", rank)
			}
			found[rank], errs[rank] = userFromRecord(rec, s.cfg.OtherKeys)
		}
		return proxy.PickNode(found[0], errs[0], found[1], errs[1])
	})
}

// UserKeysByDirectoryID returns the keys of the nodes whose okta_id is id.
func (s *Store) UserKeysByDirectoryID(ctx context.Context, id string) ([]string, error) {
	return s.readKeys(ctx, stmtUserKeysByDirectoryID, map[string]any{"id": id})
}

// readKeys runs a read statement whose rows hold a user key each and
// returns the keys, in the statement's order.
func (s *Store) readKeys(ctx context.Context, stmt string, params map[string]any) ([]string, error) {
	return query(s, ctx, stmt, params, func(recs []*neo4j.Record) ([]string, error) {
		return keysOf(recs), nil
	})
}

// keysOf takes the "key" column of rows.
func keysOf(recs []*neo4j.Record) []string {
	keys := make([]string, 0, len(recs))
	for _, rec := range recs {
		if k, ok := valueOrNil(rec, "key").(string); ok {
			keys = append(keys, k)
		}
	}
	return keys
}

// MoveUser re-keys the node from → to in one transaction.
func (s *Store) MoveUser(ctx context.Context, from, to string) error {
	if from == "" || to == "" {
		return schema.Errorf(schema.KindInvalid, "%s", schema.MsgNoUserID)
	}
	if from == to {
		return nil
	}
	_, err := write(s, ctx, func(tx neo4j.ManagedTransaction) (struct{}, error) {
		recs, err := collect(ctx, tx, stmtCountUserKey, map[string]any{"key": to})
		if err != nil {
			return struct{}{}, err
		}
		if n, _ := valueOrNil(recs[0], "n").(int64); n > 0 {
			return struct{}{}, schema.Errorf(schema.KindConflict, "user_id %s: another node is keyed %s already; nothing was moved", from, to)
		}
		recs, err = collect(ctx, tx, stmtMoveUser, map[string]any{"from": from, "to": to})
		if err != nil {
			var nerr *neo4j.Neo4jError
			if errors.As(err, &nerr) && nerr.Code == "Neo.ClientError.Schema.ConstraintValidationFailed" {
				// Another writer created the node keyed to meanwhile.
				return struct{}{}, schema.Errorf(schema.KindConflict, "user_id %s: another node is keyed %s already; nothing was moved", from, to)
			}
			return struct{}{}, err
		}
		if n, _ := valueOrNil(recs[0], "moved").(int64); n == 0 {
			return struct{}{}, schema.Errorf(schema.KindNotFound, "user_id %s not found", from)
		}
		return struct{}{}, nil
	})
	if err != nil {
		return fmt.Errorf("move user %s to %s: %w", from, to, err)
	}
	return nil
}

// GetUsers returns every active user.
func (s *Store) GetUsers(ctx context.Context) ([]schema.User, error) {
	return query(s, ctx, stmtGetActiveUsers, nil, func(recs []*neo4j.Record) ([]schema.User, error) {
		users := make([]schema.User, 0, len(recs))
		for _, rec := range recs {
			u, err := userFromRecord(rec, s.cfg.OtherKeys)
			if err != nil {
				return nil, err
			}
			users = append(users, u)
		}
		return users, nil
	})
}

// CreateUpdateUser upserts u; empty values never replace stored ones.
func (s *Store) CreateUpdateUser(ctx context.Context, u schema.User) (schema.User, bool, error) {
	key, err := u.WriteKey()
	if err != nil {
		return schema.User{}, false, err
	}
	type result struct {
		user    schema.User
		created bool
	}
	res, err := write(s, ctx, func(tx neo4j.ManagedTransaction) (result, error) {
		derived := map[string]any{}
		for name, v := range u.DerivedValues() {
			derived[name] = v
		}
		props := map[string]any{}
		for name, v := range userFields(&u) {
			if _, ok := derived[name]; !ok && *v != "" {
				props[name] = *v
			}
		}
		// Each entry is its own node property, as databuilder writes extra
		// user fields and Amundsen's metadata reads them (USER_OTHER_KEYS).
		for name, v := range u.OtherKeyValues {
			if v != "" {
				props[name] = v
			}
		}
		recs, err := collect(ctx, tx, stmtUpsertUser, map[string]any{"key": key, "props": props, "derived": derived, "is_active": u.IsActive})
		if err != nil {
			return result{}, err
		}
		if len(recs) != 1 {
			return result{}, fmt.Errorf("upsert returned %d rows", len(recs))
		}
		stored, err := userFromRecord(recs[0], s.cfg.OtherKeys)
		if err != nil {
			return result{}, err
		}
		created, _ := recs[0].Get("created")
		return result{user: stored, created: created == true}, nil
	})
	return res.user, res.created, err
}

// GetUserResources returns the tables and dashboards the user follows or
// owns, sorted.
func (s *Store) GetUserResources(ctx context.Context, userKey string, rel schema.Relation) (schema.UserResources, error) {
	tablesStmt, ok1 := s.relations[relationStatementKey{OpList, rel, schema.Table}]
	dashStmt, ok2 := s.relations[relationStatementKey{OpList, rel, schema.Dashboard}]
	if !ok1 || !ok2 {
		return schema.UserResources{}, schema.Errorf(schema.KindInvalid, "relation %q has no resource listing", rel)
	}
	return read(s, ctx, func(tx neo4j.ManagedTransaction) (schema.UserResources, error) {
		res := schema.UserResources{Table: []schema.PopularTable{}, Dashboard: []schema.DashboardSummary{}}
		params := map[string]any{"user_key": userKey}
		recs, err := collect(ctx, tx, tablesStmt, params)
		if err != nil {
			return res, err
		}
		for _, rec := range recs {
			res.Table = append(res.Table, tableFromRecord(rec))
		}
		recs, err = collect(ctx, tx, dashStmt, params)
		if err != nil {
			return res, err
		}
		for _, rec := range recs {
			res.Dashboard = append(res.Dashboard, dashboardFromRecord(rec))
		}
		schema.SortTables(res.Table)
		schema.SortDashboards(res.Dashboard)
		return res, nil
	})
}

func tableFromRecord(rec *neo4j.Record) schema.PopularTable {
	t := schema.PopularTable{}
	t.Database, _ = recordString(rec, "database")
	t.Cluster, _ = recordString(rec, "cluster")
	t.Schema, _ = recordString(rec, "schema")
	t.Name, _ = recordString(rec, "name")
	// Verbatim, as Amundsen's _safe_get gives it: a Description node that
	// databuilder published empty is "", no Description node is null.
	if d, ok := recordString(rec, "description"); ok {
		t.Description = &d
	}
	return t
}

func dashboardFromRecord(rec *neo4j.Record) schema.DashboardSummary {
	d := schema.DashboardRecord{}
	d.Key, _ = recordString(rec, "uri")
	d.Cluster, _ = recordString(rec, "cluster")
	d.GroupName, _ = recordString(rec, "group_name")
	d.GroupURL, _ = recordString(rec, "group_url")
	d.Name, _ = recordString(rec, "name")
	d.URL, _ = recordString(rec, "url")
	d.Description, _ = recordString(rec, "description")
	switch ts := valueOrNil(rec, "last_successful_run_timestamp").(type) {
	case int64:
		d.LastSuccessfulRunTimestamp = &ts
	case float64:
		n := int64(ts)
		d.LastSuccessfulRunTimestamp = &n
	}
	return d.Summary()
}

// valueOrNil is the record's value for key, nil when the column is absent
// (callers type-switch on it, and nil matches no case).
func valueOrNil(rec *neo4j.Record, key string) any {
	v, _ := rec.Get(key)
	return v
}

// GetFrequentlyUsedTables returns the user's most read tables.
func (s *Store) GetFrequentlyUsedTables(ctx context.Context, userKey string) ([]schema.PopularTable, error) {
	return query(s, ctx, stmtFrequentlyUsedTables, map[string]any{"user_key": userKey}, func(recs []*neo4j.Record) ([]schema.PopularTable, error) {
		tables := make([]schema.PopularTable, 0, len(recs))
		for _, rec := range recs {
			tables = append(tables, tableFromRecord(rec))
		}
		return tables, nil
	})
}

// AddResourceRelation links user and resource in both directions, in one
// statement of one transaction.
func (s *Store) AddResourceRelation(ctx context.Context, userKey string, rel schema.Relation, t schema.ResourceType, resourceKey string) error {
	stmt, ok := s.relations[relationStatementKey{OpAdd, rel, t}]
	if !ok {
		return schema.Errorf(schema.KindInvalid, "relation %s to %s cannot be written", rel, t)
	}
	_, err := write(s, ctx, func(tx neo4j.ManagedTransaction) (struct{}, error) {
		recs, err := collect(ctx, tx, stmt, map[string]any{"user_key": userKey, "resource_key": resourceKey})
		if err != nil {
			return struct{}{}, err
		}
		if len(recs) == 0 {
			return struct{}{}, schema.Errorf(schema.KindNotFound, "%s %s not found", t, resourceKey)
		}
		return struct{}{}, nil
	})
	return err
}

// DeleteResourceRelation removes both directions, if present.
func (s *Store) DeleteResourceRelation(ctx context.Context, userKey string, rel schema.Relation, t schema.ResourceType, resourceKey string) error {
	stmt, ok := s.relations[relationStatementKey{OpDelete, rel, t}]
	if !ok {
		return schema.Errorf(schema.KindInvalid, "relation %s to %s cannot be written", rel, t)
	}
	_, err := write(s, ctx, func(tx neo4j.ManagedTransaction) (struct{}, error) {
		_, err := collect(ctx, tx, stmt, map[string]any{"user_key": userKey, "resource_key": resourceKey})
		return struct{}{}, err
	})
	return err
}

// UsersOfResource lists users with rel to the resource, read through the
// resource→user edges.
func (s *Store) UsersOfResource(ctx context.Context, t schema.ResourceType, resourceKey string, rel schema.Relation) ([]string, error) {
	stmt, ok := s.relations[relationStatementKey{OpUsers, rel, t}]
	if !ok {
		return nil, schema.Errorf(schema.KindInvalid, "relation %s to %s has no reverse edge", rel, t)
	}
	return query(s, ctx, stmt, map[string]any{"resource_key": resourceKey}, func(recs []*neo4j.Record) ([]string, error) {
		var keys []string
		for _, rec := range recs {
			k, _ := recordString(rec, "user_key")
			keys = append(keys, k)
		}
		return keys, nil
	})
}

// LoadCatalog writes resource nodes and read edges as databuilder would, in
// one transaction.
func (s *Store) LoadCatalog(ctx context.Context, c schema.Catalog) error {
	_, err := write(s, ctx, func(tx neo4j.ManagedTransaction) (struct{}, error) {
		for _, t := range c.Tables {
			if err := schema.CheckID("table key", t.Key); err != nil {
				return struct{}{}, err
			}
			if _, err := collect(ctx, tx, stmtLoadTable, map[string]any{
				"database": t.Database, "cluster": t.Cluster, "schema": t.Schema,
				"key": t.Key, "name": t.Name, "description": t.Description,
			}); err != nil {
				return struct{}{}, err
			}
		}
		for _, d := range c.Dashboards {
			if err := schema.CheckID("dashboard key", d.Key); err != nil {
				return struct{}{}, err
			}
			var ts any
			if d.LastSuccessfulRunTimestamp != nil {
				ts = *d.LastSuccessfulRunTimestamp
			}
			if _, err := collect(ctx, tx, stmtLoadDashboard, map[string]any{
				"product": d.Summary().Product, "cluster": d.Cluster, "group_name": d.GroupName, "group_url": d.GroupURL,
				"key": d.Key, "name": d.Name, "url": d.URL, "description": d.Description, "last_successful_run_timestamp": ts,
			}); err != nil {
				return struct{}{}, err
			}
		}
		for _, f := range c.Features {
			if err := schema.CheckID("feature key", f.Key); err != nil {
				return struct{}{}, err
			}
			if _, err := collect(ctx, tx, stmtLoadFeature, map[string]any{
				"key": f.Key, "name": f.Name, "feature_group": f.Group, "version": f.Version,
			}); err != nil {
				return struct{}{}, err
			}
		}
		for _, r := range c.Reads {
			key := schema.UserKey(r.User)
			if err := schema.CheckID("read user", key); err != nil {
				return struct{}{}, err
			}
			recs, err := collect(ctx, tx, stmtLoadRead, map[string]any{"table_key": r.Table, "user_key": key, "read_count": r.ReadCount, "published_tag": r.Tag()})
			if err != nil {
				return struct{}{}, err
			}
			if len(recs) == 0 {
				return struct{}{}, schema.Errorf(schema.KindNotFound, "table %s not found", r.Table)
			}
		}
		return struct{}{}, nil
	})
	return err
}

func collect(ctx context.Context, tx neo4j.ManagedTransaction, stmt string, params map[string]any) ([]*neo4j.Record, error) {
	res, err := tx.Run(ctx, stmt, params)
	if err != nil {
		return nil, err
	}
	return res.Collect(ctx)
}

func (s *Store) session(ctx context.Context, mode neo4j.AccessMode) neo4j.SessionWithContext {
	return s.driver.NewSession(ctx, neo4j.SessionConfig{DatabaseName: s.cfg.Database, AccessMode: mode})
}

// read and write run work in a managed transaction, which the driver retries
// on transient failures, and classify what still fails.
func read[T any](s *Store, ctx context.Context, work func(neo4j.ManagedTransaction) (T, error)) (T, error) {
	return run(s, ctx, neo4j.AccessModeRead, work)
}

func write[T any](s *Store, ctx context.Context, work func(neo4j.ManagedTransaction) (T, error)) (T, error) {
	return run(s, ctx, neo4j.AccessModeWrite, work)
}

// run is read and write: fail fast while the server is known to be down
// (breaker.go), else one managed transaction.
func run[T any](s *Store, ctx context.Context, mode neo4j.AccessMode, work func(neo4j.ManagedTransaction) (T, error)) (T, error) {
	var zero T
	if err := s.KnownDown(); err != nil {
		return zero, err
	}
	s.warm(ctx)
	return managed(s, ctx, mode, work, 0, "")
}

// managed runs work in one managed transaction; tried and lastCode carry an
// earlier attempt of the same work (query's auto-commit one) into the
// retry record.
func managed[T any](s *Store, ctx context.Context, mode neo4j.AccessMode, work func(neo4j.ManagedTransaction) (T, error), tried int, lastCode string) (T, error) {
	sess := s.session(ctx, mode)
	defer sess.Close(context.WithoutCancel(ctx))
	execute := neo4j.ExecuteRead[T]
	if mode == neo4j.AccessModeWrite {
		execute = neo4j.ExecuteWrite[T]
	}
	// The driver retries transient failures (a deadlock, a leader switch)
	// silently; operators see them here, and tests count them.
	attempts := tried
	counted := func(tx neo4j.ManagedTransaction) (T, error) {
		attempts++
		v, err := work(tx)
		if code := neo4jCode(err); code != "" {
			lastCode = code
		}
		return v, err
	}
	v, err := execute(ctx, sess, counted, neo4j.WithTxTimeout(s.cfg.TxTimeout))
	if attempts > 1 {
		s.cfg.Logger.WarnContext(ctx, "neo4j transaction retried", "attempts", attempts,
			"retried_for", lastCode, "succeeded", err == nil)
	}
	return v, classify(err)
}

// query runs one read statement as an auto-commit transaction and decodes
// its rows: one round trip, RUN and PULL pipelined, where a managed read
// transaction takes two (BEGIN, RUN and PULL; then COMMIT). Issue 31
// measured GetUser at 0.85–1.09 ms this way against 1.49–1.57 ms managed,
// on loopback. The driver does not retry auto-commit transactions, so a
// retryable failure (a pooled connection the server has closed, a leader
// switch) runs the statement again as a managed read transaction, which it
// does retry.
func query[T any](s *Store, ctx context.Context, stmt string, params map[string]any, decode func([]*neo4j.Record) (T, error)) (T, error) {
	var zero T
	if err := s.KnownDown(); err != nil {
		return zero, err
	}
	s.warm(ctx)
	recs, err := autoCommit(s, ctx, stmt, params)
	if err == nil {
		v, err := decode(recs)
		return v, classify(err)
	}
	if !neo4j.IsRetryable(err) || ctx.Err() != nil {
		return zero, classify(err)
	}
	return managed(s, ctx, neo4j.AccessModeRead, func(tx neo4j.ManagedTransaction) (T, error) {
		recs, err := collect(ctx, tx, stmt, params)
		if err != nil {
			return zero, err
		}
		return decode(recs)
	}, 1, neo4jCode(err))
}

func autoCommit(s *Store, ctx context.Context, stmt string, params map[string]any) ([]*neo4j.Record, error) {
	sess := s.session(ctx, neo4j.AccessModeRead)
	defer sess.Close(context.WithoutCancel(ctx))
	res, err := sess.Run(ctx, stmt, params, neo4j.WithTxTimeout(s.cfg.TxTimeout))
	if err != nil {
		return nil, err
	}
	return res.Collect(ctx)
}

// neo4jCode is the server's error code in err, "" when it holds none.
func neo4jCode(err error) string {
	var nerr *neo4j.Neo4jError
	if errors.As(err, &nerr) {
		return nerr.Code
	}
	return ""
}

// classify keeps domain errors and turns everything the database or the
// network did into KindUnavailable (503), except statement errors, which
// are usersvc bugs (500).
func classify(err error) error {
	if err == nil {
		return nil
	}
	var domain *schema.Error
	if errors.As(err, &domain) {
		return err
	}
	var nerr *neo4j.Neo4jError
	if errors.As(err, &nerr) {
		switch {
		case strings.HasPrefix(nerr.Code, "Neo.ClientError.Statement."), strings.HasPrefix(nerr.Code, "Neo.ClientError.Schema."):
			return fmt.Errorf("neo4j statement failed: %w", err)
		case strings.HasPrefix(nerr.Code, "Neo.ClientError.Security."):
			return schema.Unavailable("the graph store refused usersvc's credentials", 30*time.Second, err)
		}
		return schema.Unavailable("the graph store is unavailable", time.Second, err)
	}
	var usage *neo4j.UsageError
	if errors.As(err, &usage) {
		return fmt.Errorf("neo4j driver usage: %w", err)
	}
	// Connectivity errors, exhausted retries, timeouts and anything else the
	// network or server did: a retry may succeed.
	return schema.Unavailable("the graph store is unavailable", time.Second, err)
}

// GetSyncState returns the saved sync state of name.
func (s *Store) GetSyncState(ctx context.Context, name string) (proxy.SyncState, error) {
	return read(s, ctx, func(tx neo4j.ManagedTransaction) (proxy.SyncState, error) {
		recs, err := collect(ctx, tx, stmtGetSyncState, map[string]any{"name": name})
		if err != nil || len(recs) == 0 {
			return proxy.SyncState{}, err
		}
		var st proxy.SyncState
		if ms, ok := valueOrNil(recs[0], "watermark_ms").(int64); ok {
			st.Watermark = time.UnixMilli(ms).UTC()
		}
		if ms, ok := valueOrNil(recs[0], "updated_ms").(int64); ok {
			st.UpdatedAt = time.UnixMilli(ms).UTC()
		}
		st.Complete, _ = valueOrNil(recs[0], "complete").(bool)
		st.Cursor, _ = valueOrNil(recs[0], "cursor").(string)
		return st, nil
	})
}

// PutSyncState saves the sync state of name.
func (s *Store) PutSyncState(ctx context.Context, name string, st proxy.SyncState) error {
	_, err := write(s, ctx, func(tx neo4j.ManagedTransaction) (struct{}, error) {
		_, err := collect(ctx, tx, stmtPutSyncState, map[string]any{
			"name": name, "watermark_ms": st.Watermark.UnixMilli(), "complete": st.Complete, "updated_ms": st.UpdatedAt.UnixMilli(),
			"cursor": st.Cursor,
		})
		return struct{}{}, err
	})
	return err
}

// AcquireLease takes or renews the lease: one transaction that first takes
// the lease node's write lock, then reads the expiry and decides.
func (s *Store) AcquireLease(ctx context.Context, name, owner string, ttl time.Duration) (bool, error) {
	return write(s, ctx, func(tx neo4j.ManagedTransaction) (bool, error) {
		if _, err := collect(ctx, tx, stmtLockLease, map[string]any{"name": name}); err != nil {
			return false, err
		}
		// Read the clock once the lock is held: waiting for it must not
		// make the new expiry stale.
		now := time.Now()
		recs, err := collect(ctx, tx, stmtAcquireLease, map[string]any{
			"name": name, "owner": owner, "now_ms": now.UnixMilli(), "expires_ms": now.Add(ttl).UnixMilli(),
		})
		if err != nil || len(recs) != 1 {
			return false, err
		}
		acquired, _ := valueOrNil(recs[0], "acquired").(bool)
		return acquired, nil
	})
}

// ReleaseLease drops the lease if owner holds it.
func (s *Store) ReleaseLease(ctx context.Context, name, owner string) error {
	_, err := write(s, ctx, func(tx neo4j.ManagedTransaction) (struct{}, error) {
		_, err := collect(ctx, tx, stmtReleaseLease, map[string]any{"name": name, "owner": owner})
		return struct{}{}, err
	})
	return err
}
