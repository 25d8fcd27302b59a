package tabs_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/silentauth/silentauth/demo/internal/e2eenv"
)

// tokenLifetime is short so that a test sees several renewals: renewal is
// due halfway (4 s, since renewBeforeExpiryInSeconds is longer than the
// lifetime) on a timer armed for that moment, so a period is 4 s and the
// time a renewal takes.
const tokenLifetime = 8 * time.Second

// periodMin and periodMax bound one renewal period: due halfway (4 s), less
// the jitter of two requests' latencies, and at most that plus slack for a
// busy machine.
const (
	periodMin = 3 * time.Second
	periodMax = 8 * time.Second
)

// renewLine is the debug line of a tab that sends a renewal request for
// its group (it holds the group's lock and found no fresher result).
const renewLine = "renewal: scheduled -> renewing"

// loggedIn starts the tenant, the app and a browser, and logs the demo
// user in through one tab. That tab's client would join the tab group
// itself, so it is destroyed and the tab closed: the session cookie stays.
func loggedIn(t *testing.T) *e2eenv.Env {
	t.Helper()
	start := time.Now()
	env := e2eenv.Start(t, e2eenv.Options{TokenLifetime: tokenLifetime})
	tab := env.OpenTestPage(t)
	login(t, env, tab)
	tab.MustEval(`client.destroy(), true`, nil)
	tab.MustClose(t)
	t.Logf("browser started and user logged in in %v", time.Since(start).Round(100*time.Millisecond))
	return env
}

// login logs the demo user in with the tenant's form, waiting up to 30 s
// for each page (a busy machine), and leaves window.client on the test page.
func login(t *testing.T, env *e2eenv.Env, tab *e2eenv.Tab) {
	t.Helper()
	env.LoginToCallback(t, tab, "demo@example.com", "", 30*time.Second)
	tab.MustEval(`(async () => { window.client = await `+env.ClientJS("")+`; await client.handleRedirectCallback(); return true })()`, nil)
}

// openClient opens a tab on the test page with a client made with
// ClientJS(extra) that records its "renewed" events in window.renewed and
// calls checkSession once, as an application does at start.
func openClient(t *testing.T, env *e2eenv.Env, extra string) *e2eenv.Tab {
	t.Helper()
	tab := env.OpenTestPage(t)
	// Close the tab when the test ends, waiting until it is gone, so that
	// the next test's tabs form a group of their own.
	t.Cleanup(func() { _ = tab.Close() })
	tab.MustEval(`(async () => {
		window.renewed = [];
		window.client = await `+env.ClientJS(extra)+`;
		client.on("renewed", r => renewed.push(r.accessToken));
		await client.checkSession();
		return true })()`, nil)
	return tab
}

// renewedIn is the access tokens of the tab's "renewed" events so far.
func renewedIn(t *testing.T, tab *e2eenv.Tab) []string {
	t.Helper()
	var got []string
	tab.MustEval(`renewed`, &got)
	return got
}

func last(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[len(s)-1]
}

// settled waits until every tab's last renewal is the same token and the
// tenant has seen no prompt=none request for a second, which is just after
// a renewal reached every tab. It returns that token, the tenant's count
// and how many renewals each tab had seen.
func settled(t *testing.T, env *e2eenv.Env, tabs []*e2eenv.Tab) (token string, count int, seen []int) {
	t.Helper()
	from := env.PromptNone()
	deadline := time.Now().Add(40 * time.Second)
	for time.Now().Before(deadline) {
		before := env.PromptNone()
		token, seen = "", nil
		agree := true
		for _, tab := range tabs {
			r := renewedIn(t, tab)
			seen = append(seen, len(r))
			if token == "" {
				token = last(r)
			}
			agree = agree && token != "" && last(r) == token
		}
		if agree {
			time.Sleep(time.Second)
			if env.PromptNone() == before {
				return token, before, seen
			}
			continue
		}
		time.Sleep(200 * time.Millisecond)
	}
	var lasts []string
	for _, tab := range tabs {
		lasts = append(lasts, short(last(renewedIn(t, tab))))
	}
	t.Fatalf("in 40 s the tabs never had the same latest token (they have %q) while the tenant saw %d prompt=none requests: "+
		"do they renew each on their own?", lasts, env.PromptNone()-from)
	return
}

// countRequests polls the tenant until it has counted n more prompt=none
// requests than from, and returns when each was counted.
func countRequests(t *testing.T, env *e2eenv.Env, from, n int, timeout time.Duration) []time.Time {
	t.Helper()
	var at []time.Time
	seen := from
	deadline := time.Now().Add(timeout)
	for seen < from+n {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d prompt=none requests after %v", seen-from, n, timeout)
		}
		c := env.PromptNone()
		for ; seen < c; seen++ {
			at = append(at, time.Now())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return at
}

// onePerPeriod checks that requests came one per renewal period: never two
// within one check interval, never more than a period apart.
func onePerPeriod(t *testing.T, prev time.Time, at []time.Time) {
	t.Helper()
	for _, a := range at {
		if gap := a.Sub(prev); gap < periodMin || gap > periodMax {
			t.Errorf("a prompt=none request %v after the previous one, want one per period (%v to %v): requests at %s",
				gap.Round(10*time.Millisecond), periodMin, periodMax, gaps(prev, at))
		}
		prev = a
	}
}

func gaps(prev time.Time, at []time.Time) string {
	var s []string
	for _, a := range at {
		s = append(s, "+"+a.Sub(prev).Round(10*time.Millisecond).String())
		prev = a
	}
	return strings.Join(s, " ")
}

// waitForRenewals waits until every tab has seen at least n renewals.
func waitForRenewals(t *testing.T, tabs []*e2eenv.Tab, n []int) {
	t.Helper()
	for i, tab := range tabs {
		if err := tab.WaitFor(fmt.Sprintf("renewed.length >= %d", n[i]), 15*time.Second); err != nil {
			t.Fatalf("tab %d: %v (it saw %q)", i, err, shorts(renewedIn(t, tab)))
		}
	}
}

// renewers is the indexes of the tabs that sent a renewal request for the
// group, with the most recent sender first.
func renewers(tabs []*e2eenv.Tab) []int {
	var out []int
	for i, tab := range tabs {
		for _, l := range tab.Console() {
			if strings.Contains(l, renewLine) {
				out = append(out, i)
				break
			}
		}
	}
	return out
}

// countRequestsFor watches the tenant for d and returns when each
// prompt=none request after from was counted.
func countRequestsFor(env *e2eenv.Env, from int, d time.Duration) []time.Time {
	var at []time.Time
	seen := from
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		for c := env.PromptNone(); seen < c; seen++ {
			at = append(at, time.Now())
		}
	}
	return at
}

// short is enough of a token to tell it from another: its signature's end.
func short(token string) string {
	if len(token) > 10 {
		return "…" + token[len(token)-10:]
	}
	return token
}

func shorts(tokens []string) []string {
	out := make([]string, len(tokens))
	for i, tok := range tokens {
		out[i] = short(tok)
	}
	return out
}
