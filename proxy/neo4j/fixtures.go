package neo4j

import (
	"context"

	"github.com/neo4j/neo4j-go-driver/v5/neo4j"
)

// RunFixture runs one of the Fixture* statements (test data that only tests
// write: databuilder-shaped users, a wipe of a throwaway database).
func (s *Store) RunFixture(ctx context.Context, name string, params map[string]any) error {
	var text string
	for _, st := range Statements() {
		if st.Name == name {
			text = st.Text
		}
	}
	if text == "" || len(name) < 7 || name[:7] != "Fixture" {
		return errUnknownFixture
	}
	_, err := write(s, ctx, func(tx neo4j.ManagedTransaction) (struct{}, error) {
		_, err := collect(ctx, tx, text, params)
		return struct{}{}, err
	})
	return err
}

type fixtureError string

func (e fixtureError) Error() string { return string(e) }

const errUnknownFixture = fixtureError("unknown fixture statement")
