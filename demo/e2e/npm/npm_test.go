// Package npm_test proves the npm package as an application gets it: the
// tarball installed into a fresh project, bundled by Vite, served, and run
// against the dev tenant in headless Chromium; the script tag from the same
// tarball; and one Go runtime when a page loads both.
package npm_test

import (
	"archive/tar"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/chromedp"
	"github.com/silentauth/silentauth/demo/demoserver"
	"github.com/silentauth/silentauth/demo/devtenant"
	"github.com/silentauth/silentauth/demo/internal/chrome"
	"github.com/silentauth/silentauth/demo/internal/e2eenv"
)

func TestTarballShipsOnlyTheSDK(t *testing.T) {
	p := theProject(t)
	f, err := os.Open(p.tarball)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	var manifest, readme []byte
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		switch h.Name {
		case "package/package.json":
			manifest, _ = io.ReadAll(tr)
		case "package/README.md":
			readme, _ = io.ReadAll(tr)
		}
	}
	slices.Sort(names)
	want := []string{"package/LICENSE", "package/README.md", "package/dist/silentauth-global.d.ts", "package/dist/silentauth-worker.js",
		"package/dist/silentauth.d.ts", "package/dist/silentauth.js", "package/dist/silentauth.mjs", "package/dist/silentauth.wasm", "package/package.json"}
	if !slices.Equal(names, want) {
		t.Fatalf("tarball holds\n  %v\nwant\n  %v", names, want)
	}
	var pkg struct {
		Module, Types string
		Exports       map[string]any
		SideEffects   []string
		Scripts       map[string]string
		Homepage      string
		Repository    struct{ URL string }
		Bugs          struct{ URL string }
	}
	if err := json.Unmarshal(manifest, &pkg); err != nil {
		t.Fatal(err)
	}
	dot, _ := pkg.Exports["."].(map[string]any)
	if dot["types"] != "./dist/silentauth.d.ts" || dot["import"] != "./dist/silentauth.mjs" ||
		pkg.Exports["./silentauth.wasm"] != "./dist/silentauth.wasm" || pkg.Exports["./silentauth.js"] != "./dist/silentauth.js" ||
		pkg.Module != "./dist/silentauth.mjs" || pkg.Types != "./dist/silentauth.d.ts" {
		t.Fatalf("package.json entry points: %s", manifest)
	}
	// Nothing in the package may point at the repository's demo/, which it does not ship.
	if len(pkg.Scripts) != 0 {
		t.Errorf("package.json has scripts %v: they would run in the user's project, where demo/ does not exist", pkg.Scripts)
	}
	for what, u := range map[string]string{"repository": pkg.Repository.URL, "homepage": pkg.Homepage, "bugs": pkg.Bugs.URL} {
		if !strings.Contains(u, "github.com/silentauth/silentauth") {
			t.Errorf("package.json %s is %q, want the repository github.com/silentauth/silentauth", what, u)
		}
	}
	// The README a user gets is the user's: no benchmark runs or CPU profiles.
	if strings.Contains(string(readme), "CPU profile") || strings.Count(string(readme), "\n") > 300 {
		t.Errorf("the packed README.md is the long one (%d lines); benchmarks belong in docs/", strings.Count(string(readme), "\n"))
	}
	// The script sets a global when it runs, and both loaders register the
	// Go runtime for the page: a bundler must never drop either.
	if !slices.Equal(pkg.SideEffects, []string{"./dist/silentauth.js", "./dist/silentauth.mjs"}) {
		t.Fatalf("sideEffects %v", pkg.SideEffects)
	}
}

func TestViteEmitsTheWasmAsAnAsset(t *testing.T) {
	p := theProject(t)
	wasms, _ := filepath.Glob(filepath.Join(p.appDir, "assets", "*.wasm"))
	if len(wasms) != 1 {
		all, _ := filepath.Glob(filepath.Join(p.appDir, "*", "*"))
		t.Fatalf("want one .wasm among Vite's assets, got %v (all: %v)", wasms, all)
	}
	// The asset is the installed package's wasm: Vite resolved "silentauth"
	// in the project's node_modules, i.e. from the tarball.
	if sha256File(t, wasms[0]) != sha256File(t, filepath.Join(p.pkgDir, "dist", "silentauth.wasm")) {
		t.Fatalf("%s differs from the tarball's dist/silentauth.wasm", wasms[0])
	}
	entry, err := os.ReadFile(filepath.Join(p.appDir, strings.TrimPrefix(p.builtEntry(t), "/")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(entry), filepath.Base(wasms[0])) {
		t.Fatalf("the bundle does not refer to %s", filepath.Base(wasms[0]))
	}
	if strings.Contains(string(entry), p.repo) {
		t.Fatalf("the bundle refers to the repository %s", p.repo)
	}
	// engine: "shared-worker"'s script ships the same way, unchanged.
	workers, _ := filepath.Glob(filepath.Join(p.appDir, "assets", "silentauth-worker*.js"))
	if len(workers) != 1 || sha256File(t, workers[0]) != sha256File(t, filepath.Join(p.pkgDir, "dist", "silentauth-worker.js")) {
		t.Fatalf("want the tarball's silentauth-worker.js among Vite's assets, got %v", workers)
	}
	if !strings.Contains(string(entry), filepath.Base(workers[0])) {
		t.Fatalf("the bundle does not refer to %s", filepath.Base(workers[0]))
	}
}

func TestTarballTypesCheckInAConsumerProject(t *testing.T) {
	p := theProject(t)
	dir := filepath.Join(filepath.Dir(p.dir), "types")
	good := `/// <reference types="silentauth/global" />
import { createClient, type AuthResult, type SilentAuthError } from "silentauth";

const client = await createClient({ domain: "login.example.com", clientId: "spa", timeoutInSeconds: 10 });
const result: AuthResult = await client.checkSession({ login_hint: "demo@example.com" });
client.on("renewed", (r) => console.log(r.expiresAt, result.accessToken));
client.on("session_ended", (e: SilentAuthError) => console.log(e.error, e.error_description));
const fromScript = await silentauth.createClient({ domain: "login.example.com", clientID: "spa" });
fromScript.checkSession((err, r) => console.log(err?.error, r?.idTokenPayload?.email));
`
	bad := `import { createClient } from "silentauth";

const client = await createClient({ domain: "login.example.com" });
client.on("renewd", () => {});
`
	tsconfig := func(resolution, file string) string {
		return fmt.Sprintf(`{"compilerOptions": {"strict": true, "noEmit": true, "target": "ES2022", "module": %q,
  "moduleResolution": %q, "lib": ["ES2022", "DOM"], "types": []}, "files": [%q]}`, map[string]string{"bundler": "ESNext", "nodenext": "NodeNext"}[resolution], resolution, file)
	}
	if err := writeFiles(dir, map[string]string{
		"package.json":           `{"name": "types-consumer", "private": true, "type": "module"}`,
		"good.ts":                good,
		"bad.ts":                 bad,
		"tsconfig.bundler.json":  tsconfig("bundler", "good.ts"),
		"tsconfig.nodenext.json": tsconfig("nodenext", "good.ts"),
		"tsconfig.bad.json":      tsconfig("bundler", "bad.ts"),
	}); err != nil {
		t.Fatal(err)
	}
	// The installed package, not the repository's sources.
	if err := os.Symlink(filepath.Join(p.dir, "node_modules"), filepath.Join(dir, "node_modules")); err != nil {
		t.Fatal(err)
	}
	tsc := filepath.Join(p.repo, "node_modules", ".bin", "tsc")
	for _, cfg := range []string{"tsconfig.bundler.json", "tsconfig.nodenext.json"} {
		if out, err := run(dir, 2*time.Minute, tsc, "-p", cfg); err != nil {
			t.Errorf("tsc -p %s: %v\n%s", cfg, err, out)
		}
	}
	out, err := run(dir, 2*time.Minute, tsc, "-p", "tsconfig.bad.json")
	if err == nil {
		t.Fatal("a client without clientId and an unknown event compiled")
	}
	for _, want := range []string{"bad.ts(3,", "clientID", "bad.ts(4,", `"renewd"`} {
		if !strings.Contains(out, want) {
			t.Errorf("tsc output lacks %q:\n%s", want, out)
		}
	}
}

func TestViteAppFromTarballChecksSessionAfterLogin(t *testing.T) {
	p := theProject(t)
	s := serve(t, p)
	tab, csp := s.appSignedIn(t)
	var url string
	tab.MustEval(`location.href`, &url)
	// The iframe goes once the answer is delivered (blanked, then removed
	// when about:blank has loaded).
	if err := tab.WaitFor(`document.querySelectorAll("iframe").length === 0`, 2*time.Second); err != nil {
		t.Fatalf("the silent request's iframe is still there: %v", err)
	}
	if url != s.appURL+"/" {
		t.Fatalf("the response stayed in the address bar: %v", url)
	}
	// The engine starts at the login (a signed-out visitor's checkSession
	// starts none) and at the callback: in the SharedWorker, the default,
	// once only where the browser kept the worker across the navigation.
	if n := s.wasmFetches(); n < 1 || n > 2 {
		t.Fatalf("%d fetches of a .wasm, want 1 or 2 (one per engine start): %v", n, s.requests())
	}
	if got := s.requests(); !slices.ContainsFunc(got, func(r string) bool { return strings.HasPrefix(r, "/assets/") && strings.HasSuffix(r, ".wasm") }) {
		t.Fatalf("the module did not load Vite's wasm asset: %v", got)
	}
	csp.assertNone(t)
}

func TestScriptTagFromTarballChecksSessionAfterLogin(t *testing.T) {
	p := theProject(t)
	s := serve(t, p)
	tab, csp, create := s.scriptTagSignedIn(t, "")
	var res map[string]any
	tab.MustEval(`(async () => {
		const c = await `+create+`;
		await c.handleRedirectCallback();
		const r = await c.checkSession();
		return {email: r.idTokenPayload.email, at: typeof r.accessToken, user: c.getUser().email};
	})()`, &res)
	if res["email"] != "demo@example.com" || res["at"] != "string" || res["user"] != "demo@example.com" {
		t.Fatalf("checkSession from the script tag: %v", res)
	}
	for _, r := range s.requests() {
		if strings.HasSuffix(r, ".wasm") && r != "/silentauth.wasm" {
			t.Fatalf("the script fetched %s, not the silentauth.wasm next to it", r)
		}
	}
	csp.assertNone(t)
}

// In the page placement every copy of the loader on a page finds the one
// runtime. (In the SharedWorker, the default, each build's loader names its
// own worker, and so its own wasm: one engine per build, as two tabs of two
// builds have; sharedworker and refresh pin those.)
func TestModuleAndScriptOnOnePageShareOneRuntime(t *testing.T) {
	p := theProject(t)
	s := serveApp(t, p, p.appDir, "page")
	tab, csp := s.open(t, "/", "window.app")
	s.login(t, tab, `app.client.then(c => c.loginWithRedirect())`, s.appURL+"/", "window.app")
	tab.MustEval(`app.client.then(c => c.handleRedirectCallback()).then(() => true)`, nil)

	// twice.html is the Vite app plus silentauth.js, which creates a client
	// while the page is parsed; the bundled module creates its own after.
	s.resetRequests()
	openPage(t, tab, s.appURL+"/twice.html", "window.app && window.scriptClient")
	var res map[string]any
	tab.MustEval(`(async () => {
		const [fromScript, fromModule] = await Promise.all([scriptClient, app.client]);
		// A third copy of the loader: the package's module by another URL.
		const third = await import("/silentauth.mjs?copy=3");
		const fromThird = await third.createClient({domain: APP_CONFIG.domain, clientId: "spa", engine: APP_CONFIG.engine});
		const results = await Promise.all([fromScript, fromModule, fromThird].map(c => c.checkSession()));
		const stats = await Promise.all([silentauth.stats(), app.stats(), third.stats()]);
		return {emails: results.map(r => r.idTokenPayload.email), stats};
	})()`, &res)
	emails, _ := res["emails"].([]any)
	if len(emails) != 3 || emails[0] != "demo@example.com" || emails[1] != "demo@example.com" || emails[2] != "demo@example.com" {
		t.Fatalf("checkSession from the three loaders: %v", res)
	}
	if n := s.wasmFetches(); n != 1 {
		t.Fatalf("%d fetches of a .wasm on one page, want 1 (one Go runtime): %v", n, s.requests())
	}
	stats, _ := res["stats"].([]any)
	if len(stats) != 3 {
		t.Fatalf("stats %v", res["stats"])
	}
	first, _ := stats[0].(map[string]any)
	for i, st := range stats {
		m, _ := st.(map[string]any)
		if m["running"] != true || m["liveFuncs"] != first["liveFuncs"] || m["wasmMemoryBytes"] != first["wasmMemoryBytes"] {
			t.Fatalf("copy %d sees another runtime: %v", i, stats)
		}
	}
	csp.assertNone(t)
}

// server is the built app on a localhost origin, with a dev tenant that
// knows it, and a browser.
type server struct {
	tenantURL, appURL string
	browser           *chrome.Browser
	appDir            string // the bundle served at the root
	engine            string // the app's engine option; "" leaves it out

	mu   sync.Mutex
	reqs []string
}

func serve(t *testing.T, p *project) *server {
	t.Helper()
	return serveApp(t, p, p.appDir, "")
}

// serveApp serves the bundle in appDir, whose app creates its client with
// engine (none when "").
func serveApp(t *testing.T, p *project, appDir, engine string) *server {
	t.Helper()
	tl, tenantURL := e2eenv.Listen(t, "localhost")
	al, appURL := e2eenv.Listen(t, "localhost")
	clients := devtenant.DefaultClients([]string{appURL})
	for i := range clients {
		clients[i].Callbacks = append(clients[i].Callbacks, appURL+"/script.html", appURL+"/twice.html")
	}
	tenant, err := devtenant.New(devtenant.Config{Issuer: tenantURL, AppOrigins: []string{appURL}, Clients: clients})
	if err != nil {
		t.Fatal(err)
	}
	s := &server{tenantURL: tenantURL, appURL: appURL, appDir: appDir, engine: engine}
	e2eenv.Serve(t, tl, tenant)
	e2eenv.Serve(t, al, s.handler(t, p))
	s.browser = chrome.Start(t)
	return s
}

// handler serves the bundle's output, the tarball's dist at the root (the
// script tag's files), /config.js, and the pages that load the script; every
// answer carries the README's Content-Security-Policy.
func (s *server) handler(t *testing.T, p *project) http.Handler {
	built, err := os.ReadFile(filepath.Join(s.appDir, "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	twice := strings.Replace(string(built), `<script src="/config.js"></script>`,
		`<script src="/config.js"></script><script src="/silentauth.js"></script><script src="/twice.js"></script>`, 1)
	if twice == string(built) {
		t.Fatalf("Vite's index.html lost the config script:\n%s", built)
	}
	engine := "undefined"
	if s.engine != "" {
		engine = fmt.Sprintf("%q", s.engine)
	}
	pages := map[string]string{
		"/config.js": fmt.Sprintf("window.APP_CONFIG = {domain: %q, clientId: \"spa\", engine: %s};\n", s.tenantURL, engine),
		"/twice.js": "window.scriptClient = silentauth.createClient({domain: APP_CONFIG.domain, clientId: \"spa\", " +
			"redirectUri: location.origin + \"/\", debug: true, engine: APP_CONFIG.engine});\n",
		"/twice.html": twice,
		"/script.html": `<!doctype html><html><head><meta charset="utf-8"><title>silentauth script tag</title>` +
			`<script src="/silentauth.js"></script></head><body><p>script tag</p></body></html>`,
	}
	app := http.FileServer(http.Dir(s.appDir))
	sdk := http.FileServer(http.Dir(filepath.Join(p.pkgDir, "dist")))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.reqs = append(s.reqs, r.URL.Path)
		s.mu.Unlock()
		h := w.Header()
		h.Set("Content-Security-Policy", demoserver.CSP(s.tenantURL))
		h.Set("Cache-Control", "no-store")
		if body, ok := pages[r.URL.Path]; ok {
			if strings.HasSuffix(r.URL.Path, ".js") {
				h.Set("Content-Type", "text/javascript; charset=utf-8")
			} else {
				h.Set("Content-Type", "text/html; charset=utf-8")
			}
			_, _ = io.WriteString(w, body)
			return
		}
		if strings.HasSuffix(r.URL.Path, ".wasm") {
			// instantiateStreaming needs it; Go's table has it, but say so.
			h.Set("Content-Type", "application/wasm")
		}
		switch r.URL.Path {
		case "/silentauth.js", "/silentauth.mjs", "/silentauth.wasm", "/silentauth-worker.js":
			sdk.ServeHTTP(w, r)
		default:
			app.ServeHTTP(w, r)
		}
	})
}

func (s *server) requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.reqs...)
}

func (s *server) resetRequests() {
	s.mu.Lock()
	s.reqs = nil
	s.mu.Unlock()
}

func (s *server) wasmFetches() int {
	n := 0
	for _, r := range s.requests() {
		if strings.HasSuffix(r, ".wasm") {
			n++
		}
	}
	return n
}

// login runs start (which calls loginWithRedirect), logs the demo user in
// on the tenant's page, and waits until the browser is back at back.
func (s *server) login(t *testing.T, tab *chrome.Tab, start, back, ready string) {
	t.Helper()
	// Not awaited: the login navigates the page away, which may come before
	// the promise settles (the engine in the worker answers across a port).
	tab.MustEval("("+start+", true)", nil)
	if err := e2eenv.SubmitLoginForm(tab, "demo@example.com", 30*time.Second); err != nil {
		t.Fatalf("%v\nconsole:\n%s", err, strings.Join(tab.Console(), "\n"))
	}
	cond := fmt.Sprintf(`location.href.startsWith(%q + "?") && (%s)`, back, ready)
	if err := tab.WaitFor(cond, 30*time.Second); err != nil {
		t.Fatalf("%v\nconsole:\n%s", err, strings.Join(tab.Console(), "\n"))
	}
}

// open opens path of the app in a new tab whose CSP reports are watched,
// and waits for ready.
func (s *server) open(t *testing.T, path, ready string) (*chrome.Tab, *cspWatch) {
	t.Helper()
	tab := s.browser.NewTab(t)
	csp := watchCSP(t, tab)
	openPage(t, tab, s.appURL+path, ready)
	return tab, csp
}

// appSignedIn opens the bundled app's page, checks that its client's
// checkSession is login_required before any login, logs the demo user in
// through it (loginWithRedirect), and checks that the callback and then
// checkSession give the user's tokens; window.__e2eSession is that
// checkSession's result.
func (s *server) appSignedIn(t *testing.T) (*chrome.Tab, *cspWatch) {
	t.Helper()
	tab, csp := s.open(t, "/", "window.app")
	var before map[string]any
	tab.MustEval(`app.client.then(c => c.checkSession()).then(() => ({}), e => ({error: e.error, description: e.error_description}))`, &before)
	if before["error"] != "login_required" {
		t.Fatalf("checkSession before login: %v\nconsole:\n%s", before, strings.Join(tab.Console(), "\n"))
	}
	s.login(t, tab, `app.client.then(c => c.loginWithRedirect())`, s.appURL+"/", "window.app")
	var res map[string]any
	tab.MustEval(`(async () => {
		const c = await app.client;
		const login = await c.handleRedirectCallback();
		window.__e2eSession = await c.checkSession();
		return {login: login.idTokenPayload.email, email: __e2eSession.idTokenPayload.email, at: typeof __e2eSession.accessToken};
	})()`, &res)
	if res["login"] != "demo@example.com" || res["email"] != "demo@example.com" || res["at"] != "string" {
		t.Fatalf("after login: %v", res)
	}
	return tab, csp
}

// scriptTagSignedIn opens the project's script.html and logs the demo user
// in through a client created with the options extra (a JS object literal
// member or ""), coming back to script.html. create is the expression that
// creates that client again, for the callback.
func (s *server) scriptTagSignedIn(t *testing.T, extra string) (tab *chrome.Tab, csp *cspWatch, create string) {
	t.Helper()
	tab, csp = s.open(t, "/script.html", "window.silentauth")
	create = e2eenv.CreateClientJS(fmt.Sprintf("domain: %q", s.tenantURL), `clientId: "spa"`, extra, `redirectUri: location.origin + "/script.html"`)
	s.login(t, tab, `(async () => { const c = await `+create+`; await c.loginWithRedirect(); return true })()`,
		s.appURL+"/script.html", "window.silentauth")
	return tab, csp, create
}

func openPage(t *testing.T, tab *chrome.Tab, url, ready string) {
	t.Helper()
	if err := tab.Navigate(url); err != nil {
		t.Fatal(err)
	}
	if err := tab.WaitFor(ready, 30*time.Second); err != nil {
		t.Fatalf("%v\nconsole:\n%s", err, strings.Join(tab.Console(), "\n"))
	}
}

// cspWatch collects the browser's own log entries about the page's policy
// (they are not console calls, so the harness does not see them): the
// README's CSP must be enough for every way of loading the SDK.
type cspWatch struct {
	mu         sync.Mutex
	violations []string
}

func watchCSP(t *testing.T, tab *chrome.Tab) *cspWatch {
	t.Helper()
	w := &cspWatch{}
	chromedp.ListenTarget(tab.Ctx, func(ev any) {
		if e, ok := ev.(*cdplog.EventEntryAdded); ok && strings.Contains(e.Entry.Text, "Content Security Policy") {
			w.mu.Lock()
			w.violations = append(w.violations, e.Entry.URL+": "+e.Entry.Text)
			w.mu.Unlock()
		}
	})
	if err := chromedp.Run(tab.Ctx, cdplog.Enable()); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *cspWatch) assertNone(t *testing.T) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.violations) > 0 {
		t.Fatalf("CSP violations:\n%s", strings.Join(w.violations, "\n"))
	}
}
