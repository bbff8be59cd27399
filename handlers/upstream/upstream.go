// Package upstream passes the metadata routes usersvc does not own through
// to the Amundsen metadata service (METADATA_UPSTREAM_URL), so the frontend
// needs a single base URL. It is a plain http.Handler built on
// httputil.ReverseProxy; the handlers package mounts it behind its
// middleware (request id, logs, metrics, authentication).
package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Observer receives one event per forwarded request, for metrics. codeClass
// is "2xx".."5xx" for an upstream answer, "error" or "timeout" when none
// came; never a path.
type Observer interface {
	UpstreamRequest(codeClass string, elapsed time.Duration)
}

// Config describes the upstream. Only URL is required.
type Config struct {
	// URL is the metadata service's base URL (scheme, host and an optional
	// path prefix). It is the only place the upstream host comes from.
	URL *url.URL
	// Timeout bounds every wait on the upstream: connecting, the answer's
	// headers, and each pause while bodies flow in either direction.
	Timeout time.Duration
	// MaxBody caps the request body forwarded.
	MaxBody int64
	// ForwardAuth passes Authorization on (the upstream's flaskoidc reads
	// it); false strips it.
	ForwardAuth bool
	Logger      *slog.Logger
	Observer    Observer
	// Transport overrides the HTTP transport (tests); nil builds one from
	// Timeout.
	Transport http.RoundTripper
	// TrustedProxies are the peers whose X-Forwarded-For, -Proto and -Host
	// are believed and passed on (TRUSTED_PROXIES); from any other peer
	// they are rebuilt from the connection.
	TrustedProxies []netip.Prefix
}

// Proxy forwards requests to the upstream.
type Proxy struct {
	target      *url.URL
	prefix      string // target path without its trailing slash
	timeout     time.Duration
	maxBody     int64
	forwardAuth bool
	log         *slog.Logger
	obs         Observer
	transport   http.RoundTripper
	closeIdle   func()
	buffers     httputil.BufferPool
	errorLog    *log.Logger
	trusted     []netip.Prefix
}

// New validates cfg and builds the proxy.
func New(cfg Config) (*Proxy, error) {
	u := cfg.URL
	switch {
	case u == nil:
		return nil, errors.New("upstream URL is required")
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("upstream URL must be http or https, got %q", u.Scheme)
	case u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "":
		return nil, errors.New("upstream URL must be scheme://host[:port][/path] with no user, query or fragment")
	case cfg.Timeout <= 0:
		return nil, errors.New("upstream timeout must be positive")
	case cfg.MaxBody <= 0:
		return nil, errors.New("upstream body limit must be positive")
	}
	p := &Proxy{
		target:      &url.URL{Scheme: u.Scheme, Host: u.Host},
		prefix:      strings.TrimRight(u.EscapedPath(), "/"),
		timeout:     cfg.Timeout,
		maxBody:     cfg.MaxBody,
		forwardAuth: cfg.ForwardAuth,
		log:         cfg.Logger,
		obs:         cfg.Observer,
		transport:   cfg.Transport,
		buffers:     &bufferPool{},
		trusted:     cfg.TrustedProxies,
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	p.errorLog = slog.NewLogLogger(p.log.Handler(), slog.LevelWarn)
	if p.obs == nil {
		p.obs = noObserver{}
	}
	if p.transport == nil {
		t := newTransport(cfg.Timeout)
		p.transport, p.closeIdle = t, t.CloseIdleConnections
	}
	return p, nil
}

type noObserver struct{}

func (noObserver) UpstreamRequest(string, time.Duration) {}

// newTransport never reads proxy settings from the environment: the
// upstream host is configuration, nothing else may redirect the traffic.
func newTransport(timeout time.Duration) *http.Transport {
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
		ExpectContinueTimeout: time.Second,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	}
}

// Close drops idle upstream connections.
func (p *Proxy) Close() {
	if p.closeIdle != nil {
		p.closeIdle()
	}
}

// Target is the upstream base URL, for logs.
func (p *Proxy) Target() string { return p.target.String() + p.prefix }

var (
	errIdle     = errors.New("upstream idle timeout")
	errTooLarge = errors.New("request body over the upstream limit")
)

// exchange is the state of one forwarded request.
type exchange struct {
	p      *Proxy
	start  time.Time
	timer  *time.Timer
	cancel context.CancelCauseFunc
	once   sync.Once
	tooBig atomic.Bool // set by the body reader, read after the round trip
	// ours are the answer headers usersvc has set already (request id,
	// CORS); public is the base URL the caller used, for Location.
	ours   http.Header
	public string
}

// touch restarts the idle timer: bytes moved.
func (x *exchange) touch() { x.timer.Reset(x.p.timeout) }

func (x *exchange) record(class string) {
	x.once.Do(func() { x.p.obs.UpstreamRequest(class, time.Since(x.start)) })
}

// ServeHTTP forwards r. Requests whose target is not a plain path are
// refused before anything is sent.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if status, msg := p.refusal(r); status != 0 {
		writeError(w, status, msg)
		return
	}
	x := &exchange{p: p, start: time.Now(), ours: w.Header(), public: p.publicBase(r)}
	ctx, cancel := context.WithCancelCause(r.Context())
	x.cancel = cancel
	x.timer = time.AfterFunc(p.timeout, func() { cancel(errIdle) })
	defer func() {
		x.timer.Stop()
		cancel(nil)
	}()
	out := r.WithContext(ctx)
	if r.Body != nil && r.Body != http.NoBody {
		out.Body = &limitedBody{r: r.Body, left: p.maxBody, x: x}
	}
	rp := &httputil.ReverseProxy{
		Rewrite:        p.rewrite,
		Transport:      p.transport,
		BufferPool:     p.buffers,
		ModifyResponse: x.modifyResponse,
		ErrorHandler:   x.errorHandler,
		ErrorLog:       p.errorLog,
	}
	rp.ServeHTTP(w, out)
}

// refusal names the status and message for requests that must not be
// forwarded, or 0.
func (p *Proxy) refusal(r *http.Request) (int, string) {
	switch {
	case r.Method == http.MethodConnect:
		return http.StatusMethodNotAllowed, "CONNECT is not supported"
	case !strings.HasPrefix(r.RequestURI, "/"):
		// Absolute-form (http://other-host/...) and asterisk-form targets
		// would let a request name a host; only origin-form is forwarded.
		return http.StatusBadRequest, "request target must be a path"
	case p.prefix == "" && strings.HasPrefix(r.RequestURI, "//"):
		// Sent on as is, "//host/..." reads as a network-path reference.
		return http.StatusBadRequest, "request path must not begin with //"
	case r.ContentLength > p.maxBody:
		return http.StatusRequestEntityTooLarge, p.tooLargeMessage()
	}
	return 0, ""
}

func (p *Proxy) tooLargeMessage() string {
	return "request body must not exceed " + strconv.FormatInt(p.maxBody, 10) + " bytes"
}

// rewrite sends the request target byte for byte: the raw path (no
// cleaning, no re-encoding, "//" and "%2F" kept) and the raw query.
func (p *Proxy) rewrite(pr *httputil.ProxyRequest) {
	rawPath, rawQuery, _ := strings.Cut(pr.In.RequestURI, "?")
	pr.Out.URL = &url.URL{
		Scheme:   p.target.Scheme,
		Host:     p.target.Host,
		Opaque:   p.prefix + rawPath,
		RawQuery: rawQuery,
	}
	if strings.Contains(pr.In.RequestURI, "?") && rawQuery == "" {
		pr.Out.URL.ForceQuery = true
	}
	pr.Out.Host = ""
	if p.trustsPeer(pr.In) {
		// SetXForwarded appends the peer to a chain already on the
		// outbound request, and sets Proto and Host from the connection:
		// keep what the trusted proxy said instead.
		in := pr.In.Header
		if v := in.Values("X-Forwarded-For"); len(v) > 0 {
			pr.Out.Header["X-Forwarded-For"] = v
		}
		pr.SetXForwarded()
		for _, h := range []string{"X-Forwarded-Proto", "X-Forwarded-Host"} {
			if v := in.Values(h); len(v) > 0 {
				pr.Out.Header[h] = v
			}
		}
	} else {
		pr.SetXForwarded()
	}
	// Upgrades (websockets) are not part of the metadata API.
	pr.Out.Header.Del("Upgrade")
	pr.Out.Header.Del("Connection")
	if !p.forwardAuth {
		pr.Out.Header.Del("Authorization")
	}
}

func (x *exchange) modifyResponse(res *http.Response) error {
	x.touch()
	// ReverseProxy adds the upstream's headers to those usersvc has set:
	// ours win, once (two Access-Control-Allow-Origin values make browsers
	// refuse the answer). Vary is the exception: both lists apply.
	for name := range x.ours {
		if name != "Vary" {
			res.Header.Del(name)
		}
	}
	if loc := res.Header.Get("Location"); loc != "" {
		res.Header.Set("Location", x.p.publicLocation(loc, x.public))
	}
	x.record(strconv.Itoa(res.StatusCode/100) + "xx")
	if res.Body != nil {
		res.Body = &touchingBody{ReadCloser: res.Body, x: x}
	}
	return nil
}

// errorHandler answers when no upstream answer arrived: 413 for an
// oversized body, 504 for a timeout, 502 otherwise.
func (x *exchange) errorHandler(w http.ResponseWriter, r *http.Request, err error) {
	tooBig := x.tooBig.Load()
	cause := context.Cause(r.Context())
	var netErr net.Error
	switch {
	case tooBig:
		x.record("error")
		writeError(w, http.StatusRequestEntityTooLarge, x.p.tooLargeMessage())
	case errors.Is(cause, errIdle) || errors.Is(err, context.DeadlineExceeded) || errors.As(err, &netErr) && netErr.Timeout():
		x.record("timeout")
		x.p.log.WarnContext(r.Context(), "metadata upstream timed out", "error", err, "timeout", x.p.timeout.String(),
			"request_id", r.Header.Get("X-Request-Id"))
		writeError(w, http.StatusGatewayTimeout, "metadata upstream did not answer within "+x.p.timeout.String())
	case errors.Is(cause, context.Canceled):
		// The caller went away: nobody reads an answer.
		x.record("error")
		writeError(w, http.StatusBadGateway, "request canceled")
	default:
		x.record("error")
		x.p.log.WarnContext(r.Context(), "metadata upstream unavailable", "error", err,
			"request_id", r.Header.Get("X-Request-Id"))
		writeError(w, http.StatusBadGateway, "metadata upstream unavailable")
	}
}

func writeError(w http.ResponseWriter, status int, msg string) {
	body, _ := json.Marshal(struct {
		Message string `json:"message"`
	}{msg})
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// limitedBody streams the caller's body to the upstream, stopping at the
// limit, and counts every read as progress for the idle timer.
type limitedBody struct {
	r    io.ReadCloser
	left int64
	x    *exchange
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// One byte more tells "exactly at the limit" from "over it".
		var one [1]byte
		n, err := b.r.Read(one[:])
		if n > 0 {
			b.x.tooBig.Store(true)
			// Fail the round trip so the upstream never sees a complete
			// request: a truncated body must not be taken as the whole.
			b.x.cancel(errTooLarge)
			return 0, errTooLarge
		}
		return 0, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	if n > 0 {
		b.x.touch()
	}
	return n, err
}

func (b *limitedBody) Close() error { return b.r.Close() }

// touchingBody counts reads of the upstream's answer as progress.
type touchingBody struct {
	io.ReadCloser
	x *exchange
}

func (b *touchingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.x.touch()
	}
	return n, err
}

// trustsPeer reports whether r's immediate peer is a trusted proxy.
func (p *Proxy) trustsPeer(r *http.Request) bool {
	if len(p.trusted) == 0 {
		return false
	}
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip := ap.Addr().Unmap()
	for _, n := range p.trusted {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

// publicBase is scheme://host as the caller addressed usersvc: the Host
// header, and the scheme of the connection or, behind a trusted proxy,
// the first X-Forwarded-Proto.
func (p *Proxy) publicBase(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if p.trustsPeer(r) {
		if v, _, _ := strings.Cut(r.Header.Get("X-Forwarded-Proto"), ","); v != "" {
			if v = strings.ToLower(strings.TrimSpace(v)); v == "http" || v == "https" {
				scheme = v
			}
		}
	}
	return scheme + "://" + r.Host
}

// publicLocation rewrites a Location that points into the upstream (its
// absolute URL, or a path under its prefix) to the same place behind
// usersvc, so the upstream's address never reaches the caller and a
// redirect brings them back through usersvc's checks. Any other Location
// (another site) is left alone.
func (p *Proxy) publicLocation(loc, public string) string {
	u, err := url.Parse(loc)
	if err != nil {
		return loc
	}
	if u.IsAbs() || u.Host != "" {
		if !strings.EqualFold(u.Host, p.target.Host) || u.Scheme != "" && !strings.EqualFold(u.Scheme, p.target.Scheme) {
			return loc
		}
	} else if !strings.HasPrefix(loc, "/") {
		return loc // relative to the request: resolves behind usersvc already
	}
	path := u.EscapedPath()
	if p.prefix != "" {
		rest, ok := strings.CutPrefix(path, p.prefix)
		if !ok || rest != "" && rest[0] != '/' {
			return loc
		}
		path = rest
	}
	if path == "" {
		path = "/"
	}
	out := public + path
	if u.RawQuery != "" || u.ForceQuery {
		out += "?" + u.RawQuery
	}
	if u.Fragment != "" {
		out += "#" + u.EscapedFragment()
	}
	return out
}

// bufferPool reuses the copy buffers of streamed bodies.
type bufferPool struct{ pool sync.Pool }

func (b *bufferPool) Get() []byte {
	if v, ok := b.pool.Get().(*[]byte); ok {
		return *v
	}
	return make([]byte, 32<<10)
}

func (b *bufferPool) Put(buf []byte) { b.pool.Put(&buf) }

// Probe reports whether the upstream answers: GET <base>/healthcheck (the
// metadata service's own health route) must come back below 500 within the
// context's deadline. Any answer under 500, 401 included, shows it is up.
func (p *Proxy) Probe(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.Target()+"/healthcheck", nil)
	if err != nil {
		return err
	}
	res, err := p.transport.RoundTrip(req)
	if err != nil {
		return fmt.Errorf("metadata upstream unreachable: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	_ = res.Body.Close()
	if res.StatusCode >= 500 {
		return fmt.Errorf("metadata upstream answered %d", res.StatusCode)
	}
	return nil
}
