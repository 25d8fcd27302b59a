// Package e2eenv starts what the end-to-end tests drive: the dev tenant and
// the demo application on localhost ports of their own, and headless
// Chromium. The servers run in the test's process, so tests can flip the
// tenant's fault switches and read its counters directly.
package e2eenv

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/silentauth/silentauth/demo/demoserver"
	"github.com/silentauth/silentauth/demo/devtenant"
	"github.com/silentauth/silentauth/demo/internal/chrome"
	"github.com/silentauth/silentauth/demo/internal/repo"
)

// Env is one dev tenant, one demo app and one browser.
type Env struct {
	Tenant    *devtenant.Tenant
	TenantURL string // http://localhost:PORT
	AppURL    string // http://localhost:PORT
	Browser   *chrome.Browser
}

// Options change the tenant's setup.
type Options struct {
	TokenLifetime   time.Duration
	SessionLifetime time.Duration
	// TenantHost is "localhost" (default) or "127.0.0.1": a tenant on
	// another site than the app is what blocked third-party cookies look like.
	TenantHost string
	// Now, when set, is the tenant's clock: a test can run it ahead of the
	// browser's to expire tokens at the server only.
	Now func() time.Time
	// TenantMiddleware, when set, wraps the tenant's handler, so a test can
	// watch the requests it gets (when, how many at once).
	TenantMiddleware func(http.Handler) http.Handler
	// Users, when set, replace the tenant's default users.
	Users []devtenant.User
	// BrowserOptions are passed to chrome.Start (chrome.PopupBlocking, say).
	BrowserOptions []chromedp.ExecAllocatorOption
	// AppMiddleware, when set, wraps the app's handler, so a test can add
	// paths on the app's origin.
	AppMiddleware func(http.Handler) http.Handler
	// App, when set, is the app on the app's origin instead of the demo
	// app and its test page, given the directory of the built SDK (a
	// Pages, say).
	App func(dist string) http.Handler
}

// DistDir is where the built SDK is: $SILENTAUTH_DIST, else <repo>/dist.
func DistDir(t testing.TB) string {
	d, err := FindDistDir()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// BuiltDistDir is DistDir, failing t unless the SDK is built there.
func BuiltDistDir(t testing.TB) string {
	t.Helper()
	dist := DistDir(t)
	if _, err := os.Stat(filepath.Join(dist, "silentauth.wasm")); err != nil {
		t.Fatalf("the SDK is not built in %s (run make build): %v", dist, err)
	}
	return dist
}

// FindDistDir is DistDir for callers without a testing.TB.
func FindDistDir() (string, error) {
	if d := os.Getenv("SILENTAUTH_DIST"); d != "" {
		return d, nil
	}
	root, err := repo.Root()
	if err != nil {
		return "", errors.New(err.Error() + ", and SILENTAUTH_DIST is not set")
	}
	return filepath.Join(root, "dist"), nil
}

// Listen binds a free loopback port and returns its listener and the
// http://host:port URL that pages should use.
func Listen(t testing.TB, host string) (net.Listener, string) {
	t.Helper()
	l, u, err := ListenHost(host)
	if err != nil {
		t.Fatal(err)
	}
	return l, u
}

// ListenHost is Listen for callers without a testing.TB, such as TestMain.
func ListenHost(host string) (net.Listener, string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	return l, fmt.Sprintf("http://%s:%d", host, l.Addr().(*net.TCPAddr).Port), nil
}

// TenantClients are the dev tenant's default clients for the app at
// appURL, whose interactive logins in tests may also come back to the
// test page.
func TenantClients(appURL string) []devtenant.Client {
	clients := devtenant.DefaultClients([]string{appURL})
	for i := range clients {
		clients[i].Callbacks = append(clients[i].Callbacks, appURL+TestPagePath)
	}
	return clients
}

// Main runs a package's tests (its TestMain's m) with what setup starts
// for all of them, and returns the exit code. setup gets a testing.TB that
// outlives every test: its Fatal ends the run with code 1 before any test,
// its Cleanup functions run after the tests, and its Failed reports,
// there, whether a test failed. name prefixes what Main prints.
func Main(m *testing.M, name string, setup func(tb testing.TB)) (code int) {
	tb := &mainTB{}
	defer func() {
		for i := len(tb.cleanups) - 1; i >= 0; i-- {
			tb.cleanups[i]()
		}
	}()
	if !tb.setUp(setup) {
		fmt.Fprintf(os.Stderr, "%s e2e: %s\n", name, tb.fatal)
		return 1
	}
	code = m.Run()
	tb.failed = code != 0
	return code
}

// mainTB is the part of testing.TB that setups use; anything else would
// panic on the nil embedded TB, which Main reports as a failed setup.
type mainTB struct {
	testing.TB
	cleanups []func()
	fatal    string
	failed   bool
}

// fatalPanic is what Fatal panics with, to end setup.
type fatalPanic struct{}

func (m *mainTB) setUp(setup func(tb testing.TB)) (ok bool) {
	defer func() {
		if r := recover(); r != nil {
			if _, fatal := r.(fatalPanic); !fatal {
				m.fatal = fmt.Sprint(r)
			}
			ok = false
		}
	}()
	setup(m)
	return true
}

func (m *mainTB) Helper()                         {}
func (m *mainTB) Name() string                    { return "TestMain" }
func (m *mainTB) Failed() bool                    { return m.failed }
func (m *mainTB) Cleanup(f func())                { m.cleanups = append(m.cleanups, f) }
func (m *mainTB) Log(args ...any)                 { fmt.Fprintln(os.Stderr, args...) }
func (m *mainTB) Logf(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }
func (m *mainTB) Fatal(args ...any)               { m.fatal = fmt.Sprint(args...); panic(fatalPanic{}) }
func (m *mainTB) Fatalf(format string, args ...any) {
	m.fatal = fmt.Sprintf(format, args...)
	panic(fatalPanic{})
}

// Serve serves h on l until the test ends.
func Serve(t testing.TB, l net.Listener, h http.Handler) {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
}

// Start brings up a tenant, the app and a browser for one test.
func Start(t testing.TB, o Options) *Env {
	t.Helper()
	dist := BuiltDistDir(t)
	if o.TenantHost == "" {
		o.TenantHost = "localhost"
	}
	tl, tenantURL := Listen(t, o.TenantHost)
	al, appURL := Listen(t, "localhost")
	tenant, err := devtenant.New(devtenant.Config{
		Issuer:          tenantURL,
		TokenLifetime:   o.TokenLifetime,
		SessionLifetime: o.SessionLifetime,
		AppOrigins:      []string{appURL},
		Clients:         TenantClients(appURL),
		Now:             o.Now,
		Users:           o.Users,
	})
	if err != nil {
		t.Fatal(err)
	}
	var tenantHandler http.Handler = tenant
	if o.TenantMiddleware != nil {
		tenantHandler = o.TenantMiddleware(tenant)
	}
	Serve(t, tl, tenantHandler)
	var appHandler http.Handler
	if o.App != nil {
		appHandler = o.App(dist)
	} else {
		app, err := demoserver.New(demoserver.Config{
			Domain: tenantURL, ClientID: "spa", DistDir: dist, DevTenant: true,
			APIURL: tenantURL + "/api/private", ServerLogoutURL: tenantURL + "/v2/logout",
		})
		if err != nil {
			t.Fatal(err)
		}
		appHandler = WithTestPage(app, tenantURL)
	}
	if o.AppMiddleware != nil {
		appHandler = o.AppMiddleware(appHandler)
	}
	Serve(t, al, appHandler)
	return &Env{Tenant: tenant, TenantURL: tenantURL, AppURL: appURL, Browser: chrome.Start(t, o.BrowserOptions...)}
}

// TestPagePath is a page on the app's origin that loads the SDK and
// nothing else, so a test's own clients are the only ones on it.
const TestPagePath = "/e2e.html"

// AppForProvider is the demo app for a provider at issuer (client "spa"),
// with the test page served also at callback: the redirect URI the
// provider has registered, where interactive logins come back.
//
// The test page's CSP lets it reach the issuer and any other servers (a
// test's own; demoserver.CSP joins them into frame-src and connect-src).
func AppForProvider(t testing.TB, issuer, dist, callback string, servers ...string) http.Handler {
	t.Helper()
	app, err := demoserver.New(demoserver.Config{Domain: issuer, ClientID: "spa", DistDir: dist})
	if err != nil {
		t.Fatal(err)
	}
	page := WithTestPage(app, strings.Join(append([]string{issuer}, servers...), " "))
	mux := http.NewServeMux()
	mux.Handle("/", page)
	mux.HandleFunc(callback, func(w http.ResponseWriter, r *http.Request) {
		r2 := r.Clone(r.Context())
		r2.URL.Path = TestPagePath
		page.ServeHTTP(w, r2)
	})
	return mux
}

// WithTestPage adds TestPagePath, under the CSP the README recommends, to
// an app handler.
func WithTestPage(app http.Handler, authServer string) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", app)
	// Test-page clients always name their engine, so that what "auto"
	// prefers changes no suite silently: SILENTAUTH_ENGINE=shared-worker runs
	// a suite's clients with the engine in the SharedWorker, and without it
	// they run in the page. A script after the SDK's defaults the engine
	// option (a client's own option wins).
	engine := Engine()
	mux.HandleFunc("/e2e-engine.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		fmt.Fprintf(w, `(() => { const sdk = globalThis.silentauth; globalThis.silentauth = Object.freeze({ ...sdk, `+
			`createClient: (o) => sdk.createClient(o && typeof o === "object" ? { engine: %q, ...o } : o) }); })();`, engine)
	})
	// The worker follows the CSP of its own script's response: the test
	// page's, which names every server a suite's clients reach (the app's
	// own names only the app's authorization server).
	mux.HandleFunc("/silentauth/silentauth-worker.js", func(w http.ResponseWriter, r *http.Request) {
		app.ServeHTTP(&cspWriter{ResponseWriter: w, csp: demoserver.CSP(authServer)}, r)
	})
	mux.HandleFunc(TestPagePath, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("Content-Security-Policy", demoserver.CSP(authServer))
		fmt.Fprint(w, `<!doctype html><html><head><meta charset="utf-8"><title>silentauth e2e</title>`+
			`<script src="/silentauth/silentauth.js"></script><script src="/e2e-engine.js"></script></head><body><p>e2e</p></body></html>`)
	})
	return mux
}

// cspWriter replaces the Content-Security-Policy a handler set by csp.
type cspWriter struct {
	http.ResponseWriter
	csp   string
	wrote bool
}

func (w *cspWriter) WriteHeader(code int) {
	if !w.wrote {
		w.wrote = true
		w.Header().Set("Content-Security-Policy", w.csp)
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *cspWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// Engine is the placement of the suites' test-page clients:
// $SILENTAUTH_ENGINE when set, else "page".
func Engine() string {
	if e := os.Getenv("SILENTAUTH_ENGINE"); e != "" {
		return e
	}
	return "page"
}

// SharedWorker reports whether the suites run in the SharedWorker
// placement (SILENTAUTH_ENGINE=shared-worker).
func SharedWorker() bool { return Engine() == "shared-worker" }

// EnginesNamedByTheTest skips t in the SharedWorker pass: a test whose
// clients all name their engine runs the same in both passes, so it runs
// once, in the page pass.
func EnginesNamedByTheTest(t testing.TB) {
	t.Helper()
	if SharedWorker() {
		t.Skip("every client of this test names its engine: it runs in the page pass only")
	}
}

// PromptNone is how many prompt=none authorization requests the tenant
// has answered.
func (e *Env) PromptNone() int { return e.Tenant.Stats().AuthorizePromptNone }

// OpenTestPage opens a tab on the test page and waits for the SDK's global.
func (e *Env) OpenTestPage(t testing.TB) *chrome.Tab {
	t.Helper()
	return OpenSDKPage(t, e.Browser, e.AppURL+TestPagePath, 10*time.Second)
}

// SignedOut is the demo page's condition for having started and found no
// session.
const SignedOut = `document.querySelector("#status").dataset.state === "signed-out"`

// OpenDemoPage opens a tab on the demo page and waits up to 20 s for it to
// show the signed-out state (SignedOut).
func (e *Env) OpenDemoPage(t testing.TB) *chrome.Tab {
	t.Helper()
	return OpenPage(t, e.Browser, e.AppURL+"/", SignedOut, 20*time.Second)
}

// OpenSDKPage opens url in a new tab of b and waits up to wait for the SDK
// (silentauth.createClient) to be there.
func OpenSDKPage(t testing.TB, b *chrome.Browser, url string, wait time.Duration) *chrome.Tab {
	t.Helper()
	return OpenPage(t, b, url, "window.silentauth && silentauth.createClient", wait)
}

// OpenPage opens url in a new tab of b and waits up to wait for ready (a
// condition in the page), failing t with the page's text when it does not
// come.
func OpenPage(t testing.TB, b *chrome.Browser, url, ready string, wait time.Duration) *chrome.Tab {
	t.Helper()
	tab := b.NewTab(t)
	if err := tab.Navigate(url); err != nil {
		t.Fatal(err)
	}
	MustWaitFor(t, tab, ready, wait)
	return tab
}

// ClientJS is the expression that creates a client for this env with extra
// options (a JS object literal body, e.g. `responseType: "id_token token"`).
// Its redirectUri is the test page, so interactive logins come back there.
func (e *Env) ClientJS(extra string) string { return e.ClientJSFor("spa", extra) }

// ClientJSFor is ClientJS for the tenant's client clientID.
func (e *Env) ClientJSFor(clientID, extra string) string {
	// assumeSignedOut: false, so that checkSession asks the server even
	// where no sign-in is recorded: the suites pin the conversation with it.
	return CreateClientJS(fmt.Sprintf("domain: %q", e.TenantURL), fmt.Sprintf("clientId: %q", clientID), "debug: true", "assumeSignedOut: false",
		fmt.Sprintf("redirectUri: %q", e.AppURL+TestPagePath), extra)
}

// SubmitLoginForm waits up to timeout for the dev tenant's login page in
// tab, then logs email in with devtenant.DefaultPassword. The navigation the
// form starts may end the evaluation; that is not an error.
func SubmitLoginForm(tab *chrome.Tab, email string, timeout time.Duration) error {
	if err := tab.WaitFor(TenantLoginPage, timeout); err != nil {
		return err
	}
	err := tab.Eval(TenantLoginForm(email), nil)
	if err != nil && strings.Contains(err.Error(), "navigated or closed") {
		return nil
	}
	return err
}

// Login logs email in through the SDK's interactive login (loginWithRedirect,
// the tenant's form, handleRedirectCallback) in a tab on the test page.
// Afterwards window.client is a client made with ClientJS(extra) and
// window.loginResult the callback's AuthResult.
func (e *Env) Login(t testing.TB, tab *chrome.Tab, email, extra string) {
	t.Helper()
	e.LoginToCallback(t, tab, email, extra, 10*time.Second)
	tab.MustEval(`(async () => { window.client = await `+e.ClientJS(extra)+`; window.loginResult = await client.handleRedirectCallback(); return true })()`, nil)
}

// LoginToCallback starts loginWithRedirect in tab with a client made with
// ClientJS(extra), logs email in on the tenant's form and waits until the
// browser is back on the app with the SDK loaded, up to timeout for each
// page. The navigation may end the evaluation that started the login
// before it returns (on a busy machine): that is no error.
func (e *Env) LoginToCallback(t testing.TB, tab *chrome.Tab, email, extra string, timeout time.Duration) {
	t.Helper()
	// Not awaited: the navigation it starts would end this evaluation.
	err := tab.Eval(`(async () => { window.client = await `+e.ClientJS(extra)+`; client.loginWithRedirect(); return true })()`, nil)
	if err != nil && !strings.Contains(err.Error(), "navigated or closed") {
		t.Fatal(err)
	}
	if err := SubmitLoginForm(tab, email, timeout); err != nil {
		t.Fatalf("%v\nconsole:\n%s", err, strings.Join(tab.Console(), "\n"))
	}
	if err := tab.WaitFor(fmt.Sprintf(`location.origin === %q && document.readyState !== "loading" && window.silentauth`, e.AppURL), timeout); err != nil {
		t.Fatal(err)
	}
}
