// Package sharedworker_test drives engine: "shared-worker" in headless
// Chromium against the dev tenant: tabs of one origin share one Go engine
// in one SharedWorker, a silent request moves to another page when its
// host page closes, and a page goes on when the browser ends the worker.
package sharedworker_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"
	"github.com/silentauth/silentauth/demo/internal/chrome"
	"github.com/silentauth/silentauth/demo/internal/e2eenv"
)

const (
	workerOption = `engine: "shared-worker"`
	pageOption   = `engine: "page"`
)

// gate holds the tenant's prompt=none /authorize requests while closed, so
// that a test can act while a silent request is in flight.
type gate struct {
	mu      sync.Mutex
	closed  bool
	open    chan struct{}
	arrived chan struct{}
}

func newGate() *gate { return &gate{open: make(chan struct{}), arrived: make(chan struct{}, 16)} }

func (g *gate) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/authorize" && r.URL.Query().Get("prompt") == "none" {
			g.mu.Lock()
			closed, open := g.closed, g.open
			g.mu.Unlock()
			if closed {
				g.arrived <- struct{}{}
				select {
				case <-open:
				case <-r.Context().Done():
					return
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

func (g *gate) close() {
	g.mu.Lock()
	g.closed, g.open = true, make(chan struct{})
	g.mu.Unlock()
}

func (g *gate) release() {
	g.mu.Lock()
	if g.closed {
		g.closed = false
		close(g.open)
	}
	g.mu.Unlock()
}

// loggedIn starts the tenant, the app and a browser, and logs the demo user
// in through a tab with the in-page engine, which it then closes: the
// session cookie stays for the silent requests.
func loggedIn(t *testing.T, g *gate) *e2eenv.Env {
	t.Helper()
	return logIn(t, e2eenv.Start(t, e2eenv.Options{TokenLifetime: time.Minute, TenantMiddleware: g.middleware}))
}

// logIn logs the demo user in on env through a tab with the in-page
// engine, which it then closes.
func logIn(t *testing.T, env *e2eenv.Env) *e2eenv.Env {
	t.Helper()
	tab := env.OpenTestPage(t)
	err := tab.Eval(`(async () => { window.client = await `+env.ClientJS(pageOption)+`; client.loginWithRedirect(); return true })()`, nil)
	if err != nil && !strings.Contains(err.Error(), "navigated or closed") {
		t.Fatal(err)
	}
	if err := e2eenv.SubmitLoginForm(tab, "demo@example.com", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := tab.WaitFor(fmt.Sprintf(`location.origin === %q && window.silentauth`, env.AppURL), 30*time.Second); err != nil {
		t.Fatal(err)
	}
	tab.MustEval(`(async () => { const c = await `+env.ClientJS(pageOption)+`; await c.handleRedirectCallback(); c.destroy(); return true })()`, nil)
	if err := chromedp.Cancel(tab.Ctx); err != nil {
		t.Fatal(err)
	}
	return env
}

// openWorkerTab opens a test page whose window.client runs in the shared
// worker and records its "renewed" events in window.renewed.
func openWorkerTab(t *testing.T, env *e2eenv.Env) *chrome.Tab {
	t.Helper()
	tab := env.OpenTestPage(t)
	tab.MustEval(`(async () => {
		window.renewed = [];
		window.client = await `+env.ClientJS(workerOption)+`;
		client.on("renewed", r => renewed.push(r.accessToken));
		return true })()`, nil)
	return tab
}

// sharedWorkers is the browser's SharedWorker targets.
func sharedWorkers(t *testing.T, tab *chrome.Tab) []*target.Info {
	t.Helper()
	infos, err := chromedp.Targets(tab.Ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []*target.Info
	for _, i := range infos {
		if i.Type == "shared_worker" {
			out = append(out, i)
		}
	}
	return out
}

func promptNone(env *e2eenv.Env) int { return env.Tenant.Stats().AuthorizePromptNone }

func iframes(t *testing.T, tab *chrome.Tab) int {
	t.Helper()
	var n int
	tab.MustEval(`document.querySelectorAll("iframe").length`, &n)
	return n
}

func TestTwoTabsShareOneEngine(t *testing.T) {
	g := newGate()
	env := loggedIn(t, g)
	before := promptNone(env)
	a := openWorkerTab(t, env)
	var tokenA, tokenB string
	a.MustEval(`client.getTokenSilently()`, &tokenA)
	b := openWorkerTab(t, env)
	b.MustEval(`client.getTokenSilently()`, &tokenB)
	if tokenA == "" || tokenA != tokenB {
		t.Fatalf("tab b got %q, tab a %q: the second tab should be served the engine's cached token", tokenB, tokenA)
	}
	if n := promptNone(env) - before; n != 1 {
		t.Errorf("%d prompt=none requests for two tabs, want 1: one engine serves both", n)
	}
	if w := sharedWorkers(t, a); len(w) != 1 {
		t.Errorf("%d shared_worker targets, want 1", len(w))
	}
	// Results reach every page through the API: getUser in tab b too.
	var sub string
	b.MustEval(`client.getUser() && client.getUser().sub`, &sub)
	if sub == "" {
		t.Error("getUser() in tab b is empty after its getTokenSilently")
	}
	// No iframe is left behind in either page.
	if n := iframes(t, a) + iframes(t, b); n != 0 {
		t.Errorf("%d iframes left in the pages", n)
	}
	// A renewal forced in tab a is an event in both tabs.
	var renewedToken string
	a.MustEval(`client.checkSession().then(r => r.accessToken)`, &renewedToken)
	for name, tab := range map[string]*chrome.Tab{"a": a, "b": b} {
		if err := tab.WaitFor(fmt.Sprintf(`renewed.includes(%q)`, renewedToken), 10*time.Second); err != nil {
			t.Errorf("tab %s: %v", name, err)
		}
	}
}

func TestASilentRequestMovesWhenItsPageCloses(t *testing.T) {
	g := newGate()
	env := loggedIn(t, g)
	a := openWorkerTab(t, env)
	b := openWorkerTab(t, env)
	// The first token comes from tab a's head start, which the engine
	// adopts; the checkSession below is a request of the engine's own.
	a.MustEval(`client.getTokenSilently().then(() => true)`, nil)
	g.close()
	before := promptNone(env)
	// Not awaited: the request is held at the tenant.
	a.MustEval(`window.got = null; client.checkSession().then(r => { window.got = r.accessToken }, e => { window.got = "error: " + e.error + ": " + e.error_description }); true`, nil)
	select {
	case <-g.arrived:
	case <-time.After(20 * time.Second):
		t.Fatal("no prompt=none request reached the tenant")
	}
	// The most recently connected visible page hosts the iframe.
	if n := iframes(t, b); n != 1 {
		t.Fatalf("tab b has %d iframes, tab a %d; want the silent request in tab b, the page connected last", n, iframes(t, a))
	}
	if err := chromedp.Cancel(b.Ctx); err != nil {
		t.Fatal(err)
	}
	g.release()
	if err := a.WaitFor(`window.got`, 30*time.Second); err != nil {
		t.Fatalf("%v\nconsole:\n%s", err, strings.Join(a.Console(), "\n"))
	}
	var got string
	a.MustEval(`window.got`, &got)
	if strings.HasPrefix(got, "error: ") {
		t.Fatalf("checkSession failed after its host page closed: %s", got)
	}
	if n := promptNone(env) - before; n != 2 {
		t.Errorf("%d prompt=none requests, want 2: the one in the closed page and the one moved to tab a", n)
	}
	if err := a.WaitFor(`document.querySelectorAll("iframe").length === 0`, 5*time.Second); err != nil {
		t.Error(err)
	}
}

func TestAPageGoesOnWhenTheWorkerIsEnded(t *testing.T) {
	g := newGate()
	env := loggedIn(t, g)
	a := openWorkerTab(t, env)
	var first string
	a.MustEval(`client.getTokenSilently()`, &first)
	workers := sharedWorkers(t, a)
	if len(workers) != 1 {
		t.Fatalf("%d shared_worker targets, want 1", len(workers))
	}
	c := chromedp.FromContext(a.Ctx)
	if err := target.CloseTarget(workers[0].TargetID).Do(cdp.WithExecutor(a.Ctx, c.Browser)); err != nil {
		t.Fatalf("closing the worker: %v", err)
	}
	if err := waitForWorkers(t, a, 0, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	// The page notices the silent port, starts a new worker and asks again:
	// the new engine holds no token, so it renews with the silent iframe.
	before := promptNone(env)
	var again string
	start := time.Now()
	a.MustEval(`client.getTokenSilently()`, &again)
	t.Logf("getTokenSilently after the worker ended answered in %v", time.Since(start).Round(10*time.Millisecond))
	if again == "" {
		t.Errorf("after the worker ended getTokenSilently gave %q (before: %q), want a token from a new engine", again, first)
	}
	if n := promptNone(env) - before; n != 1 {
		t.Errorf("%d prompt=none requests after the worker ended, want 1", n)
	}
	if w := sharedWorkers(t, a); len(w) != 1 || w[0].TargetID == workers[0].TargetID {
		t.Errorf("shared_worker targets %v after the restart, want one new one", w)
	}
}

func waitForWorkers(t *testing.T, tab *chrome.Tab, n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if got := len(sharedWorkers(t, tab)); got == n {
			return nil
		} else if time.Now().After(deadline) {
			return fmt.Errorf("%d shared_worker targets after %v, want %d", got, timeout, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// The redirect methods run in the engine and act on the calling page: the
// transaction goes to its sessionStorage, it navigates, and the callback
// reads the transaction back, cleans the address bar and removes it.
func TestInteractiveLoginThroughTheWorker(t *testing.T) {
	env := e2eenv.Start(t, e2eenv.Options{TokenLifetime: time.Minute})
	tab := env.OpenTestPage(t)
	err := tab.Eval(`(async () => { window.client = await `+env.ClientJS(workerOption)+`; client.loginWithRedirect(); return true })()`, nil)
	if err != nil && !strings.Contains(err.Error(), "navigated or closed") {
		t.Fatal(err)
	}
	if err := e2eenv.SubmitLoginForm(tab, "demo@example.com", 30*time.Second); err != nil {
		t.Fatalf("%v\nconsole:\n%s", err, strings.Join(tab.Console(), "\n"))
	}
	if err := tab.WaitFor(fmt.Sprintf(`location.origin === %q && window.silentauth`, env.AppURL), 30*time.Second); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Token, Search, Sub string
		Pending            int
	}
	tab.MustEval(`(async () => {
		window.client = await `+env.ClientJS(workerOption)+`;
		const r = await client.handleRedirectCallback();
		const pending = Object.keys(sessionStorage).filter(k => k.startsWith("silentauth.tx.")).length;
		return { token: r.accessToken, search: location.search, sub: (client.getUser() || {}).sub || "", pending };
	})()`, &got)
	if got.Token == "" || got.Sub == "" {
		t.Errorf("callback gave token %q, user %q", got.Token, got.Sub)
	}
	if strings.Contains(got.Search, "code=") || strings.Contains(got.Search, "state=") {
		t.Errorf("the address bar still holds the response: %q", got.Search)
	}
	if got.Pending != 0 {
		t.Errorf("%d login transactions left in sessionStorage", got.Pending)
	}
	// The engine now serves the signed-in user to the page without a request.
	before := promptNone(env)
	var token string
	tab.MustEval(`client.getTokenSilently()`, &token)
	if token != got.Token || promptNone(env) != before {
		t.Errorf("getTokenSilently after the callback gave another token or asked the server")
	}
}
