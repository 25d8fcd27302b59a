package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/chromedp/cdproto/heapprofiler"
	cdpruntime "github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/silentauth/silentauth/demo/internal/chrome"
	"github.com/silentauth/silentauth/demo/internal/e2eenv"
)

// multiTabs is how many tabs of the app the multi-tab run opens one after
// another (2 with -quick).
const multiTabs = 4

// multiTabContenders are the multi-tab rows: silentauth's engine in each
// placement, and auth0-spa-js.
var multiTabContenders = []string{"page", "shared-worker", "auth0-spa-js"}

// TabPath is the multi-tab run's page: ?sdk=page|shared-worker (silentauth
// with that engine) or auth0 loads that SDK alone and gets one token.
const TabPath = "/bench/tab.html"

// tabPage gets the first token and reports the main thread's long tasks
// before it: the observer is the page's first script, so it sees the SDK's
// compilation and start.
const tabPage = `<!doctype html><html><head><meta charset="utf-8"><title>silentauth bench: tab</title>
<script>
window.longtasks = [];
new PerformanceObserver((l) => { for (const e of l.getEntries()) longtasks.push([e.startTime, e.duration]); }).observe({type: "longtask", buffered: true});
window.SDK = new URLSearchParams(location.search).get("sdk");
document.write('<script src="' + (SDK === "auth0" ? "` + Auth0SPAPath + `" : "/silentauth/silentauth.js") + '"><\/script>');
</script>
<script>
const TENANT = "TENANT_URL", ORIGIN = location.origin;
window.first = (async () => {
  let client;
  if (SDK === "auth0") {
    client = await auth0.createAuth0Client({domain: TENANT, clientId: "spa", cacheLocation: "memory",
      authorizeTimeoutInSeconds: 10, authorizationParams: {redirect_uri: ORIGIN}});
  } else {
    client = await silentauth.createClient({domain: TENANT, clientId: "spa", redirectUri: ORIGIN, engine: SDK});
  }
  const token = await client.getTokenSilently();
  const at = performance.now();
  window.client = client;
  // A long task is reported after it ends.
  await new Promise((r) => setTimeout(r, 100));
  const before = longtasks.filter(([start]) => start < at);
  return {ok: typeof token === "string" && token.length > 0, token: at,
    longTasks: before.length, longTaskMs: before.reduce((a, [, d]) => a + d, 0)};
})();
</script></head><body><p>tab</p></body></html>`

// MultiTabRow is one contender's figures: memory in MB, times in ms.
type MultiTabRow struct {
	Contender string `json:"contender"`
	// Mem is the renderers' private memory after each tab, cumulative.
	Mem []float64 `json:"renderers_private_mb"`
	// Exec is the part of Mem in executable anonymous mappings: code
	// V8 compiled, JavaScript's and WebAssembly's.
	Exec []float64 `json:"executable_mb"`
	// FirstToken is each tab's first token, ms from its navigation start.
	FirstToken []float64 `json:"first_token_ms"`
	// LongTasks and LongTaskMs are each tab's main-thread long tasks
	// before its first token.
	LongTasks  []int     `json:"long_tasks"`
	LongTaskMs []float64 `json:"long_task_ms"`
	// After every tab is open: the engines' WebAssembly linear memory
	// and Go heap (each page's for the page placement, the worker's
	// once for the SharedWorker), and V8's JavaScript heap in use summed
	// over the pages and the worker: what it holds (used) and what it
	// took from the system (total).
	WasmMemory  float64 `json:"wasm_memory_mb"`
	GoHeap      float64 `json:"go_heap_mb"`
	JSHeap      float64 `json:"js_heap_used_mb"`
	JSHeapTotal float64 `json:"js_heap_total_mb"`
	Load        string  `json:"loadavg"`
}

// further is the memory each tab after the first added, on average.
func further(mem []float64) float64 {
	if len(mem) < 2 {
		return 0
	}
	return (mem[len(mem)-1] - mem[0]) / float64(len(mem)-1)
}

// MultiTabReport is what the multitab benchmark writes to dist/bench/multitab.json.
type MultiTabReport struct {
	Run
	Tabs int `json:"tabs"`
	// Rounds is how many times each contender ran; each figure is the
	// median of its rounds.
	Rounds int           `json:"rounds"`
	Blank  MultiTabRow   `json:"blank"`
	Rows   []MultiTabRow `json:"rows"`
}

// MultiTab opens multiTabs signed-in tabs of the app in one browser, for
// each placement of the engine and for auth0-spa-js, and beside them as
// many blank tabs in a browser of their own. It prints the renderers'
// private memory (summed over every renderer process of the browser, the
// SharedWorker's included) over the blank tabs', each tab's first token and
// main-thread long tasks before it, and where the memory goes. Figures only.
func MultiTab(t *Scope, o Options) {
	tabs, rounds := multiTabs, multiTabRounds
	if o.Quick {
		tabs, rounds = 2, 1
	}
	rep := MultiTabReport{Run: thisRun(), Tabs: tabs, Rounds: rounds}
	t.Progressf("blank tabs")
	t.Run("blank", func(t *Scope) { rep.Blank = multiTabRun(t, "", tabs) })
	// The contenders take turns round by round, so that a busy minute on
	// the machine falls on all of them.
	runs := map[string][]MultiTabRow{}
	for round := 1; round <= rounds; round++ {
		for _, c := range multiTabContenders {
			t.Progressf("%s: %d tabs, round %d of %d", c, tabs, round, rounds)
			t.Run(fmt.Sprintf("%s/round %d", c, round), func(t *Scope) { runs[c] = append(runs[c], multiTabRun(t, c, tabs)) })
		}
	}
	for _, c := range multiTabContenders {
		rep.Rows = append(rep.Rows, medianRow(runs[c]))
	}
	if t.Failed() {
		return
	}
	text := multiTabTable(rep)
	fmt.Print(text)
	writeReport(t, "multitab", rep, text)
}

// writeReport writes rep and text to <dist>/bench/name.json and .txt.
func writeReport(t *Scope, name string, rep any, text string) {
	writeBench(t, map[string][]byte{name + ".json": indented(rep), name + ".txt": []byte(text)}, name+".json", "")
}

// writeBench writes each of files (name to content) to <dist>/bench, then
// prints where shown is, and more.
func writeBench(t *Scope, files map[string][]byte, shown, more string) {
	out := filepath.Join(e2eenv.DistDir(t), "bench")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(out, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fmt.Printf("written: %s%s\n", filepath.Join(out, shown), more)
}

// indented is v as indented JSON.
func indented(v any) []byte {
	b, _ := json.MarshalIndent(v, "", "  ")
	return b
}

func multiTabTable(r MultiTabReport) string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("\nsilentauth make bench: multi-tab — %s\n%s; %s\n", r.Date, r.Machine, r.Go)
	p("%d tabs opened one after another, one signed-in browser per contender and round; renderers' private memory over %d blank tabs;\n", r.Tabs, r.Tabs)
	p("each figure the median of %d rounds, the contenders taking turns\n", max(r.Rounds, 1))
	p("(blank: first %.1f MB, each further %.1f MB)\n\n", r.Blank.Mem[0], further(r.Blank.Mem))
	p("| contender | first tab (MB) | each further tab (MB) |")
	for i := 1; i <= r.Tabs; i++ {
		p(" first token, tab %d (ms) |", i)
	}
	p("\n| --- | ---: | ---: |%s\n", strings.Repeat(" ---: |", r.Tabs))
	for _, x := range r.Rows {
		p("| %s | %.1f | %.1f |", x.Contender, x.Mem[0]-r.Blank.Mem[0], further(x.Mem)-further(r.Blank.Mem))
		for _, ms := range x.FirstToken {
			p(" %.0f |", ms)
		}
		p("\n")
	}
	var a0 *MultiTabRow
	for i := range r.Rows {
		if r.Rows[i].Contender == "auth0-spa-js" {
			a0 = &r.Rows[i]
		}
	}
	if a0 != nil {
		a1, af := a0.Mem[0]-r.Blank.Mem[0], further(a0.Mem)-further(r.Blank.Mem)
		for _, x := range r.Rows {
			if x.Contender == a0.Contender {
				continue
			}
			p("  %s/auth0-spa-js: first tab %s, each further tab %s, first token tab 1 %.2f×, tabs 2..%d %.2f×\n", x.Contender,
				memRatio(x.Mem[0]-r.Blank.Mem[0], a1), memRatio(further(x.Mem)-further(r.Blank.Mem), af),
				x.FirstToken[0]/a0.FirstToken[0], r.Tabs, mean(x.FirstToken[1:])/mean(a0.FirstToken[1:]))
		}
	}

	p("\nMain-thread long tasks (over 50 ms) before each tab's first token: count / total ms; the machine's load average beside\n")
	p("| contender |")
	for i := 1; i <= r.Tabs; i++ {
		p(" tab %d |", i)
	}
	p(" load average (1, 5, 15 min) |\n| --- |%s --- |\n", strings.Repeat(" ---: |", r.Tabs))
	for _, x := range r.Rows {
		p("| %s |", x.Contender)
		for i := range x.LongTasks {
			p(" %d / %.0f |", x.LongTasks[i], x.LongTaskMs[i])
		}
		p(" %s |\n", x.Load)
	}

	p("\nWhere the memory goes with %d tabs open, MB, over the blank tabs': the renderers' private memory; of it,\n", r.Tabs)
	p("executable memory (code V8 compiled, JavaScript's and WebAssembly's), the WebAssembly linear memory (each page's\n")
	p("engine, or the worker's once; the Go heap's allocated objects are inside it), V8's JavaScript heap (pages and\n")
	p("worker: allocated, of which in use), and the rest (private memory in none of these, not broken down here)\n")
	p("| contender | private | executable | wasm linear memory | Go heap | V8 JS heap allocated | in use | the rest |\n")
	p("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, x := range r.Rows {
		last := len(x.Mem) - 1
		priv := x.Mem[last] - r.Blank.Mem[last]
		exec := x.Exec[last] - r.Blank.Exec[last]
		js, used := x.JSHeapTotal-r.Blank.JSHeapTotal, x.JSHeap-r.Blank.JSHeap
		p("| %s | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f |\n", x.Contender, priv, exec, x.WasmMemory, x.GoHeap, js, used,
			priv-exec-x.WasmMemory-js)
	}
	return b.String()
}

// memRatio is a/b, or says that b, MB over blank tabs, is too small to
// divide by: within a megabyte of the blank tabs is within the noise of
// reading a process's memory.
func memRatio(a, b float64) string {
	if b < 1 {
		return fmt.Sprintf("n/a (auth0-spa-js %.1f MB, within the noise)", b)
	}
	return fmt.Sprintf("%.1f×", a/b)
}

// multiTabRounds is how many times each contender opens its tabs: one
// sample per tab moves by tens of milliseconds between runs on a shared
// machine, auth0-spa-js's as much as silentauth's.
const multiTabRounds = 3

// medianRow is the rounds of one contender as one row: each figure the
// median of its rounds (per tab for the per-tab figures); the load average
// is the last round's.
func medianRow(rounds []MultiTabRow) MultiTabRow {
	if len(rounds) == 0 {
		return MultiTabRow{}
	}
	last := rounds[len(rounds)-1]
	out := MultiTabRow{Contender: last.Contender, Load: last.Load}
	med := func(pick func(MultiTabRow) float64) float64 {
		var v []float64
		for _, r := range rounds {
			v = append(v, pick(r))
		}
		return Summarise(v).Median
	}
	perTab := func(pick func(MultiTabRow) []float64) []float64 {
		n := len(pick(last))
		out := make([]float64, n)
		for i := range n {
			out[i] = med(func(r MultiTabRow) float64 {
				if v := pick(r); i < len(v) {
					return v[i]
				}
				return 0
			})
		}
		return out
	}
	out.Mem = perTab(func(r MultiTabRow) []float64 { return r.Mem })
	out.Exec = perTab(func(r MultiTabRow) []float64 { return r.Exec })
	out.FirstToken = perTab(func(r MultiTabRow) []float64 { return r.FirstToken })
	out.LongTaskMs = perTab(func(r MultiTabRow) []float64 { return r.LongTaskMs })
	for _, n := range perTab(func(r MultiTabRow) []float64 {
		f := make([]float64, len(r.LongTasks))
		for i, c := range r.LongTasks {
			f[i] = float64(c)
		}
		return f
	}) {
		out.LongTasks = append(out.LongTasks, int(n))
	}
	out.WasmMemory = med(func(r MultiTabRow) float64 { return r.WasmMemory })
	out.GoHeap = med(func(r MultiTabRow) float64 { return r.GoHeap })
	out.JSHeap = med(func(r MultiTabRow) float64 { return r.JSHeap })
	out.JSHeapTotal = med(func(r MultiTabRow) float64 { return r.JSHeapTotal })
	return out
}

func mean(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// multiTabRun is one browser: signed in (unless contender is "", the blank
// tabs), then n tabs each getting a token, memory read after each.
func multiTabRun(t *Scope, contender string, n int) MultiTabRow {
	r := MultiTabRow{Contender: contender}
	var env *e2eenv.Env
	if contender == "" {
		env = &e2eenv.Env{Browser: chrome.Start(t)}
	} else {
		env = benchEnv(t, Files{})
	}
	sdk := contender
	if contender == "auth0-spa-js" {
		sdk = "auth0"
	}
	var tabs []*chrome.Tab
	for i := range n {
		tab := env.Browser.NewTab(t)
		tabs = append(tabs, tab)
		if contender == "" {
			if err := tab.Navigate("about:blank"); err != nil {
				t.Fatal(err)
			}
		} else {
			if err := tab.Navigate(env.AppURL + TabPath + "?sdk=" + sdk); err != nil {
				t.Fatal(err)
			}
			var s struct {
				OK         bool
				Token      float64
				LongTasks  int
				LongTaskMs float64
			}
			tab.MustEval("window.first", &s)
			if !s.OK {
				t.Fatalf("%s, tab %d: no token", contender, i+1)
			}
			r.FirstToken = append(r.FirstToken, s.Token)
			r.LongTasks = append(r.LongTasks, s.LongTasks)
			r.LongTaskMs = append(r.LongTaskMs, s.LongTaskMs)
			_ = tab.WaitFor(`document.querySelectorAll("iframe").length === 0`, 10*time.Second)
		}
		// Every page collects its garbage, then the out-of-process
		// iframes that are gone have left.
		for _, tb := range tabs {
			_ = chromedp.Run(tb.Ctx, heapprofiler.CollectGarbage())
		}
		time.Sleep(2 * time.Second)
		priv, exec := renderersPrivateMB(t, tab)
		r.Mem, r.Exec = append(r.Mem, priv), append(r.Exec, exec)
	}
	r.Load = loadavg()
	r.JSHeap, r.JSHeapTotal = jsHeapMB(t, tabs)
	if contender == "page" || contender == "shared-worker" {
		for i, tab := range tabs {
			var s struct{ WasmMemoryBytes, GoHeapBytes float64 }
			tab.MustEval("silentauth.stats()", &s)
			r.WasmMemory += s.WasmMemoryBytes / (1 << 20)
			r.GoHeap += s.GoHeapBytes / (1 << 20)
			if contender == "shared-worker" && i == 0 {
				break // one engine serves every tab
			}
		}
	}
	t.Logf("%q: memory %v MB, executable %v MB, first token %v ms", contender, r.Mem, r.Exec, r.FirstToken)
	for _, tab := range tabs {
		closeTab(tab)
	}
	return r
}

// jsHeapMB is V8's JavaScript heap, in use and allocated, after a
// collection, summed over tabs and every shared worker of their browser.
func jsHeapMB(t *Scope, tabs []*chrome.Tab) (used, total float64) {
	heap := chromedp.ActionFunc(func(ctx context.Context) error {
		if err := heapprofiler.CollectGarbage().Do(ctx); err != nil {
			return err
		}
		u, tot, _, _, err := cdpruntime.GetHeapUsage().Do(ctx)
		used, total = used+u, total+tot
		return err
	})
	for _, tab := range tabs {
		if err := chromedp.Run(tab.Ctx, heap); err != nil {
			t.Fatalf("the page's heap: %v", err)
		}
	}
	targets, err := chromedp.Targets(tabs[0].Ctx)
	if err != nil {
		t.Fatalf("the browser's targets: %v", err)
	}
	for _, ti := range targets {
		if ti.Type != "shared_worker" {
			continue
		}
		// Attached, not created: the worker lives on while the tabs do;
		// the browser's end closes this context.
		ctx, _ := chromedp.NewContext(tabs[0].Ctx, chromedp.WithTargetID(ti.TargetID))
		if err := chromedp.Run(ctx, heap); err != nil {
			t.Fatalf("the shared worker's heap: %v", err)
		}
	}
	return used / (1 << 20), total / (1 << 20)
}

// renderersPrivateMB sums Private_Clean and Private_Dirty of every renderer
// process under the browser of tab (Linux: /proc/*/smaps), and the part of
// it in executable anonymous mappings (the code V8 compiled).
func renderersPrivateMB(t *Scope, tab *chrome.Tab) (private, executable float64) {
	t.Helper()
	c := chromedp.FromContext(tab.Ctx)
	if c == nil || c.Browser == nil || c.Browser.Process() == nil {
		t.Fatal("no browser process to measure")
	}
	root := c.Browser.Process().Pid
	parent := map[int]int{}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		pid, _ := strconv.Atoi(filepath.Base(d))
		stat, err := os.ReadFile(d + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so after the last ")".
		f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		if len(f) > 1 {
			parent[pid], _ = strconv.Atoi(f[1])
		}
	}
	under := func(pid int) bool {
		for p := pid; p > 1; p = parent[p] {
			if p == root {
				return true
			}
		}
		return false
	}
	var kb, execKB float64
	for pid := range parent {
		if !under(pid) {
			continue
		}
		cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if !strings.Contains(string(cmd), "--type=renderer") {
			continue
		}
		f, err := os.Open(fmt.Sprintf("/proc/%d/smaps", pid))
		if err != nil {
			continue
		}
		p, e := smapsPrivateKB(f)
		f.Close()
		kb, execKB = kb+p, execKB+e
	}
	return kb / 1024, execKB / 1024
}

// smapsPrivateKB reads a /proc/<pid>/smaps: the private (clean and dirty)
// kB of every mapping, and of the anonymous executable ones, where a JIT
// puts its code.
func smapsPrivateKB(r io.Reader) (private, executable float64) {
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 64*1024), 1024*1024)
	anonExec := false
	for s.Scan() {
		line := s.Text()
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if !strings.HasSuffix(f[0], ":") {
			// A mapping's header: address perms offset dev inode [path].
			if len(f) >= 5 && strings.Contains(f[0], "-") {
				anonExec = strings.Contains(f[1], "x") && (len(f) == 5 || strings.HasPrefix(f[5], "[anon"))
			}
			continue
		}
		if (f[0] == "Private_Clean:" || f[0] == "Private_Dirty:") && len(f) >= 2 {
			n, _ := strconv.ParseFloat(f[1], 64)
			private += n
			if anonExec {
				executable += n
			}
		}
	}
	return private, executable
}
