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
	env.LoginToCallback(t, tab, "demo@example.com", pageOption, 30*time.Second)
	tab.MustEval(`(async () => { const c = await `+env.ClientJS(pageOption)+`; await c.handleRedirectCallback(); c.destroy(); return true })()`, nil)
	if err := tab.Close(); err != nil {
		t.Fatal(err)
	}
	return env
}

// openWorkerTab opens a test page whose window.client runs in the shared
// worker and records its "renewed" events in window.renewed.
func openWorkerTab(t *testing.T, env *e2eenv.Env) *e2eenv.Tab {
	t.Helper()
	tab := env.OpenTestPage(t)
	tab.MustEval(`(async () => {
		window.renewed = [];
		window.client = await `+env.ClientJS(workerOption)+`;
		client.on("renewed", r => renewed.push(r.accessToken));
		return true })()`, nil)
	return tab
}

func iframes(t *testing.T, tab *e2eenv.Tab) int {
	t.Helper()
	var n int
	tab.MustEval(`document.querySelectorAll("iframe").length`, &n)
	return n
}

func TestTwoTabsShareOneEngine(t *testing.T) {
	g := newGate()
	env := loggedIn(t, g)
	before := env.PromptNone()
	a := openWorkerTab(t, env)
	var tokenA, tokenB string
	a.MustEval(`client.getTokenSilently()`, &tokenA)
	b := openWorkerTab(t, env)
	b.MustEval(`client.getTokenSilently()`, &tokenB)
	if tokenA == "" || tokenA != tokenB {
		t.Fatalf("tab b got %q, tab a %q: the second tab should be served the engine's cached token", tokenB, tokenA)
	}
	if n := env.PromptNone() - before; n != 1 {
		t.Errorf("%d prompt=none requests for two tabs, want 1: one engine serves both", n)
	}
	if w := a.SharedWorkers(t); len(w) != 1 {
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
	for name, tab := range map[string]*e2eenv.Tab{"a": a, "b": b} {
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
	before := env.PromptNone()
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
	if err := b.Close(); err != nil {
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
	if n := env.PromptNone() - before; n != 2 {
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
	workers := a.SharedWorkers(t)
	if len(workers) != 1 {
		t.Fatalf("%d shared_worker targets, want 1", len(workers))
	}
	if err := a.CloseTarget(workers[0].TargetID); err != nil {
		t.Fatalf("closing the worker: %v", err)
	}
	if err := a.WaitForSharedWorkers(t, 0, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	// The page notices the silent port, starts a new worker and asks again:
	// the new engine holds no token, so it renews with the silent iframe.
	before := env.PromptNone()
	var again string
	start := time.Now()
	a.MustEval(`client.getTokenSilently()`, &again)
	t.Logf("getTokenSilently after the worker ended answered in %v", time.Since(start).Round(10*time.Millisecond))
	if again == "" {
		t.Errorf("after the worker ended getTokenSilently gave %q (before: %q), want a token from a new engine", again, first)
	}
	if n := env.PromptNone() - before; n != 1 {
		t.Errorf("%d prompt=none requests after the worker ended, want 1", n)
	}
	if w := a.SharedWorkers(t); len(w) != 1 || w[0].TargetID == workers[0].TargetID {
		t.Errorf("shared_worker targets %v after the restart, want one new one", w)
	}
}

// The redirect methods run in the engine and act on the calling page: the
// transaction goes to its sessionStorage, it navigates, and the callback
// reads the transaction back, cleans the address bar and removes it.
func TestInteractiveLoginThroughTheWorker(t *testing.T) {
	env := e2eenv.Start(t, e2eenv.Options{TokenLifetime: time.Minute})
	tab := env.OpenTestPage(t)
	env.LoginToCallback(t, tab, "demo@example.com", workerOption, 30*time.Second)
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
	before := env.PromptNone()
	var token string
	tab.MustEval(`client.getTokenSilently()`, &token)
	if token != got.Token || env.PromptNone() != before {
		t.Errorf("getTokenSilently after the callback gave another token or asked the server")
	}
}
