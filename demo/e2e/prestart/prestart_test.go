// Package prestart_test pins the loader's head start in Chromium: while the
// Go runtime loads, the loader fetches discovery and the JWKS and opens the
// first silent request's iframe; Go adopts them, checks what they bring as
// it checks everything, and every iframe and listener goes away on every
// path.
package prestart_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/silentauth/silentauth/demo/internal/e2eenv"
)

// wasmDelay is how long silentauth.wasm is held back after the tenant
// answered the prestarted /authorize (or at most wasmHold), so that the
// server's message surely arrives before Go is ready.
const (
	wasmDelay = 300 * time.Millisecond
	wasmHold  = 5 * time.Second
)

type env struct {
	*e2eenv.Env
	hits e2eenv.PathCounts // the tenant's requests
	// delayWasm holds silentauth.wasm back (see wasmDelay); holdDiscovery,
	// while open, holds the discovery document back until it is closed.
	delayWasm     atomic.Bool
	holdDiscovery atomic.Pointer[chan struct{}]
	failDiscovery atomic.Bool // discovery answers 503
	// wasmExtra holds silentauth.wasm back this much longer than wasmDelay.
	wasmExtra atomic.Int64

	// exchanges: the tenant's code exchanges, in order; those before
	// exchangesFrom came before the last reset.
	exchanges     e2eenv.CodeExchanges
	exchangesFrom int
}

// holdDiscoveryFor makes discovery answer d after it is asked (or when the
// returned release is called, if sooner), until the test ends.
func (e *env) holdDiscoveryFor(t *testing.T, d time.Duration) (release func()) {
	ch := make(chan struct{})
	e.holdDiscovery.Store(&ch)
	var once sync.Once
	release = func() { once.Do(func() { close(ch) }) }
	time.AfterFunc(d, release)
	t.Cleanup(func() { release(); e.holdDiscovery.Store(nil) })
	return release
}

// wasmAtOnce serves silentauth.wasm without the wasmDelay hold until the
// test ends: for tests whose first iframe is late or goes elsewhere.
func (e *env) wasmAtOnce(t *testing.T) {
	e.delayWasm.Store(false)
	t.Cleanup(func() { e.delayWasm.Store(true) })
}

func (e *env) count(path string) int { return e.hits.Get(path) }

// codeExchanges is the access tokens of the code exchanges since the last reset.
func (e *env) codeExchanges() []string { return e.exchanges.Tokens()[e.exchangesFrom:] }

func (e *env) reset() {
	e.hits.Reset()
	e.exchangesFrom = len(e.exchanges.Tokens())
}

func start(t *testing.T) *env {
	t.Helper()
	e := &env{}
	e.Env = e2eenv.Start(t, e2eenv.Options{
		TenantMiddleware: func(tenant http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				e.hits.Count(r)
				if hold := e.holdDiscovery.Load(); hold != nil && r.URL.Path == "/.well-known/openid-configuration" {
					<-*hold
				}
				if e.failDiscovery.Load() && r.URL.Path == "/.well-known/openid-configuration" {
					// An answer the page can read (CORS), so the loader sees a 503, not a network error.
					w.Header().Set("Access-Control-Allow-Origin", "*")
					http.Error(w, "down", http.StatusServiceUnavailable)
					return
				}
				if r.URL.Path == "/oauth/token" {
					e.exchanges.Wrap(tenant).ServeHTTP(w, r)
					return
				}
				tenant.ServeHTTP(w, r)
			})
		},
		AppMiddleware: func(page http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if strings.HasSuffix(r.URL.Path, ".wasm") && e.delayWasm.Load() {
					for end := time.Now().Add(wasmHold); e.count("/authorize") == 0 && time.Now().Before(end); {
						time.Sleep(10 * time.Millisecond)
					}
					time.Sleep(wasmDelay + time.Duration(e.wasmExtra.Load()))
				}
				page.ServeHTTP(w, r)
			})
		},
	})
	tab := e.OpenTestPage(t)
	e.Login(t, tab, "demo@example.com", "")
	e.delayWasm.Store(true)
	return e
}

// fresh opens a new tab on the test page: no runtime yet, so the next
// createClient gets the head start, and no discovery kept from an earlier
// load, so that it waits for discovery. The page notes when the server's
// message arrived.
func (e *env) fresh(t *testing.T) *e2eenv.Tab {
	t.Helper()
	tab := e.freshKeepingCache(t)
	tab.MustEval(`for (const k of Object.keys(localStorage)) if (k.startsWith("silentauth.discovery:")) localStorage.removeItem(k); true`, nil)
	return tab
}

// freshKeepingCache is fresh with the discovery the last load kept.
func (e *env) freshKeepingCache(t *testing.T) *e2eenv.Tab {
	t.Helper()
	tab := e.Browser.NewTab(t)
	if err := tab.Navigate(e.AppURL + e2eenv.TestPagePath); err != nil {
		t.Fatal(err)
	}
	if err := tab.WaitFor("window.silentauth", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	tab.MustEval(fmt.Sprintf(`window.addEventListener("message", (e) => {
		if (e.origin === %q && !window.serverAnswered) window.serverAnswered = performance.now();
	}); true`, e.TenantURL), nil)
	e.reset()
	return tab
}

func (e *env) clientJS(extra string) string {
	opts := fmt.Sprintf(`{domain: %q, clientId: "spa", redirectUri: %q, debug: true, autoRenew: false%s}`,
		e.TenantURL, e.AppURL+e2eenv.TestPagePath, extra)
	return "silentauth.createClient(" + opts + ")"
}

// result is a checkSession as the page saw it.
type result struct {
	OK          bool    `json:"ok"`
	Error       string  `json:"error"`
	Description string  `json:"description"`
	Ready       float64 `json:"ready"`
	Answered    float64 `json:"answered"`
}

func (e *env) noFramesLeft(t *testing.T, tab *e2eenv.Tab) {
	t.Helper()
	if err := tab.WaitFor(`document.querySelectorAll("iframe").length === 0`, 5*time.Second); err != nil {
		var n int
		_ = tab.Eval(`document.querySelectorAll("iframe").length`, &n)
		t.Errorf("%d iframes left: %v", n, err)
	}
}

// laterCheckSession is a later checkSession by window.client, which must
// get a token and leave no iframe.
func (e *env) laterCheckSession(t *testing.T, tab *e2eenv.Tab) {
	t.Helper()
	var r result
	tab.MustEval(`client.checkSession().then((s) => ({ok: !!s.accessToken}))`, &r)
	if !r.OK {
		t.Fatalf("checkSession: %+v", r)
	}
	e.noFramesLeft(t, tab)
}

// wantAdopted checks a checkSession that should have used the loader's
// request: it succeeded, Go adopted the request, the tenant saw one
// /authorize and one code exchange, and no iframe is left.
func (e *env) wantAdopted(t *testing.T, tab *e2eenv.Tab, r result) {
	t.Helper()
	e.wantSucceeded(t, tab, r, "adopted the prestarted silent request", 1)
	if n := len(e.codeExchanges()); n != 1 {
		t.Errorf("%d code exchanges, want 1", n)
	}
}

// earlyExchange is the debug line of a code exchange the loader sent
// before Go was ready, and Go adopted.
const earlyExchange = "the code exchange the head start sent early is adopted"

// wantSucceeded checks a checkSession that succeeded, logged line (whether
// Go adopted the loader's request), and cost authorizes requests to
// /authorize, leaving no iframe.
func (e *env) wantSucceeded(t *testing.T, tab *e2eenv.Tab, r result, line string, authorizes int) {
	t.Helper()
	if !r.OK {
		t.Fatalf("checkSession: %+v", r)
	}
	if !tab.ConsoleHas(0, line) {
		t.Errorf("no %q line; console:\n%s", line, strings.Join(tab.Console(), "\n"))
	}
	if n := e.count("/authorize"); n != authorizes {
		t.Errorf("/authorize asked %d times, want %d", n, authorizes)
	}
	e.noFramesLeft(t, tab)
}

func TestPrestart(t *testing.T) {
	e := start(t)

	t.Run("the first checkSession adopts the loader's discovery, JWKS and iframe, answered before Go was ready", func(t *testing.T) {
		tab := e.fresh(t)
		var r result
		tab.MustEval(`(async () => {
			window.client = await `+e.clientJS("")+`;
			const ready = performance.now();
			const s = await client.checkSession();
			return {ok: !!s.accessToken && !!s.idTokenPayload, ready, answered: window.serverAnswered || 0};
		})()`, &r)
		e.wantAdopted(t, tab, r)
		if !tab.ConsoleHas(0, earlyExchange) {
			t.Errorf("no %q line; console:\n%s", earlyExchange, strings.Join(tab.Console(), "\n"))
		}
		if r.Answered == 0 || r.Answered > r.Ready {
			t.Errorf("the server answered at %.0f ms, the client was ready at %.0f ms: the buffer was not exercised", r.Answered, r.Ready)
		}
		for _, p := range []string{"/.well-known/openid-configuration", "/.well-known/jwks.json"} {
			if n := e.count(p); n != 1 {
				t.Errorf("%s requested %d times, want once", p, n)
			}
		}
		var s struct{ LiveFrames, LiveFuncs int }
		tab.MustEval(`client.destroy(), silentauth.stats()`, &s)
		if s.LiveFrames != 0 {
			t.Errorf("stats after destroy: %+v", s)
		}
	})

	t.Run("with offline_access in the scope the loader redeems no code: Go does", func(t *testing.T) {
		tab := e.fresh(t)
		var r result
		tab.MustEval(`(async () => {
			window.client = await `+e.clientJS(`, scope: "openid profile email offline_access"`)+`;
			const ready = performance.now();
			const s = await client.checkSession();
			return {ok: !!s.accessToken && !!s.idTokenPayload, ready, answered: window.serverAnswered || 0};
		})()`, &r)
		e.wantAdopted(t, tab, r)
		if r.Answered == 0 || r.Answered > r.Ready {
			t.Errorf("the server answered at %.0f ms, the client was ready at %.0f ms: the loader had its chance", r.Answered, r.Ready)
		}
		if tab.ConsoleHas(0, earlyExchange) {
			t.Errorf("an early code exchange with offline_access; console:\n%s", strings.Join(tab.Console(), "\n"))
		}
	})

	t.Run("a forged answer posted before Go is ready is ignored", func(t *testing.T) {
		tab := e.fresh(t)
		var r result
		tab.MustEval(`(async () => {
			const creating = `+e.clientJS("")+`;
			// The page (any script on it) can read the iframe's state; its
			// post comes from the wrong origin and window, and must not count.
			await new Promise((ok) => { const w = () => document.querySelector("iframe") ? ok() : setTimeout(w, 5); w(); });
			const state = new URL(document.querySelector("iframe").src).searchParams.get("state");
			window.postMessage({type: "authorization_response", response: {state, access_token: "forged", token_type: "Bearer", expires_in: 3600}}, "*");
			window.client = await creating;
			const s = await client.checkSession();
			return {ok: !!s.accessToken && s.accessToken !== "forged" && !!s.idTokenPayload};
		})()`, &r)
		if !r.OK {
			t.Fatalf("checkSession: %+v", r)
		}
		// The loader keeps only its iframe's messages, so the forgery never
		// reaches Go's checks at all.
		if !tab.ConsoleHas(0, "adopted the prestarted silent request") {
			t.Errorf("want the request adopted and the forged message ignored; console:\n%s", strings.Join(tab.Console(), "\n"))
		}
		e.noFramesLeft(t, tab)
	})

	t.Run("a flood of posts before Go is ready does not push the server's answer out", func(t *testing.T) {
		// Go starts well after the answer, so the flood lands in between.
		e.wasmExtra.Store(int64(1500 * time.Millisecond))
		t.Cleanup(func() { e.wasmExtra.Store(0) })
		tab := e.fresh(t)
		var r result
		tab.MustEval(`(async () => {
			// The head start lasts the request's timeout: long enough for a
			// runtime that a loaded machine starts seconds late.
			const creating = `+e.clientJS(`, timeoutInSeconds: 10`)+`;
			// Any script on the page can post; once the server has answered,
			// a flood of its posts must not displace that answer.
			await new Promise((ok) => { const w = () => window.serverAnswered ? ok() : setTimeout(w, 2); w(); });
			// The server's page may post its answer more than once; the flood
			// goes on until the client is there, so it follows every copy.
			let n = 0;
			const flood = setInterval(() => {
				for (let i = 0; i < 40; i++) window.postMessage({type: "authorization_response", response: {state: "flood-" + n++}}, "*");
			}, 1);
			try { window.client = await creating; } finally { clearInterval(flood); }
			// When Go could first take a message: the runtime's download ended.
			const wasm = performance.getEntriesByType("resource").filter((r) => r.name.endsWith(".wasm")).pop();
			const ready = wasm ? wasm.responseEnd : performance.now();
			console.log("flood: " + n + " posts; answer at " + window.serverAnswered + " ms, runtime downloaded at " + ready + " ms");
			try {
				const s = await client.checkSession();
				return {ok: !!s.accessToken && !!s.idTokenPayload, ready, answered: window.serverAnswered};
			} catch (err) {
				return {ok: false, error: err.error, description: err.error_description};
			}
		})()`, &r)
		if !r.OK {
			t.Fatalf("checkSession after the flood: %+v; console:\n%s", r, strings.Join(tab.Console(), "\n"))
		}
		if r.Answered == 0 || r.Answered > r.Ready {
			t.Errorf("the server answered at %.0f ms, the runtime was there at %.0f ms: the buffer was not exercised", r.Answered, r.Ready)
		}
		// A lost answer shows as a second /authorize: Go races a fresh
		// request when the adopted one stays unanswered.
		e.wantAdopted(t, tab, r)
	})

	t.Run("a first request with other parameters discards the prestarted one", func(t *testing.T) {
		tab := e.fresh(t)
		tab.MustEval(`window.creating = `+e.clientJS("")+`; true`, nil)
		// The loader redeems the prestarted request's code before Go asks.
		for end := time.Now().Add(5 * time.Second); len(e.codeExchanges()) == 0 && time.Now().Before(end); {
			time.Sleep(10 * time.Millisecond)
		}
		early := e.codeExchanges()
		if len(early) != 1 || early[0] == "" {
			t.Fatalf("code exchanges before Go asked: %q, want the loader's one", early)
		}
		var r struct {
			result
			Token string `json:"token"`
		}
		tab.MustEval(`(async () => {
			window.client = await creating;
			const s = await client.checkSession({scope: "openid email"});
			return {ok: !!s.accessToken, token: s.accessToken};
		})()`, &r)
		// The prestarted request and Go's own.
		e.wantSucceeded(t, tab, r.result, "not adopted", 2)
		if tab.ConsoleHas(0, earlyExchange) {
			t.Errorf("the discarded request's exchange was adopted; console:\n%s", strings.Join(tab.Console(), "\n"))
		}
		got := e.codeExchanges()
		if len(got) != 2 || r.Token != got[1] {
			t.Errorf("the page's token is not from Go's own exchange (%d exchanges)", len(got))
		}
		var later string
		tab.MustEval(`client.checkSession().then((s) => s.accessToken)`, &later)
		if r.Token == early[0] || later == early[0] {
			t.Error("the discarded exchange's token reached the page")
		}
		e.laterCheckSession(t, tab)
	})

	t.Run("a createClient that fails removes the prestarted iframe", func(t *testing.T) {
		tab := e.fresh(t)
		var r result
		tab.MustEval(`(async () => {
			try { await `+e.clientJS(`, leewayInSeconds: "soon"`)+`; return {ok: true}; }
			catch (err) { return {ok: false, error: err.error}; }
		})()`, &r)
		if r.OK || r.Error != "invalid_configuration" {
			t.Fatalf("createClient: %+v, want invalid_configuration", r)
		}
		e.noFramesLeft(t, tab)
	})

	t.Run("a prestarted request nobody asks for is removed at the timeout", func(t *testing.T) {
		tab := e.fresh(t)
		tab.MustEval(`(async () => { window.client = await `+e.clientJS(`, timeoutInSeconds: 2`)+`; return true })()`, nil)
		if err := tab.WaitFor(`document.querySelectorAll("iframe").length === 0`, 4*time.Second); err != nil {
			t.Fatal(err)
		}
		// Go never took it; a later checkSession makes its own request.
		e.laterCheckSession(t, tab)
	})

	// Compiling the wasm and starting Go hold the main thread for hundreds
	// of milliseconds; the iframe goes in first so that its /authorize is on
	// the network meanwhile. Discovery is held 150 ms and the wasm is not,
	// so without the gate the compile would surely start first. The gate is
	// capped at 300 ms: on a loaded machine discovery, its parsing and the
	// PKCE digest may take longer, and then compiling without the iframe is
	// the cap working, not a failure.
	t.Run("the runtime is compiled only once the prestarted iframe is in the page", func(t *testing.T) {
		e.wasmAtOnce(t)
		tab := e.fresh(t)
		e.holdDiscoveryFor(t, 150*time.Millisecond)
		var r struct {
			Compiled bool
			Frames   int
			After    float64 // ms from createClient to the compile
			OK       bool
		}
		tab.MustEval(`(async () => {
			const streaming = WebAssembly.instantiateStreaming;
			let frames = -1, after = 0;
			const start = performance.now();
			WebAssembly.instantiateStreaming = (...args) => {
				frames = [...document.querySelectorAll("iframe")].filter((f) => f.src.includes("/authorize")).length;
				after = performance.now() - start;
				return streaming(...args);
			};
			window.client = await `+e.clientJS("")+`;
			WebAssembly.instantiateStreaming = streaming;
			const s = await client.checkSession();
			return {compiled: frames >= 0, frames, after, ok: !!s.accessToken};
		})()`, &r)
		if !r.Compiled {
			t.Fatal("the loader did not compile through instantiateStreaming; the test sees nothing")
		}
		if r.Frames != 1 && r.After < 290 {
			t.Errorf("the compile began %.0f ms after createClient, under the cap, with %d /authorize iframes in the page; want the prestarted one first", r.After, r.Frames)
		}
		if !r.OK {
			t.Errorf("checkSession: %+v", r)
		}
		e.noFramesLeft(t, tab)
	})

	t.Run("a discovery that does not answer delays the runtime by the cap, not until it answers", func(t *testing.T) {
		e.wasmAtOnce(t)
		tab := e.fresh(t)
		release := e.holdDiscoveryFor(t, 20*time.Second)
		var created bool
		tab.MustEval(`(async () => { window.client = await `+e.clientJS("")+`; return true })()`, &created)
		if e.count("/authorize") != 0 {
			t.Fatalf("/authorize was asked while discovery was held")
		}
		release()
		if !created {
			t.Fatalf("createClient did not resolve")
		}
		e.laterCheckSession(t, tab)
	})

	t.Run("a later page load opens its iframe from the discovery the last one kept, before discovery answers", func(t *testing.T) {
		seed := e.fresh(t)
		seed.MustEval(`(async () => { const c = await `+e.clientJS("")+`; await c.checkSession(); c.destroy(); return true })()`, nil)
		var kept string
		seed.MustEval(fmt.Sprintf(`localStorage.getItem("silentauth.discovery:" + %q) || ""`, e.TenantURL), &kept)
		if !strings.Contains(kept, `"authorization_endpoint":"`+e.TenantURL+`/authorize"`) || strings.Contains(kept, "token_endpoint") {
			t.Fatalf("kept discovery %q: want the head start's fields only", kept)
		}
		tab := e.freshKeepingCache(t)
		release := e.holdDiscoveryFor(t, 20*time.Second)
		tab.MustEval(`window.creating = `+e.clientJS("")+`; true`, nil)
		if err := tab.WaitFor(`document.querySelector("iframe") !== null`, 5*time.Second); err != nil {
			t.Fatal(err)
		}
		for end := time.Now().Add(5 * time.Second); e.count("/authorize") == 0 && time.Now().Before(end); {
			time.Sleep(10 * time.Millisecond)
		}
		if n := e.count("/authorize"); n != 1 {
			t.Fatalf("/authorize asked %d times while discovery was held, want the prestarted request", n)
		}
		release()
		var r result
		tab.MustEval(`creating.then((c) => (window.client = c).checkSession()).then((s) => ({ok: !!s.accessToken && !!s.idTokenPayload}))`, &r)
		e.wantAdopted(t, tab, r)
	})

	t.Run("a kept endpoint that moved: the loader drops its iframe and Go asks where discovery says", func(t *testing.T) {
		// The wasm is not held for /authorize here: the first iframe goes elsewhere.
		e.wasmAtOnce(t)
		tab := e.fresh(t)
		tab.MustEval(fmt.Sprintf(`localStorage.setItem("silentauth.discovery:" + %[1]q, JSON.stringify({issuer: %[1]q,
			authorization_endpoint: %[1]q + "/moved/authorize", jwks_uri: %[1]q + "/.well-known/jwks.json", at: Date.now()})); true`, e.TenantURL), nil)
		var r result
		tab.MustEval(`(async () => {
			window.client = await `+e.clientJS("")+`;
			const s = await client.checkSession();
			return {ok: !!s.accessToken && !!s.idTokenPayload};
		})()`, &r)
		if !r.OK {
			t.Fatalf("checkSession: %+v", r)
		}
		if n, m := e.count("/authorize"), e.count("/moved/authorize"); n != 1 || m > 1 {
			t.Errorf("/authorize asked %d times and /moved/authorize %d, want once and at most once", n, m)
		}
		var kept string
		tab.MustEval(fmt.Sprintf(`localStorage.getItem("silentauth.discovery:" + %q) || ""`, e.TenantURL), &kept)
		if !strings.Contains(kept, `"authorization_endpoint":"`+e.TenantURL+`/authorize"`) {
			t.Errorf("kept discovery %q: want it replaced by the server's", kept)
		}
		e.noFramesLeft(t, tab)
	})

	t.Run("a kept discovery whose server now fails: the loader drops its iframe", func(t *testing.T) {
		e.wasmAtOnce(t)
		tab := e.fresh(t)
		tab.MustEval(fmt.Sprintf(`localStorage.setItem("silentauth.discovery:" + %[1]q, JSON.stringify({issuer: %[1]q,
			authorization_endpoint: %[1]q + "/authorize", jwks_uri: %[1]q + "/.well-known/jwks.json", at: Date.now()})); true`, e.TenantURL), nil)
		e.failDiscovery.Store(true)
		defer e.failDiscovery.Store(false)
		var r result
		tab.MustEval(`(async () => {
			window.client = await `+e.clientJS("")+`;
			try { await client.checkSession(); return {ok: true}; } catch (err) { return {ok: false, error: err.error}; }
		})()`, &r)
		if r.OK {
			t.Fatalf("checkSession succeeded with discovery down: %+v", r)
		}
		e.noFramesLeft(t, tab)
	})

	t.Run("a page whose storage throws still gets the head start", func(t *testing.T) {
		tab := e.fresh(t)
		var r result
		tab.MustEval(`(async () => {
			// As in a sandboxed frame or with storage blocked: every access throws.
			Object.defineProperty(window, "localStorage", {get() { throw new DOMException("denied", "SecurityError"); }});
			window.client = await `+e.clientJS("")+`;
			const s = await client.checkSession();
			return {ok: !!s.accessToken && !!s.idTokenPayload};
		})()`, &r)
		e.wantAdopted(t, tab, r)
	})

	t.Run("destroy before the first request removes the prestarted iframe", func(t *testing.T) {
		tab := e.fresh(t)
		tab.MustEval(`(async () => { const c = await `+e.clientJS("")+`; c.destroy(); return true })()`, nil)
		e.noFramesLeft(t, tab)
	})
}
