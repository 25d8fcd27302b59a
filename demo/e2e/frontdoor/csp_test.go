package frontdoor_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/silentauth/silentauth/demo/internal/chrome"
	"github.com/silentauth/silentauth/demo/internal/e2eenv"
)

// sdkPage loads the script tag and nothing else; tests drive it.
const sdkPage = `<script src="/silentauth/silentauth.js"></script><p>csp</p>`

// failure is how a call settled, as the page saw it.
type failure = e2eenv.Settled

// settle runs expr (a promise) in the page and reports how it settled.
func settle(t *testing.T, tab *chrome.Tab, expr string) failure {
	t.Helper()
	return e2eenv.SettleCall(t, tab, expr)
}

// TestCSPFailuresNameTheDirective serves a page under a CSP that lacks one
// directive silentauth needs and checks that the failure names the
// directive and the value to add, not what the browser's failure looks like
// (a timeout, a CORS-like network error, a hint at 'unsafe-eval'). The full
// CSP is the control: the same call then gets the server's answer.
func TestCSPFailuresNameTheDirective(t *testing.T) {
	t.Parallel()
	e := start(t, "localhost", 0)
	full := map[string]string{
		"default-src": "'self'",
		"script-src":  "'self' 'wasm-unsafe-eval'",
		"frame-src":   e.TenantURL,
		"connect-src": "'self' " + e.TenantURL,
	}
	cspWithout := func(missing string, replacement string) string {
		var parts []string
		for _, d := range []string{"default-src", "script-src", "frame-src", "connect-src"} {
			switch {
			case d == missing && replacement != "":
				parts = append(parts, d+" "+replacement)
			case d != missing:
				parts = append(parts, d+" "+full[d])
			}
		}
		return strings.Join(parts, "; ")
	}
	// assumeSignedOut: false, so that the visitor's checkSession asks the
	// server and createClient loads the runtime at once. The page's CSP
	// governs the page: its iframes in either placement, but the worker's
	// requests and compile only as far as the worker's own response carries
	// it (here none), so those cases pin the page.
	clientIn := func(engine string) string {
		return fmt.Sprintf(`silentauth.createClient({domain: %q, clientId: "spa", timeoutInSeconds: 10, assumeSignedOut: false%s})`, e.TenantURL, engine)
	}
	client := clientIn(`, engine: "page"`)
	checkSessionIn := func(engine string) string {
		return `(async () => { const c = await ` + clientIn(engine) + `; try { return await c.checkSession() } finally { c.destroy() } })()`
	}
	checkSession := checkSessionIn(`, engine: "page"`)
	inWorker := checkSessionIn(`, engine: "shared-worker"`)

	for _, tc := range []struct {
		name     string
		csp      string
		call     string
		wantCode string
		// wantDesc must all appear in error_description, wantNot none.
		wantDesc, wantNot []string
		// wantCause is the failure the CSP masked, kept as err.cause.
		wantCause string
	}{
		{name: "full CSP: the server's own answer", csp: cspWithout("", ""), call: checkSession, wantCode: "login_required"},
		{name: "no frame-src: not a timeout", csp: cspWithout("frame-src", ""), call: checkSession, wantCode: "invalid_configuration",
			wantDesc: []string{"Content-Security-Policy frame-src blocks " + e.TenantURL, "add " + e.TenantURL + " to frame-src"},
			// The masked timeout's advice would send the reader elsewhere.
			wantNot: []string{"timeout", "Allowed Web Origins", "redirect_uri"}},
		{name: "worker: full CSP: the server's own answer", csp: cspWithout("", ""), call: inWorker, wantCode: "login_required"},
		{name: "worker: no frame-src: not a timeout", csp: cspWithout("frame-src", ""), call: inWorker, wantCode: "invalid_configuration",
			wantDesc: []string{"Content-Security-Policy frame-src blocks " + e.TenantURL, "add " + e.TenantURL + " to frame-src"},
			wantNot:  []string{"timeout", "Allowed Web Origins", "redirect_uri"}},
		{name: "no connect-src for the server: not a CORS error", csp: cspWithout("connect-src", "'self'"), call: checkSession, wantCode: "invalid_configuration",
			wantDesc: []string{"Content-Security-Policy connect-src blocks " + e.TenantURL, "add " + e.TenantURL + " to connect-src"},
			wantNot:  []string{"CORS"}, wantCause: "network_error"},
		{name: "wasm from an origin connect-src lacks: not a network error", csp: cspWithout("connect-src", "'self'"),
			call:     fmt.Sprintf(`silentauth.createClient({domain: %q, clientId: "spa", wasmUrl: %q, assumeSignedOut: false, engine: "page"})`, e.TenantURL, e.TenantURL+"/silentauth.wasm"),
			wantCode: "invalid_configuration", wantDesc: []string{"add " + e.TenantURL + " to connect-src"}, wantCause: "network_error"},
		{name: "no 'wasm-unsafe-eval': not a hint at 'unsafe-eval'", csp: cspWithout("script-src", "'self'"), call: client, wantCode: "invalid_configuration",
			wantDesc: []string{"Content-Security-Policy script-src", "add 'wasm-unsafe-eval' to script-src"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := "/csp/" + strings.NewReplacer(" ", "-", "'", "", ":", "").Replace(tc.name)
			tab := e.open(t, path, tc.csp, sdkPage)
			f := settle(t, tab, tc.call)
			if f.OK || !f.IsSDK || f.Name != "SilentAuthError" || f.Error != tc.wantCode {
				t.Fatalf("CSP %q: want a SilentAuthError %s, got %v\n%s", tc.csp, tc.wantCode, f, e2eenv.PageText(tab))
			}
			for _, want := range tc.wantDesc {
				if !strings.Contains(f.Desc, want) {
					t.Errorf("error_description %q lacks %q", f.Desc, want)
				}
			}
			for _, not := range tc.wantNot {
				if strings.Contains(strings.ToLower(f.Desc), strings.ToLower(not)) {
					t.Errorf("error_description %q should not mention %q", f.Desc, not)
				}
			}
			if tc.wantCause != "" && f.CauseCode != tc.wantCause {
				t.Errorf("cause %q, want the masked %q", f.CauseCode, tc.wantCause)
			}
		})
	}
}

// TestCSPListenerLivesWithTheClients pins that the loader's
// securitypolicyviolation listener is on the document only while a client
// lives: destroy removes it.
func TestCSPListenerLivesWithTheClients(t *testing.T) {
	t.Parallel()
	e := start(t, "localhost", 0)
	tab := e.open(t, "/listener", "", sdkPage)
	client := fmt.Sprintf(`silentauth.createClient({domain: %q, clientId: "spa"})`, e.TenantURL)

	if n := violationListeners(t, tab); n != 0 {
		t.Fatalf("%d listeners before any client", n)
	}
	tab.MustEval(`(async () => { window.a = await `+client+`; window.b = await `+client+`; return true })()`, nil)
	if n := violationListeners(t, tab); n != 1 {
		t.Fatalf("%d securitypolicyviolation listeners with two clients, want 1", n)
	}
	tab.MustEval(`a.destroy(), true`, nil)
	if n := violationListeners(t, tab); n != 1 {
		t.Fatalf("%d listeners with one client left, want 1", n)
	}
	tab.MustEval(`b.destroy(), b.destroy(), true`, nil)
	if n := violationListeners(t, tab); n != 0 {
		t.Fatalf("%d listeners after every client was destroyed, want 0", n)
	}
}

// violationListeners counts the document's securitypolicyviolation listeners.
func violationListeners(t *testing.T, tab *chrome.Tab) int {
	t.Helper()
	return tab.Listeners(t, "document", "securitypolicyviolation")
}

// TestCSPRenewErrorNamesTheDirective: a renewal the timer starts after an
// interactive login (which needs no frame) meets a CSP without frame-src;
// its renew_error names the directive instead of saying timeout.
func TestCSPRenewErrorNamesTheDirective(t *testing.T) {
	t.Parallel()
	for _, pl := range placements {
		t.Run(pl.name, func(t *testing.T) {
			t.Parallel()
			testCSPRenewError(t, pl.option)
		})
	}
}

func testCSPRenewError(t *testing.T, engine string) {
	// 10 s tokens renew halfway, 5 s after the login.
	e := start(t, "localhost", 10*time.Second)
	tab := e.open(t, "/", "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; connect-src 'self' "+e.TenantURL, sdkPage)
	client := fmt.Sprintf(`silentauth.createClient({domain: %q, clientId: "spa", timeoutInSeconds: 5%s})`, e.TenantURL, engine)
	// Not awaited: the navigation ends this evaluation.
	tab.MustEval(`(async () => { (await `+client+`).loginWithRedirect(); return true })()`, nil)
	logInToSDK(t, e.AppURL, tab)
	tab.MustEval(`(async () => {
		window.client = await `+client+`;
		window.events = [];
		client.on("renew_error", (e) => events.push({isSDK: silentauth.isSilentAuthError(e), error: e.error, description: e.error_description}));
		await client.handleRedirectCallback();
		return true;
	})()`, nil)
	waitFor(t, tab, `events.length > 0`, 30*time.Second)
	var got []failure
	tab.MustEval(`events`, &got)
	f := got[0]
	if !f.IsSDK || f.Error != "invalid_configuration" || !strings.Contains(f.Desc, "add "+e.TenantURL+" to frame-src") {
		t.Fatalf("renew_error %v, want invalid_configuration naming frame-src", f)
	}
}
