package bench

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/silentauth/silentauth/demo/demoserver"
	"github.com/silentauth/silentauth/demo/devtenant"
	"github.com/silentauth/silentauth/demo/internal/chrome"
	"github.com/silentauth/silentauth/demo/internal/e2eenv"
	"github.com/silentauth/silentauth/demo/internal/repo"
)

// DPoP times a DPoP renewal, through the iframe (code exchange
// with a proof) and through the refresh token grant (with a proof), for
// silentauth and auth0-spa-js in one page, interleaved, against the dev
// tenant (which wants its DPoP nonce in every proof). It prints the medians
// and silentauth's ratio to auth0-spa-js (target: at most 1.1); figures
// only, never assertions.
func DPoP(t *Scope, o Options) {
	// dpopRounds is how many timed renewals each DPoP contender makes.
	dpopRounds := o.count(30, 5)
	dist := e2eenv.DistDir(t)
	root := repo.MustRoot(t)
	tl, tenantURL := e2eenv.Listen(t, "localhost")
	al, appURL := e2eenv.Listen(t, "localhost")
	clients := devtenant.DefaultClients([]string{appURL})
	for i := range clients {
		clients[i].Callbacks = append(clients[i].Callbacks, appURL+e2eenv.TestPagePath)
	}
	tenant, err := devtenant.New(devtenant.Config{Issuer: tenantURL, TokenLifetime: time.Hour, AppOrigins: []string{appURL}, Clients: clients})
	if err != nil {
		t.Fatal(err)
	}
	app, err := demoserver.New(demoserver.Config{Domain: tenantURL, ClientID: "spa", DistDir: dist, DevTenant: true})
	if err != nil {
		t.Fatal(err)
	}
	pages := Handler(e2eenv.WithTestPage(app, tenantURL), tenantURL, Files{NodeModules: filepath.Join(root, "node_modules"),
		WasmExecJS: filepath.Join(runtime.GOROOT(), "lib", "wasm", "wasm_exec.js")})
	mux := http.NewServeMux()
	mux.Handle("/", pages)
	mux.HandleFunc(DPoPPagePath, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		fmt.Fprint(w, strings.ReplaceAll(dpopPage, "TENANT_URL", tenantURL))
	})
	e2eenv.Serve(t, tl, tenant)
	e2eenv.Serve(t, al, mux)
	env := &e2eenv.Env{Tenant: tenant, TenantURL: tenantURL, AppURL: appURL, Browser: chrome.Start(t)}
	loginTab := env.OpenTestPage(t)
	env.Login(t, loginTab, "demo@example.com", "")
	closeTab(loginTab)

	tab := openPage(t, env, DPoPPagePath)
	tab.MustEval("bench.setup()", nil)
	before := tenant.Stats()
	samples := map[string][]float64{}
	// In chunks of 10 rounds: one Eval may take at most 90 s.
	for done := 0; done < dpopRounds; done += 10 {
		warmup := 0
		if done == 0 {
			warmup = 2
		}
		var run map[string][]float64
		tab.MustEval(fmt.Sprintf("bench.run(%s, %d, %d)", jsJSON(DPoPContenders), min(10, dpopRounds-done), warmup), &run)
		for name, s := range run {
			samples[name] = append(samples[name], s...)
		}
	}
	after := tenant.Stats()
	var b strings.Builder
	fmt.Fprintf(&b, "DPoP renewal, dev tenant on loopback, nonces required; %d rounds after 2 warm-up rounds (ms)\n", dpopRounds)
	fmt.Fprintf(&b, "%-28s %8s %8s %8s\n", "contender", "median", "p95", "max")
	dist2 := map[string]Dist{}
	for _, name := range DPoPContenders {
		d := Summarise(samples[name])
		dist2[name] = d
		fmt.Fprintf(&b, "%-28s %8.1f %8.1f %8.1f\n", name, d.Median, d.P95, d.Max)
	}
	fmt.Fprintf(&b, "ratio silentauth (engine in the SharedWorker)/auth0-spa-js, iframe + code: %.2f×; refresh grant: %.2f× (target ≤ 1.1×); engine in the page, refresh grant: %.2f×\n",
		dist2["silentauth-dpop-iframe"].Median/dist2["auth0-dpop-iframe"].Median,
		dist2["silentauth-dpop-refresh"].Median/dist2["auth0-dpop-refresh"].Median,
		dist2["silentauth-page-dpop-refresh"].Median/dist2["auth0-dpop-refresh"].Median)
	fmt.Fprintf(&b, "what DPoP adds to a refresh grant: silentauth %+.1f ms, auth0-spa-js %+.1f ms; without DPoP silentauth/auth0-spa-js is %.2f×\n",
		dist2["silentauth-dpop-refresh"].Median-dist2["silentauth-bearer-refresh"].Median,
		dist2["auth0-dpop-refresh"].Median-dist2["auth0-bearer-refresh"].Median,
		dist2["silentauth-bearer-refresh"].Median/dist2["auth0-bearer-refresh"].Median)
	fmt.Fprintf(&b, "the tenant saw %d code exchanges and %d refresh grants in the run\n",
		after.TokenExchanges-before.TokenExchanges, after.RefreshGrants-before.RefreshGrants)
	fmt.Print(b.String())
	out := filepath.Join(dist, "bench")
	if err := os.MkdirAll(out, 0o755); err == nil {
		_ = os.WriteFile(filepath.Join(out, "dpop-latest.txt"), []byte(b.String()), 0o644)
	}
}
