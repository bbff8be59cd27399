package oidcuser

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/usersvc/usersvc/schema"
)

// NodeMover is what keeping one node per directory person needs of the
// store: where the person's node stands (by their directory id, whatever
// their email is now), and moving it with its edges.
type NodeMover interface {
	UserKeysByDirectoryID(ctx context.Context, id string) ([]string, error)
	MoveUser(ctx context.Context, from, to string) error
	CreateUpdateUser(ctx context.Context, u schema.User) (schema.User, bool, error)
}

// priorNode returns the key of the node the person with directory id holds
// now, when it is not key: the node that must move to key before the
// person is written there. "" when there is none to move.
func priorNode(ctx context.Context, store NodeMover, id, key string) (string, error) {
	keys, err := directoryNodes(ctx, store, id)
	if err != nil {
		return "", err
	}
	return priorOf(keys, key), nil
}

// directoryNodes returns the keys of the nodes holding directory id (none
// for an empty id).
func directoryNodes(ctx context.Context, store NodeMover, id string) ([]string, error) {
	if id == "" {
		return nil, nil
	}
	keys, err := store.UserKeysByDirectoryID(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("find the node of %s: %w", id, err)
	}
	return keys, nil
}

// priorOf is priorNode on the keys directoryNodes found.
func priorOf(keys []string, key string) string {
	for _, k := range keys {
		if k == key {
			return ""
		}
	}
	if len(keys) == 0 {
		return ""
	}
	return keys[0]
}

// moveNode moves the person's node from → to (their email changed, or it
// is now shared and they are keyed by login). When another node holds to
// already (a minimal node a follow by the new email left, say), the move is
// refused and the old node is deactivated instead, so that the person is
// never shown twice; the audit record says which happened.
func moveNode(ctx context.Context, store NodeMover, log *slog.Logger, source, id, from, to string) error {
	err := store.MoveUser(ctx, from, to)
	actor := "anonymous"
	if p, ok := schema.PrincipalFrom(ctx); ok {
		actor = p.Subject
	}
	switch {
	case err == nil:
		log.InfoContext(ctx, "audit", "audit", true, "event", "user_rekeyed", "actor", actor, "key", to, "from_key", from,
			"source", source, "outcome", "ok", OtherKeyOktaID, id)
		return nil
	case schema.KindOf(err) == schema.KindConflict:
		if _, _, derr := store.CreateUpdateUser(ctx, schema.User{NodeKey: from, IsActive: false}); derr != nil {
			return fmt.Errorf("deactivate %s after a refused move: %w", from, derr)
		}
		log.WarnContext(ctx, "audit", "audit", true, "event", "user_deactivated", "actor", actor, "key", from, "to_key", to,
			"source", source, "outcome", "conflict", OtherKeyOktaID, id,
			"reason", "the person's new key holds another node; the old node was deactivated rather than moved")
		return nil
	}
	return err
}

// personStore is what writing one directory person needs of the graph.
type personStore interface {
	NodeMover
	GetUser(ctx context.Context, key string) (schema.User, error)
}

// writePerson writes one directory person (keyed by PersonKey, as the
// directory answered them) to their one node: resolution and the Okta event
// hooks share it. The directory keyed the person by PersonKey, as sync
// does; a node under their email that came from someone else means the
// email is shared after all, so they are keyed by login. A node they hold
// under another key (their old email) moves here rather than stay beside
// the new one (moveNode, the sync's move). asked names the person in
// conflict messages.
func writePerson(ctx context.Context, store personStore, log *slog.Logger, source, asked string, u schema.User) (schema.User, bool, error) {
	oktaID := u.OtherKeyValues[OtherKeyOktaID]
	// Where the person's node stands does not depend on the key chosen
	// below: read it beside the node under their key, one graph round trip
	// less on a first request's path.
	var prior struct {
		keys []string
		err  error
	}
	found := make(chan struct{})
	go func() {
		defer close(found)
		prior.keys, prior.err = directoryNodes(ctx, store, oktaID)
	}()
	defer func() { <-found }()
	if onKey, err := store.GetUser(ctx, u.Key()); err == nil && ownedByOther(onKey, oktaID) {
		if !rekeyAway(&u, u.Email) {
			return schema.User{}, false, schema.Errorf(schema.KindConflict, "user_id %s: the graph node %s belongs to another directory person; nothing was written", asked, u.Key())
		}
		if onLogin, err := store.GetUser(ctx, u.Key()); err == nil && ownedByOther(onLogin, oktaID) {
			return schema.User{}, false, schema.Errorf(schema.KindConflict, "user_id %s: the graph node %s belongs to another directory person; nothing was written", asked, u.Key())
		}
	} else if err != nil && !schema.IsNotFound(err) {
		return schema.User{}, false, err
	}
	<-found
	if prior.err != nil {
		return schema.User{}, false, prior.err
	} else if from := priorOf(prior.keys, u.Key()); from != "" {
		if err := moveNode(ctx, store, log, source, oktaID, from, u.Key()); err != nil {
			return schema.User{}, false, err
		}
	}
	return store.CreateUpdateUser(ctx, u)
}
