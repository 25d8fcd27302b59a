// Package frontdoor_test pins what a new user meets first: the README's
// example page, run verbatim against the dev tenant, and the errors a
// Content-Security-Policy that lacks a directive produces.
package frontdoor_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/silentauth/silentauth/demo/devtenant"
	"github.com/silentauth/silentauth/demo/internal/chrome"
	"github.com/silentauth/silentauth/demo/internal/e2eenv"
)

// env is a dev tenant and an app origin whose pages each test chooses.
type env struct {
	tenant    *devtenant.Tenant
	tenantURL string
	appURL    string
	browser   *chrome.Browser
	// engine is clientJS's engine option (", engine: ..."), "" for the default.
	engine string

	mu    sync.Mutex
	pages map[string]page
	// interactive counts /authorize requests without prompt=none: each is a
	// trip to the login page.
	interactive int
	// silent counts /authorize requests with prompt=none, tenantHits every
	// request to the tenant and wasmHits the downloads of silentauth.wasm.
	silent, tenantHits, wasmHits int
}

// page is an HTML body served under a CSP ("" for none).
type page struct {
	csp, html string
}

// start brings up the tenant (on tenantHost: "localhost" is the app's
// site, "127.0.0.1" another one, as with blocked third-party cookies), the
// app and a browser. tokenLifetime 0 is the tenant's default.
func start(t *testing.T, tenantHost string, tokenLifetime time.Duration) *env {
	t.Helper()
	dist := e2eenv.DistDir(t)
	if _, err := os.Stat(filepath.Join(dist, "silentauth.wasm")); err != nil {
		t.Fatalf("the SDK is not built in %s (run make build): %v", dist, err)
	}
	tl, tenantURL := e2eenv.Listen(t, tenantHost)
	al, appURL := e2eenv.Listen(t, "localhost")
	tenant, err := devtenant.New(devtenant.Config{Issuer: tenantURL, AppOrigins: []string{appURL}, TokenLifetime: tokenLifetime})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{tenant: tenant, tenantURL: tenantURL, appURL: appURL, pages: map[string]page{}}
	e2eenv.Serve(t, tl, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		e.tenantHits++
		if r.URL.Path == "/authorize" && r.URL.Query().Get("prompt") != "none" {
			e.interactive++
		}
		if r.URL.Path == "/authorize" && r.URL.Query().Get("prompt") == "none" {
			e.silent++
		}
		e.mu.Unlock()
		tenant.ServeHTTP(w, r)
	}))
	mux := http.NewServeMux()
	files := http.StripPrefix("/silentauth/", http.FileServer(http.Dir(dist)))
	mux.Handle("/silentauth/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, ".wasm") {
			e.mu.Lock()
			e.wasmHits++
			e.mu.Unlock()
		}
		files.ServeHTTP(w, r)
	}))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		p, ok := e.pages[r.URL.Path]
		e.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if p.csp != "" {
			w.Header().Set("Content-Security-Policy", p.csp)
		}
		fmt.Fprint(w, `<!doctype html><html><head><meta charset="utf-8"><title>frontdoor</title></head><body>`+p.html+`</body></html>`)
	})
	e2eenv.Serve(t, al, mux)
	e.browser = chrome.Start(t)
	return e
}

func (e *env) serve(path string, p page) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.pages[path] = p
}

// counts is the tenant's silent requests, all its requests, and the
// downloads of silentauth.wasm so far.
func (e *env) counts() (silent, tenant, wasm int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.silent, e.tenantHits, e.wasmHits
}

func (e *env) interactiveLogins() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.interactive
}

// pageText is what a failing test shows of the page.
func pageText(tab *chrome.Tab) string {
	var s string
	_ = tab.Eval(`location.href + "\n" + document.body.innerText.slice(0, 2000)`, &s)
	return s + "\nconsole:\n" + strings.Join(tab.Console(), "\n")
}
