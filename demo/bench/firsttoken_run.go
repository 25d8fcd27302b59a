package bench

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/heapprofiler"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/storage"
	"github.com/chromedp/chromedp"

	"github.com/silentauth/silentauth/demo/demoserver"
	"github.com/silentauth/silentauth/demo/devtenant"
	"github.com/silentauth/silentauth/demo/internal/chrome"
	"github.com/silentauth/silentauth/demo/internal/e2eenv"
	"github.com/silentauth/silentauth/demo/internal/repo"
)

// Network is an emulated network for Network.emulateNetworkConditions.
type Network struct {
	Name      string
	RTTms     float64
	Mbit      float64
	UploadMbs float64
}

var networks = []Network{
	{Name: "broadband", RTTms: 20, Mbit: 100, UploadMbs: 100},
	{Name: "4G", RTTms: 60, Mbit: 20, UploadMbs: 20},
}

// FirstTokenRow is one SDK on one network, in ms from navigation start.
type FirstTokenRow struct {
	ColdScript Dist `json:"cold_script_ms"`
	ColdReady  Dist `json:"cold_ready_ms"`
	ColdToken  Dist `json:"cold_first_token_ms"`
	WarmScript Dist `json:"warm_script_ms"`
	WarmReady  Dist `json:"warm_ready_ms"`
	WarmToken  Dist `json:"warm_first_token_ms"`
	// Phases are the steps' medians (see phaseOrder), cold and warm.
	ColdPhases map[string]Dist `json:"cold_phases_ms"`
	WarmPhases map[string]Dist `json:"warm_phases_ms"`
}

// phaseOrder is how the phase table reads, left to right: ms from
// navigation start, except main_blocked, the long tasks' total before the
// token (what held the main thread: compiling, the Go runtime's start, code
// compiled on its first call).
var phaseOrder = []struct{ key, title string }{
	{"script", "script"}, {"discovery_end", "discovery"}, {"authorize_start", "iframe"}, {"wasm_end", "wasm in"},
	{"compiled", "compiled"}, {"started", "Go started"}, {"ready", "ready"}, {"authorize_end", "authorize"}, {"token_start", "token req"}, {"token_end", "token resp"},
	{"token", "token"}, {"main_blocked", "main blocked"},
}

// FirstTokenReport is what make bench writes to dist/bench/firsttoken*.json.
type FirstTokenReport struct {
	Run
	Encoding string                              `json:"content_encoding"`
	Bytes    map[string][3]int                   `json:"bytes"` // name → raw, gzip, brotli
	Rows     map[string]map[string]FirstTokenRow `json:"rows"`  // network → sdk → row
	Baseline string                              `json:"baseline,omitempty"`
	Order    []string                            `json:"order"` // the rows' keys, as the table reads
}

// contenders are the rows' SDKs in table order.
func (r FirstTokenReport) contenders() []string {
	out := []string{"silentauth"}
	for _, extra := range []string{"silentauth-worker", "auth0", "floor", "baseline"} {
		for _, rows := range r.Rows {
			if _, ok := rows[extra]; ok {
				out = append(out, extra)
				break
			}
		}
	}
	return out
}

// FirstToken is the "first token" row of make bench: navigation
// start to the first validated token, signed in, files served as a CDN
// would, on emulated networks, cold (names no cache has seen) and warm (the
// same page visited again: HTTP cache and Chromium's wasm code cache).
func FirstToken(t *Scope, o Options) {
	// loads is the number of cold+warm visit pairs per SDK and network.
	loads := o.count(10, 2)
	dist := e2eenv.DistDir(t)
	root := repo.MustRoot(t)
	nm := filepath.Join(root, "node_modules")
	goroot, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		t.Fatalf("go env GOROOT: %v", err)
	}
	floor := buildWasm(t, root, t.TempDir(), "floor", "./demo/bench/sizes/floor", true)
	sources := []cdnSource{
		{filepath.Join(dist, "silentauth.js"), "silentauth.js", "text/javascript"},
		{filepath.Join(dist, "silentauth.wasm"), "silentauth.wasm", "application/wasm"},
		// The loader asks for the worker next to its script by this name.
		{filepath.Join(dist, "silentauth-worker.js"), WorkerScript, "text/javascript"},
		{filepath.Join(nm, "@auth0/auth0-spa-js/dist/auth0-spa-js.production.js"), "auth0-spa-js.js", "text/javascript"},
		{floor, "floor.wasm", "application/wasm"},
		{filepath.Join(strings.TrimSpace(string(goroot)), "lib", "wasm", "wasm_exec.js"), "wasm_exec.js", "text/javascript"},
	}
	// o.Baseline names the dist/ of another build (an earlier commit's,
	// say): it runs as another contender, so that what a change bought is
	// measured in the same run as the change.
	// silentauth runs its engine in the page; silentauth-worker, in a
	// SharedWorker.
	sdks := []string{"silentauth", "silentauth-worker", "auth0", "floor"}
	if base := o.Baseline; base != "" {
		sources = append(sources, cdnSource{filepath.Join(base, "silentauth.js"), "baseline.js", "text/javascript"},
			cdnSource{filepath.Join(base, "silentauth.wasm"), "baseline.wasm", "application/wasm"})
		sdks = append(sdks, "baseline")
	}
	files := cdnFiles(t, sources)
	rep := FirstTokenReport{Run: thisRun(), Bytes: map[string][3]int{}, Rows: map[string]map[string]FirstTokenRow{}, Baseline: o.Baseline}
	for _, f := range files {
		rep.Bytes[f.Name] = [3]int{len(f.Raw), len(f.Gzip), len(f.Brotli)}
	}

	runFirstToken(t, benchEnv(t, Files{CDN: files}), sdks, loads, &rep)

	text := firstTokenTable(rep)
	fmt.Print(text)
	js, stamp := indented(rep), time.Now().Format("20060102-150405")
	writeBench(t, map[string][]byte{"firsttoken-" + stamp + ".json": js, "firsttoken-latest.json": js,
		"firsttoken-latest.txt": []byte(text)}, "firsttoken-"+stamp+".json", "")
}

// networkList says what each emulated network is.
func networkList() string {
	var parts []string
	for _, nw := range networks {
		parts = append(parts, fmt.Sprintf("%s %.0f ms RTT, %.0f Mbit/s", nw.Name, nw.RTTms, nw.Mbit))
	}
	return strings.Join(parts, "; ")
}

func firstTokenTable(r FirstTokenReport) string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("\nsilentauth make bench: first token — %s\n%s; %s; %s\n", r.Date, r.Machine, r.Go, r.Chromium)
	p("\nFirst token, ms from navigation start to the first validated token, signed in\n")
	p("(silentauth: createClient + checkSession, engine in the page; silentauth-worker: the same, engine in a SharedWorker;\n")
	p(" auth0-spa-js: createAuth0Client + getTokenSilently)\n")
	p("files as a CDN serves them: Content-Encoding %q, hashed names, immutable; cold = new names, warm = second visit\n", r.Encoding)
	p("networks: %s\n", networkList())
	p("%-17s %-17s %5s %18s %18s %18s %18s\n", "network", "sdk", "n", "cold ready med", "cold token med/p95", "warm ready med", "warm token med/p95")
	for _, key := range r.Order {
		for _, sdk := range r.contenders() {
			x := r.Rows[key][sdk]
			p("%-17s %-17s %5d %18.1f %8.1f/%-9.1f %18.1f %8.1f/%-9.1f\n", key, sdk, x.ColdToken.N,
				x.ColdReady.Median, x.ColdToken.Median, x.ColdToken.P95, x.WarmReady.Median, x.WarmToken.Median, x.WarmToken.P95)
		}
		s, a := r.Rows[key]["silentauth"], r.Rows[key]["auth0"]
		p("  %s: first token silentauth/auth0-spa-js cold %.2f×, warm %.2f× (targets: cold ≤ 1.5× on broadband, warm ≤ 1.1×)\n",
			key, s.ColdToken.Median/a.ColdToken.Median, s.WarmToken.Median/a.WarmToken.Median)
		if w, ok := r.Rows[key]["silentauth-worker"]; ok {
			p("  %s: first token silentauth-worker (engine in a SharedWorker)/auth0-spa-js cold %.2f×, warm %.2f×; silentauth-worker/silentauth cold %.2f×, warm %.2f×\n",
				key, w.ColdToken.Median/a.ColdToken.Median, w.WarmToken.Median/a.WarmToken.Median,
				w.ColdToken.Median/s.ColdToken.Median, w.WarmToken.Median/s.WarmToken.Median)
		}
		if f, ok := r.Rows[key]["floor"]; ok {
			p("  %s: the floor's first token (Go started, one ID token verified, no request)/auth0-spa-js cold %.2f×, warm %.2f×; silentauth/floor cold %.2f×, warm %.2f×\n",
				key, f.ColdToken.Median/a.ColdToken.Median, f.WarmToken.Median/a.WarmToken.Median,
				s.ColdToken.Median/f.ColdToken.Median, s.WarmToken.Median/f.WarmToken.Median)
		}
		if b, ok := r.Rows[key]["baseline"]; ok {
			p("  %s: silentauth/baseline cold %.2f×, warm %.2f× (baseline: %s)\n", key,
				s.ColdToken.Median/b.ColdToken.Median, s.WarmToken.Median/b.WarmToken.Median, r.Baseline)
		}
	}
	p("\nWhere the first token goes: medians, ms from navigation start (\"-\": the SDK makes no such step)\n")
	p("%-17s %-17s %-5s", "network", "sdk", "visit")
	for _, ph := range phaseOrder {
		p(" %10s", ph.title)
	}
	p("\n")
	for _, key := range r.Order {
		for _, sdk := range r.contenders() {
			x := r.Rows[key][sdk]
			for _, v := range []struct {
				name   string
				phases map[string]Dist
			}{{"cold", x.ColdPhases}, {"warm", x.WarmPhases}} {
				p("%-17s %-17s %-5s", key, sdk, v.name)
				for _, ph := range phaseOrder {
					if d, ok := v.phases[ph.key]; ok {
						p(" %10.0f", d.Median)
					} else {
						p(" %10s", "-")
					}
				}
				p("\n")
			}
		}
	}
	p("bytes on the wire (raw / gzip -9 / brotli q11):\n")
	for name, v := range r.Bytes {
		p("  %-36s %9d %9d %9d\n", name, v[0], v[1], v[2])
	}
	return b.String()
}

// cdnSource is a file for cdnFiles: where it is, the name it is served
// under (before hashing) and its Content-Type.
type cdnSource struct{ path, name, typ string }

// cdnFiles reads each file and compresses it as a CDN stores it: gzip -9 and
// brotli q11 by node's zlib, under a content-hashed name.
func cdnFiles(t testing.TB, sources []cdnSource) []CDNFile {
	var paths []string
	for _, src := range sources {
		paths = append(paths, src.path)
	}
	tmp := t.TempDir()
	const script = `const zlib = require("zlib"), fs = require("fs"), path = require("path");
const [files, dir] = JSON.parse(process.argv[1]);
files.forEach((f, i) => {
  const b = fs.readFileSync(f);
  fs.writeFileSync(path.join(dir, i + ".gz"), zlib.gzipSync(b, {level: 9}));
  fs.writeFileSync(path.join(dir, i + ".br"), zlib.brotliCompressSync(b, {params: {
    [zlib.constants.BROTLI_PARAM_QUALITY]: 11, [zlib.constants.BROTLI_PARAM_LGWIN]: 24,
    [zlib.constants.BROTLI_PARAM_SIZE_HINT]: b.length}}));
});`
	if b, err := exec.Command("node", "-e", script, jsJSON([]any{paths, tmp})).CombinedOutput(); err != nil {
		t.Fatalf("node zlib: %v\n%s", err, b)
	}
	var out []CDNFile
	for i, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		gz, err := os.ReadFile(filepath.Join(tmp, fmt.Sprintf("%d.gz", i)))
		if err != nil {
			t.Fatal(err)
		}
		br, err := os.ReadFile(filepath.Join(tmp, fmt.Sprintf("%d.br", i)))
		if err != nil {
			t.Fatal(err)
		}
		name := HashedName(sources[i].name, raw)
		if sources[i].name == WorkerScript {
			name = WorkerScript
		}
		out = append(out, CDNFile{Name: name, Type: sources[i].typ, Raw: raw, Gzip: gz, Brotli: br})
	}
	return out
}

// benchEnv starts the dev tenant and the demo app with the bench pages
// (files, whose NodeModules it sets), and logs demo@example.com in, so that
// silent requests find a session.
func benchEnv(t testing.TB, files Files) *e2eenv.Env {
	t.Helper()
	dist := e2eenv.DistDir(t)
	tl, tenantURL := e2eenv.Listen(t, "localhost")
	al, appURL := e2eenv.Listen(t, "localhost")
	// Tokens live an hour so nothing expires, whatever a run's length.
	tenant, err := devtenant.New(devtenant.Config{Issuer: tenantURL, TokenLifetime: time.Hour,
		AppOrigins: []string{appURL}, Clients: e2eenv.TenantClients(appURL)})
	if err != nil {
		t.Fatal(err)
	}
	app, err := demoserver.New(demoserver.Config{Domain: tenantURL, ClientID: "spa", DistDir: dist, DevTenant: true,
		APIURL: tenantURL + "/api/private", ServerLogoutURL: tenantURL + "/v2/logout"})
	if err != nil {
		t.Fatal(err)
	}
	e2eenv.Serve(t, tl, tenant)
	files.NodeModules = filepath.Join(repo.MustRoot(t), "node_modules")
	e2eenv.Serve(t, al, Handler(e2eenv.WithTestPage(app, tenantURL), tenantURL, files))
	env := &e2eenv.Env{Tenant: tenant, TenantURL: tenantURL, AppURL: appURL, Browser: chrome.Start(t)}
	login := env.OpenTestPage(t)
	env.Login(t, login, "demo@example.com", "")
	closeTab(login)
	return env
}

func chromiumVersion(t testing.TB, tab *chrome.Tab) string {
	var v string
	tab.MustEval("navigator.userAgent", &v)
	return v
}

// firstTokenSample is one visit as the page reports it.
type firstTokenSample struct {
	Script, Ready, Token float64
	OK                   bool
	Phases               map[string]float64
}

// runFirstToken measures each network's cold and warm visits in env and adds
// their rows to rep.
func runFirstToken(t testing.TB, env *e2eenv.Env, sdks []string, loads int, rep *FirstTokenReport) {
	tab := env.Browser.NewTab(t)
	if err := chromedp.Run(tab.Ctx, network.Enable()); err != nil {
		t.Fatal(err)
	}
	rep.Chromium = chromiumVersion(t, tab)
	// Learn the encoding the browser gets.
	chromedp.ListenTarget(tab.Ctx, func(ev any) {
		if e, ok := ev.(*network.EventResponseReceived); ok && strings.HasSuffix(e.Response.URL, ".wasm") {
			if enc, ok := e.Response.Headers["Content-Encoding"].(string); ok {
				rep.Encoding = enc
			}
		}
	})

	floorQuery := ""
	if slices.Contains(sdks, "floor") {
		floorQuery = floorToken(t, env)
	}

	run := 0
	for _, nw := range networks {
		key := nw.Name
		rep.Order = append(rep.Order, key)
		if err := chromedp.Run(tab.Ctx, network.EmulateNetworkConditions(false, nw.RTTms,
			nw.Mbit*1e6/8, nw.UploadMbs*1e6/8)); err != nil {
			t.Fatal(err)
		}
		cold, warm := map[string][]firstTokenSample{}, map[string][]firstTokenSample{}
		for i := range loads {
			// Each round starts with another contender.
			for j := range sdks {
				sdk := sdks[(i+j)%len(sdks)]
				run++
				for visit := 1; visit <= 2; visit++ {
					// From a blank page, so the visit is a new navigation, not a reload.
					if err := tab.Navigate("about:blank"); err != nil {
						t.Fatal(err)
					}
					// Let the last page's heap go first, so that no visit
					// pays for the teardown of the one before it.
					if err := chromedp.Run(tab.Ctx, heapprofiler.CollectGarbage()); err != nil {
						t.Fatal(err)
					}
					time.Sleep(100 * time.Millisecond)
					// A cold visit is a first visit: nothing kept in the
					// page's storage either (silentauth keeps discovery there).
					if visit == 1 {
						if err := chromedp.Run(tab.Ctx, storage.ClearDataForOrigin(env.AppURL, "local_storage")); err != nil {
							t.Fatal(err)
						}
					}
					pageURL := fmt.Sprintf("%s%s?sdk=%s&cdn=%s%d/&visit=%d", env.AppURL, FirstTokenPath, sdk, CDNPrefix, run, visit)
					if sdk == "floor" {
						pageURL += floorQuery
					}
					if err := tab.Navigate(pageURL); err != nil {
						t.Fatal(err)
					}
					var s firstTokenSample
					tab.MustEval("window.first", &s)
					t.Logf("%s %s visit %d: %+v", key, sdk, visit, s)
					if !s.OK {
						t.Fatalf("%s on %s: no token", sdk, key)
					}
					if visit == 1 {
						cold[sdk] = append(cold[sdk], s)
					} else {
						warm[sdk] = append(warm[sdk], s)
					}
				}
			}
		}
		rep.Rows[key] = map[string]FirstTokenRow{}
		for _, sdk := range sdks {
			col := func(ss []firstTokenSample, f func(firstTokenSample) float64) Dist {
				var v []float64
				for _, s := range ss {
					v = append(v, f(s))
				}
				return Summarise(v)
			}
			script := func(s firstTokenSample) float64 { return s.Script }
			ready := func(s firstTokenSample) float64 { return s.Ready }
			token := func(s firstTokenSample) float64 { return s.Token }
			phases := func(ss []firstTokenSample) map[string]Dist {
				out := map[string]Dist{}
				for _, p := range phaseOrder {
					var v []float64
					for _, s := range ss {
						if x, ok := s.Phases[p.key]; ok {
							v = append(v, x)
						}
					}
					if len(v) > 0 {
						out[p.key] = Summarise(v)
					}
				}
				return out
			}
			rep.Rows[key][sdk] = FirstTokenRow{
				ColdScript: col(cold[sdk], script), ColdReady: col(cold[sdk], ready), ColdToken: col(cold[sdk], token),
				WarmScript: col(warm[sdk], script), WarmReady: col(warm[sdk], ready), WarmToken: col(warm[sdk], token),
				ColdPhases: phases(cold[sdk]), WarmPhases: phases(warm[sdk]),
			}
		}
	}
	if err := chromedp.Run(tab.Ctx, network.EmulateNetworkConditions(false, 0, -1, -1)); err != nil {
		t.Fatal(err)
	}

}

// floorToken fetches, once, an ID token from the tenant's session and the
// JWK that signed it, as the query the floor contender's page reads: the
// floor verifies a real token without making a request of its own.
func floorToken(t testing.TB, env *e2eenv.Env) string {
	t.Helper()
	tab := openPage(t, env, PagePath)
	var idToken string
	tab.MustEval(`floorImplicit().then(r => r.id_token)`, &idToken)
	closeTab(tab)
	head, _, _ := strings.Cut(idToken, ".")
	hb, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		t.Fatalf("the ID token's header: %v", err)
	}
	var header struct{ Kid string }
	if err := json.Unmarshal(hb, &header); err != nil {
		t.Fatalf("the ID token's header: %v", err)
	}
	var set struct{ Keys []map[string]any }
	if err := json.Unmarshal([]byte(httpGet(t, env.TenantURL+"/.well-known/jwks.json")), &set); err != nil {
		t.Fatalf("the tenant's JWKS: %v", err)
	}
	for _, k := range set.Keys {
		if k["kid"] == header.Kid {
			kb, _ := json.Marshal(k)
			return "&t=" + url.QueryEscape(idToken) + "&k=" + url.QueryEscape(string(kb))
		}
	}
	t.Fatalf("no key %q in the tenant's JWKS", header.Kid)
	return ""
}
