package bench

import (
	"fmt"
	"runtime"
	"time"

	"github.com/silentauth/silentauth/demo/internal/e2eenv"
	"github.com/silentauth/silentauth/demo/internal/nodeop"
	"github.com/silentauth/silentauth/demo/internal/soak"
)

// outageRun is one row of the outage bench: a fault and the client
// configuration it hits.
type outageRun struct {
	name    string
	fault   soak.Fault
	refresh bool // useRefreshTokens, the provider on another site (no cookie in the iframe)
}

// outageEngines are the placements each fault is run in: the tab group of
// engines in the pages, and the one engine in a SharedWorker.
var outageEngines = []string{"page", "shared-worker"}

var outageRuns = []outageRun{
	{"authorize 500", soak.OPAuthError, false},
	{fmt.Sprintf("refresh token 503 Retry-After %d", nodeop.TokenBusyRetryAfter), soak.OPTokenBusy, true},
}

// Outage is the outage bench, in each placement of the engine: 3 tabs of
// one signed-in app, each calling getTokenSilently every 250 ms with 8 s
// tokens, and 120 s (60 s with -quick) in which every /authorize answers
// HTTP 500, then recovery; then the same with the refresh-token path
// failing (the token endpoint answering 503 with Retry-After). It prints what the
// provider got per minute of the outage, how long after it every tab had a
// token again, and how fast callers were answered meanwhile. With
// -baseline <another build's dist/> it runs that build
// first, for figures before and after from the same run. Figures only.
func Outage(t *Scope, o Options) {
	length, lead, after := 120*time.Second, 10*time.Second, 45*time.Second
	if o.Quick {
		length = 60 * time.Second
	}
	builds := []struct{ name, dist string }{{"this build", e2eenv.DistDir(t)}}
	if base := o.Baseline; base != "" {
		builds = append([]struct{ name, dist string }{{"baseline", base}}, builds...)
	}
	before := loadavg()
	var all []soak.OutageFigures
	var text string
	for _, b := range builds {
		for _, engine := range outageEngines {
			for _, run := range outageRuns {
				name := b.name + ", engine " + engine + ": " + run.name
				t.Run(name, func(t *Scope) {
					t.Setenv("SILENTAUTH_DIST", b.dist)
					cfg := soak.DefaultConfig()
					cfg.Debug = false // measured as an application runs it
					cfg.Engine = engine
					if run.refresh {
						cfg.Host, cfg.UseRefreshTokens = "127.0.0.1", true
					}
					env := soak.Start(t, cfg)
					rec := soak.Run(t, env, soak.OutageScenario(name, run.fault, lead, length, after))
					f := soak.ComputeOutage(rec)
					all = append(all, f)
					row := soak.OutageTable(f) + soak.Table(soak.Compute(rec))
					fmt.Print(row)
					text += row
				})
			}
		}
	}
	head := fmt.Sprintf("\nsilentauth make bench-outage — %s\n%s; %s; load average %s before, %s after\n"+
		"3 tabs, getTokenSilently every 250 ms, 8 s tokens; %v of fault after %v, %v of recovery\n",
		time.Now().Format(time.RFC3339), machine(), runtime.Version(), before, loadavg(), length, lead, after)
	fmt.Print(head + soak.OutageTable(all...))
	writeBench(t, map[string][]byte{"outage.txt": []byte(head + text), "outage.json": indented(all)}, "outage.txt", "")
}
