// Package devtenant_test runs the SDK in headless Chromium against the
// offline dev tenant: checkSession in every response type, the demo page,
// client.fetch, logout, prompt=none errors and the web_message exchange.
package devtenant_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/silentauth/silentauth/demo/devtenant"
	"github.com/silentauth/silentauth/demo/internal/e2eenv"
)

// frameSelector finds the SDK's hidden iframe (jsbridge.FrameTitle).
const frameSelector = `iframe[title="silentauth session check"]`

// outcome is how an SDK promise settled, as the page saw it.
type outcome = e2eenv.Settled

// settle awaits the JS promise expr in the page (window.client and any
// globals are in scope) and reports how it settled.
func settle(t *testing.T, tab *e2eenv.Tab, expr string) outcome {
	t.Helper()
	return e2eenv.SettleCall(t, tab, expr)
}

// mustFail checks that o is a rejection with an Error carrying code.
func mustFail(t *testing.T, o outcome, code string) {
	t.Helper()
	if o.OK {
		t.Fatalf("expected %s, the call succeeded: %v", code, o)
	}
	if !o.IsError || o.Error != code {
		t.Fatalf("expected an Error with error %q, got %v", code, o)
	}
}

// mustSucceed checks that o resolved.
func mustSucceed(t *testing.T, tab *e2eenv.Tab, o outcome) map[string]any {
	t.Helper()
	if !o.OK {
		t.Fatalf("expected success, got %v\nconsole:\n%s", o, strings.Join(tab.Console(), "\n"))
	}
	return o.Result
}

// loginOptions choose how the tenant's pages are answered.
type loginOptions struct {
	clientID string // default "spa"
	extra    string // more createClient options
	// declineConsent answers the consent page with Decline.
	declineConsent bool
}

// loginToCallback starts loginWithRedirect in tab with a client made from
// o, then goes through the tenant's pages as a user would, and returns once
// the browser is back on the test page with the authorization response in
// its URL. It returns the pages it passed.
func loginToCallback(t *testing.T, env *e2eenv.Env, tab *e2eenv.Tab, email string, o loginOptions) []string {
	t.Helper()
	if o.clientID == "" {
		o.clientID = "spa"
	}
	// Not awaited: the navigation may tear the page down before the promise
	// could report back.
	tab.MustEvalT(t, `(async () => {
		window.__e2eBeforeLogin = true;
		window.client = await `+env.ClientJSFor(o.clientID, o.extra)+`;
		client.loginWithRedirect().catch((e) => { window.__e2eLoginError = e.error + ": " + e.error_description; });
		return true;
	})()`, nil)
	return answerTenantPages(t, env, tab, email, o.declineConsent)
}

// answerTenantPages answers the tenant's pages (login, MFA, consent,
// rule) as email would, until the browser is back on the app's origin with
// the SDK loaded. It returns the pages it answered. The caller sets
// window.__e2eBeforeLogin on the page that starts the login.
func answerTenantPages(t *testing.T, env *e2eenv.Env, tab *e2eenv.Tab, email string, declineConsent bool) []string {
	t.Helper()
	decision := "#accept"
	if declineConsent {
		decision = "#deny"
	}
	// One step per tenant page; window.__e2eStep marks a page already answered.
	step := fmt.Sprintf(`(() => {
		if (location.origin === %q) return window.silentauth ? "app" : "busy";
		if (document.readyState !== "complete" || window.__e2eStep) return "busy";
		const submit = (f) => { window.__e2eStep = true; (f.querySelector("button[type=submit]") || f.querySelector("button")).click(); };
		const f = document.querySelector("form");
		switch (location.pathname) {
		case "/u/login":
			if (!f || !f.querySelector("input[name=password]")) return "busy";
			f.querySelector("input[name=username]").value = %q;
			f.querySelector("input[name=password]").value = %q;
			submit(f);
			return "login";
		case "/u/mfa":
			f.querySelector("input[name=otp]").value = %q;
			submit(f);
			return "mfa";
		case "/u/consent":
			window.__e2eStep = true;
			document.querySelector(%q).click();
			return "consent";
		case "/u/rule":
			window.__e2eStep = true;
			document.querySelector("#continue").click();
			return "rule";
		}
		return "unexpected page " + location.href + ": " + document.body.innerText.slice(0, 300);
	})()`, env.AppURL, email, devtenant.DefaultPassword, devtenant.MFACode, decision)
	// The login starts with a navigation away from the page the caller
	// marked (after the Go runtime has started, for a signed-out visitor:
	// seconds on a loaded machine); with a session at the tenant it may come straight back.
	if err := tab.WaitFor(`!window.__e2eBeforeLogin || window.__e2eLoginError`, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	var loginErr string
	if err := tab.Eval(`window.__e2eLoginError || ""`, &loginErr); err == nil && loginErr != "" {
		t.Fatalf("loginWithRedirect: %s", loginErr)
	}
	var pages []string
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		var s string
		if err := tab.Eval(step, &s); err != nil {
			time.Sleep(50 * time.Millisecond) // navigating
			continue
		}
		switch {
		case s == "app":
			return pages
		case s == "busy":
		case strings.HasPrefix(s, "unexpected"):
			t.Fatalf("login of %s: %s", email, s)
		default:
			pages = append(pages, s)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("login of %s did not come back to the app (pages %v)\nconsole:\n%s", email, pages, strings.Join(tab.Console(), "\n"))
	return nil
}

// login is loginToCallback followed by handleRedirectCallback on a fresh
// client (window.client), which must succeed; window.loginResult is its result.
func login(t *testing.T, env *e2eenv.Env, tab *e2eenv.Tab, email string, o loginOptions) []string {
	t.Helper()
	pages := loginToCallback(t, env, tab, email, o)
	if o.clientID == "" {
		o.clientID = "spa"
	}
	tab.MustEvalT(t, `(async () => { window.client = await `+env.ClientJSFor(o.clientID, o.extra)+`; window.loginResult = await client.handleRedirectCallback(); return true })()`, nil)
	return pages
}

// stats is silentauth.stats().
type stats struct {
	Running         bool    `json:"running"`
	LiveFuncs       float64 `json:"liveFuncs"`
	LiveFrames      float64 `json:"liveFrames"`
	WasmMemoryBytes float64 `json:"wasmMemoryBytes"`
	GoHeapBytes     float64 `json:"goHeapBytes"`
}

func runtimeStats(t *testing.T, tab *e2eenv.Tab) stats {
	t.Helper()
	var s stats
	tab.MustEvalT(t, `silentauth.stats()`, &s)
	return s
}
