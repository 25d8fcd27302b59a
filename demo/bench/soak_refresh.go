package bench

import (
	"fmt"
	"net/http"
	"runtime"
	"time"

	"github.com/silentauth/silentauth/demo/internal/soak"
)

// SoakRefresh is the refresh-token run with figures: 3 tabs
// with useRefreshTokens calling getTokenSilently every 250 ms for 5 minutes
// (1 with -quick) against node-oidc-provider on 127.0.0.1,
// another site than the app's localhost, so the silent iframe gets no
// session cookie. It prints token requests per token lifetime and the
// invalid_grant count; it asserts nothing.
func SoakRefresh(t *Scope, o Options) {
	d := 5 * time.Minute
	if o.Quick {
		d = time.Minute
	}
	before := loadavg()
	cfg := soak.DefaultConfig()
	cfg.Debug = false
	cfg.Host = "127.0.0.1"
	cfg.UseRefreshTokens = true
	env := soak.Start(t, cfg)
	rec := soak.Run(t, env, soak.Scenario{Name: "refresh tokens, third-party cookies blocked", Duration: d})

	var refresh, refused, unanswered, authorize, promptNone, codes int
	for _, h := range rec.Hits {
		switch {
		case h.Path == "/auth":
			authorize++
			if h.PromptNone {
				promptNone++
			}
		case h.GrantType == "refresh_token":
			refresh++
			switch {
			case h.Status == 0:
				unanswered++ // still in flight when the run stopped, or the page went away
			case h.Status != http.StatusOK:
				refused++ // node-oidc-provider refuses a spent, revoked or expired refresh token with 400 invalid_grant
			}
		case h.GrantType == "authorization_code":
			codes++
		}
	}
	invalidGrant := 0
	for _, tr := range rec.Tabs {
		for _, c := range tr.Calls {
			if c.Error == "invalid_grant" {
				invalidGrant++
			}
		}
		for _, e := range tr.Events {
			if e.Error == "invalid_grant" {
				invalidGrant++
			}
		}
	}
	ran := rec.End.Sub(rec.Start)
	lifetimes := float64(ran) / float64(cfg.TokenTTL)
	head := fmt.Sprintf("\nsilentauth make bench-soak-refresh — %s\n%s; %s; load average %s before, %s after\n",
		time.Now().Format(time.RFC3339), machine(), runtime.Version(), before, loadavg())
	body := fmt.Sprintf("%d tabs, useRefreshTokens, provider on 127.0.0.1 and app on localhost, %v tokens, %v (%.1f lifetimes):\n"+
		"  token requests (refresh grants): %d, %.2f per lifetime (renewal %d s before expiry)\n"+
		"  refused refresh grants: %d; unanswered: %d; invalid_grant seen by the pages (calls and events): %d\n"+
		"  /auth requests: %d (%d prompt=none); code exchanges: %d\n",
		cfg.Tabs, cfg.TokenTTL, ran.Round(time.Second), lifetimes, refresh, float64(refresh)/lifetimes, cfg.RenewBefore,
		refused, unanswered, invalidGrant, authorize, promptNone, codes)
	text := head + body + soak.Table(soak.Compute(rec))
	fmt.Print(text)
	writeBench(t, map[string][]byte{"soak-refresh.txt": []byte(text)}, "soak-refresh.txt", "")
}
