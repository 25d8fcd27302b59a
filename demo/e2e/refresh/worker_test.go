package refresh_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"

	"github.com/silentauth/silentauth/demo/internal/chrome"
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
		tab := s.login(t, opts)
		var ok bool
		tab.MustEval(`!!(loginResult && loginResult.accessToken)`, &ok)
		if !ok {
			t.Fatal("the login gave no access token")
		}

		// The browser ends the worker while the page is open.
		workers := sharedWorkers(t, tab)
		if len(workers) != 1 {
			t.Fatalf("%d shared_worker targets, want 1", len(workers))
		}
		c := chromedp.FromContext(tab.Ctx)
		if err := target.CloseTarget(workers[0].TargetID).Do(cdp.WithExecutor(tab.Ctx, c.Browser)); err != nil {
			t.Fatalf("closing the worker: %v", err)
		}
		waitForWorkers(t, tab, 0)
		from := s.rec.mark()
		var o outcome
		tab.MustEval(`client.checkSession().then(r => ({ok: true, accessToken: r.accessToken}), e => ({ok: false, error: e.error, desc: e.error_description}))`, &o)
		expectRefreshGrant(t, s, "after the worker was ended", o, from)

		// Every page closes, so the worker ends with them; a new page
		// starts a new one.
		closeTab(t, tab)
		probe := s.browser.NewTab(t) // about:blank: it keeps the browser, not the worker
		waitForWorkers(t, probe, 0)
		from = s.rec.mark()
		_, o = s.openClient(t, opts)
		expectRefreshGrant(t, s, "in a new page after every page closed", o, from)
	})
}

// expectRefreshGrant fails the test unless o has tokens and the server saw
// one refresh grant and no /authorize since from.
func expectRefreshGrant(t *testing.T, s *server, when string, o outcome, from int) {
	t.Helper()
	c := s.rec.countSince(from)
	t.Logf("checkSession %s: %v; the server saw %v", when, o, c)
	if !o.OK || o.AccessToken == "" {
		t.Fatalf("checkSession %s = %v, want tokens from the persisted refresh token", when, o)
	}
	noRefusals(t, when, c)
	if c.RefreshGrants != 1 {
		t.Errorf("%d refresh grants %s, want 1", c.RefreshGrants, when)
	}
}

func sharedWorkers(t *testing.T, tab *chrome.Tab) []*target.Info {
	t.Helper()
	infos, err := chromedp.Targets(tab.Ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []*target.Info
	for _, i := range infos {
		if i.Type == "shared_worker" {
			out = append(out, i)
		}
	}
	return out
}

func waitForWorkers(t *testing.T, tab *chrome.Tab, n int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		got := sharedWorkers(t, tab)
		if len(got) == n {
			return
		}
		if time.Now().After(deadline) {
			urls := make([]string, len(got))
			for i, w := range got {
				urls[i] = w.URL
			}
			t.Fatal(fmt.Errorf("%d shared_worker targets (%s), want %d", len(got), strings.Join(urls, ", "), n))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
