// Package popup_test runs loginWithPopup in headless Chromium with its popup
// blocker on, as in a user's browser, against the dev tenant: the popup
// opens from a real click (chromedp's click is a trusted input event, so a
// user gesture), the login form is filled in the popup's own target, and the
// token arrives in the opener. It also pins popup_closed, popup_blocked and
// the error a Cross-Origin-Opener-Policy on the server's pages causes.
// Each test runs in both placements: with the engine in the page, and in
// the SharedWorker, where the page opens the window and the worker's engine
// drives it.
package popup_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"

	"github.com/silentauth/silentauth/demo/devtenant"
	"github.com/silentauth/silentauth/demo/internal/e2eenv"
)

// outcome is how the popup login's promise settled, as the page saw it.
type outcome struct {
	OK          bool           `json:"ok"`
	Result      map[string]any `json:"result"`
	IsSDKError  bool           `json:"isSDKError"`
	Error       string         `json:"error"`
	Description string         `json:"description"`
}

// popupButton creates window.client and a button whose click handler
// calls client.loginWithPopup(params) directly, as an app would; the
// promise's outcome lands in window.__popup.
func popupButton(t *testing.T, env *e2eenv.Env, tab *e2eenv.Tab, params string) {
	t.Helper()
	watchHandles(t, tab)
	tab.MustEval(`(async () => {
		window.client = await `+env.ClientJS("")+`;
		const b = document.createElement("button");
		b.id = "popup-login";
		b.textContent = "Log in with a popup";
		b.onclick = () => {
			window.__popup = client.loginWithPopup(`+params+`).then(
				(result) => ({ok: true, result}),
				(e) => ({ok: false, isSDKError: silentauth.isSilentAuthError(e), error: e.error, description: e.error_description}));
		};
		document.body.append(b);
		return true;
	})()`, nil)
	checkPlacement(t, tab)
}

// checkPlacement fails the test when the client's engine is not where
// SILENTAUTH_ENGINE put it: a SharedWorker runs only for "shared-worker".
func checkPlacement(t *testing.T, tab *e2eenv.Tab) {
	t.Helper()
	workers := len(tab.SharedWorkers(t))
	if want := map[bool]int{true: 1, false: 0}[os.Getenv("SILENTAUTH_ENGINE") == "shared-worker"]; workers != want {
		t.Fatalf("SILENTAUTH_ENGINE=%q, but %d shared workers run", os.Getenv("SILENTAUTH_ENGINE"), workers)
	}
}

// clickForPopup clicks the button with a real mouse event and returns the
// popup window's target as a tab (no console capture).
func clickForPopup(t *testing.T, tab *e2eenv.Tab) (*e2eenv.Tab, target.ID) {
	t.Helper()
	id := clickForPopupID(t, tab)
	ctx, cancel := chromedp.NewContext(tab.Ctx, chromedp.WithTargetID(id))
	t.Cleanup(cancel)
	if err := chromedp.Run(ctx); err != nil {
		t.Fatalf("attaching to the popup: %v", err)
	}
	return &e2eenv.Tab{Ctx: ctx}, id
}

// clickForPopupID clicks the button and returns the popup's target ID,
// without attaching to it.
func clickForPopupID(t *testing.T, tab *e2eenv.Tab) target.ID {
	t.Helper()
	ch := chromedp.WaitNewTarget(tab.Ctx, func(info *target.Info) bool { return info.Type == "page" && info.OpenerID == tab.ID() })
	if err := chromedp.Run(tab.Ctx, chromedp.Click("#popup-login", chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	select {
	case id := <-ch:
		return id
	case <-time.After(10 * time.Second):
		var o outcome
		_ = tab.Eval(`window.__popup`, &o)
		t.Fatalf("no popup opened; the login settled as %+v\nconsole:\n%s", o, strings.Join(tab.Console(), "\n"))
		return ""
	}
}

// submitLogin fills the dev tenant's login form in the popup and submits it
// after the evaluation has returned: the popup closes as soon as the login
// is done, and an evaluation still waiting then would never get its answer.
func submitLogin(popup *e2eenv.Tab, email string, timeout time.Duration) error {
	if err := popup.WaitFor(e2eenv.TenantLoginPage, timeout); err != nil {
		return err
	}
	// The answer may be lost when the popup closes first: the opener's
	// outcome, checked by the caller, says whether the form went through.
	ctx, cancel := context.WithTimeout(popup.Ctx, 5*time.Second)
	defer cancel()
	err := chromedp.Run(ctx, chromedp.Evaluate(fmt.Sprintf(`(() => {
		const f = document.querySelector("form");
		f.querySelector("input[name=username]").value = %q;
		f.querySelector("input[name=password]").value = %q;
		setTimeout(() => (f.querySelector("button[type=submit]") || f.querySelector("button")).click(), 0);
		return true;
	})()`, email, devtenant.DefaultPassword), nil))
	if err != nil && ctx.Err() != nil {
		return nil
	}
	return err
}

func settled(t *testing.T, tab *e2eenv.Tab) outcome {
	t.Helper()
	var o outcome
	tab.MustEval(`window.__popup`, &o)
	return o
}

// targetGone waits until the target no longer exists.
func targetGone(t *testing.T, tab *e2eenv.Tab, id target.ID) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		infos, err := chromedp.Targets(tab.Ctx)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, i := range infos {
			found = found || i.TargetID == id
		}
		if !found {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("the popup window was left open")
}

func liveFuncs(t *testing.T, tab *e2eenv.Tab) float64 {
	t.Helper()
	var n float64
	tab.MustEval(`silentauth.stats().then((s) => s.liveFuncs)`, &n)
	return n
}

// inBothPlacements runs test with the test page's clients in the page and
// in the SharedWorker.
func inBothPlacements(t *testing.T, test func(t *testing.T)) {
	for _, engine := range []string{"page", "shared-worker"} {
		t.Run(engine, func(t *testing.T) {
			t.Setenv("SILENTAUTH_ENGINE", engine)
			test(t)
		})
	}
}

// watchHandles tracks the page's "message" listeners and intervals, so
// that a test can see each path remove what it added: markHandles forgets
// those in place, leftHandles counts those added since and not removed.
func watchHandles(t *testing.T, tab *e2eenv.Tab) {
	t.Helper()
	tab.MustEval(`(() => {
		const w = window, add = w.addEventListener, remove = w.removeEventListener, set = w.setInterval, clear = w.clearInterval;
		const listeners = new Set(), intervals = new Set();
		w.addEventListener = function (type, fn, o) { if (this === w && type === "message") listeners.add(fn); return add.call(this, type, fn, o); };
		w.removeEventListener = function (type, fn, o) { if (this === w && type === "message") listeners.delete(fn); return remove.call(this, type, fn, o); };
		w.setInterval = function (...a) { const id = set.apply(this, a); intervals.add(id); return id; };
		w.clearInterval = function (id) { intervals.delete(id); return clear.call(this, id); };
		w.__mark = () => { listeners.clear(); intervals.clear(); return true; };
		w.__handles = () => ({ listeners: listeners.size, intervals: intervals.size });
		return true;
	})()`, nil)
}

// handles is what watchHandles counted as still in place.
type handles struct {
	Listeners int `json:"listeners"`
	Intervals int `json:"intervals"`
}

func markHandles(t *testing.T, tab *e2eenv.Tab) {
	t.Helper()
	tab.MustEval(`window.__mark()`, nil)
}

// noHandlesLeft fails the test when a listener or interval added since
// markHandles is still in place.
func noHandlesLeft(t *testing.T, tab *e2eenv.Tab) {
	t.Helper()
	var h handles
	tab.MustEval(`window.__handles()`, &h)
	if h != (handles{}) {
		t.Errorf("left in place after the popup login: %d message listeners, %d intervals", h.Listeners, h.Intervals)
	}
}

func startEnv(t *testing.T, o e2eenv.Options) *e2eenv.Env {
	o.BrowserOptions = append(o.BrowserOptions, e2eenv.PopupBlocking)
	return e2eenv.Start(t, o)
}

// popupPage is every popup test's setup: the tenant, the app and a browser
// with its popup blocker on (startEnv with o), and the test page with a
// button that calls loginWithPopup(params) (popupButton).
func popupPage(t *testing.T, o e2eenv.Options, params string) (*e2eenv.Env, *e2eenv.Tab) {
	t.Helper()
	env := startEnv(t, o)
	tab := env.OpenTestPage(t)
	popupButton(t, env, tab, params)
	return env, tab
}

// mustFailWith fails the test unless the popup login settled as a
// SilentAuthError with code whose description contains part (what the
// description must name, for the message).
func mustFailWith(t *testing.T, o outcome, code, part, what string) {
	t.Helper()
	if o.OK || !o.IsSDKError || o.Error != code {
		t.Fatalf("got %+v, want a SilentAuthError %s", o, code)
	}
	if !strings.Contains(o.Description, part) {
		t.Errorf("description %q does not %s", o.Description, what)
	}
}

func TestPopupLoginFromAClickSignsInTheOpener(t *testing.T) {
	inBothPlacements(t, popupLoginFromAClickSignsInTheOpener)
}

func popupLoginFromAClickSignsInTheOpener(t *testing.T) {
	env, tab := popupPage(t, e2eenv.Options{}, `{login_hint: "demo@example.com"}`)
	before := env.Tenant.Stats() // the loader's head start asked already
	markHandles(t, tab)
	popup, id := clickForPopup(t, tab)
	if err := submitLogin(popup, "demo@example.com", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	o := settled(t, tab)
	if !o.OK {
		t.Fatalf("loginWithPopup: %+v\nconsole:\n%s", o, strings.Join(tab.Console(), "\n"))
	}
	at, _ := o.Result["accessToken"].(string)
	payload, _ := o.Result["idTokenPayload"].(map[string]any)
	if at == "" || payload["email"] != "demo@example.com" {
		t.Fatalf("result lacks the user's tokens: %+v", o.Result)
	}
	targetGone(t, tab, id)
	noHandlesLeft(t, tab)
	st := env.Tenant.Stats()
	if st.Authorize-before.Authorize != 1 || st.AuthorizePromptNone != before.AuthorizePromptNone || st.TokenExchanges != 1 || st.Logins != 1 {
		t.Errorf("tenant saw %+v; want one interactive /authorize, one login, one code exchange", st)
	}
	// The login fed the cache: the token is served without a request.
	var cached string
	tab.MustEval(`client.getTokenSilently()`, &cached)
	if cached != at {
		t.Errorf("getTokenSilently after the popup gave another token")
	}
	var user map[string]any
	tab.MustEval(`client.getUser()`, &user)
	if user["email"] != "demo@example.com" {
		t.Errorf("getUser() = %v", user)
	}
	if st2 := env.Tenant.Stats(); st2.Authorize != st.Authorize {
		t.Errorf("getTokenSilently asked the server again: %+v", st2)
	}
	// The server's session now answers a silent request too (the head
	// start's login_required from before the login is not reused).
	var renewed map[string]any
	tab.MustEval(`client.checkSession()`, &renewed)
	if renewed["accessToken"] == "" {
		t.Errorf("checkSession after the popup login: %v", renewed)
	}
	// A second popup login, answered at once from the server's session,
	// leaves no more callbacks alive than the first: nothing leaks per login.
	settledFuncs := liveFuncs(t, tab)
	id2 := clickForPopupID(t, tab)
	if o := settled(t, tab); !o.OK {
		t.Fatalf("second loginWithPopup: %+v", o)
	}
	targetGone(t, tab, id2)
	if after := liveFuncs(t, tab); after > settledFuncs {
		t.Errorf("Go callbacks alive: %v after the first popup login, %v after the second", settledFuncs, after)
	}
}

func TestPopupClosedByTheUser(t *testing.T) { inBothPlacements(t, popupClosedByTheUser) }

func popupClosedByTheUser(t *testing.T) {
	_, tab := popupPage(t, e2eenv.Options{}, "")
	before := liveFuncs(t, tab)
	markHandles(t, tab)
	popup, _ := clickForPopup(t, tab)
	if err := popup.WaitFor(`location.pathname === "/u/login"`, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := chromedp.Run(popup.Ctx, page.Close()); err != nil {
		t.Fatal(err)
	}
	mustFailWith(t, settled(t, tab), "popup_closed", "same-origin-allow-popups", "name the COOP fix")
	if waited := time.Since(start); waited > 5*time.Second {
		t.Errorf("popup_closed came %v after the window closed", waited)
	}
	if after := liveFuncs(t, tab); after > before {
		t.Errorf("Go callbacks alive: %v before the popup, %v after", before, after)
	}
	noHandlesLeft(t, tab)
}

func TestPopupBlockedWithoutAUserGesture(t *testing.T) {
	inBothPlacements(t, popupBlockedWithoutAUserGesture)
}

func popupBlockedWithoutAUserGesture(t *testing.T) {
	env := startEnv(t, e2eenv.Options{})
	tab := env.OpenTestPage(t)
	var o outcome
	before := env.Tenant.Stats()
	tab.MustEval(`(async () => {
		window.client = await `+env.ClientJS("")+`;
		await new Promise((r) => setTimeout(r, 10)); // no gesture left, if there was one
		return client.loginWithPopup().then((result) => ({ok: true, result}),
			(e) => ({ok: false, isSDKError: silentauth.isSilentAuthError(e), error: e.error, description: e.error_description}));
	})()`, &o)
	checkPlacement(t, tab)
	mustFailWith(t, o, "popup_blocked", "click", "say to call it from a click")
	if st := env.Tenant.Stats(); st.Authorize-st.AuthorizePromptNone != before.Authorize-before.AuthorizePromptNone {
		t.Errorf("a blocked popup still reached /authorize: %+v", st)
	}
}

// A server whose login pages send Cross-Origin-Opener-Policy: same-origin
// puts the popup in another browsing context group: the opener sees it as
// closed, and the popup's window.opener is null, so it can never answer.
func TestPopupCutOffByCrossOriginOpenerPolicy(t *testing.T) {
	inBothPlacements(t, popupCutOffByCrossOriginOpenerPolicy)
}

func popupCutOffByCrossOriginOpenerPolicy(t *testing.T) {
	_, tab := popupPage(t, e2eenv.Options{TenantMiddleware: func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/authorize" || strings.HasPrefix(r.URL.Path, "/u/") {
				w.Header().Set("Cross-Origin-Opener-Policy", "same-origin")
			}
			h.ServeHTTP(w, r)
		})
	}}, `{timeoutInSeconds: 20}`)
	markHandles(t, tab)
	clickForPopup(t, tab)
	o := settled(t, tab)
	noHandlesLeft(t, tab)
	if o.OK || (o.Error != "popup_closed" && o.Error != "timeout") {
		t.Fatalf("got %+v, want popup_closed or timeout", o)
	}
	for _, want := range []string{"Cross-Origin-Opener-Policy", "same-origin-allow-popups"} {
		if !strings.Contains(o.Description, want) {
			t.Errorf("%s description %q lacks %q", o.Error, o.Description, want)
		}
	}
	t.Logf("COOP on the server's pages: %s", o.Error)
}

// The demo app's "Log in with a popup" button signs in without leaving the
// page: its click handler calls loginWithPopup directly. The wasm is served
// slowly, as on a poor network: a signed-out visitor's click comes before
// the Go runtime has started, and the window must open at the click, while
// the user's activation lasts (about 5 s), not when Go is ready.
func TestDemoPagePopupButton(t *testing.T) {
	const wasmDelay = 7 * time.Second
	env := startEnv(t, e2eenv.Options{AppMiddleware: func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, ".wasm") {
				time.Sleep(wasmDelay)
			}
			next.ServeHTTP(w, r)
		})
	}})
	tab := env.Browser.NewTab(t)
	if err := tab.Navigate(env.AppURL + "/"); err != nil {
		t.Fatal(err)
	}
	if err := tab.WaitFor(`document.querySelector("#status").dataset.state === "signed-out" && !document.querySelector("#login-popup").disabled`, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	tab.MustEval(`window.__stayed = true`, nil)
	ch := chromedp.WaitNewTarget(tab.Ctx, func(info *target.Info) bool { return info.Type == "page" && info.OpenerID == tab.ID() })
	// Enter on the focused button is a user's click that no layout shift
	// of the page (its log grows as the client works) can move off it.
	if err := chromedp.Run(tab.Ctx, chromedp.Focus("#login-popup", chromedp.ByQuery), chromedp.KeyEvent("\r")); err != nil {
		t.Fatal(err)
	}
	var id target.ID
	select {
	case id = <-ch:
	case <-time.After(wasmDelay - 2*time.Second): // before Go can have started
		t.Fatalf("the demo's popup button opened no window while the runtime loaded\nconsole:\n%s", strings.Join(tab.Console(), "\n"))
	}
	// Attached while the window is still blank, as clickForPopup does: it
	// goes to the server only once Go has started.
	ctx, cancel := chromedp.NewContext(tab.Ctx, chromedp.WithTargetID(id))
	defer cancel()
	if err := chromedp.Run(ctx); err != nil {
		t.Fatalf("attaching to the popup: %v", err)
	}
	if err := submitLogin(&e2eenv.Tab{Ctx: ctx}, "demo@example.com", wasmDelay+15*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := tab.WaitFor(`document.querySelector("#status").dataset.state === "signed-in" && window.__stayed`, 20*time.Second); err != nil {
		var text string
		_ = tab.Eval(`document.body.innerText.slice(0, 2000)`, &text)
		t.Fatalf("%v\nthe page:\n%s", err, text)
	}
	var claims string
	tab.MustEval(`document.querySelector("#claims").innerText`, &claims)
	if !strings.Contains(claims, "demo@example.com") {
		t.Errorf("#claims shows %q", claims)
	}
	targetGone(t, tab, id)
}

// A server page that never answers: timeout after the call's
// timeoutInSeconds, and the popup is closed.
func TestPopupTimeoutClosesTheWindow(t *testing.T) { inBothPlacements(t, popupTimeoutClosesTheWindow) }

func popupTimeoutClosesTheWindow(t *testing.T) {
	env, tab := popupPage(t, e2eenv.Options{}, `{timeoutInSeconds: 2}`)
	env.Tenant.SetFaults(devtenant.Faults{NoMessage: true})
	markHandles(t, tab)
	id := clickForPopupID(t, tab)
	mustFailWith(t, settled(t, tab), "timeout", "within 2 s", "name the call's timeout")
	targetGone(t, tab, id)
	noHandlesLeft(t, tab)
}

func TestPopupIgnoresMessagesFromElsewhere(t *testing.T) {
	inBothPlacements(t, popupIgnoresMessagesFromElsewhere)
}

// A window message of type authorization_response that is not from the
// popup and the server's origin (here the opener page posts one to
// itself) changes nothing: the login still completes from the popup. In
// the page placement the engine sees and refuses it (a debug line says
// why); in the worker placement the page never passes it on.
func popupIgnoresMessagesFromElsewhere(t *testing.T) {
	_, tab := popupPage(t, e2eenv.Options{}, `{login_hint: "demo@example.com"}`)
	popup, _ := clickForPopup(t, tab)
	if err := popup.WaitFor(`location.pathname === "/u/login"`, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	tab.MustEval(`window.postMessage({type: "authorization_response", response: {code: "forged", state: "forged"}}, "*"); true`, nil)
	if err := submitLogin(popup, "demo@example.com", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	o := settled(t, tab)
	if payload, _ := o.Result["idTokenPayload"].(map[string]any); !o.OK || payload["email"] != "demo@example.com" {
		t.Fatalf("loginWithPopup: %+v\nconsole:\n%s", o, strings.Join(tab.Console(), "\n"))
	}
	refused := false
	for _, line := range tab.Console() {
		refused = refused || strings.Contains(line, "popup: ignored a message")
	}
	if inPage := os.Getenv("SILENTAUTH_ENGINE") == "page"; refused != inPage {
		t.Errorf("the engine refused the forged message: %v; want %v (the page's filter keeps it from a worker's engine)\nconsole:\n%s",
			refused, inPage, strings.Join(tab.Console(), "\n"))
	}
}
