package soak_test

import (
	"testing"
	"time"

	"github.com/silentauth/silentauth/demo/internal/e2eenv"
	"github.com/silentauth/silentauth/demo/internal/soak"
)

// During an outage of /authorize the tab group backs off: a caller without
// a token gets the last error at once, with retryAfter, and the provider
// sees far fewer requests than the flat one a second the group made
// before; once the provider recovers every tab gets a token again. Counts,
// never timings: the bound comes from the schedule's shortest delays.
// It holds in both placements (make e2e and make e2e-worker): the in-page
// tab group shares the lock holder's schedule, and the shared worker's one
// engine has one.
func TestOutageBacksOffAcrossTheTabGroup(t *testing.T) {
	t.Run(e2eenv.Engine(), outageBacksOff)
}

func outageBacksOff(t *testing.T) {
	env := soak.Start(t, soak.DefaultConfig())
	const outage = 40 * time.Second
	sc := soak.OutageScenario("e2e outage", soak.OPAuthError, 8*time.Second, outage, 45*time.Second)
	done := make(chan *soak.Record, 1)
	go func() { done <- soak.Run(t, env, sc) }()

	// Halfway through the outage, one more caller in the first tab.
	time.Sleep(8*time.Second + outage/2)
	var probe struct {
		Error      string   `json:"error"`
		RetryAfter *float64 `json:"retryAfter"`
		Token      bool     `json:"token"`
	}
	env.Tabs[0].MustEval(`client.getTokenSilently().then(() => ({ token: true }),
		(e) => ({ error: e.error, retryAfter: typeof e.retryAfter === "number" ? e.retryAfter : null }))`, &probe)
	rec := <-done

	if probe.Token || probe.Error == "" {
		t.Errorf("a caller in the middle of the outage got %+v, want an error", probe)
	} else if probe.RetryAfter == nil || *probe.RetryAfter < 1 || *probe.RetryAfter > 30 {
		t.Errorf("a caller in the middle of the outage got %s with retryAfter %v, want 1 to 30 seconds", probe.Error, probe.RetryAfter)
	}
	f := soak.ComputeOutage(rec)
	t.Log(soak.OutageTable(f))
	requests := 0
	for _, n := range f.PerMinute {
		requests += n
	}
	// The shortest delays (1, 2, 4, 8, then 15 s) allow 6 attempts in 40 s;
	// the group's timers and callers may add one each around the start.
	// Before the backoff the group made about one a second (some 40).
	if requests > 12 {
		t.Errorf("the provider got %d renewal requests in %v of outage from 3 tabs calling every 250 ms, want at most 12", requests, outage)
	}
	if f.Failed == 0 {
		t.Errorf("no call failed during the outage: the fault did not bite")
	}
	if f.AllRecovered < 0 {
		t.Errorf("not every tab had a token again after the recovery: %v", f.Recovered)
	}
	contract(t, rec)
}
