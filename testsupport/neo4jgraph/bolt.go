package neo4jgraph

import (
	"errors"

	"github.com/usersvc/usersvc/testsupport/boltserver"
)

// Executor serves the graph through the Bolt test server.
func (g *Graph) Executor() boltserver.Executor { return executor{g} }

type executor struct{ g *Graph }

func (e executor) Begin(write bool, _ string) (boltserver.Tx, error) {
	return boltTx{e.g.Begin(write)}, nil
}

type boltTx struct{ tx *Tx }

func (t boltTx) Run(query string, params map[string]any) ([]string, [][]any, error) {
	res, err := t.tx.Run(query, params)
	var gerr *Error
	if errors.As(err, &gerr) {
		return nil, nil, &boltserver.Failure{Code: gerr.Code, Message: gerr.Message}
	}
	return res.Keys, res.Records, err
}

func (t boltTx) Commit() error { t.tx.Commit(); return nil }
func (t boltTx) Rollback()     { t.tx.Rollback() }
