package devtenant_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/silentauth/silentauth/demo/devtenant"
	"github.com/silentauth/silentauth/demo/internal/e2eenv"
)

// TestSessionEndedAtTheServer pins what happens after the user logs out at
// the authorization server while the page still holds tokens.
func TestSessionEndedAtTheServer(t *testing.T) {
	t.Parallel()
	env := e2eenv.Start(t, e2eenv.Options{})
	tab := env.OpenTestPage(t)

	t.Run("after /v2/logout the next checkSession is login_required", func(t *testing.T) {
		login(t, env, tab, "demo@example.com", loginOptions{extra: "autoRenew: false"})
		mustSucceed(t, tab, settle(t, tab, `client.checkSession()`))
		// What the demo's "Log out at the server only" does: the tenant's
		// cookie goes along, the answer is opaque.
		tab.MustEvalT(t, fmt.Sprintf(`fetch(%q, {credentials: "include", mode: "no-cors"}).then(() => true)`, env.TenantURL+"/v2/logout"), nil)
		o := settle(t, tab, `client.checkSession()`)
		mustFail(t, o, "login_required")
		if o.Desc != "Login required" {
			t.Errorf("error_description %q", o.Desc)
		}
	})

	t.Run("with auto-renew on, the renewal after a server-side logout fires session_ended and renewal stops", func(t *testing.T) {
		// 4 s tokens are renewed halfway, at the renewal loop's next look (every 5 s).
		env.Tenant.SetFaults(devtenant.Faults{TokenLifetime: 4 * time.Second})
		defer env.Tenant.SetFaults(devtenant.Faults{})
		login(t, env, tab, "demo@example.com", loginOptions{})
		tab.MustEvalT(t, `(() => {
			window.events = [];
			for (const name of ["renewed", "renew_error", "session_ended"]) {
				client.on(name, (p) => window.events.push({name, isError: p instanceof Error, error: p && p.error, description: p && p.error_description}));
			}
			return true;
		})()`, nil)
		r := mustSucceed(t, tab, settle(t, tab, `client.checkSession()`))
		if r["expiresIn"] != 4.0 {
			t.Fatalf("expiresIn %v, want the fault's 4", r["expiresIn"])
		}
		env.Tenant.EndAllSessions()
		if err := tab.WaitFor(`window.events.some(e => e.name === "session_ended")`, 15*time.Second); err != nil {
			t.Fatal(err)
		}
		var events []map[string]any
		tab.MustEvalT(t, `window.events`, &events)
		t.Logf("events: %v", events)
		var ended map[string]any
		for _, e := range events {
			if e["name"] == "session_ended" {
				ended = e
			}
		}
		if ended["isError"] != true || ended["error"] != "login_required" {
			t.Errorf("session_ended payload %v, want an Error login_required", ended)
		}
		// Auto-renew stops: the loop looks again within 5 s and must not ask.
		n := env.Tenant.Stats().AuthorizePromptNone
		time.Sleep(6 * time.Second)
		if m := env.Tenant.Stats().AuthorizePromptNone; m != n {
			t.Errorf("%d more prompt=none requests after session_ended", m-n)
		}
	})
}
