package npm_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/silentauth/silentauth/demo/internal/chrome"
	"github.com/silentauth/silentauth/demo/internal/e2eenv"
)

// bundle is where one bundler put the app: its output directory, the
// entry script, and the two files the SharedWorker placement needs.
type bundle struct {
	dir    string
	entry  string // the app's script, relative to dir
	worker string // silentauth-worker.js as emitted, relative to dir
	wasm   string // silentauth.wasm as emitted, relative to dir
}

// bundleOf finds the emitted worker and wasm among the files under dir: the
// wasm is the tarball's byte for byte; the worker is the one script that
// handles SharedWorker connections (webpack minifies it, Vite copies it).
func bundleOf(t *testing.T, p *project, dir, entry string) bundle {
	t.Helper()
	b := bundle{dir: dir, entry: entry}
	wantWasm := sha256File(t, filepath.Join(p.pkgDir, "dist", "silentauth.wasm"))
	var workers, wasms, all []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		all = append(all, rel)
		switch {
		case strings.HasSuffix(rel, ".wasm") && sha256File(t, path) == wantWasm:
			wasms = append(wasms, rel)
		case strings.HasSuffix(rel, ".js") && rel != entry:
			body, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if bytes.Contains(body, []byte("onconnect")) {
				workers = append(workers, rel)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(wasms) != 1 || len(workers) != 1 {
		t.Fatalf("in %s: want one emitted silentauth.wasm and one worker script, got wasm %v, worker %v (all: %v)", dir, wasms, workers, all)
	}
	b.wasm, b.worker = filepath.ToSlash(wasms[0]), filepath.ToSlash(workers[0])
	return b
}

func TestWebpackEmitsTheWorkerAndTheWasmAsAssets(t *testing.T) {
	p := theProject(t)
	b := bundleOf(t, p, p.webpackDir, "main.js")
	main, err := os.ReadFile(filepath.Join(b.dir, b.entry))
	if err != nil {
		t.Fatal(err)
	}
	// The bundle names both files, so that the page finds them at run time
	// next to itself (publicPath "auto").
	for _, f := range []string{b.worker, b.wasm} {
		if !bytes.Contains(main, []byte(filepath.Base(f))) {
			t.Errorf("webpack's main.js does not refer to %s", f)
		}
	}
	// import.meta.url outside new URL(…) would be the build machine's path.
	for _, leak := range []string{p.repo, p.dir, "file://"} {
		if bytes.Contains(main, []byte(leak)) {
			t.Errorf("webpack's main.js holds %q", leak)
		}
	}
}

// The worker and the wasm come from each bundler's output, with no
// configuration for silentauth: the page starts the emitted worker, which
// fetches the emitted wasm, and the page runs no Go of its own.
func TestBundledAppRunsTheEngineInTheSharedWorker(t *testing.T) {
	p := theProject(t)
	for _, tc := range []struct{ name, dir, entry string }{
		{"vite", p.appDir, strings.TrimPrefix(p.builtEntry(t), "/")},
		{"webpack", p.webpackDir, "main.js"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := bundleOf(t, p, tc.dir, tc.entry)
			s := serveApp(t, p, b.dir, "shared-worker")
			tab, csp := s.appSignedIn(t)
			var res map[string]any
			tab.MustEval(`(async () => {
				const token = await (await app.client).getTokenSilently();
				return {token: typeof token, same: token === __e2eSession.accessToken,
					pageRuntime: globalThis[Symbol.for("silentauth.runtime")] !== undefined};
			})()`, &res)
			if res["token"] != "string" || res["same"] != true {
				t.Fatalf("getTokenSilently after login: %v", res)
			}
			if res["pageRuntime"] != false {
				t.Fatalf("the page started a Go runtime of its own: %v", res)
			}
			assertWorker(t, tab, s, "/"+b.worker, "/"+b.wasm)
			csp.assertNone(t)
		})
	}
}

// The script tag's files copied next to each other: silentauth.js finds
// silentauth-worker.js beside itself, and the worker the wasm.
func TestScriptTagRunsTheEngineInTheSharedWorkerNextToIt(t *testing.T) {
	p := theProject(t)
	s := serve(t, p)
	tab, csp, create := s.scriptTagSignedIn(t, `engine: "shared-worker"`)
	var res map[string]any
	tab.MustEval(`(async () => {
		const c = await `+create+`;
		await c.handleRedirectCallback();
		const token = await c.getTokenSilently();
		return {token: typeof token, user: c.getUser().email, pageRuntime: globalThis[Symbol.for("silentauth.runtime")] !== undefined};
	})()`, &res)
	if res["token"] != "string" || res["user"] != "demo@example.com" || res["pageRuntime"] != false {
		t.Fatalf("getTokenSilently from the script tag in the worker: %v", res)
	}
	assertWorker(t, tab, s, "/silentauth-worker.js", "/silentauth.wasm")
	csp.assertNone(t)
}

// assertWorker checks that the browser runs one SharedWorker, from
// workerPath on the app's origin, told to load wasmPath; and that every wasm
// and worker script the server was asked for is one of those two.
func assertWorker(t *testing.T, tab *chrome.Tab, s *server, workerPath, wasmPath string) {
	t.Helper()
	workers := tab.SharedWorkers(t)
	if len(workers) != 1 {
		t.Fatalf("%d shared_worker targets, want 1: %v", len(workers), workers)
	}
	u, err := url.Parse(workers[0].URL)
	if err != nil {
		t.Fatal(err)
	}
	if got := u.Scheme + "://" + u.Host + u.Path; got != s.appURL+workerPath {
		t.Errorf("the shared worker runs %s, want %s", got, s.appURL+workerPath)
	}
	if got := u.Query().Get("wasm"); got != s.appURL+wasmPath {
		t.Errorf("the shared worker loads the wasm %q, want %s", got, s.appURL+wasmPath)
	}
	var sawWasm, sawWorker bool
	for _, r := range s.requests() {
		switch {
		case r == wasmPath:
			sawWasm = true
		case r == workerPath:
			sawWorker = true
		case strings.HasSuffix(r, ".wasm") || strings.Contains(r, "silentauth-worker"):
			t.Errorf("the server was asked for %s; want only %s and %s", r, workerPath, wasmPath)
		}
	}
	if !sawWasm || !sawWorker {
		t.Errorf("the server served the worker: %v, the wasm: %v; requests %v", sawWorker, sawWasm, s.requests())
	}
}

// The worker script must come from the page's origin and exist. A script
// tag served from another origin (a CDN) points at a worker there, which the
// browser refuses to start; a worker left out of the deploy does not load.
// Either way the client rejects and names the worker, rather than waiting
// for an engine that never answers: createClient, or (for this visitor,
// whom no sign-in marker vouches for, the engine starts with the first
// call that needs it) that call.
func TestWorkerThatCannotStartRejects(t *testing.T) {
	p := theProject(t)
	dist := http.FileServer(http.Dir(filepath.Join(p.pkgDir, "dist")))
	cl, cdnURL := e2eenv.Listen(t, "127.0.0.1")
	e2eenv.Serve(t, cl, dist)
	al, appURL := e2eenv.Listen(t, "localhost")
	e2eenv.Serve(t, al, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/cdn.html", "/missing.html":
			src := "/silentauth.js"
			if r.URL.Path == "/cdn.html" {
				src = cdnURL + src
			}
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = io.WriteString(w, `<!doctype html><html><head><meta charset="utf-8"><script src="`+src+`"></script></head><body></body></html>`)
		case "/silentauth-worker.js":
			http.NotFound(w, r) // not deployed
		default:
			dist.ServeHTTP(w, r)
		}
	}))
	browser := chrome.Start(t)
	for _, tc := range []struct{ name, page, worker string }{
		{"from another origin", "/cdn.html", cdnURL + "/silentauth-worker.js"},
		{"missing", "/missing.html", appURL + "/silentauth-worker.js"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tab := browser.NewTab(t)
			openPage(t, tab, appURL+tc.page, "window.silentauth")
			var res map[string]any
			tab.MustEval(`Promise.race([
				silentauth.createClient({domain: "https://login.example.com", clientId: "spa", engine: "shared-worker"})
					.then((c) => c.getTokenSilently())
					.then(() => ({got: "a token"}), e => ({got: e.error, description: e.error_description})),
				new Promise(r => setTimeout(() => r({got: "nothing after 10 s"}), 10000)),
			])`, &res)
			if res["got"] != "invalid_configuration" || !strings.Contains(fmt.Sprint(res["description"]), tc.worker) {
				t.Fatalf("createClient: %v; want invalid_configuration naming %s", res, tc.worker)
			}
		})
	}
}
