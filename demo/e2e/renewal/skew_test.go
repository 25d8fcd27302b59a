package renewal_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/silentauth/silentauth/demo/devtenant"
	"github.com/silentauth/silentauth/demo/internal/e2eenv"
)

// With the tenant's clock 2 minutes ahead, its tokens are issued in the
// browser's future: past the default leeway of 60 s, within 180 s. With it
// 2 minutes behind and 10 s tokens, they expired 110 s ago by the browser's
// clock: again only a 180 s leeway accepts them, and then the renewal is
// timed by expires_in on the browser's clock, not by the skewed exp.
func TestClockSkewIsJudgedWithTheLeeway(t *testing.T) {
	t.Parallel()
	h := start(t, e2eenv.Options{})
	h.clock.set(2 * time.Minute)
	tab := h.openProbedPage(t)
	// The login's callback validates an ID token too; it needs the wide leeway.
	h.Login(t, tab, "demo@example.com", `leewayInSeconds: 180, autoRenew: false`)
	base := fmt.Sprintf(`domain: %q, clientId: "spa", redirectUri: %q, autoRenew: false`, h.TenantURL, h.AppURL+e2eenv.TestPagePath)

	check := func(t *testing.T, leeway string) (attempt, map[string]float64) {
		t.Helper()
		var out struct {
			attempt
			Iat       float64 `json:"iat"`
			Exp       float64 `json:"exp"`
			ExpiresAt float64 `json:"expiresAt"`
			Now       float64 `json:"now"`
		}
		tab.MustEval(`(async () => {
			const c = await silentauth.createClient({ assumeSignedOut: false, `+base+leeway+` });
			try {
				const r = await c.checkSession();
				return { ok: true, iat: r.idTokenPayload.iat, exp: r.idTokenPayload.exp, expiresAt: r.expiresAt, now: Date.now() };
			} catch (e) { return { error: e.error, description: e.error_description } }
			finally { c.destroy() }
		})()`, &out)
		return out.attempt, map[string]float64{"iat": out.Iat, "exp": out.Exp, "expiresAt": out.ExpiresAt, "now": out.Now}
	}

	t.Run("server 2 min ahead: default leeway rejects iat", func(t *testing.T) {
		a, _ := check(t, "")
		t.Logf("%s: %s", a.Error, a.Description)
		if a.Error != "invalid_token" || !strings.HasPrefix(a.Description, "iat") || !strings.Contains(a.Description, "future") {
			t.Errorf("got %+v, want invalid_token naming iat", a)
		}
	})
	t.Run("server 2 min ahead: leeway 180 accepts", func(t *testing.T) {
		a, v := check(t, ", leewayInSeconds: 180")
		if !a.OK {
			t.Fatalf("got %+v, want success", a)
		}
		if ahead := v["iat"] - v["now"]/1000; ahead < 100 || ahead > 140 {
			t.Errorf("iat is %.0f s ahead of the browser, want about 120", ahead)
		}
	})

	h.clock.set(-2 * time.Minute)
	h.Tenant.SetFaults(devtenant.Faults{TokenLifetime: 10 * time.Second})
	t.Run("server 2 min behind with 10 s tokens: default leeway rejects exp", func(t *testing.T) {
		a, _ := check(t, "")
		t.Logf("%s: %s", a.Error, a.Description)
		if a.Error != "invalid_token" || !strings.HasPrefix(a.Description, "exp") {
			t.Errorf("got %+v, want invalid_token naming exp", a)
		}
	})
	t.Run("server 2 min behind with 10 s tokens: leeway 180 accepts, expiry on the local clock", func(t *testing.T) {
		a, v := check(t, ", leewayInSeconds: 180")
		if !a.OK {
			t.Fatalf("got %+v, want success", a)
		}
		expAgo := v["now"]/1000 - v["exp"]
		left := (v["expiresAt"] - v["now"]) / 1000
		t.Logf("exp was %.0f s ago by the browser's clock; expiresAt is %.1f s ahead", expAgo, left)
		if expAgo < 100 || left < 8 || left > 10.5 {
			t.Errorf("exp %.0f s ago and expiresAt %.1f s ahead; want about 110 s ago and 10 s ahead (expires_in on the local clock)", expAgo, left)
		}
	})
	noRejections(t, tab)
}
