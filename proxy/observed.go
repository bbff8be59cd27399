package proxy

import (
	"context"
	"time"

	"github.com/usersvc/usersvc/schema"
)

// Observer is told how long each store operation took and how it ended.
type Observer interface {
	StoreOperation(op string, elapsed time.Duration, err error)
}

// Observed wraps s so that every call is reported to obs. The wrapper is a
// UserIndex too, whatever s is: its UserIndex calls reach s when s is one,
// and otherwise fail with KindUnavailable (the request is not at fault: the
// configured store cannot serve it), reported like any other call.
// SupportsUserIndex tells the two apart up front.
func Observed(s Store, obs Observer) Store { return observed{s: s, obs: obs} }

// SupportsUserIndex reports whether s serves UserIndex calls: s is a
// UserIndex and, when s is Observed, so is the store it wraps.
func SupportsUserIndex(s Store) bool {
	if o, ok := s.(observed); ok {
		s = o.s
	}
	_, ok := s.(UserIndex)
	return ok
}

type observed struct {
	s   Store
	obs Observer
}

var _ UserIndex = observed{}

// KnownDown passes the wrapped store's fail-fast answer on (FailFast).
func (o observed) KnownDown() error {
	if f, ok := o.s.(FailFast); ok {
		return f.KnownDown()
	}
	return nil
}

// timed runs one store call and reports it.
func timed[T any](o observed, op string, call func() (T, error)) (T, error) {
	start := time.Now()
	v, err := call()
	o.obs.StoreOperation(op, time.Since(start), err)
	return v, err
}

func (o observed) GetUser(ctx context.Context, key string) (schema.User, error) {
	return timed(o, "get_user", func() (schema.User, error) { return o.s.GetUser(ctx, key) })
}

func (o observed) GetUserByUserID(ctx context.Context, userID string) (schema.User, error) {
	return timed(o, "get_user_by_user_id", func() (schema.User, error) { return o.s.GetUserByUserID(ctx, userID) })
}

func (o observed) LookupUser(ctx context.Context, key string) (schema.User, error) {
	return timed(o, "lookup_user", func() (schema.User, error) { return o.s.LookupUser(ctx, key) })
}

func (o observed) GetUsers(ctx context.Context) ([]schema.User, error) {
	return timed(o, "get_users", func() ([]schema.User, error) { return o.s.GetUsers(ctx) })
}

func (o observed) UserKeysByDirectoryID(ctx context.Context, id string) ([]string, error) {
	return timed(o, "user_keys_by_directory_id", func() ([]string, error) { return o.s.UserKeysByDirectoryID(ctx, id) })
}

func (o observed) MoveUser(ctx context.Context, from, to string) error {
	_, err := timed(o, "move_user", func() (struct{}, error) { return struct{}{}, o.s.MoveUser(ctx, from, to) })
	return err
}

func (o observed) CreateUpdateUser(ctx context.Context, u schema.User) (schema.User, bool, error) {
	type result struct {
		user    schema.User
		created bool
	}
	r, err := timed(o, "create_update_user", func() (result, error) {
		stored, created, err := o.s.CreateUpdateUser(ctx, u)
		return result{stored, created}, err
	})
	return r.user, r.created, err
}

func (o observed) GetUserResources(ctx context.Context, userKey string, rel schema.Relation) (schema.UserResources, error) {
	return timed(o, "get_user_resources", func() (schema.UserResources, error) { return o.s.GetUserResources(ctx, userKey, rel) })
}

func (o observed) GetFrequentlyUsedTables(ctx context.Context, userKey string) ([]schema.PopularTable, error) {
	return timed(o, "get_frequently_used_tables", func() ([]schema.PopularTable, error) { return o.s.GetFrequentlyUsedTables(ctx, userKey) })
}

func (o observed) AddResourceRelation(ctx context.Context, userKey string, rel schema.Relation, t schema.ResourceType, key string) error {
	_, err := timed(o, "add_resource_relation", func() (struct{}, error) {
		return struct{}{}, o.s.AddResourceRelation(ctx, userKey, rel, t, key)
	})
	return err
}

func (o observed) DeleteResourceRelation(ctx context.Context, userKey string, rel schema.Relation, t schema.ResourceType, key string) error {
	_, err := timed(o, "delete_resource_relation", func() (struct{}, error) {
		return struct{}{}, o.s.DeleteResourceRelation(ctx, userKey, rel, t, key)
	})
	return err
}

func (o observed) Health(ctx context.Context) error {
	_, err := timed(o, "health", func() (struct{}, error) { return struct{}{}, o.s.Health(ctx) })
	return err
}

func (o observed) Kind() string { return o.s.Kind() }
func (o observed) Close() error { return o.s.Close() }

// userIndex is the wrapped store's UserIndex, or the error every
// UserIndex call answers when it has none.
func (o observed) userIndex() (UserIndex, error) {
	if ix, ok := o.s.(UserIndex); ok {
		return ix, nil
	}
	return nil, schema.Errorf(schema.KindUnavailable, "the %s store does not support the user index", o.s.Kind())
}

func (o observed) UserKeysByProperty(ctx context.Context, name, value string) ([]string, error) {
	return timed(o, "user_keys_by_property", func() ([]string, error) {
		ix, err := o.userIndex()
		if err != nil {
			return nil, err
		}
		return ix.UserKeysByProperty(ctx, name, value)
	})
}

func (o observed) UserProperties(ctx context.Context, key string, names ...string) (map[string]string, error) {
	return timed(o, "user_properties", func() (map[string]string, error) {
		ix, err := o.userIndex()
		if err != nil {
			return nil, err
		}
		return ix.UserProperties(ctx, key, names...)
	})
}

func (o observed) SetUserPropertyIfAbsent(ctx context.Context, key, name, value string) (string, error) {
	return timed(o, "set_user_property_if_absent", func() (string, error) {
		ix, err := o.userIndex()
		if err != nil {
			return "", err
		}
		return ix.SetUserPropertyIfAbsent(ctx, key, name, value)
	})
}

func (o observed) PageUserKeys(ctx context.Context, offset, limit int) ([]string, int, error) {
	return o.page("page_user_keys", func(ix UserIndex) ([]string, int, error) { return ix.PageUserKeys(ctx, offset, limit) })
}

func (o observed) PageSCIMUserKeys(ctx context.Context, offset, limit int) ([]string, int, error) {
	return o.page("page_scim_user_keys", func(ix UserIndex) ([]string, int, error) { return ix.PageSCIMUserKeys(ctx, offset, limit) })
}

// page times one paging call of the user index.
func (o observed) page(op string, call func(UserIndex) ([]string, int, error)) ([]string, int, error) {
	type page struct {
		keys  []string
		total int
	}
	p, err := timed(o, op, func() (page, error) {
		ix, err := o.userIndex()
		if err != nil {
			return page{}, err
		}
		keys, total, err := call(ix)
		return page{keys, total}, err
	})
	return p.keys, p.total, err
}

func (o observed) ClearUserProperties(ctx context.Context, key string, names ...string) error {
	_, err := timed(o, "clear_user_properties", func() (struct{}, error) {
		ix, err := o.userIndex()
		if err != nil {
			return struct{}{}, err
		}
		return struct{}{}, ix.ClearUserProperties(ctx, key, names...)
	})
	return err
}
