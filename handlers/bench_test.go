package handlers_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/usersvc/usersvc/handlers"
	"github.com/usersvc/usersvc/handlers/auth"
	"github.com/usersvc/usersvc/oidcuser"
	"github.com/usersvc/usersvc/proxy/embedded"
	"github.com/usersvc/usersvc/schema"
	"github.com/usersvc/usersvc/testsupport/introspector"
	"github.com/usersvc/usersvc/testsupport/issuer"
)

var benchUser = schema.User{UserID: "ada@example.com", Email: "ada@example.com", FirstName: "Ada", LastName: "Lovelace",
	FullName: "Ada Lovelace", DisplayName: "Ada Lovelace", TeamName: "Data", RoleName: "Analyst", IsActive: true}

// BenchmarkWarmGetUser is the frontend's hot path through the whole chain:
// request id, logging (to a discarded JSON handler), token check (cache
// hit), store read, JSON. Two rows: a JWT verified once, and an opaque
// token introspected once at a real provider (oidc-provider); warm, both
// are one digest and one cache hit.
func BenchmarkWarmGetUser(b *testing.B) {
	b.Run("token=jwt", func(b *testing.B) {
		iss := issuer.Start(b)
		a, err := auth.New(auth.Config{DiscoveryURL: iss.DiscoveryURL(), Audience: issuer.Audience})
		if err != nil {
			b.Fatal(err)
		}
		serveWarm(b, a, "Bearer "+iss.Token(b, iss.Claims(time.Now(), "ada@example.com")))
	})
	b.Run("token=introspected", func(b *testing.B) {
		op := introspector.Start(b, introspector.Options{})
		a, err := auth.New(auth.Config{DiscoveryURL: op.DiscoveryURL(), Audience: introspector.ResourceServer,
			ClientID: introspector.ResourceServer, ClientSecret: op.Secret(introspector.ResourceServer)})
		if err != nil {
			b.Fatal(err)
		}
		serveWarm(b, a, "Bearer "+op.Token(b, introspector.TokenOptions{Email: "ada@example.com"}))
	})
}

func serveWarm(b *testing.B, a *auth.Authenticator, token string) {
	if err := a.Discover(context.Background()); err != nil {
		b.Fatal(err)
	}
	store, err := embedded.Open(filepath.Join(b.TempDir(), "u.db"), time.Second)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = store.Close() })
	if _, _, err := store.CreateUpdateUser(context.Background(), benchUser); err != nil {
		b.Fatal(err)
	}
	h := handlers.New(handlers.Deps{
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Users:  oidcuser.NewResolver(store, oidcuser.ResolverConfig{}), Store: store,
		Auth: handlers.AuthConfig{Authenticator: a},
	})
	serve(b, h, token)
}

// BenchmarkBaselineGin is a bare gin handler answering the same user JSON:
// the floor the service is measured against.
func BenchmarkBaselineGin(b *testing.B) {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.GET("/user/*id", func(c *gin.Context) { c.JSON(http.StatusOK, benchUser) })
	serve(b, r, "")
}

func serve(b *testing.B, h http.Handler, token string) {
	req := httptest.NewRequest(http.MethodGet, "/user/ada@example.com", nil)
	if token != "" {
		req.Header.Set("Authorization", token)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body.String())
		}
	}
}
