// Package frontdoor_test pins what a new user meets first: the README's
// example page, run verbatim against the dev tenant, and the errors a
// Content-Security-Policy that lacks a directive produces.
package frontdoor_test

import (
	"net/http"
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
	// exchanges: the tenant's code exchanges, in order.
	exchanges e2eenv.CodeExchanges
}

// start brings up the tenant (on tenantHost: "localhost" is the app's
// site, "127.0.0.1" another one, as with blocked third-party cookies), the
// app and a browser. tokenLifetime 0 is the tenant's default.
func start(t *testing.T, tenantHost string, tokenLifetime time.Duration) *env {
	t.Helper()
	e := &env{}
	e.Env = e2eenv.Start(t, e2eenv.Options{
		TenantHost: tenantHost, TokenLifetime: tokenLifetime, TenantMiddleware: func(h http.Handler) http.Handler { return e.tenant.Wrap(e.exchanges.Wrap(h)) },
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
