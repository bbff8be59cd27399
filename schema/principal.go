package schema

import (
	"context"
	"net/netip"
)

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

// Caller is what a request's context says about who makes it: the client
// address and, once authenticated, the principal. Both live in one context
// value so the HTTP layer pays one allocation a request for them, not one
// per fact (each context.WithValue also boxes its value).
type Caller struct {
	Principal Principal
	// Authenticated: Principal was verified; otherwise it is empty.
	Authenticated bool
	// Addr is the client's address (the peer, or the client a trusted
	// proxy names); invalid when unknown.
	Addr netip.Addr
}

type callerKey struct{}

// CallerContext is a context carrying a Caller. The HTTP layer embeds it in
// its per-request state so that one allocation holds both; a plain caller
// uses WithCaller.
type CallerContext struct {
	context.Context
	Caller Caller
}

// Value answers the Caller's key with the Caller, any other from the parent.
func (c *CallerContext) Value(key any) any {
	if key == (callerKey{}) {
		return &c.Caller
	}
	return c.Context.Value(key)
}

// WithCaller returns ctx carrying a copy of c.
func WithCaller(ctx context.Context, c Caller) context.Context {
	return &CallerContext{Context: ctx, Caller: c}
}

// callerIn is the Caller ctx carries, nil when none.
func callerIn(ctx context.Context) *Caller {
	c, _ := ctx.Value(callerKey{}).(*Caller)
	return c
}

// CallerFrom returns what ctx says about the caller: the zero Caller when
// nothing.
func CallerFrom(ctx context.Context) Caller {
	if c := callerIn(ctx); c != nil {
		return *c
	}
	return Caller{}
}

// ClientAddrFrom returns the client's address ctx names, if any. It reads
// that field alone: the HTTP layer fills in the principal after the
// authenticator, which reads the address, has returned.
func ClientAddrFrom(ctx context.Context) netip.Addr {
	if c := callerIn(ctx); c != nil {
		return c.Addr
	}
	return netip.Addr{}
}

// WithPrincipal returns ctx carrying p, so layers below HTTP (audit logs,
// write policy) know who acts.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	c := CallerFrom(ctx)
	c.Principal, c.Authenticated = p, true
	return WithCaller(ctx, c)
}

// PrincipalFrom returns the caller, if the request was authenticated.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	if c := callerIn(ctx); c != nil && c.Authenticated {
		return c.Principal, true
	}
	return Principal{}, false
}
