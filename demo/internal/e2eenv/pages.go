package e2eenv

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/silentauth/silentauth/demo/internal/chrome"
)

// Pages is an app that serves the built SDK under /silentauth/ as plain
// files (no CSP of its own, unlike the demo app) and, at other paths, the
// pages a test chooses, each under the CSP the test gives. It counts the
// downloads of silentauth.wasm. Put it on the app's origin with
// Options.App.
type Pages struct {
	files http.Handler
	mu    sync.Mutex
	pages map[string]page
	wasm  int
}

// page is an HTML body served under a CSP ("" for none).
type page struct{ csp, html string }

// NewPages serves the SDK built in dist and no page yet.
func NewPages(dist string) *Pages {
	return &Pages{files: http.StripPrefix("/silentauth/", http.FileServer(http.Dir(dist))), pages: map[string]page{}}
}

// Serve serves body (an HTML fragment) at path from now on, under csp
// ("" for no policy).
func (p *Pages) Serve(path, csp, body string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pages[path] = page{csp: csp, html: body}
}

// WasmDownloads is how many times silentauth.wasm was asked for.
func (p *Pages) WasmDownloads() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.wasm
}

func (p *Pages) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/silentauth/") {
		if strings.HasSuffix(r.URL.Path, ".wasm") {
			p.mu.Lock()
			p.wasm++
			p.mu.Unlock()
		}
		p.files.ServeHTTP(w, r)
		return
	}
	p.mu.Lock()
	pg, ok := p.pages[r.URL.Path]
	p.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if pg.csp != "" {
		w.Header().Set("Content-Security-Policy", pg.csp)
	}
	fmt.Fprint(w, `<!doctype html><html><head><meta charset="utf-8"><title>e2e page</title></head><body>`+pg.html+`</body></html>`)
}

// AuthorizeCounts counts the requests a server gets as they arrive, before
// they are answered: all of them, and its authorization requests with
// prompt=none (silent) and without (each a trip to the login page). Put it
// in front of the tenant with Options.TenantMiddleware.
type AuthorizeCounts struct {
	mu                       sync.Mutex
	all, silent, interactive int
}

// Wrap counts each request to next.
func (c *AuthorizeCounts) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		c.all++
		if r.URL.Path == "/authorize" {
			if r.URL.Query().Get("prompt") == "none" {
				c.silent++
			} else {
				c.interactive++
			}
		}
		c.mu.Unlock()
		next.ServeHTTP(w, r)
	})
}

// Get is the silent and interactive authorization requests, and all the
// requests, counted so far.
func (c *AuthorizeCounts) Get() (silent, interactive, all int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.silent, c.interactive, c.all
}

// PageText is what a failing test shows of a tab: its address, the start
// of its text and its console.
func PageText(tab *chrome.Tab) string {
	var s string
	_ = tab.Eval(`location.href + "\n" + document.body.innerText.slice(0, 2000)`, &s)
	return s + "\nconsole:\n" + strings.Join(tab.Console(), "\n")
}

// MustWaitFor waits up to timeout for cond in tab, failing t with the
// page's text (PageText) when it does not come.
func MustWaitFor(t testing.TB, tab *chrome.Tab, cond string, timeout time.Duration) {
	t.Helper()
	if err := tab.WaitFor(cond, timeout); err != nil {
		t.Fatalf("%v\n%s", err, PageText(tab))
	}
}
