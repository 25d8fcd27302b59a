package soak_test

import (
	"strings"
	"testing"
	"time"

	"github.com/silentauth/silentauth/demo/internal/e2eenv"
	"github.com/silentauth/silentauth/demo/internal/nodeop"
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
	t.Parallel() // with the other outage: both wait on the clock, and assert counts
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
	requests := f.Requests()
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

// When the token endpoint answers 503 with Retry-After during an outage,
// the tab group that renews with a refresh token waits as long as the
// server asked, keeps the refresh token (a 503 says nothing about it), and
// is served again after the outage: no tab's session ends, and no caller
// is told login_required. With the provider on another site there is no
// session cookie in the silent iframe, so falling back to it would end the
// session; the server's wait bounds the attempts instead.
func TestTokenEndpointOutageIsWaitedOutWithTheRefreshToken(t *testing.T) {
	t.Parallel()
	t.Run(e2eenv.Engine(), tokenOutageWaitedOut)
}

func tokenOutageWaitedOut(t *testing.T) {
	cfg := soak.DefaultConfig()
	cfg.Host, cfg.UseRefreshTokens = "127.0.0.1", true
	env := soak.Start(t, cfg)
	const outage = 30 * time.Second
	rec := soak.Run(t, env, soak.OutageScenario("e2e token outage", soak.OPTokenBusy, 8*time.Second, outage, 25*time.Second))
	f := soak.ComputeOutage(rec)
	t.Log(soak.OutageTable(f))
	requests := f.Requests()
	// Retry-After is nodeop.TokenBusyRetryAfter (20 s): 30 s of outage
	// allow the attempt that meets it and one after the wait, and one each
	// for a caller and a timer around the start. Without the wait the
	// group would make one every 1 to 3 seconds.
	if requests > 4 {
		t.Errorf("the provider got %d renewal requests in %v of a token-endpoint outage answering Retry-After %d, want at most 4 (gaps %v)",
			requests, outage, nodeop.TokenBusyRetryAfter, f.Gaps)
	}
	if f.Failed == 0 {
		t.Errorf("no call failed during the outage: the fault did not bite")
	}
	if strings.Contains(f.Codes, "login_required") {
		t.Errorf("callers were told login_required during a token-endpoint outage (%s): a 503 must not end the session", f.Codes)
	}
	if f.AllRecovered < 0 {
		t.Errorf("not every tab had a token again after the recovery: %v", f.Recovered)
	}
	contract(t, rec)
}
