package neo4j

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/neo4j/neo4j-go-driver/v5/neo4j"
)

// DuplicateKeyError means the graph holds several User nodes under one key
// (written before the uniqueness constraint existed, by another tool or an
// older usersvc). The constraint cannot be created over them, and MERGE on
// that key would update every one of them, so the store refuses the graph
// rather than serve one person from two nodes.
type DuplicateKeyError struct {
	Key   string
	Nodes int64
}

func (e *DuplicateKeyError) Error() string {
	return fmt.Sprintf("the neo4j graph holds %d User nodes with key %q, and User.key must be unique: "+
		"merge or delete the extra nodes, then start usersvc again (nothing was changed)", e.Nodes, e.Key)
}

// duplicateKey runs stmtDuplicateUserKey in tx: a *DuplicateKeyError for
// the first key several nodes hold, nil when there is none.
func duplicateKey(ctx context.Context, tx neo4j.ManagedTransaction) error {
	recs, err := collect(ctx, tx, stmtDuplicateUserKey, nil)
	if err != nil || len(recs) == 0 {
		return err
	}
	key, _ := recordString(recs[0], "key")
	nodes, _ := valueOrNil(recs[0], "nodes").(int64)
	return &DuplicateKeyError{Key: key, Nodes: nodes}
}

// duplicateKeys tells whether the schema step failed with err because of
// duplicate keys: found by the check that runs first, or written between
// that check and the constraint (Neo4j then refuses the constraint; the
// check, run again, names the key).
func (s *Store) duplicateKeys(ctx context.Context, err error) *DuplicateKeyError {
	var dup *DuplicateKeyError
	if errors.As(err, &dup) {
		return dup
	}
	var nerr *neo4j.Neo4jError
	if !errors.As(err, &nerr) || !strings.HasSuffix(nerr.Code, ".Schema.ConstraintCreationFailed") {
		return nil
	}
	_, err = read(s, ctx, func(tx neo4j.ManagedTransaction) (struct{}, error) {
		return struct{}{}, duplicateKey(ctx, tx)
	})
	if errors.As(err, &dup) {
		return dup
	}
	return nil
}

// refusal holds why the store refuses its graph; the zero value holds none.
type refusal struct {
	mu  sync.Mutex
	err error
	ch  chan error // made on first use, delivers err once
}

func (r *refusal) channel() chan error {
	if r.ch == nil {
		r.ch = make(chan error, 1)
	}
	return r.ch
}

func (r *refusal) set(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err == nil {
		r.err = err
		r.channel() <- err
	}
}

func (r *refusal) get() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// Refused delivers, once, why the store refuses the graph it was given (a
// *DuplicateKeyError, found by the start-up schema step): the server exits
// on it. SchemaReady keeps answering that error.
func (s *Store) Refused() <-chan error {
	s.refused.mu.Lock()
	defer s.refused.mu.Unlock()
	return s.refused.channel()
}
