// Package frontdoor_test pins what a new user meets first: the README's
// example page, run verbatim against the dev tenant, and the errors a
// Content-Security-Policy that lacks a directive produces.
package frontdoor_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/silentauth/silentauth/demo/internal/chrome"
	"github.com/silentauth/silentauth/demo/internal/e2eenv"
)

// env is a dev tenant and an app origin whose pages each test chooses
// (e2eenv.Pages), with the tenant's requests counted as they arrive.
type env struct {
	*e2eenv.Env
	pages  *e2eenv.Pages
	tenant e2eenv.AuthorizeCounts
	// engine is clientJS's engine option (", engine: ..."), "" for the default.
	engine string
	mu     sync.Mutex
	// exchanged is the access token of each authorization_code grant the
	// tenant answered, in order.
	exchanged []string
}

// codeExchanges is the access tokens of the tenant's code exchanges so far.
func (e *env) codeExchanges() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.exchanged...)
}

// teeWriter keeps a copy of what it writes.
type teeWriter struct {
	http.ResponseWriter
	buf bytes.Buffer
}

func (w *teeWriter) Write(b []byte) (int, error) {
	w.buf.Write(b)
	return w.ResponseWriter.Write(b)
}

// countExchanges notes the access token of each code exchange next answers.
func (e *env) countExchanges(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/oauth/token" {
			next.ServeHTTP(w, r)
			return
		}
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		if !strings.Contains(string(body), "grant_type=authorization_code") {
			next.ServeHTTP(w, r)
			return
		}
		tw := &teeWriter{ResponseWriter: w}
		next.ServeHTTP(tw, r)
		var answer struct {
			AccessToken string `json:"access_token"`
		}
		_ = json.Unmarshal(tw.buf.Bytes(), &answer)
		e.mu.Lock()
		e.exchanged = append(e.exchanged, answer.AccessToken)
		e.mu.Unlock()
	})
}

// start brings up the tenant (on tenantHost: "localhost" is the app's
// site, "127.0.0.1" another one, as with blocked third-party cookies), the
// app and a browser. tokenLifetime 0 is the tenant's default.
func start(t *testing.T, tenantHost string, tokenLifetime time.Duration) *env {
	t.Helper()
	e := &env{}
	e.Env = e2eenv.Start(t, e2eenv.Options{
		TenantHost: tenantHost, TokenLifetime: tokenLifetime, TenantMiddleware: func(h http.Handler) http.Handler { return e.tenant.Wrap(e.countExchanges(h)) },
		App: func(dist string) http.Handler { e.pages = e2eenv.NewPages(dist); return e.pages },
	})
	return e
}

// open serves html at path under csp ("" for none), opens it in a new tab
// and waits for the SDK.
func (e *env) open(t *testing.T, path, csp, html string) *chrome.Tab {
	t.Helper()
	e.pages.Serve(path, csp, html)
	return e2eenv.OpenSDKPage(t, e.Browser, e.AppURL+path, 10*time.Second)
}

// counts is the tenant's silent requests, all its requests, and the
// downloads of silentauth.wasm so far.
func (e *env) counts() (silent, tenant, wasm int) {
	silent, _, tenant = e.tenant.Get()
	return silent, tenant, e.pages.WasmDownloads()
}

func (e *env) interactiveLogins() int {
	_, interactive, _ := e.tenant.Get()
	return interactive
}

// waitFor waits up to timeout for cond in tab, failing t with the page's text.
func waitFor(t *testing.T, tab *chrome.Tab, cond string, timeout time.Duration) {
	t.Helper()
	e2eenv.MustWaitFor(t, tab, cond, timeout)
}
