package auth

import (
	"crypto/sha256"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// refusalCache remembers introspection answers that refused a token (not
// active, or active but not for us) for the negative TTL, so a client
// retrying a dead token costs one call. Keys are token digests, like the
// token cache's.
type refusalCache struct {
	entries *lru.Cache[[sha256.Size]byte, refusalEntry]
}

type refusalEntry struct {
	err     *Error
	expires time.Time
}

// newRefusalCache returns a cache of size entries; size <= 0 disables it.
func newRefusalCache(size int) *refusalCache {
	c := &refusalCache{}
	if size > 0 {
		c.entries, _ = lru.New[[sha256.Size]byte, refusalEntry](size)
	}
	return c
}

func (c *refusalCache) get(key [sha256.Size]byte, now time.Time) (*Error, bool) {
	if c.entries == nil {
		return nil, false
	}
	e, ok := c.entries.Get(key)
	if !ok {
		return nil, false
	}
	if !now.Before(e.expires) {
		c.entries.Remove(key)
		return nil, false
	}
	return e.err, true
}

func (c *refusalCache) put(key [sha256.Size]byte, err *Error, expires time.Time) {
	if c.entries != nil {
		c.entries.Add(key, refusalEntry{err: err, expires: expires})
	}
}
