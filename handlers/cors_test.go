package handlers_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/usersvc/usersvc/handlers"
	"github.com/usersvc/usersvc/handlers/auth"
	"github.com/usersvc/usersvc/testsupport/issuer"
)

func TestCORS(t *testing.T) {
	preflight := func(h http.Handler, origin string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodOptions, "/user/ada@example.com", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "GET")
		req.Header.Set("Access-Control-Request-Headers", "authorization")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w
	}
	// Off by default: no CORS headers, the preflight gets no pass.
	off := newAuthEnv(t, handlers.AuthConfig{}, true)
	w := preflight(off.h, "https://evil.example.com")
	if w.Header().Get("Access-Control-Allow-Origin") != "" || w.Code < 400 {
		t.Fatalf("CORS off: %d %v", w.Code, w.Header())
	}

	iss := issuer.Start(t)
	a, err := auth.New(auth.Config{DiscoveryURL: iss.DiscoveryURL(), Audience: issuer.Audience})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Discover(context.Background()); err != nil {
		t.Fatal(err)
	}
	h := handlers.New(handlers.Deps{CORSOrigins: []string{"https://amundsen.example.com/"}, Auth: handlers.AuthConfig{Authenticator: a}})
	w = preflight(h, "https://amundsen.example.com")
	if w.Code != http.StatusNoContent || w.Header().Get("Access-Control-Allow-Origin") != "https://amundsen.example.com" ||
		w.Header().Get("Access-Control-Allow-Headers") == "" || w.Header().Get("Access-Control-Allow-Credentials") != "" {
		t.Fatalf("allowed preflight: %d %v", w.Code, w.Header())
	}
	w = preflight(h, "https://evil.example.com")
	if w.Header().Get("Access-Control-Allow-Origin") != "" || w.Code != http.StatusUnauthorized || w.Header().Get("Vary") != "Origin" {
		t.Fatalf("other origin: %d %v", w.Code, w.Header())
	}
	// An actual request from the allowed origin still needs a token.
	req := httptest.NewRequest(http.MethodGet, "/user/ada@example.com", nil)
	req.Header.Set("Origin", "https://amundsen.example.com")
	w = httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != http.StatusUnauthorized || w.Header().Get("Access-Control-Allow-Origin") != "https://amundsen.example.com" {
		t.Fatalf("cross-origin GET without a token: %d %v", w.Code, w.Header())
	}
}
