package devtenant_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/silentauth/silentauth/demo/internal/e2eenv"
)

// TestFetch pins client.fetch against the tenant's /api/private: the access
// token goes along, a 401 makes the SDK renew once and retry once, and a
// second 401 is the caller's to see.
func TestFetch(t *testing.T) {
	t.Parallel()
	// The tenant's clock can run ahead of the browser's: tokens then expire
	// at the server while the SDK still holds them for valid. 50 s tokens
	// and a 55 s skew keep new ID tokens' iat within the SDK's 60 s leeway.
	const lifetime, skew = 50 * time.Second, 55 * time.Second
	var ahead atomic.Int64
	env := e2eenv.Start(t, e2eenv.Options{
		TokenLifetime: lifetime,
		Now:           func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) },
	})
	tab := env.OpenTestPage(t)
	// renewBeforeExpiryInSeconds 5: getTokenSilently serves the cached token for 45 s.
	// The API is on the tenant's origin, so it must be in apiOrigins.
	opts := fmt.Sprintf("autoRenew: false, renewBeforeExpiryInSeconds: 5, apiOrigins: [%q]", env.TenantURL)
	login(t, env, tab, "demo@example.com", loginOptions{extra: opts})
	api := env.TenantURL + "/api/private"
	// Record the Authorization header of every request to the API.
	tab.MustEvalT(t, `(() => {
		window.apiCalls = [];
		const orig = window.fetch;
		window.fetch = function (input, init) {
			const req = input instanceof Request ? input : new Request(input, init);
			if (req.url.endsWith("/api/private")) window.apiCalls.push(req.headers.get("Authorization"));
			return orig.apply(this, arguments);
		};
		return true;
	})()`, nil)

	type apiOutcome struct {
		Status int      `json:"status"`
		Body   any      `json:"body"`
		Calls  []string `json:"calls"`
		Token  string   `json:"token"` // the client's token before the call
	}
	call := func(t *testing.T, client string) apiOutcome {
		t.Helper()
		var o apiOutcome
		tab.MustEvalT(t, fmt.Sprintf(`(async () => {
			const token = await %[1]s.getTokenSilently();
			window.apiCalls = [];
			const res = await %[1]s.fetch(%[2]q);
			return {status: res.status, body: await res.json(), calls: window.apiCalls, token};
		})()`, client, api), &o)
		return o
	}

	t.Run("the access token goes along as a Bearer Authorization header", func(t *testing.T) {
		o := call(t, "client")
		if o.Status != 200 || len(o.Calls) != 1 || o.Calls[0] != "Bearer "+o.Token {
			t.Fatalf("fetch: %+v", o)
		}
	})

	t.Run("a token expired at the server: 401, one renewal, and the retry succeeds", func(t *testing.T) {
		mustSucceed(t, tab, settle(t, tab, `client.checkSession()`)) // a token the SDK holds valid for 45 s
		ahead.Store(int64(skew))
		defer ahead.Store(0)
		before := env.Tenant.Stats().AuthorizePromptNone
		o := call(t, "client")
		renewals := env.Tenant.Stats().AuthorizePromptNone - before
		if o.Status != 200 || len(o.Calls) != 2 || o.Calls[0] != "Bearer "+o.Token || o.Calls[1] == o.Calls[0] || renewals != 1 {
			t.Fatalf("fetch: %+v after %d renewals, want 401 with the old token, then 200 with a new one after 1 renewal", o, renewals)
		}
	})

	t.Run("a second 401 is returned as is", func(t *testing.T) {
		// The API accepts only its own audience, so this client's tokens are always refused.
		tab.MustEvalT(t, `(async () => { window.other = await `+env.ClientJSFor("spa", opts+`, audience: "urn:another-api"`)+`; await other.checkSession(); return true })()`, nil)
		before := env.Tenant.Stats().AuthorizePromptNone
		o := call(t, "other")
		renewals := env.Tenant.Stats().AuthorizePromptNone - before
		body, _ := o.Body.(map[string]any)
		if o.Status != 401 || len(o.Calls) != 2 || renewals != 1 || body["error"] != "invalid_token" {
			t.Fatalf("fetch: %+v after %d renewals, want the second 401 after exactly 1 renewal", o, renewals)
		}
	})
}
