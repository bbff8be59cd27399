package schema

import "context"

// Principal is the caller as a verified bearer token describes them.
type Principal struct {
	Subject string
	UserID  string // the claim named by FLASK_OIDC_USER_ID_FIELD, else the subject
	Email   string
	// EmailUnverified: the token or introspection answer says
	// email_verified: false, so Email proves nothing about the caller.
	EmailUnverified bool
	ClientID        string // cid, azp or client_id
	Groups          []string
	Scopes          []string
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p, so layers below HTTP (audit logs,
// write policy) know who acts.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the caller, if the request was authenticated.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}
