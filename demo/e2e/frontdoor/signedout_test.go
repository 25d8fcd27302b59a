package frontdoor_test

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/silentauth/silentauth/checksession"
	"github.com/silentauth/silentauth/demo/internal/chrome"
	"github.com/silentauth/silentauth/demo/internal/e2eenv"
)

// openSDKPage serves sdkPage at / and opens it in a new tab.
func (e *env) openSDKPage(t *testing.T) *chrome.Tab {
	t.Helper()
	return e.open(t, "/", "", sdkPage)
}

func (e *env) clientJS(extra string) string {
	return fmt.Sprintf(`silentauth.createClient({domain: %q, clientId: "spa", debug: true%s%s})`, e.TenantURL, e.engine, extra)
}

// placements are the engine options a test runs its clients with: both
// placements, named (the README's page pins what the default chooses).
var placements = []struct{ name, option string }{
	{"in the SharedWorker", `, engine: "shared-worker"`},
	{"in the page", `, engine: "page"`},
}

// signIn opens sdkPage in a new tab, logs the demo user in through the SDK
// there (which sets the signed-in marker) and returns the tab, whose
// window.client is signed in.
func (e *env) signIn(t *testing.T, extra string) *chrome.Tab {
	t.Helper()
	tab := e.openSDKPage(t)
	err := tab.Eval(`(async () => { (await `+e.clientJS(extra)+`).loginWithRedirect(); return true })()`, nil)
	if err != nil && !strings.Contains(err.Error(), "navigated or closed") {
		t.Fatal(err)
	}
	logInToSDK(t, e.AppURL, tab)
	tab.MustEval(`(async () => { window.client = await `+e.clientJS(extra)+`; await client.handleRedirectCallback(); return true })()`, nil)
	return tab
}

// markerJS is true while the page's storage holds a signed-in marker.
const markerJS = `Object.keys(localStorage).some((k) => k.startsWith("silentauth.signedin:"))`

// TestAnonymousVisitor pins what a visitor who never signed in here costs:
// checkSession answers login_required at once, with no request to the
// server and without downloading or starting the runtime;
// getTokenSilently still asks the server, which finds a session made
// through another app of the same server (SSO); assumeSignedOut: false
// makes checkSession ask too.
func TestAnonymousVisitor(t *testing.T) {
	t.Parallel()
	for _, pl := range placements {
		t.Run(pl.name, func(t *testing.T) {
			t.Parallel()
			e := start(t, "localhost", 0)
			e.engine = pl.option
			testAnonymousVisitor(t, e)
		})
	}
}

func testAnonymousVisitor(t *testing.T, e *env) {

	t.Run("checkSession answers at once, asking nothing and loading nothing", func(t *testing.T) {
		tab := e.openSDKPage(t)
		silent0, tenant0, wasm0 := e.counts()
		f := settle(t, tab, `(async () => { window.client = await `+e.clientJS("")+`; return client.checkSession() })()`)
		if f.OK || !f.IsSDK || f.Error != "login_required" || !strings.Contains(f.Desc, "No sign-in is recorded in this browser") {
			t.Fatalf("want the signed-out answer, got %v", f)
		}
		var running bool
		tab.MustEval(`silentauth.stats().then((s) => s.running)`, &running)
		silent, tenant, wasm := e.counts()
		if tenant != tenant0 || silent != silent0 || wasm != wasm0 || running {
			t.Errorf("asked the tenant %d times, downloaded the runtime %d times, runtime running %v; want none",
				tenant-tenant0, wasm-wasm0, running)
		}
		// The callback form gets the same answer.
		var cb map[string]any
		tab.MustEval(`new Promise((r) => client.checkSession((err, res) => r({error: err && err.error, res: res || null})))`, &cb)
		if cb["error"] != "login_required" || cb["res"] != nil {
			t.Errorf("callback form: %v", cb)
		}
	})

	t.Run("assumeSignedOut: false asks the server", func(t *testing.T) {
		tab := e.openSDKPage(t)
		silent0, _, _ := e.counts()
		f := settle(t, tab, `(async () => (await `+e.clientJS(", assumeSignedOut: false")+`).checkSession())()`)
		if f.OK || f.Error != "login_required" || f.Desc != "Login required" {
			t.Fatalf("want the server's own login_required, got %v", f)
		}
		if silent, _, _ := e.counts(); silent != silent0+1 {
			t.Errorf("%d silent requests, want 1", silent-silent0)
		}
	})

	t.Run("getTokenSilently asks the server and finds a session from another app", func(t *testing.T) {
		tab := e.signIn(t, "")
		// Signed in at the server, but not through this app: no marker.
		tab.MustEval(`client.destroy(), localStorage.clear(), true`, nil)
		tab = e.openSDKPage(t)
		silent0, _, _ := e.counts()
		f := settle(t, tab, `(async () => { window.client = await `+e.clientJS("")+`; return client.checkSession() })()`)
		if f.OK || f.Error != "login_required" {
			t.Fatalf("checkSession without a marker: %v", f)
		}
		if silent, _, _ := e.counts(); silent != silent0 {
			t.Fatalf("checkSession without a marker asked the server")
		}
		var token string
		tab.MustEval(`client.getTokenSilently()`, &token)
		if token == "" {
			t.Fatal("getTokenSilently: no token")
		}
		if silent, _, _ := e.counts(); silent != silent0+1 {
			t.Errorf("getTokenSilently made %d silent requests, want 1", silent-silent0)
		}
		var marked bool
		tab.MustEval(markerJS, &marked)
		if !marked {
			t.Fatal("a token and no marker")
		}
		// Now the browser has signed in here: checkSession asks, and succeeds.
		var ok bool
		tab.MustEval(`client.checkSession().then((r) => !!r.accessToken)`, &ok)
		if !ok {
			t.Error("checkSession after the sign-in did not succeed")
		}
		// Logout takes the marker away again.
		tab.MustEval(`client.logout({localOnly: true}).then(() => `+markerJS+`)`, &marked)
		if marked {
			t.Error("the marker outlived the logout")
		}
	})
}

// TestInvalidOptionsStartNothing: for options createClient refuses, the
// loader's head start sends no request and adds no iframe, even where a
// sign-in is recorded (which makes valid options start one at once).
// In the page: a fresh page starts its runtime, and so the head start,
// where the SharedWorker's engine, running since the sign-in, needs none.
func TestInvalidOptionsStartNothing(t *testing.T) {
	t.Parallel()
	e := start(t, "localhost", 0)
	e.engine = `, engine: "page"`
	tab := e.signIn(t, "")
	tab.MustEval(`client.destroy(), true`, nil)
	for _, tc := range []struct {
		name, extra, want string
		desc              string // how the description starts: the option as the page wrote it
	}{
		{name: "redirectUri on another origin", extra: `, redirectUri: "https://elsewhere.example/cb"`, want: "origin_mismatch", desc: "redirectUri: "},
		{name: "an unknown option", extra: `, redirectUrl: "/cb"`, want: "invalid_configuration", desc: "redirectUrl: is not an option"},
		{name: "a responseType nobody has", extra: `, responseType: "code token"`, want: "invalid_configuration", desc: "responseType: "},
		{name: "a leeway out of range", extra: `, leewayInSeconds: 900`, want: "invalid_configuration", desc: "leewayInSeconds: "},
		{name: "an option of the wrong type", extra: `, timeoutInSeconds: "10"`, want: "invalid_configuration", desc: "timeoutInSeconds: "},
		{name: "the control: valid options start at once", extra: "", want: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tab := e.openSDKPage(t)
			_, tenant0, _ := e.counts()
			// A fresh page, so the runtime loads and the head start is due.
			f := settle(t, tab, `(async () => { const c = await `+e.clientJS(tc.extra)+`; window.frames0 = document.querySelectorAll("iframe").length; c.destroy(); })()`)
			if tc.want == "" {
				if !f.OK {
					t.Fatalf("createClient: %v", f)
				}
				if _, tenant, _ := e.counts(); tenant == tenant0 {
					t.Error("valid options with a sign-in recorded sent nothing ahead: the control does not control")
				}
				return
			}
			if f.OK || !f.IsSDK || f.Error != tc.want {
				t.Fatalf("createClient: %v, want %s", f, tc.want)
			}
			if !strings.HasPrefix(f.Desc, tc.desc) {
				t.Errorf("description %q, want it to start %q", f.Desc, tc.desc)
			}
			time.Sleep(300 * time.Millisecond) // anything started would be on the wire by now
			var frames int
			tab.MustEval(`document.querySelectorAll("iframe").length`, &frames)
			if _, tenant, _ := e.counts(); tenant != tenant0 || frames != 0 {
				t.Errorf("refused options still sent %d requests to the tenant and left %d iframes", tenant-tenant0, frames)
			}
		})
	}
}

// TestClientFetchToAnAPIWithoutCORS: the browser's TypeError becomes a
// network_error that says what the API must allow.
func TestClientFetchToAnAPIWithoutCORS(t *testing.T) {
	t.Parallel()
	e := start(t, "localhost", 0)
	l, apiURL := e2eenv.Listen(t, "localhost")
	e2eenv.Serve(t, l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"ok":true}`) // no CORS headers: the browser hides the answer
	}))
	tab := e.signIn(t, fmt.Sprintf(", apiOrigins: [%q]", apiURL))
	f := settle(t, tab, fmt.Sprintf(`client.fetch(%q)`, apiURL+"/private"))
	if f.OK || !f.IsSDK || f.Error != "network_error" {
		t.Fatalf("want a network_error SilentAuthError, got %v", f)
	}
	for _, want := range []string{apiURL + "/private", "CORS", "Authorization", "DPoP"} {
		if !strings.Contains(f.Desc, want) {
			t.Errorf("description %q lacks %q", f.Desc, want)
		}
	}
}

// TestEveryErrorIsASilentAuthError walks the failures a page can meet,
// from the loader and from Go, and checks each is a SilentAuthError whose
// code is in the table (checksession.ErrorCodes).
func TestEveryErrorIsASilentAuthError(t *testing.T) {
	t.Parallel()
	e := start(t, "localhost", 0)
	tab := e.signIn(t, "")
	codes := map[string]bool{}
	for _, c := range checksession.ErrorCodes() {
		codes[string(c)] = true
	}
	c := e.clientJS("")
	for _, tc := range []struct{ name, expr, want string }{
		{"options that are no object", `silentauth.createClient(42)`, "invalid_configuration"},
		{"an unknown option", `silentauth.createClient({domain: "x.example", clientId: "spa", clientSecret: "s"})`, "invalid_configuration"},
		{"a bad wasmUrl", `silentauth.createClient({domain: "x.example", clientId: "spa", wasmUrl: "http://[bad"})`, "invalid_configuration"},
		{"redirectUri on another origin", `silentauth.createClient({domain: "x.example", clientId: "spa", redirectUri: "https://other.example/"})`, "origin_mismatch"},
		{"an unreachable domain", `(async () => (await silentauth.createClient({domain: "http://127.0.0.1:9", clientId: "spa", assumeSignedOut: false})).checkSession())()`, "network_error"},
		{"prompt=login in checkSession", `(async () => (await ` + c + `).checkSession({prompt: "login"}))()`, "invalid_configuration"},
		{"an unknown event", `(async () => (await ` + c + `).on("nope", () => {}))()`, "invalid_configuration"},
		{"a handler that is no function", `(async () => (await ` + c + `).on("renewed", 1))()`, "invalid_configuration"},
		{"client.fetch outside apiOrigins", `(async () => (await ` + c + `).fetch("https://api.elsewhere.example/"))()`, "invalid_configuration"},
		{"client.fetch of no URL", `(async () => (await ` + c + `).fetch("http://[bad"))()`, "invalid_configuration"},
		{"a call after destroy", `(async () => { const x = await ` + c + `; x.destroy(); return x.getTokenSilently() })()`, "destroyed"},
		{"a callback with a forged state", `(async () => (await ` + c + `).handleRedirectCallback(location.origin + "/?code=x&state=forged"))()`, "invalid_state"},
		{"a server's consent_required", `(async () => (await silentauth.createClient({domain: ` + fmt.Sprintf("%q", e.TenantURL) + `, clientId: "third-party-spa", assumeSignedOut: false})).checkSession())()`, "consent_required"},
		{"no refresh token without fallback", `(async () => (await ` + e.clientJS(", useRefreshTokens: true, useRefreshTokensFallback: false") + `).checkSession())()`, "missing_refresh_token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := settle(t, tab, tc.expr)
			if f.OK || !f.IsSDK || f.Name != "SilentAuthError" {
				t.Fatalf("want a SilentAuthError, got %v", f)
			}
			if !codes[f.Error] {
				t.Errorf("code %q is not in the table %v", f.Error, slices.Sorted(maps.Keys(codes)))
			}
			if f.Error != tc.want {
				t.Errorf("code %q, want %q (%s)", f.Error, tc.want, f.Desc)
			}
		})
	}
}

// TestHeadStartInTheSharedWorker: for a visitor the marker says signed in,
// the page opens the first silent request's iframe while a new worker's
// engine boots, and the engine adopts it (its debug line says so) instead
// of sending a request of its own: one prompt=none request for the first
// token, and no iframe left. The head start races the engine's boot: on a
// loaded machine the worker may answer the page's first ping only once Go
// runs, and the page then leaves the request to the engine. So each of up
// to three fresh visits must cost one request and one code exchange, and
// one of them must have been the head start's, its code redeemed by the
// page while the engine booted (the early exchange: it too races the
// engine, which redeems the code itself when it adopts the iframe first).
func TestHeadStartInTheSharedWorker(t *testing.T) {
	t.Parallel()
	e := signedInWithTheWorker(t)

	for visit := range 3 {
		adopted, early := headStartAdopted(t, e, visit)
		if adopted && early {
			return
		}
		t.Logf("visit %d: head start adopted %v, its early code exchange adopted %v", visit, adopted, early)
	}
	t.Error("no debug lines say the engine adopted the head start and its early code exchange in 3 fresh visits")
}

// TestHeadStartNotAdoptedInTheSharedWorker: a first request that asks for
// another scope than the head start's is the engine's own; the page drops
// its head start and the code exchange it sent early, whose token reaches
// nobody, and the session goes on. The page sends that exchange only when
// the iframe answered before the engine decided (the race of
// TestHeadStartInTheSharedWorker), so up to three fresh visits are made
// until one shows it.
func TestHeadStartNotAdoptedInTheSharedWorker(t *testing.T) {
	t.Parallel()
	e := signedInWithTheWorker(t)

	for visit := range 3 {
		fresh := e.openSDKPage(t)
		before := len(e.exchanges.Tokens())
		var got struct{ First, Later string }
		fresh.MustEval(`(async () => {
			window.client = await `+e.clientJS(fmt.Sprintf(`, wasmUrl: "/silentauth/silentauth.wasm?worker=dropped%d"`, visit))+`;
			const first = await client.checkSession({scope: "openid email"});
			return {first: first.accessToken};
		})()`, &got)
		tokens := e.exchanges.Tokens()[before:]
		fresh.MustEval(`client.checkSession().then((s) => ({later: s.accessToken}))`, &got)
		if got.First == "" || got.Later == "" || len(tokens) == 0 || len(tokens) > 2 {
			t.Fatalf("visit %d: tokens %+v after %d code exchanges", visit, got, len(tokens))
		}
		if got.First != tokens[len(tokens)-1] || (len(tokens) == 2 && (got.First == tokens[0] || got.Later == tokens[0])) {
			t.Fatalf("visit %d: the page's token is not the engine's own exchange's (%d exchanges)", visit, len(tokens))
		}
		if err := fresh.WaitFor(`document.querySelectorAll("iframe").length === 0`, 5*time.Second); err != nil {
			t.Errorf("visit %d: an iframe stayed: %v", visit, err)
		}
		fresh.MustClose(t)
		if len(tokens) == 2 {
			return
		}
		t.Logf("visit %d: the page sent no early exchange before the engine decided", visit)
	}
	t.Error("in 3 fresh visits the page never sent its early code exchange before the engine dropped its head start")
}

// signedInWithTheWorker is an env whose clients name the SharedWorker's
// engine, with a user signed in there.
func signedInWithTheWorker(t *testing.T) *env {
	e := start(t, "localhost", 0)
	e.engine = `, engine: "shared-worker"`
	e.signIn(t, "")
	return e
}

// headStartAdopted opens a page whose worker has not started (another
// wasm URL names another worker, as on a visit after every tab was
// closed), gets the first token, and reports whether the engine adopted
// the page's head start, and the code exchange the page sent early.
func headStartAdopted(t *testing.T, e *env, visit int) (adopted, early bool) {
	t.Helper()
	fresh := e.openSDKPage(t)
	defer fresh.MustClose(t)
	silent0, _, _ := e.counts()
	exchanges0 := len(e.exchanges.Tokens())
	var got struct {
		Token   bool `json:"token"`
		Marker  bool `json:"marker"`
		Runtime bool `json:"runtime"`
	}
	fresh.MustEval(`(async () => {
		const marker = `+markerJS+`;
		window.client = await `+e.clientJS(fmt.Sprintf(`, wasmUrl: "/silentauth/silentauth.wasm?worker=fresh%d"`, visit))+`;
		const r = await client.checkSession();
		return {token: !!r.accessToken && !!r.idTokenPayload && r.idTokenPayload.sub !== undefined, marker, runtime: !!globalThis[Symbol.for("silentauth.runtime")]};
	})()`, &got)
	if !got.Token || !got.Marker || got.Runtime {
		t.Fatalf("checkSession %+v; want a token from the worker's engine for a visitor with a marker", got)
	}
	if silent, _, _ := e.counts(); silent != silent0+1 {
		t.Errorf("visit %d: %d prompt=none requests for the first token, want 1 (the head start's, adopted, or the engine's own)", visit, silent-silent0)
	}
	if n := len(e.exchanges.Tokens()) - exchanges0; n != 1 {
		t.Errorf("visit %d: %d code exchanges for the first token, want 1 (the page's early one, adopted, or the engine's own)", visit, n)
	}
	if err := fresh.WaitFor(`document.querySelectorAll("iframe").length === 0`, 5*time.Second); err != nil {
		t.Errorf("visit %d: the silent request's iframe stayed: %v", visit, err)
	}
	for _, l := range fresh.Console() {
		adopted = adopted || strings.Contains(l, "adopted the prestarted silent request")
		early = early || strings.Contains(l, "the code exchange the head start sent early is adopted")
	}
	if early && !adopted {
		t.Errorf("visit %d: an early code exchange adopted without its request", visit)
	}
	return adopted, early
}

// TestDemoPageSignedOutIsNotAnError pins the demo page's first impression:
// before any login, login_required is the normal signed-out state (no red
// error line) with Log in as the primary button; once signed in, Log in is
// gone and Log out is the primary button.
func TestDemoPageSignedOutIsNotAnError(t *testing.T) {
	t.Parallel()
	env := e2eenv.Start(t, e2eenv.Options{})
	tab := env.OpenDemoPage(t)
	waitFor := func(cond string) {
		t.Helper()
		e2eenv.MustWaitFor(t, tab, cond, 20*time.Second)
	}
	type view struct {
		LoginHidden, LoginPrimary, LogoutPrimary bool
		Errors                                   []string
		Log                                      string
	}
	look := func() view {
		t.Helper()
		var v view
		tab.MustEval(`({
			LoginHidden: document.getElementById("login").hidden,
			LoginPrimary: document.getElementById("login").classList.contains("primary"),
			LogoutPrimary: document.getElementById("logout").classList.contains("primary"),
			Errors: [...document.querySelectorAll("#log .k-error")].map(k => k.parentElement.innerText),
			Log: document.getElementById("log").innerText,
		})`, &v)
		return v
	}

	waitFor(e2eenv.SignedOut + ` && document.getElementById("log").innerText.includes("login_required")`)
	v := look()
	if len(v.Errors) != 0 {
		t.Errorf("signed out before any login, the log shows errors: %q", v.Errors)
	}
	if v.LoginHidden || !v.LoginPrimary || v.LogoutPrimary {
		t.Errorf("signed out: want Log in shown and primary, Log out not primary; got %+v", v)
	}

	tab.MustEval(`document.getElementById("login").click(), true`, nil)
	logIn(t, env.AppURL, tab)
	waitFor(`document.querySelector("#status").dataset.state === "signed-in"`)
	v = look()
	if !v.LoginHidden || v.LoginPrimary || !v.LogoutPrimary {
		t.Errorf("signed in: want Log in hidden and Log out primary; got %+v", v)
	}
}
