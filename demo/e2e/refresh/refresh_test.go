// Package refresh_test proves in headless Chromium that silentauth keeps a
// user signed in with rotating refresh tokens where third-party cookies are
// blocked (API.md, "Refresh tokens"; issue 11), against both the dev tenant
// and node-oidc-provider.
//
// Blocked third-party cookies are made by sites, not by a browser switch:
// the app is on localhost and the server on 127.0.0.1, so the server's
// session cookie stays out of the silent iframe. TestRenewalByRefreshToken
// shows that it does. The fallback test puts the server on localhost, the
// app's site, where the iframe works.
//
// Every test starts its own servers and browser, so the tests run in
// parallel; a recorder in front of each server counts what reaches it.
package refresh_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/silentauth/silentauth/demo/internal/e2eenv"
)

// TestRenewalByRefreshToken: after an interactive login with
// useRefreshTokens, the renewal timer renews by refresh token alone, where
// the silent iframe answers login_required.
func TestRenewalByRefreshToken(t *testing.T) {
	t.Parallel()
	eachServer(t, crossSite, func(t *testing.T, s *server) {
		tab := s.Login(t, refreshOpts)
		from := s.Rec.Mark()
		start := time.Now()
		const renewals = 3
		waitForRenewals(t, tab, len(renewedIn(t, tab))+renewals, renewals*period+30*time.Second)
		elapsed := time.Since(start)
		hits := s.Rec.Since(from)
		c := e2eenv.Count(hits)
		t.Logf("%d renewals in %v (%.1f token lifetimes): %v; %.1f refresh grants per lifetime",
			renewals, elapsed.Round(100*time.Millisecond), float64(elapsed)/float64(tokenLifetime), c,
			float64(c.RefreshGrants)/(float64(elapsed)/float64(tokenLifetime)))
		noRefusals(t, "timer renewals", c)
		if c.RefreshGrants < renewals {
			t.Errorf("%d refresh grants for %d renewals", c.RefreshGrants, renewals)
		}
		if n := tab.Lines(viaRefreshLine); n < renewals {
			t.Errorf("%d %q debug lines for %d renewals", n, viaRefreshLine, renewals)
		}
		if n := tab.Lines(viaIframeLine); n != 0 {
			t.Errorf("%d %q debug lines, want none", n, viaIframeLine)
		}
		renewed := renewedIn(t, tab)
		var got string
		tab.MustEval(`client.getTokenSilently()`, &got)
		if !slices.Contains(renewed, got) {
			t.Errorf("getTokenSilently() answers a token no renewal gave")
		}

		// What the refresh token works around: with the server on another
		// site, the silent iframe answers login_required though the user
		// has just logged in. This client's scope puts it in a tab group of
		// its own, so its failure ends no session of the one above.
		from = s.Rec.Mark()
		_, o := openClient(t, s, `scope: "openid"`)
		c = s.Rec.CountSince(from)
		t.Logf("checkSession through the iframe after the login, server on %s: %v; the server saw %v", crossSite, o, c)
		if o.OK || o.Error != "login_required" {
			t.Errorf("checkSession through the iframe = %v, want login_required: the session cookie reached the cross-site iframe", o)
		}
		if c.PromptNone != 1 {
			t.Errorf("%d prompt=none requests reached the server, want the iframe's one", c.PromptNone)
		}
	})
}

// TestTabGroup: three tabs of one origin share one refresh token: tabs
// opened after the login are signed in from the group, renew once per
// period between them, and go on renewing when the holding tab closes; a
// tab opened after that is signed in too. The steps share their tabs, so
// they run in sequence in one test.
func TestTabGroup(t *testing.T) {
	t.Parallel()
	eachServer(t, crossSite, func(t *testing.T, s *server) {
		tabs := []*e2eenv.Tab{s.Login(t, refreshOpts)}

		// Tabs opened later are signed in from the group.
		from := s.Rec.Mark()
		for range 2 {
			tab, o := openClient(t, s, refreshOpts)
			if !o.OK {
				t.Fatalf("checkSession in a new tab: %v, want the group's tokens\nconsole:\n%s%s", o, strings.Join(tab.Console(), "\n"), consoles(tabs))
			}
			tabs = append(tabs, tab)
		}
		hits := s.Rec.Since(from)
		noRefusals(t, "two new tabs", e2eenv.Count(hits))

		// Three tabs renew once per period between them.
		renewTogether(t, s, tabs, 4)

		// The holding tab closes and another renews.
		h := holder(t, tabs)
		rest := slices.Delete(slices.Clone(tabs), h, h+1)
		seen := make([]int, len(rest))
		for i, tab := range rest {
			seen[i] = len(renewedIn(t, tab))
		}
		from = s.Rec.Mark()
		tabs[h].MustClose(t)
		// Three renewals each, for two grants counted: a renewal whose grant
		// left just before the mark may land after it.
		for i, tab := range rest {
			waitForRenewals(t, tab, seen[i]+3, 3*period+30*time.Second)
		}
		hits = s.Rec.Since(from)
		c := e2eenv.Count(hits)
		t.Logf("tab %d, which held the refresh token, closed; then %v", h, c)
		noRefusals(t, "after the holder closed", c)
		if c.RefreshGrants < 2 {
			t.Errorf("%d refresh grants for two renewals after the holder closed", c.RefreshGrants)
		}

		// A tab opened after the holder closed is signed in.
		from = s.Rec.Mark()
		tab, o := openClient(t, s, refreshOpts)
		if !o.OK {
			t.Errorf("checkSession in a tab opened after the holder closed: %v, want the group's tokens\nconsole:\n%s%s", o, strings.Join(tab.Console(), "\n"), consoles(rest))
		}
		hits = s.Rec.Since(from)
		noRefusals(t, "the tab opened after the holder closed", e2eenv.Count(hits))
	})
}

// consoles is what the tabs of a group logged, for a failure message: the
// holder's side of a hand-over that did not happen.
func consoles(tabs []*e2eenv.Tab) string {
	var b strings.Builder
	for i, tab := range tabs {
		fmt.Fprintf(&b, "\nconsole of tab %d:\n%s", i, strings.Join(tab.Console(), "\n"))
	}
	return b.String()
}

// renewTogether watches the tabs for n periods and checks that they renewed
// about once per period between them, each by refresh token, every tab
// getting each renewal.
func renewTogether(t *testing.T, s *server, tabs []*e2eenv.Tab, n int) {
	t.Helper()
	seen := make([]int, len(tabs))
	for i, tab := range tabs {
		seen[i] = len(renewedIn(t, tab))
	}
	from := s.Rec.Mark()
	window := time.Duration(n) * period
	time.Sleep(window)
	hits := s.Rec.Since(from)
	c := e2eenv.Count(hits)
	t.Logf("%d tabs in %v (%d periods, %.0f token lifetimes): %v; %.1f refresh grants per lifetime",
		len(tabs), window, n, float64(window)/float64(tokenLifetime), c, float64(c.RefreshGrants)/(float64(window)/float64(tokenLifetime)))
	noRefusals(t, fmt.Sprintf("%d tabs", len(tabs)), c)
	// One tab renewing alone would make n; three renewing each on their
	// own, 3n. Slack for a busy machine on both sides.
	if c.RefreshGrants < 1 || c.RefreshGrants > n+2 {
		t.Errorf("%d refresh grants in %d periods of %d tabs, want about %d (one per period between them)", c.RefreshGrants, n, len(tabs), n)
	}
	for i, tab := range tabs {
		if got := len(renewedIn(t, tab)) - seen[i]; got < 1 {
			t.Errorf("tab %d saw no renewal in %d periods", i, n)
		}
		if l := tab.Lines(viaIframeLine); l != 0 {
			t.Errorf("tab %d logged %q %d times, want never", i, viaIframeLine, l)
		}
	}
	// Each tab's latest token is the group's.
	var want string
	for i, tab := range tabs {
		var got string
		tab.MustEval(`client.getTokenSilently()`, &got)
		if i == 0 {
			want = got
		} else if got != want && !slices.Contains(renewedIn(t, tab), want) {
			t.Errorf("tab %d: getTokenSilently() is not the group's token", i)
		}
	}
}

// holder waits for the next renewal by refresh token and returns the tab
// that made it: the tab holding the group's refresh token.
func holder(t *testing.T, tabs []*e2eenv.Tab) int {
	t.Helper()
	base := make([]int, len(tabs))
	for i, tab := range tabs {
		base[i] = tab.Lines(viaRefreshLine)
	}
	for deadline := time.Now().Add(2*period + 20*time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		for i, tab := range tabs {
			if tab.Lines(viaRefreshLine) > base[i] {
				return i
			}
		}
	}
	t.Fatalf("no tab logged %q", viaRefreshLine)
	return -1
}

// TestFallback: with the server on the app's site, where the iframe works,
// a client with useRefreshTokens but no refresh token (the login asked for
// none) renews through the iframe, and afterwards by the refresh token that
// exchange gave; with useRefreshTokensFallback: false it answers
// missing_refresh_token instead.
func TestFallback(t *testing.T) {
	t.Parallel()
	eachServer(t, sameSite, func(t *testing.T, s *server) {
		// Logged in without offline_access: a session, and no refresh token.
		login := s.Login(t, "")
		login.MustEval(`client.destroy(), true`, nil)
		login.MustClose(t)

		// Without fallback: missing_refresh_token.
		{
			from := s.Rec.Mark()
			tab, o := openClient(t, s, refreshOpts+`, useRefreshTokensFallback: false`)
			hits := s.Rec.Since(from)
			c := e2eenv.Count(hits)
			t.Logf("checkSession: %v; the server saw %v", o, c)
			if o.OK || o.Error != "missing_refresh_token" {
				t.Errorf("checkSession with no refresh token and no fallback = %v, want missing_refresh_token", o)
			}
			if c.Authorize != 0 || c.RefreshGrants != 0 {
				t.Errorf("the server saw %v, want nothing", c)
			}
			tab.MustEval(`client.destroy(), true`, nil)
			tab.MustClose(t)
		}

		// With fallback: the iframe, then the refresh token it gave.
		{
			from := s.Rec.Mark()
			tab, o := openClient(t, s, refreshOpts)
			hits := s.Rec.Since(from)
			c := e2eenv.Count(hits)
			t.Logf("checkSession: %v; the server saw %v", o, c)
			if !o.OK {
				t.Fatalf("checkSession with no refresh token and the fallback on = %v, want tokens from the iframe", o)
			}
			if c.PromptNone != 1 || c.RefreshGrants != 0 {
				t.Errorf("the server saw %v, want one prompt=none request and no refresh grant", c)
			}
			if n := tab.Lines(viaIframeLine + "missing_refresh_token"); n != 1 {
				t.Errorf("%d %q debug lines, want 1:\n%s", n, viaIframeLine+"missing_refresh_token", strings.Join(tab.Console(), "\n"))
			}
			from = s.Rec.Mark()
			waitForRenewals(t, tab, len(renewedIn(t, tab))+2, 2*period+30*time.Second)
			hits = s.Rec.Since(from)
			c = e2eenv.Count(hits)
			t.Logf("two timer renewals: %v", c)
			noRefusals(t, "renewals after the fallback", c)
			if n := tab.Lines(viaRefreshLine); n < 2 {
				t.Errorf("%d %q debug lines after the fallback, want the later renewals by refresh token", n, viaRefreshLine)
			}
		}
	})
}

// TestLocalStorage: with refreshTokenStorage "local" a single tab that
// reloads stays signed in by refresh token, though the server is on another
// site, and localStorage holds no refresh token in plain text.
func TestLocalStorage(t *testing.T) {
	t.Parallel()
	eachServer(t, crossSite, func(t *testing.T, s *server) {
		opts := refreshOpts + `, refreshTokenStorage: "local"`
		tab := s.Login(t, opts)
		waitForRenewals(t, tab, 1, period+30*time.Second)
		from := s.Rec.Mark()
		if err := tab.Navigate(s.AppURL + s.PagePath); err != nil {
			t.Fatal(err)
		}
		if err := tab.WaitFor("window.silentauth && silentauth.createClient", 20*time.Second); err != nil {
			t.Fatal(err)
		}
		o := startClient(t, tab, s.ClientJS(opts))
		hits := s.Rec.Since(from)
		c := e2eenv.Count(hits)
		t.Logf("checkSession after the reload: %v; the server saw %v", o, c)
		if !o.OK {
			t.Fatalf("checkSession after a reload = %v, want tokens from the stored refresh token", o)
		}
		noRefusals(t, "after the reload", c)
		if c.RefreshGrants != 1 {
			t.Errorf("%d refresh grants for checkSession after the reload, want 1", c.RefreshGrants)
		}
		waitForRenewals(t, tab, len(renewedIn(t, tab))+1, period+30*time.Second)

		// Where the engine keeps it: localStorage in the page; the vault's
		// IndexedDB store ("value:<key>") in the worker, which has none.
		var stored [][2]string
		where := "localStorage"
		if e2eenv.SharedWorker() {
			where = "IndexedDB"
			tab.MustEval(storedInTheWorkersVault, &stored)
		} else {
			tab.MustEval(`Object.entries(localStorage)`, &stored)
		}
		all := s.Rec.Since(0)
		var tokens []string
		for _, h := range all {
			for _, tok := range []string{h.RefreshIn, h.RefreshOut} {
				if tok != "" {
					tokens = append(tokens, tok)
				}
			}
		}
		if len(tokens) == 0 {
			t.Fatal("no refresh token crossed the wire")
		}
		dump, _ := json.Marshal(stored)
		kept := false
		for _, kv := range stored {
			kept = kept || strings.HasPrefix(kv[0], "silentauth:rt:")
		}
		if !kept {
			t.Errorf("no silentauth:rt: entry in %s: %s", where, dump)
		}
		for _, tok := range tokens {
			if strings.Contains(string(dump), tok) {
				t.Fatalf("%s holds a refresh token in plain text", where)
			}
		}
		t.Logf("%s: %d entries; none holds any of the %d refresh tokens the server saw", where, len(stored), len(tokens))
	})
}

// storedInTheWorkersVault lists the values the engine in the SharedWorker
// stored in the vault's IndexedDB store (jsbridge.VaultDatabase,
// VaultKeyStore), as [key without "value:", value] pairs.
const storedInTheWorkersVault = `new Promise((resolve, reject) => {
  const open = indexedDB.open("silentauth");
  open.onerror = () => reject(open.error);
  open.onsuccess = () => {
    const db = open.result, out = [];
    const cursor = db.transaction("keys").objectStore("keys").openCursor();
    cursor.onerror = () => reject(cursor.error);
    cursor.onsuccess = () => {
      const c = cursor.result;
      if (!c) { db.close(); resolve(out); return; }
      if (typeof c.key === "string" && c.key.startsWith("value:")) out.push([c.key.slice(6), String(c.value)]);
      c.continue();
    };
  };
})`

// TestLocalStorageInTheWorker: with the engine in the SharedWorker and
// refreshTokenStorage "local", the worker keeps the refresh token
// encrypted, so the session outlives the worker: ended by the browser while
// a page is open, and ended because every page closed. Each time a refresh
// grant renews it, with no /authorize (the server is on another site: its
// cookies do not reach the silent iframe).
func TestLocalStorageInTheWorker(t *testing.T) {
	e2eenv.EnginesNamedByTheTest(t)
	t.Parallel()
	eachServer(t, crossSite, func(t *testing.T, s *server) {
		opts := refreshOpts + `, refreshTokenStorage: "local", engine: "shared-worker", autoRenew: false`
		tab := s.Login(t, opts)
		var ok bool
		tab.MustEval(`!!(loginResult && loginResult.accessToken)`, &ok)
		if !ok {
			t.Fatal("the login gave no access token")
		}

		// The browser ends the worker while the page is open.
		workers := tab.SharedWorkers(t)
		if len(workers) != 1 {
			t.Fatalf("%d shared_worker targets, want 1", len(workers))
		}
		if err := tab.CloseTarget(workers[0].TargetID); err != nil {
			t.Fatalf("closing the worker: %v", err)
		}
		waitForWorkers(t, tab, 0)
		from := s.Rec.Mark()
		var o outcome
		tab.MustEval(`client.checkSession().then(r => ({ok: true, accessToken: r.accessToken}), e => ({ok: false, error: e.error, desc: e.error_description}))`, &o)
		expectRefreshGrant(t, s, "after the worker was ended", o, from)

		// Every page closes, so the worker ends with them; a new page
		// starts a new one.
		tab.MustClose(t)
		probe := s.Browser.NewTab(t) // about:blank: it keeps the browser, not the worker
		waitForWorkers(t, probe, 0)
		from = s.Rec.Mark()
		_, o = openClient(t, s, opts)
		expectRefreshGrant(t, s, "in a new page after every page closed", o, from)
	})
}

// expectRefreshGrant fails the test unless o has tokens and the server saw
// one refresh grant and no /authorize since from.
func expectRefreshGrant(t *testing.T, s *server, when string, o outcome, from int) {
	t.Helper()
	c := s.Rec.CountSince(from)
	t.Logf("checkSession %s: %v; the server saw %v", when, o, c)
	if !o.OK || o.AccessToken == "" {
		t.Fatalf("checkSession %s = %v, want tokens from the persisted refresh token", when, o)
	}
	noRefusals(t, when, c)
	if c.RefreshGrants != 1 {
		t.Errorf("%d refresh grants %s, want 1", c.RefreshGrants, when)
	}
}

func waitForWorkers(t *testing.T, tab *e2eenv.Tab, n int) {
	t.Helper()
	if err := tab.WaitForSharedWorkers(t, n, 15*time.Second); err != nil {
		t.Fatal(err)
	}
}

// TestLogoutRevokesTheRefreshToken: a refresh token copied out before the
// logout (here, off the wire) is refused by the server afterwards, because
// logout revoked it (RFC 7009), even a local-only logout.
func TestLogoutRevokesTheRefreshToken(t *testing.T) {
	t.Parallel()
	eachServer(t, crossSite, func(t *testing.T, s *server) {
		tab := s.Login(t, refreshOpts+`, autoRenew: false`)
		var checked bool
		tab.MustEval(`client.checkSession().then((r) => !!r.accessToken)`, &checked) // one rotation
		all := s.Rec.Since(0)
		copied := ""
		for _, h := range all {
			if h.RefreshOut != "" {
				copied = h.RefreshOut
			}
		}
		if !checked || copied == "" {
			t.Fatalf("checkSession by refresh token: %v; no refresh token crossed the wire", checked)
		}
		from := s.Rec.Mark()
		tab.MustEval(`client.logout({localOnly: true}).then(() => true)`, nil)
		hits := s.Rec.Since(from)
		revocations := 0
		for _, h := range hits {
			if strings.Contains(h.Path, "revo") {
				revocations++
			}
		}
		if revocations != 1 {
			t.Errorf("%d requests to the revocation endpoint during logout, want 1: %v", revocations, hits)
		}
		status, body := redeemOutside(t, s, copied)
		t.Logf("the copied refresh token after logout: HTTP %d %s", status, body)
		var answer struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal([]byte(body), &answer)
		if status == 200 || answer.Error != "invalid_grant" {
			t.Errorf("the copied refresh token redeemed after logout: HTTP %d %s, want invalid_grant", status, body)
		}
	})
}

// TestAScriptOnTheOriginIsNotHandedTheRefreshToken: a script on the app's
// origin finds the tab group's channel (its name is in the page's Web Locks
// as the group's locks come and go), asks for the refresh token and hears
// none, and posts forged hand-overs that no tab adopts: the tabs go on
// renewing with the group's own token.
func TestAScriptOnTheOriginIsNotHandedTheRefreshToken(t *testing.T) {
	t.Parallel()
	eachServer(t, crossSite, func(t *testing.T, s *server) {
		holderTab := s.Login(t, refreshOpts)
		other, o := openClient(t, s, refreshOpts)
		if !o.OK {
			t.Fatalf("checkSession in a second tab: %v%s", o, consoles([]*e2eenv.Tab{holderTab, other}))
		}
		tabs := []*e2eenv.Tab{holderTab, other}
		script := s.OpenPage(t)
		var name string
		script.MustEval(fmt.Sprintf(`(async () => {
			// The group's locks are named "<channel>:<purpose>".
			for (const end = Date.now() + %d; Date.now() < end; await new Promise((r) => setTimeout(r, 20))) {
				const q = await navigator.locks.query();
				const l = [...q.held, ...q.pending].find((l) => l.name.startsWith("silentauth:"));
				if (l) {
					const name = l.name.slice(0, l.name.lastIndexOf(":"));
					window.heard = [];
					window.bc = new BroadcastChannel(name);
					bc.onmessage = (e) => heard.push(String(e.data));
					return name;
				}
			}
			return "";
		})()`, (2*period+10*time.Second).Milliseconds()), &name)
		if name == "" {
			t.Fatal("the script found no lock of the tab group")
		}
		from := s.Rec.Mark()
		script.MustEval(`bc.postMessage(JSON.stringify({kind: "refresh_token_wanted"})), true`, nil)
		time.Sleep(3 * time.Second) // a holder answers in milliseconds
		heardIssued := func(when string) {
			var heard []string
			script.MustEval(`heard`, &heard)
			all := s.Rec.Since(0)
			for _, h := range all {
				for _, m := range heard {
					if h.RefreshOut != "" && strings.Contains(m, h.RefreshOut) {
						t.Errorf("%s, the script heard a refresh token the server issued: %.80s…", when, m)
					}
				}
			}
		}
		heardIssued("asked for the token")
		script.MustEval(`[
			{kind: "refresh_token_handover", refresh_token: "forged-rt-1"},
			{kind: "refresh_token_handover", to: "forged-nonce", refresh_token: "forged-rt-2"},
		].forEach((m) => bc.postMessage(JSON.stringify(m))), true`, nil)

		seen := make([]int, len(tabs))
		for i, tab := range tabs {
			seen[i] = len(renewedIn(t, tab))
		}
		for i, tab := range tabs {
			waitForRenewals(t, tab, seen[i]+2, 2*period+30*time.Second)
		}
		heardIssued("after the forged hand-overs")
		var heard []string
		script.MustEval(`heard`, &heard)
		hits := s.Rec.Since(from)
		c := e2eenv.Count(hits)
		t.Logf("channel %s: the script heard %d messages; then %v", name, len(heard), c)
		noRefusals(t, "after the forged hand-overs", c)
		for _, h := range hits {
			if strings.HasPrefix(h.RefreshIn, "forged-") {
				t.Errorf("a tab presented the forged refresh token %q", h.RefreshIn)
			}
		}
		// The engine in the SharedWorker (one for every tab) takes no
		// hand-over at all, and says so for each forgery.
		refused, want := 0, 2*len(tabs)
		for _, tab := range tabs {
			refused += tab.Lines("refused a refresh-token hand-over")
		}
		if e2eenv.SharedWorker() {
			refused, want = tabs[0].Lines("ignored a refresh-token hand-over"), 2
		}
		if refused < want {
			t.Errorf("%d refusals of a hand-over logged, want each forgery refused\n%s", refused, consoles(tabs))
		}
	})
}
