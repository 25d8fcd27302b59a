// Package tabs_test drives several tabs of one browser against the dev
// tenant: tabs of one origin with one client configuration renew once
// between them (a Web Lock per renewal, BroadcastChannel shares its
// result), another tab takes over when the renewer closes, a tab with
// another configuration renews on its own, and a frozen tab renews as soon
// as it runs again.
package tabs_test

import (
	"slices"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/silentauth/silentauth/demo/internal/e2eenv"
)

// renewTogether lets the tabs run through three renewal periods and checks
// that the tenant saw one prompt=none request per period, not one per tab,
// and that every tab got every renewal.
func renewTogether(t *testing.T, env *e2eenv.Env, tabs []*e2eenv.Tab) {
	t.Helper()
	const periods = 3
	before, base, seen := settled(t, env, tabs)
	start := time.Now()
	at := countRequests(t, env, base, periods, periods*periodMax+5*time.Second)
	want := make([]int, len(tabs))
	for i := range seen {
		want[i] = seen[i] + periods
	}
	waitForRenewals(t, tabs, want)
	if got := env.PromptNone() - base; got != periods {
		t.Errorf("%d prompt=none requests in %d renewal periods of %d tabs, want %d", got, periods, len(tabs), periods)
	}
	t.Logf("%d tabs: %d prompt=none requests in %v, %s apart", len(tabs), env.PromptNone()-base,
		at[len(at)-1].Sub(start).Round(100*time.Millisecond), gaps(at[0], at[1:]))
	if first := at[0].Sub(start); first > periodMax {
		t.Errorf("the first renewal came %v after the tabs settled, want within a period (%v)", first, periodMax)
	}
	onePerPeriod(t, at[0], at[1:])

	// The periods' renewals: on a loaded machine the next period's may
	// land in some tabs while the test reads them, so each tab's list is
	// cut at the periods counted.
	var group []string
	for i, tab := range tabs {
		got := renewedIn(t, tab)[seen[i]:]
		got = got[:min(len(got), periods)]
		if i == 0 {
			group = got
		}
		if !slices.Equal(got, group) {
			t.Errorf("tab %d saw renewals %q, tab 0 saw %q: every tab should see each renewal once", i, shorts(got), shorts(group))
		}
	}
	if len(group) != periods || slices.Contains(group, before) || group[0] == group[1] || group[1] == group[2] {
		t.Errorf("renewals %q after %q, want %d new tokens", shorts(group), short(before), periods)
	}
	if l := renewers(tabs); len(l) == 0 {
		t.Errorf("no tab logged %q", renewLine)
	}
	tokenEverywhere(t, tabs, last(group))
}

func openGroup(t *testing.T, env *e2eenv.Env, n int) []*e2eenv.Tab {
	t.Helper()
	start := time.Now()
	tabs := make([]*e2eenv.Tab, n)
	for i := range tabs {
		tabs[i] = openClient(t, env, "")
	}
	t.Logf("%d tabs with a client in %v", n, time.Since(start).Round(100*time.Millisecond))
	return tabs
}

// The cases share one browser and one login, which on a busy machine cost
// more than the renewals; each closes its tabs when it ends, so the next
// starts with no tab group.
func TestTabsOfOneBrowser(t *testing.T) {
	env := loggedIn(t)
	t.Run("two tabs", func(t *testing.T) {
		group := openGroup(t, env, 2)
		t.Run("renew once per period between them", func(t *testing.T) {
			renewTogether(t, env, group)
		})
		other := openClient(t, env, `scope: "openid profile"`)
		t.Run("a tab with another scope renews on its own", func(t *testing.T) {
			renewsApart(t, env, group, other)
		})
		t.Run("destroy lets go of the lock and every callback", func(t *testing.T) {
			destroyLetsGo(t, env, append(group, other))
		})
	})
	t.Run("five tabs", func(t *testing.T) {
		tabs := openGroup(t, env, 5)
		t.Run("renew once per period between them", func(t *testing.T) {
			renewTogether(t, env, tabs)
		})
		t.Run("another takes over when the renewing tab closes", func(t *testing.T) {
			takeOver(t, env, tabs)
		})
	})
	t.Run("a frozen tab renews as soon as it is active again", func(t *testing.T) {
		frozenThenActive(t, env)
	})
}

// renewsApart checks that other, whose configuration differs from the
// group's, is not part of it: it leads a group of its own, and neither
// side's renewals reach the other.
func renewsApart(t *testing.T, env *e2eenv.Env, group []*e2eenv.Tab, other *e2eenv.Tab) {
	t.Helper()
	settled(t, env, group)
	// The baselines are read at a quiet moment for both sides: the other
	// tab renews on its own schedule, and a request the tenant answered
	// just before the count whose renewed event comes just after would be
	// an event without a request.
	seen := make([]int, len(group))
	var otherSeen, base int
	for deadline := time.Now().Add(20 * time.Second); ; {
		base = env.PromptNone()
		for i, tab := range group {
			seen[i] = len(renewedIn(t, tab))
		}
		otherSeen = len(renewedIn(t, other))
		time.Sleep(700 * time.Millisecond)
		quiet := env.PromptNone() == base && len(renewedIn(t, other)) == otherSeen
		for i, tab := range group {
			quiet = quiet && len(renewedIn(t, tab)) == seen[i]
		}
		if quiet {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("in 20 s there was no 700 ms without a renewal in either group")
		}
	}
	// Two periods for the group; the other tab renews on its own schedule.
	waitForRenewals(t, group, []int{seen[0] + 2, seen[1] + 2})
	waitForRenewals(t, []*e2eenv.Tab{other}, []int{otherSeen + 2})
	// Read when nothing is in flight: counts and events stable for a moment.
	var groupNew, otherNew []string
	var requests int
	for deadline := time.Now().Add(20 * time.Second); ; {
		requests = env.PromptNone() - base
		groupNew = renewedIn(t, group[0])[seen[0]:]
		otherNew = renewedIn(t, other)[otherSeen:]
		time.Sleep(700 * time.Millisecond)
		if env.PromptNone()-base == requests && len(renewedIn(t, group[0])) == seen[0]+len(groupNew) &&
			len(renewedIn(t, other)) == otherSeen+len(otherNew) && requests == len(groupNew)+len(otherNew) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d prompt=none requests for %d group renewals and %d of the other tab's, want one each",
				requests, len(groupNew), len(otherNew))
		}
	}
	t.Logf("%d prompt=none requests: %d for the group of two, %d for the tab with another scope", requests, len(groupNew), len(otherNew))
	if got := renewedIn(t, group[1])[seen[1]:]; !slices.Equal(got, groupNew) {
		t.Errorf("the group's tabs saw different renewals: %q and %q", shorts(groupNew), shorts(got))
	}
	for _, tok := range otherNew {
		if slices.Contains(renewedIn(t, group[0]), tok) || slices.Contains(renewedIn(t, group[1]), tok) {
			t.Errorf("a renewal of the tab with another scope reached the group")
		}
	}
	for _, tok := range groupNew {
		if slices.Contains(renewedIn(t, other), tok) {
			t.Errorf("a renewal of the group reached the tab with another scope")
		}
	}
}

// destroyLetsGo destroys every tab's client: each gives up the lock (held
// or waited for), closes its channel and releases every callback, so only
// the bridge's own functions (createClient, stats, startHub) stay, and
// renewals stop. In the SharedWorker placement the tabs' last destroy ends
// the engine's one client, and the worker's runtime keeps only its bridge's
// and its hub's functions.
// bridgeFuncs are the callbacks the runtime's bridge keeps for its life
// (wasm/main.go): createClient, stats and startHub; hubFuncs are those the
// worker's hub adds for its life (wasm/hub.go): connect, receive, disconnect.
const (
	bridgeFuncs = 3
	hubFuncs    = 3
)

func destroyLetsGo(t *testing.T, env *e2eenv.Env, tabs []*e2eenv.Tab) {
	t.Helper()
	for _, tab := range tabs {
		tab.MustEval(`client.destroy(), true`, nil)
	}
	want, which := bridgeFuncs, "createClient, stats, startHub"
	if e2eenv.SharedWorker() {
		want, which = bridgeFuncs+hubFuncs, which+" and the hub's connect, receive, disconnect"
	}
	for i, tab := range tabs {
		var s struct {
			Running               bool
			LiveFuncs, LiveFrames int
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			tab.MustEval(`silentauth.stats()`, &s)
			if s.Running && s.LiveFuncs == want && s.LiveFrames == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("tab %d after destroy: running %v, %d callbacks and %d frames alive, want a running engine with %d (%s) and 0",
					i, s.Running, s.LiveFuncs, s.LiveFrames, want, which)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	var locks int
	tabs[0].MustEval(`navigator.locks.query().then(s => s.held.length + s.pending.length)`, &locks)
	if locks != 0 {
		t.Errorf("%d Web Locks held or requested after every client was destroyed", locks)
	}
	// The last renewal was due again within 4 s and the loop looks every 5 s.
	base := env.PromptNone()
	time.Sleep(9 * time.Second)
	if got := env.PromptNone() - base; got != 0 {
		t.Errorf("%d prompt=none requests after every client was destroyed", got)
	}
}

// takeOver closes the tab that renews for the group and checks that
// another takes over within a period, still renewing once per period.
func takeOver(t *testing.T, env *e2eenv.Env, tabs []*e2eenv.Tab) {
	t.Helper()
	l := renewers(tabs)
	if len(l) == 0 {
		t.Fatalf("no tab logged %q", renewLine)
	}
	_, base, seen := settled(t, env, tabs)
	rest := slices.Delete(slices.Clone(tabs), l[0], l[0]+1)
	restSeen := slices.Delete(slices.Clone(seen), l[0], l[0]+1)
	closed := time.Now()
	tabs[l[0]].MustClose(t)

	at := countRequests(t, env, base, 2, 2*periodMax+5*time.Second)
	takeover := at[0].Sub(closed)
	t.Logf("the renewing tab closed; the next renewal came %v later, the one after %s", takeover.Round(10*time.Millisecond), gaps(at[0], at[1:]))
	if takeover > periodMax {
		t.Errorf("the next renewal came %v after the renewing tab closed, want within a period (%v)", takeover, periodMax)
	}
	onePerPeriod(t, at[0], at[1:])
	for i := range restSeen {
		restSeen[i] += 2
	}
	waitForRenewals(t, rest, restSeen)
	if got := env.PromptNone() - base; got != 2 {
		t.Errorf("%d prompt=none requests in two periods after the takeover, want 2", got)
	}
	tokenEverywhere(t, rest, last(renewedIn(t, rest[0])))
}

// frozenThenActive freezes a tab (Page.setWebLifecycleState: no JavaScript
// runs, and Chromium hides the page) until its token is past due and
// expired, then checks that it renews at once when active again instead of
// waiting for the next check of the clock.
func frozenThenActive(t *testing.T, env *e2eenv.Env) {
	t.Helper()
	tab := openClient(t, env, "")
	// Freeze just after a renewal, so the next is 4 s away even when the
	// machine is slow.
	seen := len(renewedIn(t, tab))
	countRequests(t, env, env.PromptNone(), 1, 2*periodMax)
	waitForRenewals(t, []*e2eenv.Tab{tab}, []int{seen + 1})
	seen++
	base := env.PromptNone()
	if err := chromedp.Run(tab.Ctx, page.SetWebLifecycleState(page.SetWebLifecycleStateStateFrozen)); err != nil {
		t.Fatalf("freezing the page: %v", err)
	}
	frozen := time.Now()
	// Past due and past expiry.
	during := countRequestsFor(env, base, tokenLifetime+2*time.Second)
	if len(during) != 0 {
		t.Fatalf("%d prompt=none requests while the page was frozen (%s after freezing): it did not freeze", len(during), gaps(frozen, during))
	}
	active := time.Now()
	if err := chromedp.Run(tab.Ctx, page.SetWebLifecycleState(page.SetWebLifecycleStateStateActive)); err != nil {
		t.Fatalf("resuming the page: %v", err)
	}
	at := countRequests(t, env, base, 1, 15*time.Second)
	delay := at[0].Sub(active)
	var visibility string
	tab.MustEval(`document.visibilityState`, &visibility)
	t.Logf("renewed %v after the page became active again (visibilityState %q)", delay.Round(10*time.Millisecond), visibility)
	if delay > 2*time.Second {
		t.Errorf("renewed %v after the page became active again, want at once", delay)
	}
	waitForRenewals(t, []*e2eenv.Tab{tab}, []int{seen + 1})
	tokenEverywhere(t, []*e2eenv.Tab{tab}, last(renewedIn(t, tab)))
}

// tokenEverywhere checks that getTokenSilently in every tab answers want,
// the group's latest renewal when the test looked, or a renewal the tab
// announced after it: on a loaded machine the next period's renewal may
// land between the test's look and the call. A token older than want, or
// one the tab never announced, fails.
func tokenEverywhere(t *testing.T, tabs []*e2eenv.Tab, want string) {
	t.Helper()
	for i, tab := range tabs {
		var got struct {
			Token   string   `json:"token"`
			Renewed []string `json:"renewed"`
		}
		// The list is read a moment after the call, so that the event of a
		// renewal the call already answered with has arrived.
		tab.MustEval(`(async () => {
			const token = await client.getTokenSilently();
			await new Promise((r) => setTimeout(r, 100));
			return {token, renewed: renewed.slice()};
		})()`, &got)
		if got.Token == want {
			continue
		}
		at := slices.Index(got.Renewed, want)
		if at < 0 || !slices.Contains(got.Renewed[at+1:], got.Token) {
			t.Errorf("tab %d: getTokenSilently() = %q, want the group's latest %q or a renewal after it (the tab announced %q)",
				i, short(got.Token), short(want), shorts(got.Renewed))
		}
	}
}
