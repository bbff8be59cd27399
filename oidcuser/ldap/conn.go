package ldap

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	goldap "github.com/go-ldap/ldap/v3"

	"github.com/usersvc/usersvc/oidcuser"
	"github.com/usersvc/usersvc/schema"
)

// connect opens an authenticated connection: TCP, then TLS (ldaps://, or
// StartTLS on ldap://), then the simple bind, all within the Timeout and
// ctx. go-ldap multiplexes requests on the connection it returns.
func (d *Directory) connect(ctx context.Context) (*goldap.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, d.s.Timeout)
	defer cancel()
	var dialer net.Dialer
	raw, err := dialer.DialContext(ctx, "tcp", d.s.addr)
	if err != nil {
		return nil, err
	}
	if deadline, ok := ctx.Deadline(); ok {
		_ = raw.SetDeadline(deadline)
	}
	// The caller's ctx ending aborts the setup too.
	stop := context.AfterFunc(ctx, func() { _ = raw.Close() })
	c, err := d.setup(ctx, raw)
	if !stop() && err == nil {
		_ = c.Close()
		err = net.ErrClosed
	}
	if err != nil {
		_ = raw.Close()
		if ctx.Err() != nil {
			return nil, errors.Join(ctx.Err(), err)
		}
		return nil, err
	}
	// From here each request has the Timeout (go-ldap's SetTimeout).
	_ = raw.SetDeadline(time.Time{})
	return c, nil
}

func (d *Directory) setup(ctx context.Context, raw net.Conn) (*goldap.Conn, error) {
	conn := raw
	switch {
	case d.s.ldaps:
		tc := tls.Client(raw, d.s.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, &tlsError{err}
		}
		conn = tc
	case d.s.StartTLS:
		if err := startTLS(raw); err != nil {
			return nil, err
		}
		tc := tls.Client(raw, d.s.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, &tlsError{err}
		}
		conn = tc
	}
	c := goldap.NewConn(conn, d.s.tls != nil)
	c.Start()
	c.SetTimeout(d.s.Timeout)
	if d.s.BindDN != "" {
		if err := c.Bind(d.s.BindDN, d.s.BindPassword); err != nil {
			_ = c.Close()
			return nil, err
		}
	}
	return c, nil
}

// startTLSOID names the StartTLS extended operation (RFC 4511 section
// 4.14.1).
const startTLSOID = "1.3.6.1.4.1.1466.20037"

// startTLS sends the StartTLS request on a fresh connection and reads the
// answer, before go-ldap reads anything: the TLS handshake can then run
// under the setup's deadline and context, with its errors intact.
func startTLS(raw net.Conn) error {
	msg := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "LDAPMessage")
	msg.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, int64(1), "messageID"))
	req := ber.Encode(ber.ClassApplication, ber.TypeConstructed, goldap.ApplicationExtendedRequest, nil, "ExtendedRequest")
	req.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 0, startTLSOID, "requestName"))
	msg.AppendChild(req)
	if _, err := raw.Write(msg.Bytes()); err != nil {
		return err
	}
	resp, err := ber.ReadPacket(raw)
	if err != nil {
		return err
	}
	if len(resp.Children) < 2 || resp.Children[1].ClassType != ber.ClassApplication || resp.Children[1].Tag != goldap.ApplicationExtendedResponse {
		return &tlsError{errors.New("StartTLS: the server's answer is not an extended response")}
	}
	if err := goldap.GetLDAPError(resp); err != nil {
		return &tlsError{err}
	}
	return nil
}

// tlsError: TLS could not be set up (certificate refused, StartTLS
// refused, handshake failed).
type tlsError struct{ err error }

func (e *tlsError) Error() string { return "TLS with the directory: " + e.err.Error() }
func (e *tlsError) Unwrap() error { return e.err }

// configTLS reports whether a TLS failure is the configuration's (a
// certificate or protocol refused) rather than the network's.
func configTLS(err error) bool {
	var te *tlsError
	if !errors.As(err, &te) {
		return false
	}
	var (
		verify    *tls.CertificateVerificationError
		unknownCA x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		alert     tls.AlertError
		header    tls.RecordHeaderError
		ldapErr   *goldap.Error
	)
	return errors.As(err, &verify) || errors.As(err, &unknownCA) || errors.As(err, &hostname) ||
		errors.As(err, &invalid) || errors.As(err, &alert) || errors.As(err, &header) || errors.As(err, &ldapErr) ||
		!isNetwork(err)
}

// connLost: the connection died under a request. go-ldap reports that
// with a plain error ("unable to read LDAP response packet: ..."); the
// connection closing is the sign.
type connLost struct{ err error }

func (e *connLost) Error() string { return "the directory connection was lost: " + e.err.Error() }
func (e *connLost) Unwrap() error { return e.err }

// lost marks err as a lost connection when c closed under it.
func lost(c *goldap.Conn, err error) error {
	if err != nil && c.IsClosing() && !isNetwork(err) {
		return &connLost{err}
	}
	return err
}

// isNetwork: the connection failed (reset, closed, refused, EOF).
func isNetwork(err error) bool {
	var ne net.Error
	var le *goldap.Error
	var cl *connLost
	switch {
	case errors.As(err, &cl):
		return true
	case errors.As(err, &le):
		return le.ResultCode == goldap.ErrorNetwork || le.ResultCode == goldap.LDAPResultServerDown || le.ResultCode == goldap.LDAPResultConnectError
	case errors.As(err, &ne), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return true
	}
	return false
}

// isTimeout: the server did not answer within the Timeout (go-ldap's
// request timeout, or a network deadline).
func isTimeout(err error) bool {
	var ne net.Error
	var le *goldap.Error
	if errors.As(err, &le) && le.ResultCode == goldap.ErrorNetwork && le.Err != nil && le.Err.Error() == "ldap: connection timed out" {
		return true
	}
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// call runs f, returning early when ctx ends: go-ldap's requests take no
// context. f then finishes within the Timeout on its own.
func call[T any](ctx context.Context, f func() (T, error)) (T, error) {
	if ctx.Done() == nil {
		return f()
	}
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := f()
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

var errClosed = errors.New("ldap: the directory is closed")

// Retry-After hints.
const (
	retryUnavailable = 5 * time.Second
	retryTimeout     = time.Second
	// retryConfig: something an operator must fix (credentials, TLS, base
	// DN, limits); asking again soon does not help.
	retryConfig = 30 * time.Second
)

// classify maps a failure to a classified error: the message is safe to
// show (it names what to check, never the password); the LDAP error stays
// wrapped for logs.
func classify(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	var se *schema.Error
	if errors.As(err, &se) {
		return err
	}
	switch {
	case errors.Is(err, errClosed):
		return schema.Unavailable("the directory is closed", 0, err)
	case errors.Is(ctx.Err(), context.Canceled):
		return schema.Unavailable("the directory call was canceled", 0, errors.Join(ctx.Err(), err))
	case ctx.Err() != nil || isTimeout(err):
		return schema.Unavailable("the directory did not answer in time", retryTimeout, err)
	case configTLS(err):
		return schema.Unavailable("TLS with the directory failed (check LDAP_CA_FILE, LDAP_URL and LDAP_START_TLS)", retryConfig, err)
	}
	var le *goldap.Error
	if errors.As(err, &le) {
		switch le.ResultCode {
		case goldap.LDAPResultInvalidCredentials, goldap.LDAPResultInappropriateAuthentication,
			goldap.LDAPResultInsufficientAccessRights, goldap.LDAPResultAuthorizationDenied:
			return schema.Unavailable("the directory refused usersvc's credentials or permissions (check LDAP_BIND_DN and LDAP_BIND_PASSWORD_FILE)",
				retryConfig, errors.Join(oidcuser.ErrDirectoryCredentials, err))
		case goldap.LDAPResultStrongAuthRequired, goldap.LDAPResultConfidentialityRequired:
			return schema.Unavailable("the directory requires TLS or a stronger bind (check LDAP_URL and LDAP_START_TLS)", retryConfig, err)
		case goldap.LDAPResultNoSuchObject:
			return schema.Unavailable("LDAP_BASE_DN names no entry in the directory", retryConfig, err)
		case goldap.LDAPResultSizeLimitExceeded, goldap.LDAPResultAdminLimitExceeded:
			return schema.Unavailable("a size or administrative limit of the directory stopped the search (raise the limits of LDAP_BIND_DN's account)", retryConfig, err)
		case goldap.LDAPResultFilterError, goldap.LDAPResultProtocolError, goldap.LDAPResultUndefinedAttributeType,
			goldap.LDAPResultInappropriateMatching, goldap.LDAPResultInvalidDNSyntax, goldap.LDAPResultUnavailableCriticalExtension:
			return &schema.Error{Kind: schema.KindInternal, Message: "the directory refused usersvc's search (check LDAP_USER_FILTER, LDAP_BASE_DN and LDAP_FLAVOR)", Err: err}
		}
	}
	return schema.Unavailable("the directory is unavailable", retryUnavailable, err)
}
