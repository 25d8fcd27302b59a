package renewal_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/silentauth/silentauth/demo/devtenant"
	"github.com/silentauth/silentauth/demo/internal/e2eenv"
)

// timeoutDescription is auth0.js's words for a silent request that got no answer.
const timeoutDescription = "Timeout during executing web_message communication"

// attempt is one checkSession by a fresh client, timed in the page.
type attempt struct {
	OK          bool    `json:"ok"`
	Error       string  `json:"error"`
	Description string  `json:"description"`
	Ms          float64 `json:"ms"`
	Frames      int     `json:"frames"` // iframes the attempt added to the page
}

// checkOnce creates a client with opts (a JS object literal body), times
// one checkSession from call to settlement, and destroys the client.
func checkOnce(t *testing.T, tab *e2eenv.Tab, opts string) attempt {
	t.Helper()
	var a attempt
	tab.MustEval(`(async () => {
		const c = await silentauth.createClient({ assumeSignedOut: false, `+opts+` });
		const frames0 = window.__frames ? __frames.opened : 0;
		const t0 = performance.now();
		try {
			await c.checkSession();
			return { ok: true, ms: performance.now() - t0, frames: (window.__frames ? __frames.opened : 0) - frames0 };
		} catch (e) {
			return { error: e.error, description: e.error_description, ms: performance.now() - t0,
				frames: (window.__frames ? __frames.opened : 0) - frames0 };
		} finally {
			c.destroy();
		}
	})()`, &a)
	return a
}

func TestSilentRequestsFailFast(t *testing.T) {
	t.Parallel()
	h := start(t, e2eenv.Options{})
	tab := h.openProbedPage(t)
	// A long timeout, so that "fast" below means the SDK noticed, not that it gave up.
	const timeoutSeconds = 60
	base := fmt.Sprintf(`domain: %q, clientId: "spa", redirectUri: %q, timeoutInSeconds: %d`,
		h.TenantURL, h.AppURL+e2eenv.TestPagePath, timeoutSeconds)
	fast := time.Duration(timeoutSeconds) * time.Second / 4

	assertFast := func(t *testing.T, a attempt, what string) {
		t.Helper()
		t.Logf("%s: %s after %.0f ms (%d iframes): %s", what, a.Error, a.Ms, a.Frames, a.Description)
		if time.Duration(a.Ms*float64(time.Millisecond)) > fast {
			t.Errorf("%s took %.0f ms, want under %v (timeoutInSeconds is %d)", what, a.Ms, fast, timeoutSeconds)
		}
	}
	// checkFastUnder is checkOnce with the tenant's faults set to f (and
	// cleared after), which must settle fast.
	checkFastUnder := func(t *testing.T, f devtenant.Faults, what string) attempt {
		t.Helper()
		h.Tenant.SetFaults(f)
		defer h.Tenant.SetFaults(devtenant.Faults{})
		a := checkOnce(t, tab, base)
		assertFast(t, a, what)
		return a
	}

	t.Run("server down after discovery: Chrome's error page in the iframe is a fast timeout", func(t *testing.T) {
		// A tenant of our own, so that its listener can be closed, and a page
		// without the test page's CSP, which only allows the main tenant.
		page, pageURL := sdkPage(t, h, false)
		l, url := e2eenv.Listen(t, "localhost")
		down, err := devtenant.New(devtenant.Config{Issuer: url, AppOrigins: []string{pageURL}})
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: down, ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.Serve(l) }()
		defer srv.Close()
		opts := fmt.Sprintf(`domain: %q, clientId: "spa", timeoutInSeconds: %d`, url, timeoutSeconds)
		tab := page
		var a attempt
		tab.MustEval(`(async () => {
			window.downClient = await silentauth.createClient({ assumeSignedOut: false, `+opts+` });
			try { await downClient.checkSession(); return { ok: true } } catch (e) { return { error: e.error } }
		})()`, &a)
		if a.Error != "login_required" {
			t.Fatalf("while the server is up: %+v, want login_required", a)
		}
		_ = srv.Close() // the listener and every connection
		tab.MustEval(`(async () => {
			const frames0 = __frames.opened, t0 = performance.now();
			try { await downClient.checkSession(); return { ok: true } }
			catch (e) { return { error: e.error, description: e.error_description, ms: performance.now() - t0, frames: __frames.opened - frames0 } }
			finally { downClient.destroy() }
		})()`, &a)
		assertFast(t, a, "server down")
		// With no valid token, a request unanswered at 2 s, 4 s, 8 s… is
		// raced by a fresh iframe at each of those ages: Chrome's error page
		// for a refused connection can take that long on a loaded machine.
		// Never an iframe more than those races.
		if a.Error != "timeout" || !strings.HasPrefix(a.Description, timeoutDescription) ||
			!strings.Contains(a.Description, "page loaded in the iframe but posted no answer") || a.Frames < 1 || a.Frames > 1+racesWithin(a.Ms) {
			t.Errorf("server down: %+v, want one iframe (and one more per race age of 2, 4, 8… s reached) and a timeout saying the page loaded but posted nothing", a)
		}
	})

	t.Run("500 page is a fast timeout", func(t *testing.T) {
		a := checkFastUnder(t, devtenant.Faults{AuthorizeStatus500: true}, "500 page")
		if a.Error != "timeout" || !strings.Contains(a.Description, "posted no answer") {
			t.Errorf("500 page: %+v, want a timeout saying the page loaded but posted nothing", a)
		}
	})

	t.Run("page that posts nothing is a fast timeout", func(t *testing.T) {
		a := checkFastUnder(t, devtenant.Faults{NoMessage: true}, "NoMessage")
		if a.Error != "timeout" || !strings.HasPrefix(a.Description, timeoutDescription+". ") ||
			!strings.Contains(a.Description, "posted no answer") || !strings.Contains(a.Description, "Allowed Web Origins") {
			t.Errorf("NoMessage: %+v, want a timeout that names the silent page and Allowed Web Origins", a)
		}
	})

	t.Run("discovery without web_message is invalid_configuration before any iframe", func(t *testing.T) {
		before := h.Tenant.Stats()
		a := checkFastUnder(t, devtenant.Faults{NoWebMessageInDiscovery: true}, "no web_message")
		after := h.Tenant.Stats()
		if a.Error != "invalid_configuration" || !strings.Contains(a.Description, "web_message") {
			t.Errorf("no web_message: %+v, want invalid_configuration naming web_message", a)
		}
		if a.Frames != 0 || after.Authorize != before.Authorize || after.Discovery != before.Discovery+1 {
			t.Errorf("no web_message: %d iframes, %d authorize and %d discovery requests; want 0, 0, 1",
				a.Frames, after.Authorize-before.Authorize, after.Discovery-before.Discovery)
		}
	})

	t.Run("cross-origin isolated page is an immediate timeout that says why", func(t *testing.T) {
		coi, _ := sdkPage(t, h, true)
		if err := coi.WaitFor(`window.crossOriginIsolated === true`, 5*time.Second); err != nil {
			t.Fatalf("the COOP/COEP page is not cross-origin isolated: %v", err)
		}
		before := h.Tenant.Stats()
		// redirectUri defaults to the isolated page's own origin.
		a := checkOnce(t, coi, fmt.Sprintf(`domain: %q, clientId: "spa", timeoutInSeconds: %d`, h.TenantURL, timeoutSeconds))
		assertFast(t, a, "cross-origin isolated")
		if a.Error != "timeout" || !strings.HasPrefix(a.Description, timeoutDescription+". ") ||
			!strings.Contains(a.Description, "cross-origin isolated") || a.Frames != 0 {
			t.Errorf("cross-origin isolated: %+v, want a timeout explaining COOP/COEP, and no iframe", a)
		}
		if n := h.Tenant.Stats().Authorize - before.Authorize; n != 0 {
			t.Errorf("%d authorize requests from an isolated page, want 0", n)
		}
	})

	t.Run("server slower than timeoutInSeconds is a plain timeout at the deadline", func(t *testing.T) {
		h.Tenant.SetFaults(devtenant.Faults{Delay: 8 * time.Second})
		defer h.Tenant.SetFaults(devtenant.Faults{})
		a := checkOnce(t, tab, fmt.Sprintf(`domain: %q, clientId: "spa", redirectUri: %q, timeoutInSeconds: 2`,
			h.TenantURL, h.AppURL+e2eenv.TestPagePath))
		t.Logf("slow server: %s after %.0f ms: %s", a.Error, a.Ms, a.Description)
		if a.Error != "timeout" || a.Description != timeoutDescription {
			t.Errorf("slow server: %+v, want timeout with exactly %q", a, timeoutDescription)
		}
		if a.Ms < 1900 || a.Ms > 6000 {
			t.Errorf("slow server: settled after %.0f ms, want at the 2 s deadline", a.Ms)
		}
	})
	noRejections(t, tab)
}

// sdkPage serves a page that loads the SDK, on an origin of its own and
// without the test page's CSP, and opens it. An isolated page is served with
// COOP same-origin and COEP require-corp, and the SDK's files with CORP.
func sdkPage(t *testing.T, h *harness, isolated bool) (*e2eenv.Tab, string) {
	t.Helper()
	files := http.StripPrefix("/silentauth/", http.FileServer(http.Dir(e2eenv.DistDir(t))))
	mux := http.NewServeMux()
	mux.Handle("/silentauth/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isolated {
			w.Header().Set("Cross-Origin-Resource-Policy", "same-origin")
		}
		files.ServeHTTP(w, r)
	}))
	mux.HandleFunc("/page.html", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if isolated {
			w.Header().Set("Cross-Origin-Opener-Policy", "same-origin")
			w.Header().Set("Cross-Origin-Embedder-Policy", "require-corp")
		}
		fmt.Fprint(w, `<!doctype html><html><head><meta charset="utf-8"><title>sdk</title>`+
			`<script src="/silentauth/silentauth.js"></script></head><body><p>sdk</p></body></html>`)
	})
	l, url := e2eenv.Listen(t, "localhost")
	e2eenv.Serve(t, l, mux)
	tab := probedTab(t, h)
	if err := tab.Navigate(url + "/page.html"); err != nil {
		t.Fatal(err)
	}
	if err := tab.WaitFor("window.silentauth && silentauth.createClient", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	return tab, url
}

// racesWithin is how many race ages (2 s, then doubling) a silent request
// reaches in ms milliseconds: how many iframes may race its first.
func racesWithin(ms float64) int {
	n := 0
	for age := 2000.0; age <= ms; age *= 2 {
		n++
	}
	return n
}
