package refresh_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/silentauth/silentauth/demo/internal/e2eenv"
)

// tokenLifetime is the access tokens' lifetime at both servers: short, so
// that a test sees several renewals. Renewal is due halfway (the default
// renewBeforeExpiryInSeconds is longer than the lifetime), so a renewal
// period is 3 s.
const tokenLifetime = 6 * time.Second

// period is one renewal period.
const period = tokenLifetime / 2

// Hosts: the app is always on localhost; a server on 127.0.0.1 is on
// another site, so the browser keeps its session cookie out of the silent
// iframe, as Safari, Firefox and Brave do for any cross-site server.
const (
	crossSite = "127.0.0.1"
	sameSite  = "localhost"
)

// The SDK's debug lines for the way a renewal went.
const (
	viaRefreshLine = "renewal via refresh token"
	viaIframeLine  = "renewal via the silent iframe: "
)

// server is one authorization server of either kind, the app on localhost
// that uses it, and a browser.
type server = e2eenv.Server

// eachServer runs f against each kind of server on host, in parallel.
func eachServer(t *testing.T, host string, f func(t *testing.T, s *server)) {
	e2eenv.EachServer(t, e2eenv.ServerOptions{TokenLifetime: tokenLifetime, Host: host}, func(t *testing.T, s *server) {
		// assumeSignedOut: false, so that checkSession asks the server even
		// where no sign-in is recorded: this suite pins the conversation with it.
		s.ClientDefaults = "assumeSignedOut: false"
		f(t, s)
	})
}

// refreshOpts are the options of every client that renews by refresh token.
const refreshOpts = `useRefreshTokens: true`

// openClient opens a tab with a client made with clientJS(extra) that
// records its "renewed" events, and calls checkSession once, as an
// application does at start. It returns the outcome.
func openClient(t *testing.T, s *server, extra string) (*e2eenv.Tab, outcome) {
	t.Helper()
	tab := s.OpenPage(t)
	return tab, startClient(t, tab, s.ClientJS(extra))
}

// startClient makes window.client in tab and calls checkSession.
func startClient(t *testing.T, tab *e2eenv.Tab, clientJS string) outcome {
	t.Helper()
	return e2eenv.Settle(t, tab, `window.renewed = [];
		window.client = await `+clientJS+`;
		client.on("renewed", r => renewed.push(r.accessToken));`, `client.checkSession()`)
}

// outcome is a checkSession call's result as the page saw it.
type outcome = e2eenv.Outcome

func renewedIn(t *testing.T, tab *e2eenv.Tab) []string {
	t.Helper()
	var got []string
	tab.MustEval(`renewed`, &got)
	return got
}

// waitForRenewals waits until tab has seen at least n renewals.
func waitForRenewals(t *testing.T, tab *e2eenv.Tab, n int, timeout time.Duration) {
	t.Helper()
	if err := tab.WaitFor(fmt.Sprintf("renewed.length >= %d", n), timeout); err != nil {
		t.Fatalf("%v (it saw %d)\nconsole:\n%s", err, len(renewedIn(t, tab)), strings.Join(tab.Console(), "\n"))
	}
}

// noRefusals fails the test for any refused refresh grant or /authorize
// request among hits.
func noRefusals(t *testing.T, what string, c e2eenv.Counts) {
	t.Helper()
	if c.Authorize != 0 {
		t.Errorf("%s: %d /authorize requests, want none: renewal went through the iframe (%v)", what, c.Authorize, c)
	}
	if c.Refused != 0 || c.InvalidGrant != 0 {
		t.Errorf("%s: %d refresh grants refused (%d invalid_grant), want none (%v)", what, c.Refused, c.InvalidGrant, c)
	}
}

// redeemOutside presents refreshToken at s's token endpoint (from its
// discovery) as a copy taken out of the browser would be: from this
// process, as the public client.
func redeemOutside(t *testing.T, s *server, refreshToken string) (int, string) {
	t.Helper()
	res, err := http.Get(strings.TrimSuffix(s.Issuer, "/") + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		TokenEndpoint string `json:"token_endpoint"`
	}
	err = json.NewDecoder(res.Body).Decode(&d)
	res.Body.Close()
	if err != nil || d.TokenEndpoint == "" {
		t.Fatalf("discovery: %v, token_endpoint %q", err, d.TokenEndpoint)
	}
	form := url.Values{"grant_type": {"refresh_token"}, "client_id": {"spa"}, "refresh_token": {refreshToken}}
	res, err = http.PostForm(d.TokenEndpoint, form)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}
