package auth

import (
	"container/list"
	"crypto/sha256"
	"sync"
	"time"

	"github.com/usersvc/usersvc/schema"
)

// tokenCache remembers verified tokens so a warm request does no RSA work.
// Keys are SHA-256 digests, so the cache never holds a usable token; entries
// die at the token's exp or after maxAge, whichever comes first; the least
// recently used entry goes when the cache is full.
type tokenCache struct {
	mu      sync.Mutex
	max     int
	maxAge  time.Duration
	entries map[[sha256.Size]byte]*list.Element
	order   *list.List // front = most recently used
}

type cacheEntry struct {
	key       [sha256.Size]byte
	principal schema.Principal
	expires   time.Time
}

func newTokenCache(max int, maxAge time.Duration) *tokenCache {
	return &tokenCache{
		max:     max,
		maxAge:  maxAge,
		entries: make(map[[sha256.Size]byte]*list.Element, max),
		order:   list.New(),
	}
}

func (c *tokenCache) get(jwt string, now time.Time) (schema.Principal, bool) {
	if c.max <= 0 {
		return schema.Principal{}, false
	}
	key := sha256.Sum256([]byte(jwt))
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[key]
	if !ok {
		return schema.Principal{}, false
	}
	e := el.Value.(*cacheEntry)
	if !now.Before(e.expires) {
		c.order.Remove(el)
		delete(c.entries, key)
		return schema.Principal{}, false
	}
	c.order.MoveToFront(el)
	return e.principal, true
}

func (c *tokenCache) put(jwt string, p schema.Principal, exp, now time.Time) {
	if c.max <= 0 {
		return
	}
	if limit := now.Add(c.maxAge); exp.After(limit) {
		exp = limit
	}
	if !now.Before(exp) {
		return
	}
	key := sha256.Sum256([]byte(jwt))
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[key]; ok {
		el.Value.(*cacheEntry).expires = exp
		c.order.MoveToFront(el)
		return
	}
	for c.order.Len() >= c.max {
		oldest := c.order.Back()
		c.order.Remove(oldest)
		delete(c.entries, oldest.Value.(*cacheEntry).key)
	}
	c.entries[key] = c.order.PushFront(&cacheEntry{key: key, principal: p, expires: exp})
}

func (c *tokenCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
