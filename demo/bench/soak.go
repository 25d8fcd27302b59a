package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/silentauth/silentauth/demo/internal/soak"
)

// SoakReport is what make bench writes to dist/bench/soak.json.
type SoakReport struct {
	Run
	// Load is /proc/loadavg before and after: the figures are wall-clock
	// ones, and a loaded machine moves them.
	LoadBefore string         `json:"loadavg_before"`
	LoadAfter  string         `json:"loadavg_after"`
	Quick      bool           `json:"quick"`
	Runs       []soak.Figures `json:"runs"`
}

// soakScenarios are the no-fault run and the fault run: four windows, each
// followed by clean time longer than soak.Recovery. Quick shrinks both.
func soakScenarios(quick bool) []soak.Scenario {
	s := time.Second
	calm, faulty, win, gap := 40*s, 90*s, 10*s, 20*s
	if quick {
		calm, faulty, win, gap = 20*s, 45*s, 5*s, 10*s
	}
	start := 12 * s
	if quick {
		start = 6 * s
	}
	var ws []soak.Window
	for i, f := range []soak.Fault{soak.OPSlow, soak.OPDown, soak.TabOffline, soak.TabFrozen} {
		w := soak.Window{Fault: f, Start: start + time.Duration(i)*gap, Length: win}
		switch f {
		case soak.TabOffline:
			w.Tab = 1
		case soak.TabFrozen:
			w.Tab = 0 // the tab that logged in
		}
		ws = append(ws, w)
	}
	return []soak.Scenario{
		{Name: "no faults", Duration: calm},
		{Name: "four faults", Duration: faulty, Windows: ws},
	}
}

// Soak is the renewal soak with figures: 3 tabs,
// getTokenSilently every 250 ms, node-oidc-provider with 8 s tokens.
func Soak(t *Scope, o Options) {
	quick := o.Quick
	rep := SoakReport{Run: thisRun(), LoadBefore: loadavg(), Quick: quick}
	cfg := soak.DefaultConfig()
	cfg.Debug = false // measured as an application runs it
	env := soak.Start(t, cfg)
	if err := chromedp.Run(env.Tabs[0].Ctx, chromedp.ActionFunc(func(ctx context.Context) error {
		_, product, _, _, _, err := browser.GetVersion().Do(ctx)
		rep.Chromium = product
		return err
	})); err != nil {
		t.Fatal(err)
	}
	var text, timelines strings.Builder
	var records []any
	for _, sc := range soakScenarios(quick) {
		rec := soak.Run(t, env, sc)
		records = append(records, rec.Export())
		f := soak.Compute(rec)
		rep.Runs = append(rep.Runs, f)
		text.WriteString(soak.Table(f))
		fmt.Fprintf(&timelines, "== %s\n", sc.Name)
		for i := range rec.Tabs {
			timelines.WriteString(soak.Timeline(rec, i))
		}
	}
	rep.LoadAfter = loadavg()
	head := fmt.Sprintf("\nsilentauth make bench: renewal soak — %s\n%s; %s; %s; load average %s before, %s after\n",
		rep.Date, rep.Machine, rep.Go, rep.Chromium, rep.LoadBefore, rep.LoadAfter)
	fmt.Print(head + text.String())

	raw, _ := json.Marshal(records)
	writeBench(t, map[string][]byte{"soak.json": indented(rep), "soak.txt": []byte(head + text.String()),
		"soak-timelines.txt": []byte(timelines.String()), "soak-records.json": raw},
		"soak.json", " (each tab's events and token changes: soak-timelines.txt; every call, event, provider hit and token: soak-records.json)")
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
