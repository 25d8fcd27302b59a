package oidc_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"

	"github.com/silentauth/silentauth/demo/internal/e2eenv"
)

// TestPopupLoginAtNodeOIDCProvider runs loginWithPopup against
// node-oidc-provider: a real click opens the popup, the provider's sign-in
// form is filled in the popup's own target, and the provider's web_message
// page posts the code to the opener, which exchanges it. With the engine in
// the page and in the SharedWorker, where the page opens the window and
// the worker's engine drives it.
func TestPopupLoginAtNodeOIDCProvider(t *testing.T) {
	e2eenv.EnginesNamedByTheTest(t)
	for _, engine := range []string{"page", "shared-worker"} {
		t.Run(engine, func(t *testing.T) { popupLoginAt(t, `engine: "`+engine+`"`) })
	}
}

func popupLoginAt(t *testing.T, engineOption string) {
	tab := openTestPage(t, callbackPath)
	tab.MustEval(`(async () => {
		window.client = await `+opClientJS(shared.issuer, engineOption)+`;
		const b = document.createElement("button");
		b.id = "popup-login";
		b.textContent = "Log in with a popup";
		b.onclick = () => {
			window.__popup = client.loginWithPopup().then((result) => ({ok: true, result}),
				(e) => ({ok: false, error: e.error, description: e.error_description}));
			window.__popup.then((o) => { window.__popupDone = o; });
		};
		document.body.append(b);
		return true;
	})()`, nil)
	if strings.Contains(engineOption, "shared-worker") && len(tab.SharedWorkers(t)) == 0 {
		t.Fatal("engine: \"shared-worker\", but no shared worker runs")
	}
	ch := chromedp.WaitNewTarget(tab.Ctx, func(info *target.Info) bool { return info.Type == "page" && info.OpenerID == tab.ID() })
	if err := chromedp.Run(tab.Ctx, chromedp.Click("#popup-login", chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	var id target.ID
	deadline := time.After(10 * time.Second)
	for id == "" {
		select {
		case id = <-ch:
		case <-deadline:
			t.Fatalf("no popup opened\nconsole:\n%s", strings.Join(tab.Console(), "\n"))
		case <-time.After(200 * time.Millisecond):
			skipWherePopupIsMissing(t, tab)
		}
	}
	ctx, cancel := chromedp.NewContext(tab.Ctx, chromedp.WithTargetID(id))
	defer cancel()
	// Attached at once, while the popup is still blank: attaching while it
	// navigates (later, when the engine in the worker builds the URL) can
	// leave chromedp waiting for a frame that has gone.
	if err := chromedp.Run(ctx); err != nil {
		t.Fatalf("attaching to the popup: %v", err)
	}
	popup := &e2eenv.Tab{Ctx: ctx}
	form := fmt.Sprintf(`location.origin === %q && location.pathname.startsWith("/interaction/") && document.querySelector('form[action*="/interaction/"] input[name="login"]')`, shared.issuer)
	if err := popup.WaitFor(form, 20*time.Second); err != nil {
		var at string
		_ = popup.Eval(`location.href`, &at)
		t.Fatalf("the provider's sign-in form in the popup (at %s): %v\nconsole:\n%s", at, err, strings.Join(tab.Console(), "\n"))
	}
	// Submitted after the evaluation returns: the popup closes once it answered.
	// The answer may be lost when the popup closes first: the opener's
	// outcome below says whether the form went through.
	sctx, scancel := context.WithTimeout(ctx, 5*time.Second)
	defer scancel()
	if err := chromedp.Run(sctx, chromedp.Evaluate(`(() => {
		const f = document.querySelector('form[action*="/interaction/"]');
		f.querySelector('input[name="login"]').value = "popup-user";
		f.querySelector('input[name="password"]').value = "any password";
		setTimeout(() => f.querySelector('button[type="submit"].login-submit').click(), 0);
		return true;
	})()`, nil)); err != nil && sctx.Err() == nil {
		t.Fatal(err)
	}
	var o struct {
		OK          bool           `json:"ok"`
		Result      map[string]any `json:"result"`
		Error       string         `json:"error"`
		Description string         `json:"description"`
	}
	tab.MustEval(`window.__popup`, &o)
	if !o.OK {
		t.Fatalf("loginWithPopup at node-oidc-provider: %+v\nconsole:\n%s", o, strings.Join(tab.Console(), "\n"))
	}
	payload, _ := o.Result["idTokenPayload"].(map[string]any)
	if payload["sub"] != "popup-user" || o.Result["accessToken"] == "" {
		t.Fatalf("result: %+v", o.Result)
	}
	verifyIDToken(t, shared.issuer, o.Result["idToken"].(string), "", false)
	// The provider's session from the popup answers a silent request now.
	if out := checkSession(t, tab, ""); !out.OK {
		t.Errorf("checkSession after the popup login: %v", out)
	}
}

// skipWherePopupIsMissing skips the test in the SharedWorker placement while
// that placement answers loginWithPopup with its "not available" error:
// there is no popup to drive there yet. Any other answer goes on to fail or
// pass as in the page.
func skipWherePopupIsMissing(t *testing.T, tab *e2eenv.Tab) {
	t.Helper()
	if !e2eenv.SharedWorker() {
		return
	}
	var o struct {
		Error       string `json:"error"`
		Description string `json:"description"`
	}
	tab.MustEval(`window.__popupDone || {}`, &o)
	if o.Error == "invalid_configuration" && strings.Contains(o.Description, "not available with engine") {
		t.Skipf("not in the SharedWorker placement: loginWithPopup is not available there (%s)", o.Description)
	}
}
