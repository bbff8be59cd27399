// Package handlers is the HTTP face of usersvc: Amundsen's metadata user API
// on a gin engine, health routes, and the middleware around them. It depends
// on small interfaces, never on concrete stores or directories.
package handlers

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"

	"github.com/gin-gonic/gin"

	"github.com/usersvc/usersvc/schema"
)

// UserResolver answers "who is this user?" for a graph key: from the store,
// or from the directory when the store does not know them.
type UserResolver interface {
	ResolveUser(ctx context.Context, key string) (schema.User, error)
	// NodeKey is the key of the node a relation write by key lands on (a
	// login resolves to the person's email-keyed node); ReadKey the same
	// from the graph alone, for reads.
	NodeKey(ctx context.Context, key string) (string, error)
	ReadKey(ctx context.Context, key string) (string, error)
}

// UserStore is what the handlers read and write directly.
type UserStore interface {
	GetUsers(ctx context.Context) ([]schema.User, error)
	CreateUpdateUser(ctx context.Context, u schema.User) (schema.User, bool, error)
	GetUserResources(ctx context.Context, userKey string, rel schema.Relation) (schema.UserResources, error)
	GetFrequentlyUsedTables(ctx context.Context, userKey string) ([]schema.PopularTable, error)
	AddResourceRelation(ctx context.Context, userKey string, rel schema.Relation, t schema.ResourceType, resourceKey string) error
	DeleteResourceRelation(ctx context.Context, userKey string, rel schema.Relation, t schema.ResourceType, resourceKey string) error
}

// Check is one named dependency probe for /healthcheck and /readyz.
type Check struct {
	Name  string
	Probe func(ctx context.Context) error
}

// Deps are the collaborators of the HTTP layer.
type Deps struct {
	Logger  *slog.Logger
	Users   UserResolver
	Store   UserStore
	Decoder *schema.UserDecoder
	// Health checks run for /healthcheck and /readyz (the store).
	Health []Check
	// Ready checks run for /readyz only (e.g. OIDC keys loaded). They must not
	// include the directory: Okta trouble must not take pods out of service.
	Ready []Check
	Auth  AuthConfig
	// Observer receives request, auth and write events (metrics); optional.
	Observer Observer
	// Build describes the running binary for GET /version.
	Build BuildInfo
	// OpenAPI is the API description served at GET /openapi.json.
	OpenAPI []byte
	// CORSOrigins lists the browser origins allowed to call the API ("*" for
	// any); empty turns CORS off.
	CORSOrigins []string
	// Upstream, when set, receives every request for a path usersvc does not
	// own, after authentication (METADATA_UPSTREAM_URL).
	Upstream http.Handler
	// UpstreamWrote, when set, is called after every request passed to the
	// upstream that may have written (any method but GET, HEAD, OPTIONS):
	// the upstream writes the graph this service reads, so the read cache
	// must not keep answering from before it.
	UpstreamWrote func()
	// Reported checks run for /healthcheck only: shown there, never failing
	// it or readiness (the upstream's reachability).
	Reported []Check
	// Advisory checks are shown by /healthcheck and /readyz and fail
	// neither: they must make no call (the directory's credentials, as its
	// last answer judged them); a directory's trouble must not take pods out
	// of service.
	Advisory []Check

	// AccessLog writes the record of every request; optional, default:
	// through Logger.
	AccessLog AccessLog

	// TrustedProxies are the peers whose X-Forwarded-For names the client
	// (TRUSTED_PROXIES); empty: the peer is the client.
	TrustedProxies []netip.Prefix

	// EventHook, when set with a secret and a sink, serves Okta Event
	// Hooks at EventHookPath (authenticated by its own secret).
	EventHook *EventHookConfig

	// SCIM, when set with a token and a Users resource, serves SCIM 2.0
	// provisioning at SCIMPath (authenticated by its own bearer tokens).
	SCIM *SCIMConfig
}

// BuildInfo identifies the binary.
type BuildInfo struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	GoVersion string `json:"go_version"`
}

type server struct {
	log     *slog.Logger
	users   UserResolver
	store   UserStore
	decoder *schema.UserDecoder
	health  []Check
	ready   []Check
	auth    AuthConfig
	open    map[string]bool
	obs     Observer
	build   BuildInfo
	openapi []byte

	reported []Check
	advisory []Check
	upstream http.Handler
	// upstreamWrote is Deps.UpstreamWrote, never nil.
	upstreamWrote func()
	own           ownPaths
	// trustsProxies: TrustedProxies is not empty, so X-Forwarded-For may
	// name the client.
	trustsProxies bool

	// bodies are writeUser's buffers.
	bodies sync.Pool

	userRoutes *userRouter
	hook       *eventHook
	scim       *scimServer
}

// New builds the gin engine with every route of DESIGN §2.
func New(d Deps) http.Handler {
	s := &server{
		log:     d.Logger,
		users:   d.Users,
		store:   d.Store,
		decoder: d.Decoder,
		health:  d.Health,
		ready:   append(append([]Check{}, d.Health...), d.Ready...),
		auth:    d.Auth,
		open:    openTargets(d.Auth.Allowlist),
		obs:     d.Observer,
		build:   d.Build,
		openapi: d.OpenAPI,

		reported:      d.Reported,
		advisory:      d.Advisory,
		upstream:      d.Upstream,
		upstreamWrote: d.UpstreamWrote,
		trustsProxies: len(d.TrustedProxies) > 0,

		userRoutes: newUserRouter(userRouteTable),
		hook:       newEventHook(d.EventHook),
		scim:       newSCIMServer(d.SCIM),
	}
	if s.obs == nil {
		s.obs = noObserver{}
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.upstreamWrote == nil {
		s.upstreamWrote = func() {}
	}
	access := d.AccessLog
	if access == nil {
		access = SlogAccessLog{Handler: s.log.Handler()}
	}
	if s.decoder == nil {
		s.decoder = schema.NewUserDecoder()
	}

	r := gin.New()
	// Paths under /user/ must reach userRouteTable as they came (userroutes.go
	// says why): no cleaning, no slash merging, no redirects.
	r.RedirectTrailingSlash = false
	r.RedirectFixedPath = false
	r.RemoveExtraSlash = false
	r.UseRawPath = false
	r.HandleMethodNotAllowed = true
	r.ContextWithFallback = true
	// gin trusts every peer's X-Forwarded-For by default: a client could
	// name any address and so earn a fresh introspection share.
	trusted := make([]string, len(d.TrustedProxies))
	for i, p := range d.TrustedProxies {
		trusted[i] = p.String()
	}
	if err := r.SetTrustedProxies(trusted); err != nil {
		panic("handlers: trusted proxies: " + err.Error()) // valid prefixes always parse
	}

	cors := corsPolicy{origins: parseOrigins(d.CORSOrigins)}
	r.Use(withRequestID(newRequestIDs()), s.classifyRoute, s.classifyUpstream, s.observeRequests, logRequests(access), recoverPanics(s.log),
		securityHeaders(), cors.handle, s.authenticate)

	for _, m := range []string{http.MethodGet, http.MethodHead} {
		r.Handle(m, "/healthcheck", s.healthcheck)
		r.Handle(m, "/livez", s.livez)
		r.Handle(m, "/readyz", s.readyz)
	}
	r.GET("/version", s.version)
	if len(s.openapi) > 0 {
		r.GET("/openapi.json", s.serveOpenAPI)
	}
	r.GET("/user", s.listUsers)
	r.PUT("/user", s.putUser)
	for _, m := range s.userRoutes.methods {
		r.Handle(m, userCatchAll, s.userPath)
	}
	if s.hook != nil {
		r.GET(EventHookPath, s.verifyEventHook)
		r.POST(EventHookPath, s.receiveEventHook)
	}
	if s.scim != nil {
		r.Any(SCIMPath, s.scimRoutes)
		r.Any(scimRoute, s.scimRoutes)
	}

	s.own = newOwnPaths(r)
	if s.upstream != nil {
		r.NoRoute(s.passThrough)
	} else {
		r.NoRoute(notFound)
	}
	r.NoMethod(func(c *gin.Context) {
		if s.isSCIM(c) || (s.scim != nil && strings.HasPrefix(c.Request.URL.Path, SCIMPath)) {
			abortSCIM(c, http.StatusMethodNotAllowed, "", "method not allowed")
			return
		}
		abortJSON(c, http.StatusMethodNotAllowed, "method not allowed")
	})
	return r
}

// version is GET /version.
func (s *server) version(c *gin.Context) { c.JSON(http.StatusOK, s.build) }

// serveOpenAPI is GET /openapi.json.
func (s *server) serveOpenAPI(c *gin.Context) {
	c.Data(http.StatusOK, "application/json", s.openapi)
}

// Route is one logical route: a method and a path template (gin syntax).
type Route struct {
	Method string
	Path   string
}

// Routes lists every logical route h serves: the engine's registered routes
// with the /user/*path catch-all expanded into userRouteTable. h must come
// from New.
func Routes(h http.Handler) []Route {
	engine, ok := h.(*gin.Engine)
	if !ok {
		return nil
	}
	var routes []Route
	for _, r := range engine.Routes() {
		if r.Path == userCatchAll {
			continue
		}
		routes = append(routes, Route{r.Method, r.Path})
	}
	for _, r := range userRouteTable {
		routes = append(routes, Route{r.method, r.pattern})
	}
	return routes
}
