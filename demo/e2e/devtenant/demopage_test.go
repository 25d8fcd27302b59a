package devtenant_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/silentauth/silentauth/demo/internal/e2eenv"
)

// screenshotName is where TestDemoPage leaves its picture of the demo
// page, under dist/screenshots (not committed).
const screenshotName = "demo-after-renewal.png"

// TestDemoPage drives the demo page as a person would: log in with the
// button and the tenant's form, watch a renewal happen, end the session at
// the server, check the session.
func TestDemoPage(t *testing.T) {
	t.Parallel()
	// 20 s tokens are renewed halfway through their life, within 10-15 s.
	env := e2eenv.Start(t, e2eenv.Options{TokenLifetime: 20 * time.Second})
	tab := env.OpenDemoPage(t)
	waitFor := func(cond string, timeout time.Duration) {
		t.Helper()
		if err := tab.WaitFor(cond, timeout); err != nil {
			var log string
			_ = tab.Eval(`location.href + "\n" + document.body.innerText.slice(0, 2000)`, &log)
			t.Fatalf("%v\nthe page:\n%s", err, log)
		}
	}
	click := func(id string) {
		t.Helper()
		tab.MustEvalT(t, `(() => { const b = document.querySelector("`+id+`"); if (b.disabled) throw new Error("`+id+` is disabled"); b.click(); return true })()`, nil)
	}

	tab.MustEvalT(t, `window.__e2eBeforeLogin = true`, nil)
	click("#login")
	answerTenantPages(t, env, tab, "demo@example.com", false)

	waitFor(`document.querySelector("#status").dataset.state === "signed-in"`, 20*time.Second)
	var page map[string]any
	tab.MustEvalT(t, `({claims: document.querySelector("#claims").innerText, search: location.search,
		at: document.querySelector("#access-token").textContent, countdown: document.querySelector("#countdown").textContent})`, &page)
	if claims, _ := page["claims"].(string); !strings.Contains(claims, "demo@example.com") || !strings.Contains(claims, "Demo User") {
		t.Errorf("#claims shows %q", claims)
	}
	if page["search"] != "" {
		t.Errorf("the address bar still carries the response: %v", page["search"])
	}
	if at, _ := page["at"].(string); strings.Count(at, ".") != 2 {
		t.Errorf("#access-token shows %q", at)
	}

	waitFor(`document.querySelector("#log .k-renewed")`, 30*time.Second)
	var renewals string
	tab.MustEvalT(t, `document.querySelector("#renewals").textContent`, &renewals)
	if renewals == "0" {
		t.Errorf("#renewals still says 0 after a renewed log line")
	}

	// "Call the API": the tenant's API is another origin, which the demo
	// lists in apiOrigins, so the token goes along and the API answers 200.
	click("#call-api")
	waitFor(`!["—", "…"].includes(document.querySelector("#api-result").textContent)`, 20*time.Second)
	var api string
	tab.MustEvalT(t, `document.querySelector("#api-result").textContent`, &api)
	if !strings.HasPrefix(api, "200 ") {
		t.Errorf("#api-result shows %q, want a 200 from the API", api)
	}

	var png []byte
	if err := chromedp.Run(tab.Ctx, chromedp.FullScreenshot(&png, 100)); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(e2eenv.DistDir(t), "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(dir, screenshotName)
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", shot)

	click("#logout-server")
	waitFor(`document.querySelector("#log").innerText.includes("session ended at the server only")`, 10*time.Second)
	click("#check")
	waitFor(`document.querySelector("#status").dataset.state === "session-ended"`, 10*time.Second)
	var log string
	tab.MustEvalT(t, `document.querySelector("#log").innerText`, &log)
	if !strings.Contains(log, "login_required") {
		t.Errorf("the page's log does not show login_required:\n%s", log)
	}
}

// The response-type menu is locked to code while useRefreshTokens or
// useDpop is on, whichever switch changed last: both need the code flow.
func TestDemoPageSwitchesLockTheResponseTypeToCode(t *testing.T) {
	t.Parallel()
	env := e2eenv.Start(t, e2eenv.Options{})
	tab := env.OpenDemoPage(t)
	flip := `(id => { const b = document.querySelector(id); b.click(); const r = document.querySelector("#response-type");
		return { checked: b.checked, locked: r.disabled, value: r.value }; })`
	for _, step := range []struct {
		toggle string
		locked bool
	}{
		{"#use-dpop", true},
		{"#use-refresh-tokens", true},
		{"#use-refresh-tokens", true}, // off again; DPoP still needs code
		{"#use-dpop", false},
	} {
		var got struct {
			Checked bool
			Locked  bool
			Value   string
		}
		tab.MustEvalT(t, flip+`("`+step.toggle+`")`, &got)
		if got.Locked != step.locked || got.Locked && got.Value != "code" {
			t.Errorf("after %s (now %v): the response type is %q, locked %v; want locked %v (to code)", step.toggle, got.Checked, got.Value, got.Locked, step.locked)
		}
	}
}
