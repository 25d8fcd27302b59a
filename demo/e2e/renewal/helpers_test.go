// Package renewal_test runs renewal in headless Chromium against the dev
// tenant under faults: failing fast, a JWKS that is down or rotates, going
// offline, a session ended at the server, clock skew, polling and leaks.
package renewal_test

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/heapprofiler"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/silentauth/silentauth/demo/internal/e2eenv"
)

// TestMain lets the tests run side by side unless -parallel was given: they
// mostly wait on the SDK's wall-clock timers (3 s load grace, 5 s checks and
// retry floor, half a token's life), not on the CPU, and one after another
// they would take far longer than the package's few-minute budget.
func TestMain(m *testing.M) {
	flag.Parse()
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "test.parallel" })
	if !explicit {
		_ = flag.Set("test.parallel", "8")
	}
	os.Exit(m.Run())
}

// pageProbe runs in every document of a probed tab before any of its
// scripts: it records unhandled promise rejections, and every iframe added
// to or removed from the page, with the most alive at once.
const pageProbe = `(() => {
	window.__rejections = [];
	window.addEventListener("unhandledrejection", (e) => {
		const r = e.reason;
		window.__rejections.push(String(r && (r.error ? r.error + ": " + r.error_description : r.message) || r));
	});
	window.__frames = { opened: 0, live: 0, max: 0 };
	new MutationObserver((records) => {
		for (const rec of records) {
			for (const n of rec.addedNodes) if (n.nodeName === "IFRAME") {
				__frames.opened++; __frames.live++; __frames.max = Math.max(__frames.max, __frames.live);
			}
			for (const n of rec.removedNodes) if (n.nodeName === "IFRAME") __frames.live--;
		}
	}).observe(document, { childList: true, subtree: true });
})()`

// recordEvents is evaluated once window.client exists: every SDK event goes
// to window.__events with its local time.
const recordEvents = `(() => {
	window.__events = [];
	for (const name of ["renewed", "renew_error", "session_ended"]) {
		client.on(name, (p) => __events.push({ name, at: Date.now(),
			error: (p && p.error) || "", description: (p && p.error_description) || "",
			expiresAt: (p && p.expiresAt) || 0 }));
	}
	return true;
})()`

// event is one entry of window.__events.
type event struct {
	Name        string  `json:"name"`
	At          float64 `json:"at"`
	Error       string  `json:"error"`
	Description string  `json:"description"`
	ExpiresAt   float64 `json:"expiresAt"`
}

// authorizeLog records the tenant's prompt=none /authorize requests: when
// each arrived and how many were being answered at once.
type authorizeLog struct {
	mu          sync.Mutex
	starts      []time.Time
	inflight    int
	maxInflight int
}

func (l *authorizeLog) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/authorize" || r.URL.Query().Get("prompt") != "none" {
			next.ServeHTTP(w, r)
			return
		}
		l.mu.Lock()
		l.starts = append(l.starts, time.Now())
		l.inflight++
		l.maxInflight = max(l.maxInflight, l.inflight)
		l.mu.Unlock()
		defer func() {
			l.mu.Lock()
			l.inflight--
			l.mu.Unlock()
		}()
		next.ServeHTTP(w, r)
	})
}

// since returns the arrival times at or after t.
func (l *authorizeLog) since(t time.Time) []time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []time.Time
	for _, s := range l.starts {
		if !s.Before(t) {
			out = append(out, s)
		}
	}
	return out
}

func (l *authorizeLog) resetMax() {
	l.mu.Lock()
	l.maxInflight = l.inflight
	l.mu.Unlock()
}

func (l *authorizeLog) max() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.maxInflight
}

// skewClock is a tenant clock that runs offset ahead of (or behind) the
// real one; tests move it while the servers run.
type skewClock struct{ offset atomic.Int64 }

func (c *skewClock) now() time.Time           { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *skewClock) set(offset time.Duration) { c.offset.Store(int64(offset)) }

// harness is one tenant, app and browser with the probes attached.
type harness struct {
	*e2eenv.Env
	auth  *authorizeLog
	clock *skewClock
}

// startMu makes the parallel tests launch their Chromiums one at a time:
// several launching at once on a busy machine miss chromedp's 20 s limit
// for the DevTools websocket.
var startMu sync.Mutex

func start(t *testing.T, o e2eenv.Options) *harness {
	t.Helper()
	h := &harness{auth: &authorizeLog{}, clock: &skewClock{}}
	o.TenantMiddleware = h.auth.middleware
	o.Now = h.clock.now
	startMu.Lock()
	defer startMu.Unlock()
	h.Env = e2eenv.Start(t, o)
	return h
}

// openProbedPage is OpenTestPage with pageProbe installed in every
// document the tab loads (the login round trip loads several).
func (h *harness) openProbedPage(t *testing.T) *e2eenv.Tab {
	t.Helper()
	tab := probedTab(t, h)
	if err := tab.Navigate(h.AppURL + e2eenv.TestPagePath); err != nil {
		t.Fatal(err)
	}
	if err := tab.WaitFor("window.silentauth && silentauth.createClient", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	return tab
}

// probedTab opens a blank tab that will run pageProbe in every document.
func probedTab(t *testing.T, h *harness) *e2eenv.Tab {
	t.Helper()
	tab := h.Browser.NewTab(t)
	if err := chromedp.Run(tab.Ctx, chromedp.ActionFunc(func(ctx context.Context) error {
		_, err := page.AddScriptToEvaluateOnNewDocument(pageProbe).Do(ctx)
		return err
	})); err != nil {
		t.Fatal(err)
	}
	return tab
}

// session logs demo@example.com in with a client made with extra options
// (window.client) and starts recording its events.
func (h *harness) session(t *testing.T, extra string) *e2eenv.Tab {
	t.Helper()
	tab := h.openProbedPage(t)
	h.Login(t, tab, "demo@example.com", extra)
	tab.MustEval(recordEvents, nil)
	return tab
}

func events(t *testing.T, tab *e2eenv.Tab) []event {
	t.Helper()
	var evs []event
	tab.MustEval(`window.__events`, &evs)
	return evs
}

func named(evs []event, name string) []event {
	var out []event
	for _, e := range evs {
		if e.Name == name {
			out = append(out, e)
		}
	}
	return out
}

// waitEvents waits until the page has seen n events called name, and
// returns them.
func waitEvents(t *testing.T, tab *e2eenv.Tab, name string, n int, timeout time.Duration) []event {
	t.Helper()
	cond := fmt.Sprintf(`__events.filter(e => e.name === %q).length >= %d`, name, n)
	if err := tab.WaitFor(cond, timeout); err != nil {
		t.Fatalf("%v; events so far: %+v", err, events(t, tab))
	}
	return named(events(t, tab), name)
}

// noRejections fails the test when a promise rejection went unhandled in
// the page: the renewal timer must report through events only.
func noRejections(t *testing.T, tab *e2eenv.Tab) {
	t.Helper()
	var rej []string
	tab.MustEval(`window.__rejections`, &rej)
	if len(rej) > 0 {
		t.Errorf("unhandled promise rejections reached the page: %q", rej)
	}
}

// pageNow is Date.now() in the page, in ms.
func pageNow(t *testing.T, tab *e2eenv.Tab) float64 {
	t.Helper()
	var ms float64
	tab.MustEval(`Date.now()`, &ms)
	return ms
}

// setOffline switches the tab's network emulation.
func setOffline(t *testing.T, tab *e2eenv.Tab, offline bool) {
	t.Helper()
	err := chromedp.Run(tab.Ctx, chromedp.ActionFunc(func(ctx context.Context) error {
		if err := network.Enable().Do(ctx); err != nil {
			return err
		}
		return network.EmulateNetworkConditions(offline, 0, -1, -1).Do(ctx)
	}))
	if err != nil {
		t.Fatalf("network emulation offline=%v: %v", offline, err)
	}
}

// messageListeners counts the "message" listeners on window.
func messageListeners(t *testing.T, tab *e2eenv.Tab) int {
	t.Helper()
	return tab.Listeners(t, "window", "message")
}

// heapAfterGC forces a full garbage collection and returns the JS heap's
// used bytes (Runtime.getHeapUsage).
func heapAfterGC(t *testing.T, tab *e2eenv.Tab) float64 {
	t.Helper()
	var used float64
	err := chromedp.Run(tab.Ctx, chromedp.ActionFunc(func(ctx context.Context) error {
		for range 2 {
			if err := heapprofiler.CollectGarbage().Do(ctx); err != nil {
				return err
			}
		}
		u, _, _, _, err := runtime.GetHeapUsage().Do(ctx)
		used = u
		return err
	}))
	if err != nil {
		t.Fatal(err)
	}
	return used
}
