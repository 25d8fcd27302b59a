package refresh_test

import (
	"testing"
	"time"

	"github.com/silentauth/silentauth/demo/internal/e2eenv"
)

// TestLocalStorageInTheWorker: with the engine in the SharedWorker and
// refreshTokenStorage "local", the worker keeps the refresh token
// encrypted, so the session outlives the worker: ended by the browser while
// a page is open, and ended because every page closed. Each time a refresh
// grant renews it, with no /authorize (the server is on another site: its
// cookies do not reach the silent iframe).
func TestLocalStorageInTheWorker(t *testing.T) {
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
