package sharedworker_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/silentauth/silentauth/demo/demoserver"
	"github.com/silentauth/silentauth/demo/internal/e2eenv"
)

// noWorkerPage is a test page whose CSP forbids every worker.
const noWorkerPage = "/e2e-no-worker.html"

// How the app serves the worker script.
const (
	workerServed int32 = iota
	workerNotFound
	workerHangs // the response never comes
)

// blockingApp adds noWorkerPage to the app, and serves the worker script
// as script says.
func blockingApp(tenantURL *string, script *atomic.Int32) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			worker := r.URL.Path == "/silentauth/silentauth-worker.js"
			switch {
			case worker && script.Load() == workerNotFound:
				http.NotFound(w, r)
			case worker && script.Load() == workerHangs:
				<-r.Context().Done()
			case r.URL.Path == noWorkerPage:
				w.Header().Set("Content-Type", "text/html; charset=utf-8")
				w.Header().Set("Cache-Control", "no-cache")
				w.Header().Set("Content-Security-Policy", demoserver.CSP(*tenantURL)+"; worker-src 'none'")
				fmt.Fprint(w, `<!doctype html><html><head><meta charset="utf-8"><title>silentauth e2e</title>`+
					`<script src="/silentauth/silentauth.js"></script></head><body><p>no workers</p></body></html>`)
			default:
				next.ServeHTTP(w, r)
			}
		})
	}
}

// Where the SharedWorker cannot start, engine "shared-worker" rejects with
// invalid_configuration naming the cause, and engine "auto" runs the engine
// in the page, says so in a debug line (with the cause, once "auto" tries
// the worker first), and the client works, each call sent once.
func TestAutoFallsBackToThePageWhereTheWorkerCannotStart(t *testing.T) {
	var tenantURL string
	var script atomic.Int32
	env := e2eenv.Start(t, e2eenv.Options{TokenLifetime: time.Minute, AppMiddleware: blockingApp(&tenantURL, &script)})
	tenantURL = env.TenantURL
	logIn(t, env)
	for _, tc := range []struct {
		name   string
		page   string
		script int32
		cause  string // in the forced error
	}{
		// In Chromium a page may get silence, not an error, for a worker
		// that another page could not load (the start bound then decides):
		// the cases that leave such a worker come last.
		{name: "a worker script that is not found", page: e2eenv.TestPagePath, script: workerNotFound, cause: "failed to load"},
		{name: "a CSP with worker-src 'none'", page: noWorkerPage, cause: "worker-src blocks"},
		{name: "a worker script that never comes", page: e2eenv.TestPagePath, script: workerHangs, cause: "did not answer within 5 s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			script.Store(tc.script)
			defer script.Store(workerServed)
			open := func() *e2eenv.Tab {
				return e2eenv.OpenSDKPage(t, env.Browser, env.AppURL+tc.page, 10*time.Second)
			}

			forced := open()
			var rejected struct{ Error, Description string }
			forced.MustEval(`(async () => {
				try { await `+env.ClientJS(workerOption)+`; return { error: "none" } }
				catch (e) { return { error: e.error, description: e.error_description } } })()`, &rejected)
			if rejected.Error != "invalid_configuration" || !strings.Contains(rejected.Description, tc.cause) {
				t.Errorf(`engine "shared-worker": got %s: %q, want invalid_configuration naming %q`, rejected.Error, rejected.Description, tc.cause)
			}

			before := env.Tenant.Stats().AuthorizePromptNone
			auto := open()
			var got struct {
				Token   string
				Running bool
			}
			auto.MustEval(`(async () => {
				const c = await `+env.ClientJS(`engine: "auto"`)+`;
				const token = await c.getTokenSilently();
				// The page's own Go runtime registers under this symbol.
				return { token, running: !!globalThis[Symbol.for("silentauth.runtime")] };
			})()`, &got)
			if got.Token == "" || !got.Running {
				t.Errorf(`engine "auto": token %q, page runtime running %v; want a token from the engine in the page`, got.Token, got.Running)
			}
			if n := env.Tenant.Stats().AuthorizePromptNone - before; n != 1 {
				t.Errorf("%d prompt=none requests for one token, want 1 (no call sent twice)", n)
			}
			var line string
			for _, l := range auto.Console() {
				if strings.Contains(l, `the engine runs in the page`) {
					line = l
				}
			}
			if line == "" {
				t.Errorf("no debug line says the engine runs in the page\nconsole:\n%s", strings.Join(auto.Console(), "\n"))
			}
			if err := auto.WaitFor(`document.querySelectorAll("iframe").length === 0`, 5*time.Second); err != nil {
				t.Errorf("the silent request's iframe stayed: %v", err)
			}
		})
	}
}

// With useDpop, "auto" still runs the engine in the SharedWorker: the
// worker makes and keeps the key pair and signs the proofs, so the tokens
// come back DPoP-bound and no Go runtime starts in the page.
func TestUseDpopRunsInTheSharedWorker(t *testing.T) {
	env := e2eenv.Start(t, e2eenv.Options{TokenLifetime: time.Minute})
	logIn(t, env)
	tab := e2eenv.OpenSDKPage(t, env.Browser, env.AppURL+e2eenv.TestPagePath, 10*time.Second)

	var got struct {
		TokenType string
		Running   bool
		Proof     bool
	}
	tab.MustEval(`(async () => {
		const c = await `+env.ClientJS(`engine: "auto", useDpop: true`)+`;
		const r = await c.checkSession();
		const h = await c.getAuthHeaders(location.origin + "/api");
		// The page's own Go runtime registers under this symbol.
		return { tokenType: r.tokenType, running: !!globalThis[Symbol.for("silentauth.runtime")],
			proof: typeof h.DPoP === "string" && h.Authorization === "DPoP " + r.accessToken };
	})()`, &got)
	if got.TokenType != "DPoP" || got.Running || !got.Proof {
		t.Errorf(`engine "auto" with useDpop: tokenType %q, a runtime in the page %v, getAuthHeaders with a proof %v; want DPoP tokens and proofs from the engine in the worker`,
			got.TokenType, got.Running, got.Proof)
	}
	if n := len(tab.SharedWorkers(t)); n != 1 {
		t.Errorf("%d SharedWorkers, want the one that runs the engine", n)
	}
}
