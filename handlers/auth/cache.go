package auth

import (
	"crypto/sha256"
	"time"
	"unsafe"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/usersvc/usersvc/schema"
)

// tokenCache remembers verified tokens so a warm request does no RSA work.
// Keys are SHA-256 digests, so the cache never holds a usable token; entries
// die at the token's exp or after maxAge, whichever comes first; the least
// recently used entry goes when the cache is full.
type tokenCache struct {
	entries *lru.Cache[[sha256.Size]byte, cacheEntry]
	maxAge  time.Duration
}

type cacheEntry struct {
	principal schema.Principal
	expires   time.Time
}

// newTokenCache returns a cache of size entries; size <= 0 disables it.
func newTokenCache(size int, maxAge time.Duration) *tokenCache {
	c := &tokenCache{maxAge: maxAge}
	if size > 0 {
		// lru.New fails only for a non-positive size.
		c.entries, _ = lru.New[[sha256.Size]byte, cacheEntry](size)
	}
	return c
}

// digest hashes the token without copying it (a token is up to 8 KiB and
// this runs on every request): SHA-256 only reads its input, so viewing the
// string's bytes in place is safe.
func digest(jwt string) [sha256.Size]byte {
	return sha256.Sum256(unsafe.Slice(unsafe.StringData(jwt), len(jwt)))
}

func (c *tokenCache) get(jwt string, now time.Time) (schema.Principal, bool) {
	if c.entries == nil {
		return schema.Principal{}, false
	}
	key := digest(jwt)
	e, ok := c.entries.Get(key)
	if !ok {
		return schema.Principal{}, false
	}
	if !now.Before(e.expires) {
		c.entries.Remove(key)
		return schema.Principal{}, false
	}
	return e.principal, true
}

func (c *tokenCache) put(jwt string, p schema.Principal, exp, now time.Time) {
	if c.entries == nil {
		return
	}
	if limit := now.Add(c.maxAge); exp.After(limit) {
		exp = limit
	}
	if !now.Before(exp) {
		return
	}
	c.entries.Add(digest(jwt), cacheEntry{principal: p, expires: exp})
}

func (c *tokenCache) len() int {
	if c.entries == nil {
		return 0
	}
	return c.entries.Len()
}
