package bench

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/heapprofiler"
	"github.com/chromedp/chromedp"

	"github.com/silentauth/silentauth/demo/internal/chrome"
	"github.com/silentauth/silentauth/demo/internal/e2eenv"
)

// multiTabs is how many tabs of the app the multi-tab run opens one after another.
const multiTabs = 4

// MultiTab opens multiTabs signed-in tabs of the app in one
// browser, for each placement of the engine, and beside them as many blank
// tabs in a browser of their own. It prints the renderers' private memory
// (summed over every renderer process of the browser, the SharedWorker's
// included) over the blank tabs', and each tab's first token. Figures only.
func MultiTab(t *Scope, o Options) {
	blank := multiTabRun(t, "")
	rows := map[string]multiTabResult{}
	for _, engine := range []string{"page", "shared-worker"} {
		rows[engine] = multiTabRun(t, engine)
	}
	fmt.Printf("\nmulti-tab run: %d tabs opened one after another, one signed-in browser per placement\n", multiTabs)
	fmt.Printf("renderers' private memory over %d blank tabs (blank: first %.1f MB, each further %.1f MB)\n",
		multiTabs, blank.mem[0], blank.further())
	fmt.Printf("| placement | first tab (MB) | each further tab (MB) |")
	for i := 1; i <= multiTabs; i++ {
		fmt.Printf(" first token, tab %d (ms) |", i)
	}
	fmt.Println()
	for _, engine := range []string{"page", "shared-worker"} {
		r := rows[engine]
		fmt.Printf("| %s | %.1f | %.1f |", engine, r.mem[0]-blank.mem[0], r.further()-blank.further())
		for _, ms := range r.firstToken {
			fmt.Printf(" %.0f |", ms)
		}
		fmt.Println()
	}
}

type multiTabResult struct {
	mem        []float64 // MB after each tab, cumulative
	firstToken []float64 // ms from each tab's navigation start
}

// further is the memory each tab after the first added, on average.
func (r multiTabResult) further() float64 {
	return (r.mem[len(r.mem)-1] - r.mem[0]) / float64(len(r.mem)-1)
}

// multiTabRun is one browser: signed in (unless engine is "", the blank
// tabs), then multiTabs tabs each getting a token, memory read after each.
func multiTabRun(t testing.TB, engine string) multiTabResult {
	env := e2eenv.Start(t, e2eenv.Options{TokenLifetime: 10 * time.Minute})
	if engine != "" {
		login := env.OpenTestPage(t)
		env.Login(t, login, "demo@example.com", "")
		login.MustEval(`client.destroy(), true`, nil)
		closeTab(login)
	}
	var r multiTabResult
	var tabs []*chrome.Tab
	for i := 0; i < multiTabs; i++ {
		tab := env.Browser.NewTab(t)
		tabs = append(tabs, tab)
		if engine == "" {
			if err := tab.Navigate("about:blank"); err != nil {
				t.Fatal(err)
			}
		} else {
			if err := tab.Navigate(env.AppURL + e2eenv.TestPagePath); err != nil {
				t.Fatal(err)
			}
			var ms float64
			tab.MustEval(`(async () => {
				window.client = await `+env.ClientJS(fmt.Sprintf("engine: %q", engine))+`;
				await client.getTokenSilently();
				return performance.now(); })()`, &ms)
			r.firstToken = append(r.firstToken, ms)
			_ = tab.WaitFor(`document.querySelectorAll("iframe").length === 0`, 10*time.Second)
		}
		// Every page collects its garbage, then the out-of-process
		// iframes that are gone have left.
		for _, tb := range tabs {
			_ = chromedp.Run(tb.Ctx, heapprofiler.CollectGarbage())
		}
		time.Sleep(2 * time.Second)
		r.mem = append(r.mem, renderersPrivateMB(t, tab))
	}
	for _, tab := range tabs {
		closeTab(tab)
	}
	t.Logf("engine %q: memory %v MB, first token %v ms", engine, r.mem, r.firstToken)
	return r
}

// renderersPrivateMB sums Private_Clean and Private_Dirty of every renderer
// process under the browser of tab (Linux: /proc/*/smaps_rollup).
func renderersPrivateMB(t testing.TB, tab *chrome.Tab) float64 {
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
	var kb float64
	for pid := range parent {
		if !under(pid) {
			continue
		}
		cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if !strings.Contains(string(cmd), "--type=renderer") {
			continue
		}
		f, err := os.Open(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
		if err != nil {
			continue
		}
		s := bufio.NewScanner(f)
		for s.Scan() {
			line := s.Text()
			if strings.HasPrefix(line, "Private_Clean:") || strings.HasPrefix(line, "Private_Dirty:") {
				if v := strings.Fields(line); len(v) >= 2 {
					n, _ := strconv.ParseFloat(v[1], 64)
					kb += n
				}
			}
		}
		f.Close()
	}
	return kb / 1024
}
