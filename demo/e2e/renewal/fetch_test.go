package renewal_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/silentauth/silentauth/demo/internal/e2eenv"
)

// The client's fetch sends its cached token while the token is fresh on
// the browser's clock. To have the API reject it without sleeping (and
// without the SDK renewing first because the token aged locally), the
// tenant's clock jumps past the token's exp: expired at the server only.
func TestFetchRenewsOnceOn401AndRetries(t *testing.T) {
	t.Parallel()
	h := start(t, e2eenv.Options{TokenLifetime: 20 * time.Second})
	// The API is the tenant, another origin than the page: it must be named
	// in apiOrigins for the token to go there.
	tab := h.session(t, fmt.Sprintf(`autoRenew: false, apiOrigins: [%q]`, h.TenantURL))
	api := h.TenantURL + "/api/private"
	tab.MustEval(`(() => {
		const plain = window.fetch;
		window.__api = [];
		window.fetch = async (...args) => {
			const r = await plain(...args);
			if (String(args[0].url || args[0]).includes("/api/private")) __api.push(r.status);
			return r;
		};
		return true;
	})()`, nil)
	fetchAll := func(n int) (statuses []int, seen []int) {
		var out struct {
			Final []int `json:"final"`
			Seen  []int `json:"seen"`
		}
		tab.MustEval(fmt.Sprintf(`(async () => {
			__api.length = 0;
			const rs = await Promise.all(Array.from({ length: %d }, () => client.fetch(%q)));
			return { final: rs.map(r => r.status), seen: [...__api] };
		})()`, n, api), &out)
		return out.Final, out.Seen
	}
	count := func() int { return len(h.auth.since(time.Time{})) }

	a0 := count()
	final, seen := fetchAll(1)
	if fmt.Sprint(final, seen) != "[200] [200]" || count() != a0 {
		t.Fatalf("fresh token: final %v, seen %v, %d renewals; want 200 at once and no renewal", final, seen, count()-a0)
	}

	t.Run("one fetch: 401, one renewal, 200", func(t *testing.T) {
		h.clock.set(25 * time.Second) // past exp (20 s) at the server only
		a0 := count()
		final, seen := fetchAll(1)
		t.Logf("final %v, API answers %v, %d renewals", final, seen, count()-a0)
		if fmt.Sprint(final, seen) != "[200] [401 200]" || count()-a0 != 1 {
			t.Errorf("final %v, API answers %v, %d renewals; want [200], [401 200], 1", final, seen, count()-a0)
		}
	})
	t.Run("concurrent fetches share one renewal", func(t *testing.T) {
		// 25 s more: the renewed token is past its exp too, and the next one's
		// iat is 50 s in the browser's future, inside the default leeway.
		h.clock.set(50 * time.Second)
		a0 := count()
		final, seen := fetchAll(4)
		t.Logf("final %v, API answers %v, %d renewals", final, seen, count()-a0)
		if fmt.Sprint(final) != "[200 200 200 200]" || fmt.Sprint(seen) != "[401 401 401 401 200 200 200 200]" || count()-a0 != 1 {
			t.Errorf("final %v, API answers %v, %d renewals; want four 200s after four 401s and 1 renewal", final, seen, count()-a0)
		}
	})
	noRejections(t, tab)
}
