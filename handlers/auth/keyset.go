package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/sync/singleflight"
)

var (
	errUnknownKey   = errors.New("no key with the token's kid")
	errBadSignature = errors.New("signature does not verify")
)

// maxJWKSBytes bounds what a provider (or an attacker in its place) can make
// us read.
const maxJWKSBytes = 1 << 20

// keySet is an oidc.KeySet over the provider's JWKS that, unlike go-oidc's
// RemoteKeySet, refetches on an unknown kid at most once per minRefresh: a
// flood of random kids cannot hammer the provider. Keys once loaded keep
// verifying while the provider is down.
type keySet struct {
	url        string
	client     *http.Client
	minRefresh time.Duration
	now        func() time.Time

	mu        sync.RWMutex
	keys      map[string]jose.JSONWebKey
	lastFetch time.Time

	group   singleflight.Group
	observe func(ok bool) // told about every fetch; may be nil
}

// VerifySignature implements oidc.KeySet.
func (k *keySet) VerifySignature(ctx context.Context, jwt string) ([]byte, error) {
	payload, err := k.verify(ctx, jwt)
	if err != nil {
		reportKeyError(ctx, err)
	}
	return payload, err
}

func (k *keySet) verify(ctx context.Context, jwt string) ([]byte, error) {
	algs := make([]jose.SignatureAlgorithm, len(allowedAlgorithms))
	for i, a := range allowedAlgorithms {
		algs[i] = jose.SignatureAlgorithm(a)
	}
	jws, err := jose.ParseSignedCompact(jwt, algs) // a JWT is compact serialisation (RFC 7519 §7.2)
	if err != nil {
		return nil, fmt.Errorf("parse jws: %w", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, errors.New("want exactly one signature")
	}
	header := jws.Signatures[0].Header
	key, ok := k.key(header.KeyID)
	if !ok {
		if err := k.refresh(ctx); err != nil {
			return nil, fmt.Errorf("%w: %w", errUnknownKey, err)
		}
		if key, ok = k.key(header.KeyID); !ok {
			return nil, errUnknownKey
		}
	}
	// A JWK that names its algorithm may only verify that algorithm.
	if key.Algorithm != "" && key.Algorithm != header.Algorithm {
		return nil, errBadSignature
	}
	payload, err := jws.Verify(key.Key)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errBadSignature, err)
	}
	return payload, nil
}

func (k *keySet) key(kid string) (jose.JSONWebKey, bool) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	key, ok := k.keys[kid]
	return key, ok
}

// loaded reports whether a key set has ever been fetched successfully.
func (k *keySet) loaded() bool {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.keys != nil
}

var errRefreshLimited = errors.New("key set refreshed recently")

// refresh refetches the key set unless it was fetched (or tried) within
// minRefresh. Concurrent callers share one fetch.
func (k *keySet) refresh(ctx context.Context) error {
	k.mu.RLock()
	recent := !k.lastFetch.IsZero() && k.now().Sub(k.lastFetch) < k.minRefresh
	k.mu.RUnlock()
	if recent {
		return errRefreshLimited
	}
	_, err, _ := k.group.Do("jwks", func() (any, error) {
		// Re-check under the flight: a fetch that just finished counts.
		k.mu.RLock()
		recent := !k.lastFetch.IsZero() && k.now().Sub(k.lastFetch) < k.minRefresh
		k.mu.RUnlock()
		if recent {
			return nil, nil
		}
		return nil, k.fetch(context.WithoutCancel(ctx))
	})
	return err
}

// fetch loads the JWKS. A failed fetch still counts against minRefresh and
// keeps the previous keys.
func (k *keySet) fetch(ctx context.Context) error {
	keys, err := k.download(ctx)
	if k.observe != nil {
		k.observe(err == nil)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.lastFetch = k.now()
	if err != nil {
		return err
	}
	k.keys = keys
	return nil
}

func (k *keySet) download(ctx context.Context) (map[string]jose.JSONWebKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.url, nil)
	if err != nil {
		return nil, fmt.Errorf("jwks request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := k.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch jwks: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch jwks: status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes))
	if err != nil {
		return nil, fmt.Errorf("read jwks: %w", err)
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("decode jwks: %w", err)
	}
	keys := make(map[string]jose.JSONWebKey, len(set.Keys))
	for _, raw := range set.Keys {
		// One key of a type go-jose cannot read must not void the others.
		var key jose.JSONWebKey
		if err := key.UnmarshalJSON(raw); err != nil {
			continue
		}
		// Only public signing keys with an id can match our kid-bearing
		// tokens; encryption keys and symmetric keys are ignored.
		if key.KeyID == "" || !key.IsPublic() || (key.Use != "" && key.Use != "sig") {
			continue
		}
		keys[key.KeyID] = key
	}
	if len(keys) == 0 {
		return nil, errors.New("jwks holds no usable signing key")
	}
	return keys, nil
}
