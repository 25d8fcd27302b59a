package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/heapprofiler"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/profiler"
	cdpruntime "github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/silentauth/silentauth/demo/internal/chrome"
	"github.com/silentauth/silentauth/demo/internal/e2eenv"
	"github.com/silentauth/silentauth/demo/internal/repo"
)

// renewalSizes are the renewal run's counts; -quick shrinks them for a
// smoke run.
type renewalSizes struct {
	latencyRounds int // per contender, after latencyWarmup
	latencyWarmup int
	readyLoads    int // per SDK
	verifyN       int
	memoryRenews  int
	profileRenews int
}

func sizesFor(o Options) renewalSizes {
	if o.Quick {
		return renewalSizes{5, 3, 2, 50, 20, 5}
	}
	return renewalSizes{40, 3, 12, 500, 1000, 40}
}

// memoryContenders renew memoryRenews times each: silentauth and its
// baseline only, as 1000 renewals take a minute or two each.
var memoryContenders = []string{"silentauth-implicit", "auth0-spa-js"}

// Contenders of the latency run, in the order the table lists them.
var contenders = []string{"floor-implicit", "silentauth-implicit", "floor-code", "silentauth-code", "auth0-spa-js"}

// Report is what make bench writes to dist/bench/*.json.
type Report struct {
	Run

	Latency       map[string]Dist     `json:"renewal_latency"`
	LatencyRatios map[string]float64  `json:"renewal_latency_median_ratios"`
	Ready         map[string]ReadyRow `json:"time_to_ready"`
	Sizes         []SizeRow           `json:"sizes"`
	HostVerify    []HostBench         `json:"host_verify"`
	BrowserVerify BrowserVerify       `json:"browser_verify"`
	Memory        map[string]MemRow   `json:"memory"`
	Profile       Profile             `json:"renewal_profile"`
	// Phases: per contender, the median time each step of a renewal takes.
	Phases map[string][]PhaseStep `json:"renewal_phases"`
}

// phaseMarks are the page's marks of one renewal, in the order they happen
// (pages.go): each is ms from the call. "resolved" is when the call's
// promise settled.
var phaseMarks = []string{"frame", "message", "token_request", "token_response", "resolved"}

// PhaseStep is one step of a renewal: from the mark before it (or the call)
// to its own, median over the rounds that saw both marks.
type PhaseStep struct {
	Step   string  `json:"step"`
	Median float64 `json:"median_ms"`
	N      int     `json:"n"`
}

// phases turns each round's marks into the median of each step.
func phases(rounds map[string][]map[string]float64) map[string][]PhaseStep {
	out := map[string][]PhaseStep{}
	for name, rs := range rounds {
		prev := "call"
		for _, m := range phaseMarks {
			var d []float64
			for _, r := range rs {
				at, ok := r[m]
				from, okFrom := r[prev]
				if prev == "call" {
					from, okFrom = 0, true
				}
				if ok && okFrom {
					d = append(d, at-from)
				}
			}
			if len(d) == 0 {
				continue // this contender has no such step (no token request in implicit flows)
			}
			out[name] = append(out[name], PhaseStep{Step: prev + " → " + m, Median: Summarise(d).Median, N: len(d)})
			prev = m
		}
		var net []float64
		for _, r := range rs {
			if v, ok := r["token_network"]; ok {
				net = append(net, v)
			}
		}
		if len(net) > 0 {
			out[name] = append(out[name], PhaseStep{Step: "(token request on the network)", Median: Summarise(net).Median, N: len(net)})
		}
	}
	return out
}

// ReadyRow is time to ready over fresh loads with the HTTP cache disabled.
type ReadyRow struct {
	Script Dist `json:"script_loaded"`   // first script → SDK script evaluated
	Ready  Dist `json:"client_ready"`    // first script → client usable
	Token  Dist `json:"first_token"`     // first script → first access token
	Nav    Dist `json:"nav_to_ready_ms"` // navigation start → client usable
}

// SizeRow is one file, raw and compressed.
type SizeRow struct {
	Name   string `json:"name"`
	Path   string `json:"path"`
	Raw    int    `json:"raw"`
	Gzip9  int    `json:"gzip9"`
	Brotli int    `json:"brotli11"`
	Note   string `json:"note,omitempty"`
}

// HostBench is one line of go test -bench.
type HostBench struct {
	Name        string  `json:"name"`
	NsPerOp     float64 `json:"ns_per_op"`
	BytesPerOp  int     `json:"bytes_per_op"`
	AllocsPerOp int     `json:"allocs_per_op"`
}

// BrowserVerify is RS256 ID-token validation in the page, ops/s.
type BrowserVerify struct {
	N          int     `json:"n"`
	GoPerCall  float64 `json:"silentauth_ops_per_s"`         // verify(token) called from JS n times
	GoLoop     float64 `json:"silentauth_loop_ops_per_s"`    // one call, n Verify inside Go
	Jose       float64 `json:"jose_ops_per_s"`               // awaited jwtVerify n times
	RatioToJos float64 `json:"silentauth_to_jose_ops_ratio"` // GoPerCall / Jose
}

// MemRow is memory after the first renewal and after memoryRenews.
type MemRow struct {
	HeapAfter1     float64 `json:"js_heap_after_1"`
	HeapAfterN     float64 `json:"js_heap_after_n"`
	WasmAfter1     float64 `json:"wasm_memory_after_1"`
	WasmAfterN     float64 `json:"wasm_memory_after_n"`
	Renewals       int     `json:"renewals"`
	LiveFuncsAfter float64 `json:"live_funcs_after_n"`
}

// Profile is where CPU time went during silentauth renewals.
type Profile struct {
	Renewals   int            `json:"renewals"`
	WallMs     float64        `json:"wall_ms"`
	Categories []ProfileEntry `json:"categories"`
	TopGo      []ProfileEntry `json:"top_go_functions"`
}

// ProfileEntry is self time of a category or function.
type ProfileEntry struct {
	Name string  `json:"name"`
	Ms   float64 `json:"self_ms"`
}

// wasmGCFlags are the compiler flags the Makefile builds silentauth.wasm
// with, so that every program the bench builds to compare against it is
// compiled the same way.
func wasmGCFlags(t testing.TB, root string) []string {
	t.Helper()
	cmd := exec.Command("make", "-s", "wasm-gcflags")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("make wasm-gcflags: %v", err)
	}
	return strings.Fields(string(out))
}

// buildWasm builds pkg for GOOS=js GOARCH=wasm into dir/name.wasm with the
// product's flags (WASM_GCFLAGS), stripped of symbols when strip, as the
// Makefile builds silentauth.wasm, and returns its path.
func buildWasm(t testing.TB, root, dir, name, pkg string, strip bool) string {
	t.Helper()
	out := filepath.Join(dir, name+".wasm")
	args := append([]string{"build", "-trimpath"}, wasmGCFlags(t, root)...)
	if strip {
		args = append(args, `-ldflags=-s -w`)
	}
	cmd := exec.Command("go", append(args, "-o", out, pkg)...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	return out
}

// Renewal is the first part of make bench: silent renewal latency and its
// phases, time to ready, sizes, ID-token validation on the host and in the
// page, memory after many renewals and a CPU profile of them.
func Renewal(t *Scope, o Options) {
	n := sizesFor(o)
	latencyRounds, latencyWarmup, readyLoads, verifyN := n.latencyRounds, n.latencyWarmup, n.readyLoads, n.verifyN
	root := repo.MustRoot(t)
	dist := e2eenv.DistDir(t)
	tmp := t.TempDir()
	rep := Report{Run: thisRun()}
	start := time.Now()
	logf := func(format string, a ...any) {
		t.Progressf("[%5.1fs] "+format, append([]any{time.Since(start).Seconds()}, a...)...)
	}

	// Builds and host work first, before Chromium competes for the cores.
	logf("building the size programs")
	build := func(name, pkg string, strip bool) string { return buildWasm(t, root, tmp, name, pkg, strip) }
	empty := build("empty", "./demo/bench/sizes/empty", true)
	floor := build("floor", "./demo/bench/sizes/floor", true)
	verifyWasm := build("verify", "./demo/bench/verifywasm", true)
	symbols := build("silentauth-symbols", "./wasm", false)
	nm := filepath.Join(root, "node_modules")
	rep.Sizes = sizes(t, []SizeRow{
		{Name: "silentauth.wasm", Path: filepath.Join(dist, "silentauth.wasm")},
		{Name: "silentauth.js", Path: filepath.Join(dist, "silentauth.js"), Note: "loader + Go's wasm_exec.js"},
		{Name: "empty GOOS=js program", Path: empty, Note: "package main; func main(){}"},
		{Name: "dependency floor", Path: floor, Note: "safejs + golang-jwt RS256/ES256"},
		{Name: "auth0-spa-js", Path: filepath.Join(nm, "@auth0/auth0-spa-js/dist/auth0-spa-js.production.js"), Note: "production bundle"},
		{Name: "jose", Note: "no single-file browser build in jose 6 (ESM tree dist/webapi)"},
	})

	logf("host benchmark: go test -bench Verify ./checksession/idtoken/")
	rep.HostVerify = hostBench(t, root)

	// Servers and the browser, with the demo user logged in.
	env := benchEnv(t, Files{
		WasmExecJS: filepath.Join(runtime.GOROOT(), "lib", "wasm", "wasm_exec.js"),
		VerifyWasm: verifyWasm, SymbolWasm: symbols,
	})
	versionTab := env.OpenTestPage(t)
	if err := chromedp.Run(versionTab.Ctx, chromedp.ActionFunc(func(ctx context.Context) error {
		_, product, _, _, _, err := browser.GetVersion().Do(ctx)
		rep.Chromium = product
		return err
	})); err != nil {
		t.Fatal(err)
	}
	closeTab(versionTab)

	// 1. Renewal latency, all contenders interleaved in one page.
	logf("renewal latency: %d rounds of %d contenders", latencyRounds, len(contenders))
	lat := openPage(t, env, PagePath)
	lat.MustEval(fmt.Sprintf("bench.setup(%s)", jsJSON(contenders)), nil)
	// In chunks: each round waits for the contenders' iframes to go
	// (auth0-spa-js keeps its own 2 s), and one Eval may take at most 90 s.
	samples, marks := map[string][]float64{}, map[string][]map[string]float64{}
	for done := 0; done < latencyRounds; done += 10 {
		warmup := 0
		if done == 0 {
			warmup = latencyWarmup
		}
		var run struct {
			Samples map[string][]float64
			Phases  map[string][]map[string]float64
		}
		lat.MustEval(fmt.Sprintf("bench.run(%s, %d, %d)", jsJSON(contenders), min(10, latencyRounds-done), warmup), &run)
		for name, s := range run.Samples {
			samples[name] = append(samples[name], s...)
			marks[name] = append(marks[name], run.Phases[name]...)
		}
	}
	rep.Latency = map[string]Dist{}
	for name, s := range samples {
		rep.Latency[name] = Summarise(s)
	}
	rep.Phases = phases(marks)
	ratio := func(a, b string) float64 { return rep.Latency[a].Median / rep.Latency[b].Median }
	rep.LatencyRatios = map[string]float64{
		"silentauth-implicit/floor-implicit": ratio("silentauth-implicit", "floor-implicit"),
		"silentauth-code/floor-code":         ratio("silentauth-code", "floor-code"),
		"silentauth-code/auth0-spa-js":       ratio("silentauth-code", "auth0-spa-js"),
		"silentauth-implicit/auth0-spa-js":   ratio("silentauth-implicit", "auth0-spa-js"),
		"auth0-spa-js/floor-code":            ratio("auth0-spa-js", "floor-code"),
	}

	// 4b. The same ID-token validation in the page: a fresh RS256 token.
	var idToken string
	lat.MustEval(`floorImplicit().then(r => r.id_token)`, &idToken)
	closeTab(lat)
	jwks := httpGet(t, env.TenantURL+"/.well-known/jwks.json")
	logf("in-browser verify: %d tokens each", verifyN)
	vt := openPage(t, env, VerifyPath)
	if err := vt.WaitFor("window.benchReady", 20*time.Second); err != nil {
		t.Fatal(err)
	}
	var vr struct{ Go, GoLoop, Jose float64 }
	vt.MustEval(fmt.Sprintf("bench.run(%q, %s, %q, %d, %d, 20)", idToken, jwks, env.Tenant.Issuer(), time.Now().Unix(), verifyN), &vr)
	ops := func(ms float64) float64 { return float64(verifyN) / (ms / 1000) }
	rep.BrowserVerify = BrowserVerify{N: verifyN, GoPerCall: ops(vr.Go), GoLoop: ops(vr.GoLoop), Jose: ops(vr.Jose)}
	rep.BrowserVerify.RatioToJos = rep.BrowserVerify.GoPerCall / rep.BrowserVerify.Jose
	closeTab(vt)

	// 2. Time to ready over fresh loads, HTTP cache off.
	logf("time to ready: %d fresh loads per SDK", readyLoads)
	rt := env.Browser.NewTab(t)
	if err := chromedp.Run(rt.Ctx, network.Enable(), network.SetCacheDisabled(true)); err != nil {
		t.Fatal(err)
	}
	type readySample struct{ Script, Ready, Token, NavToReady float64 }
	ready := map[string][]readySample{}
	for i := range readyLoads {
		sdks := []string{"silentauth", "auth0"}
		if i%2 == 1 {
			slices.Reverse(sdks)
		}
		for _, sdk := range sdks {
			if err := rt.Navigate(env.AppURL + ReadyPath + "?sdk=" + sdk); err != nil {
				t.Fatal(err)
			}
			var s readySample
			rt.MustEval("window.ready", &s)
			ready[sdk] = append(ready[sdk], s)
		}
	}
	rep.Ready = map[string]ReadyRow{}
	for sdk, ss := range ready {
		var a, b, c, d []float64
		for _, s := range ss {
			a, b, c, d = append(a, s.Script), append(b, s.Ready), append(c, s.Token), append(d, s.NavToReady)
		}
		rep.Ready[sdk] = ReadyRow{Script: Summarise(a), Ready: Summarise(b), Token: Summarise(c), Nav: Summarise(d)}
	}
	closeTab(rt)

	// 5. Memory after the first renewal and after memoryRenews.
	rep.Memory = map[string]MemRow{}
	for _, name := range memoryContenders {
		logf("memory: %s, %d renewals", name, n.memoryRenews)
		rep.Memory[name] = memory(t, env, name, n.memoryRenews)
	}

	// Where silentauth's renewal time goes: a CPU profile with symbols.
	logf("profile: %d silentauth-implicit renewals", n.profileRenews)
	rep.Profile = profile(t, env, n.profileRenews)

	logf("done")
	text := table(rep)
	fmt.Print(text)
	js, stamp := indented(rep), time.Now().Format("20060102-150405")
	writeBench(t, map[string][]byte{"bench-" + stamp + ".json": js, "latest.json": js, "latest.txt": []byte(text)}, "bench-"+stamp+".json", "")
}

func openPage(t testing.TB, env *e2eenv.Env, path string) *chrome.Tab {
	t.Helper()
	tab := env.Browser.NewTab(t)
	if err := tab.Navigate(env.AppURL + path); err != nil {
		t.Fatal(err)
	}
	return tab
}

// closeTab closes a tab now, so idle pages do not share the cores.
func closeTab(tab *chrome.Tab) { _ = chromedp.Cancel(tab.Ctx) }

func memory(t testing.TB, env *e2eenv.Env, name string, memoryRenews int) MemRow {
	tab := openPage(t, env, PagePath)
	defer closeTab(tab)
	tab.MustEval(fmt.Sprintf("bench.setup([%q])", name), nil)
	measure := func() (heap, wasm, funcs float64) {
		// Iframes are removed after their about:blank (silentauth) or 2 s (auth0-spa-js).
		_ = tab.WaitFor("bench.frames() === 0", 10*time.Second)
		if err := chromedp.Run(tab.Ctx, heapprofiler.CollectGarbage(), chromedp.ActionFunc(func(ctx context.Context) error {
			used, _, _, _, err := cdpruntime.GetHeapUsage().Do(ctx)
			heap = used
			return err
		})); err != nil {
			t.Fatal(err)
		}
		var s struct{ WasmMemoryBytes, LiveFuncs float64 }
		tab.MustEval("silentauth.stats()", &s)
		return heap, s.WasmMemoryBytes, s.LiveFuncs
	}
	tab.MustEval(fmt.Sprintf("bench.loop(%q, 1)", name), nil)
	var r MemRow
	r.Renewals = memoryRenews
	r.HeapAfter1, r.WasmAfter1, _ = measure()
	// In batches: one Eval may take at most 90 s.
	for left := memoryRenews - 1; left > 0; left -= 100 {
		tab.MustEval(fmt.Sprintf("bench.loop(%q, %d)", name, min(left, 100)), nil)
	}
	r.HeapAfterN, r.WasmAfterN, r.LiveFuncsAfter = measure()
	return r
}

func profile(t testing.TB, env *e2eenv.Env, profileRenews int) Profile {
	tab := openPage(t, env, PagePath)
	defer closeTab(tab)
	tab.MustEval(`bench.setup(["silentauth-implicit"], "/bench/silentauth-symbols.wasm")`, nil)
	tab.MustEval(`bench.loop("silentauth-implicit", 5)`, nil)
	if err := chromedp.Run(tab.Ctx, profiler.Enable(), profiler.SetSamplingInterval(100), profiler.Start()); err != nil {
		t.Fatal(err)
	}
	tab.MustEval(fmt.Sprintf("bench.loop(%q, %d)", "silentauth-implicit", profileRenews), nil)
	var p *profiler.Profile
	if err := chromedp.Run(tab.Ctx, chromedp.ActionFunc(func(ctx context.Context) (err error) {
		p, err = profiler.Stop().Do(ctx)
		return err
	})); err != nil {
		t.Fatal(err)
	}
	self := map[int64]float64{} // node id → µs
	for i, id := range p.Samples {
		if i+1 < len(p.TimeDeltas) {
			self[id] += float64(p.TimeDeltas[i+1])
		}
	}
	cats, fns := map[string]float64{}, map[string]float64{}
	for _, n := range p.Nodes {
		us := self[n.ID]
		if us == 0 {
			continue
		}
		f := n.CallFrame
		cat := "JS: other"
		switch {
		case strings.HasPrefix(f.FunctionName, "(") && f.URL == "":
			cat = f.FunctionName
		case strings.Contains(f.URL, ".wasm") || strings.HasPrefix(f.URL, "wasm://"):
			cat = "Go: " + goPackage(f.FunctionName)
			fns[strings.TrimPrefix(f.FunctionName, "$")] += us
		case strings.Contains(f.URL, "silentauth.js"):
			cat = "JS: silentauth.js (wasm_exec glue + loader)"
		case strings.Contains(f.URL, "auth0-spa-js"):
			cat = "JS: auth0-spa-js (loaded, idle)"
		case f.URL == "":
			cat = "JS: native/builtin (" + f.FunctionName + ")"
			if f.FunctionName == "" {
				cat = "JS: native/builtin"
			}
		}
		cats[cat] += us
	}
	return Profile{Renewals: profileRenews, WallMs: (p.EndTime - p.StartTime) / 1000,
		Categories: top(cats, 14), TopGo: top(fns, 15)}
}

// goPackage turns a wasm name such as "github.com_x_y_pkg.(*T).M" or
// "runtime.mallocgc" into its package.
func goPackage(fn string) string {
	fn = strings.TrimPrefix(fn, "$")
	slash := strings.LastIndexAny(fn, "_/")
	dot := strings.IndexByte(fn[slash+1:], '.')
	if dot < 0 {
		return fn
	}
	return fn[:slash+1+dot]
}

func top(m map[string]float64, n int) []ProfileEntry {
	var out []ProfileEntry
	for k, v := range m {
		out = append(out, ProfileEntry{Name: k, Ms: v / 1000})
	}
	slices.SortFunc(out, func(a, b ProfileEntry) int {
		if a.Ms > b.Ms {
			return -1
		}
		if a.Ms < b.Ms {
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out[:min(n, len(out))]
}

// sizes fills in raw, gzip -9 and brotli (quality 11, lgwin 24) with node's zlib.
func sizes(t testing.TB, rows []SizeRow) []SizeRow {
	var paths []string
	for _, r := range rows {
		if r.Path != "" {
			paths = append(paths, r.Path)
		}
	}
	const script = `const zlib = require("zlib"), fs = require("fs");
const out = {};
for (const f of JSON.parse(process.argv[1])) {
  const b = fs.readFileSync(f);
  out[f] = [b.length, zlib.gzipSync(b, {level: 9}).length, zlib.brotliCompressSync(b, {params: {
    [zlib.constants.BROTLI_PARAM_QUALITY]: 11, [zlib.constants.BROTLI_PARAM_LGWIN]: 24,
    [zlib.constants.BROTLI_PARAM_SIZE_HINT]: b.length}}).length];
}
console.log(JSON.stringify(out));`
	b, err := exec.Command("node", "-e", script, jsJSON(paths)).Output()
	if err != nil {
		t.Fatalf("node zlib: %v", err)
	}
	var got map[string][3]int
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	for i, r := range rows {
		if s, ok := got[r.Path]; ok {
			rows[i].Raw, rows[i].Gzip9, rows[i].Brotli = s[0], s[1], s[2]
		}
	}
	return rows
}

var benchLine = regexp.MustCompile(`^(Benchmark\S+)\s+\d+\s+([\d.]+) ns/op\s+(\d+) B/op\s+(\d+) allocs/op`)

func hostBench(t testing.TB, root string) []HostBench {
	cmd := exec.Command("go", "test", "-run", "^$", "-bench", "Verify", "-benchmem", "-count", "1", "./checksession/idtoken/")
	cmd.Dir = root
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go test -bench: %v\n%s", err, b)
	}
	var out []HostBench
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		m := benchLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		ns, _ := strconv.ParseFloat(m[2], 64)
		by, _ := strconv.Atoi(m[3])
		al, _ := strconv.Atoi(m[4])
		out = append(out, HostBench{Name: m[1], NsPerOp: ns, BytesPerOp: by, AllocsPerOp: al})
	}
	if len(out) == 0 {
		t.Fatalf("no benchmark lines in:\n%s", b)
	}
	return out
}

func httpGet(t testing.TB, url string) string {
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", url, res.StatusCode, err)
	}
	return string(b)
}

func jsJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// Run says when and where a report's figures were taken; its members
// head every report's JSON.
type Run struct {
	Date    string `json:"date"`
	Machine string `json:"machine"`
	Go      string `json:"go"`
	// Chromium is the browser's version, once one has said it.
	Chromium string `json:"chromium,omitempty"`
}

// thisRun is a Run for now on this machine, without the browser's version.
func thisRun() Run {
	return Run{Date: time.Now().Format(time.RFC3339), Machine: machine(), Go: runtime.Version()}
}

func machine() string {
	model := runtime.GOARCH
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	return fmt.Sprintf("%s/%s, %d cores, %s", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), model)
}
