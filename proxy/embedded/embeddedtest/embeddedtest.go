// Package embeddedtest opens embedded stores for tests: a fresh file in the
// test's temporary directory, closed by t.Cleanup.
package embeddedtest

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/usersvc/usersvc/proxy/embedded"
	"github.com/usersvc/usersvc/proxy/proxytest"
)

// WithCatalog opens a fresh store holding proxytest.Catalog(): the tables,
// dashboards and features the handler and resolution tests relate users to.
func WithCatalog(t testing.TB) *embedded.Store {
	t.Helper()
	store, err := embedded.Open(filepath.Join(t.TempDir(), "usersvc.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	if err := store.LoadCatalog(context.Background(), proxytest.Catalog()); err != nil {
		t.Fatal(err)
	}
	return store
}
