package renewal_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/silentauth/silentauth/demo/internal/e2eenv"
)

// leakRuns is how many consecutive checkSession calls the leak test makes:
// a thousand with the engine in the page, and 250 in the SharedWorker
// placement's pass, where only the page side differs (the iframes, their
// listeners and callbacks, which the first leaking call would show). A
// call costs Chromium about 0.14 CPU-seconds, which a thousand more would
// add to the suite.
func leakRuns() int {
	if e2eenv.SharedWorker() {
		return 250
	}
	return 1000
}

// leakBatch is how many calls one page evaluation makes.
const leakBatch = 25

// snapshot is what one page holds at a moment of the leak test.
type snapshot struct {
	Iframes   int     `json:"iframes"`
	Frames    int     `json:"liveFrames"`
	Funcs     int     `json:"liveFuncs"`
	WasmBytes float64 `json:"wasmMemoryBytes"`
	Listeners int     `json:"-"`
	Heap      float64 `json:"-"`
}

func takeSnapshot(t *testing.T, tab *e2eenv.Tab) snapshot {
	t.Helper()
	// Closed iframes go to about:blank first and are removed when it has
	// loaded, within a second.
	if err := tab.WaitFor(`document.querySelectorAll("iframe").length === 0`, 2*time.Second); err != nil {
		t.Errorf("iframes left in the DOM: %v", err)
	}
	var s snapshot
	tab.MustEval(`silentauth.stats().then(s => ({ ...s, iframes: document.querySelectorAll("iframe").length }))`, &s)
	s.Listeners = messageListeners(t, tab)
	s.Heap = heapAfterGC(t, tab)
	return s
}

func TestThousandCheckSessionsLeaveNoFramesListenersOrCallbacks(t *testing.T) {
	t.Parallel()
	leakRuns := leakRuns()
	h := start(t, leakOptions)
	// debug off: a thousand requests would log thousands of lines.
	tab := h.session(t, `debug: false, autoRenew: false`)

	before := takeSnapshot(t, tab)
	// The listener count must see a listener when there is one.
	tab.MustEval(`(window.__probeListener = () => {}, addEventListener("message", __probeListener), true)`, nil)
	if n := messageListeners(t, tab); n != before.Listeners+1 {
		t.Fatalf("DOMDebugger counted %d message listeners with one added to %d", n, before.Listeners)
	}
	tab.MustEval(`(removeEventListener("message", __probeListener), true)`, nil)
	var first struct {
		Email string `json:"email"`
	}
	tab.MustEval(`client.checkSession().then(r => ({ email: r.idTokenPayload.email }))`, &first)
	if first.Email != "demo@example.com" {
		t.Fatalf("first checkSession: %+v", first)
	}
	afterFirst := takeSnapshot(t, tab)

	// Batches of 25, each one Eval, so that no single evaluation runs for
	// minutes; the heap every tenth of the run shows the trend.
	var run struct {
		Ms       float64
		Failures int
		Last     string
	}
	var trend []string
	var heaps, wasms []float64 // after each batch
	for done := 1; done < leakRuns; {
		n := min(leakBatch, leakRuns-done)
		var b struct {
			Ms       float64 `json:"ms"`
			Failures int     `json:"failures"`
			Last     string  `json:"last"`
		}
		tab.MustEval(`(async () => {
			const t0 = performance.now();
			let failures = 0, last = "";
			for (let i = 0; i < `+itoa(n)+`; i++) {
				try { await client.checkSession(); } catch (e) { failures++; last = e.error + ": " + e.error_description; }
			}
			return { ms: performance.now() - t0, failures, last };
		})()`, &b)
		done += n
		run.Ms += b.Ms
		run.Failures += b.Failures
		if b.Last != "" {
			run.Last = b.Last
		}
		if (done-1)%(leakRuns/10) != 0 && done != leakRuns {
			continue
		}
		var wasm float64
		tab.MustEval(`silentauth.stats().then(s => s.wasmMemoryBytes)`, &wasm)
		heap := heapAfterGC(t, tab)
		heaps, wasms = append(heaps, heap), append(wasms, wasm)
		trend = append(trend, fmt.Sprintf("%d:%.1fMB/%.1fMB", done, heap/1e6, wasm/1e6))
	}
	after := takeSnapshot(t, tab)
	stats := h.Tenant.Stats()

	t.Logf("%d checkSession calls (code flow, awaited one by one) took %.1f s, %.1f ms each; %d failed %s",
		leakRuns, run.Ms/1000, run.Ms/float64(leakRuns-1), run.Failures, run.Last)
	t.Logf("JS heap after GC / wasm memory, by calls done: %s", strings.Join(trend, " "))
	t.Logf("tenant: %d prompt=none authorize, %d token exchanges, %d JWKS fetches", stats.AuthorizePromptNone, stats.TokenExchanges, stats.JWKS)
	t.Logf("%-28s %14s %14s %14s", "", "before", "after 1st", fmt.Sprintf("after %d", leakRuns))
	t.Logf("%-28s %14d %14d %14d", "iframes in DOM", before.Iframes, afterFirst.Iframes, after.Iframes)
	t.Logf("%-28s %14d %14d %14d", "stats().liveFrames", before.Frames, afterFirst.Frames, after.Frames)
	t.Logf("%-28s %14d %14d %14d", "stats().liveFuncs", before.Funcs, afterFirst.Funcs, after.Funcs)
	t.Logf("%-28s %14d %14d %14d", "window message listeners", before.Listeners, afterFirst.Listeners, after.Listeners)
	t.Logf("%-28s %14.0f %14.0f %14.0f", "JS heap used after GC (B)", before.Heap, afterFirst.Heap, after.Heap)
	t.Logf("%-28s %14.0f %14.0f %14.0f", "wasmMemoryBytes", before.WasmBytes, afterFirst.WasmBytes, after.WasmBytes)
	t.Logf("growth 1st→last: JS heap ×%.2f, wasm memory ×%.2f", after.Heap/afterFirst.Heap, after.WasmBytes/afterFirst.WasmBytes)

	if run.Failures > 0 {
		t.Errorf("%d of %d calls failed, last: %s", run.Failures, leakRuns-1, run.Last)
	}
	if after.Iframes != 0 || after.Frames != 0 {
		t.Errorf("after %d calls: %d iframes in the DOM, liveFrames %d; want 0 and 0", leakRuns, after.Iframes, after.Frames)
	}
	if after.Funcs != before.Funcs {
		t.Errorf("liveFuncs %d after %d calls, %d before: callbacks leak", after.Funcs, leakRuns, before.Funcs)
	}
	if after.Listeners != before.Listeners {
		t.Errorf("window message listeners %d after %d calls, %d before: listeners leak", after.Listeners, leakRuns, before.Listeners)
	}
	// JS objects that Go holds (events, windows of removed iframes) are freed
	// when Go's collector finalizes its references; jsbridge runs it every
	// few removed frames, so the heap stays flat rather than climbing for
	// hundreds of calls. Generous bounds: no timing, no exact bytes.
	if after.Heap > 2*afterFirst.Heap {
		t.Errorf("JS heap %.1f MB after %d calls, over 2× the %.1f MB after the first: it grows with every call", after.Heap/1e6, leakRuns, afterFirst.Heap/1e6)
	}
	if peak := slices.Max(heaps); peak > 3*afterFirst.Heap {
		t.Errorf("JS heap peaked at %.1f MB, over 3× the %.1f MB after the first call: removed iframes linger", peak/1e6, afterFirst.Heap/1e6)
	}
	if after.WasmBytes > 1.5*slices.Max(wasms[:len(wasms)/2]) {
		t.Errorf("wasm memory %.1f MB after %d calls keeps growing", after.WasmBytes/1e6, leakRuns)
	}
	if got := stats.AuthorizePromptNone; got < leakRuns {
		t.Errorf("the tenant saw %d prompt=none requests, want at least %d: calls were answered from somewhere else", got, leakRuns)
	}
	noRejections(t, tab)
}
