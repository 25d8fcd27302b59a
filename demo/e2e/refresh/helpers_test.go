package refresh_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/silentauth/silentauth/demo/devtenant"
	"github.com/silentauth/silentauth/demo/internal/chrome"
	"github.com/silentauth/silentauth/demo/internal/e2eenv"
	"github.com/silentauth/silentauth/demo/internal/nodeop"
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

// hit is one request that reached the server.
type hit struct {
	At         time.Time
	Path       string
	PromptNone bool
	Grant      string // a token request's grant_type
	Status     int
	Error      string // a token request's error code
	RefreshIn  string // the refresh token a grant presented
	RefreshOut string // the refresh token an answer carried
}

// recorder stands in front of a server and records every request.
type recorder struct {
	next http.Handler
	mu   sync.Mutex
	hits []hit
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := hit{At: time.Now(), Path: r.URL.Path, PromptNone: r.URL.Query().Get("prompt") == "none"}
	token := r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/token")
	if !token {
		sw := &nodeop.StatusWriter{ResponseWriter: w}
		rec.next.ServeHTTP(sw, r)
		h.Status = sw.Status
		rec.add(h)
		return
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	r.Body.Close()
	form, _ := url.ParseQuery(string(body))
	h.Grant, h.RefreshIn = form.Get("grant_type"), form.Get("refresh_token")
	r.Body = io.NopCloser(bytes.NewReader(body))
	bw := &bufferWriter{header: http.Header{}}
	rec.next.ServeHTTP(bw, r)
	if bw.status == 0 {
		bw.status = http.StatusOK
	}
	var answer struct {
		Error        string `json:"error"`
		RefreshToken string `json:"refresh_token"`
	}
	_ = json.Unmarshal(bw.body.Bytes(), &answer)
	h.Status, h.Error, h.RefreshOut = bw.status, answer.Error, answer.RefreshToken
	for k, v := range bw.header {
		w.Header()[k] = v
	}
	w.WriteHeader(bw.status)
	_, _ = w.Write(bw.body.Bytes())
	rec.add(h)
}

func (rec *recorder) add(h hit) {
	rec.mu.Lock()
	rec.hits = append(rec.hits, h)
	rec.mu.Unlock()
}

// since is the requests recorded at or after i, and how many there are in all.
func (rec *recorder) since(i int) ([]hit, int) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if i > len(rec.hits) {
		i = len(rec.hits)
	}
	return append([]hit(nil), rec.hits[i:]...), len(rec.hits)
}

func (rec *recorder) mark() int {
	_, n := rec.since(0)
	return n
}

type bufferWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferWriter) Header() http.Header { return b.header }
func (b *bufferWriter) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}
func (b *bufferWriter) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}

// counts sums up requests.
type counts struct {
	Authorize     int // interactive and prompt=none
	PromptNone    int
	RefreshGrants int
	Refused       int // refresh grants answered with an error
	InvalidGrant  int
	CodeExchanges int
}

func (c counts) String() string {
	return fmt.Sprintf("%d /authorize (%d prompt=none), %d code exchanges, %d refresh grants (%d refused, %d invalid_grant)",
		c.Authorize, c.PromptNone, c.CodeExchanges, c.RefreshGrants, c.Refused, c.InvalidGrant)
}

func count(hits []hit) counts {
	var c counts
	for _, h := range hits {
		switch {
		case h.Path == "/authorize" || h.Path == "/auth":
			c.Authorize++
			if h.PromptNone {
				c.PromptNone++
			}
		case h.Grant == "refresh_token":
			c.RefreshGrants++
			if h.Status != http.StatusOK {
				c.Refused++
			}
			if h.Error == "invalid_grant" {
				c.InvalidGrant++
			}
		case h.Grant == "authorization_code":
			c.CodeExchanges++
		}
	}
	return c
}

// server is one authorization server, the app on localhost that uses it,
// and a browser.
type server struct {
	name     string
	issuer   string
	appURL   string
	pagePath string // the test page, a registered redirect URI
	browser  *chrome.Browser
	rec      *recorder
	// form fills in and submits the server's login form; loginPage is true
	// on it.
	loginPage, form string
}

// servers are the two kinds of authorization server every test runs against.
var servers = []struct {
	name  string
	start func(t *testing.T, host string) *server
}{
	{"devtenant", startTenant},
	{"node-oidc-provider", startOP},
}

// eachServer runs f against each kind of server, in parallel.
func eachServer(t *testing.T, host string, f func(t *testing.T, s *server)) {
	for _, k := range servers {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			f(t, k.start(t, host))
		})
	}
}

func startTenant(t *testing.T, host string) *server {
	rec := &recorder{}
	env := e2eenv.Start(t, e2eenv.Options{TokenLifetime: tokenLifetime, TenantHost: host,
		TenantMiddleware: func(h http.Handler) http.Handler { rec.next = h; return rec }})
	return &server{
		name: "devtenant", issuer: env.TenantURL, appURL: env.AppURL, pagePath: e2eenv.TestPagePath,
		browser: env.Browser, rec: rec,
		loginPage: `location.pathname === "/u/login" && document.querySelector("input[name=password]")`,
		form: fmt.Sprintf(`(() => {
			const f = document.querySelector("form");
			f.querySelector("input[name=username]").value = "demo@example.com";
			f.querySelector("input[name=password]").value = %q;
			(f.querySelector("button[type=submit]") || f.querySelector("button")).click();
			return true })()`, devtenant.DefaultPassword),
	}
}

// startOP runs node-oidc-provider behind a recorder at the issuer's
// address, and the app with the test page at /callback, a redirect URI
// provider.mjs registers.
func startOP(t *testing.T, host string) *server {
	dist := e2eenv.DistDir(t)
	appLn, appURL := e2eenv.Listen(t, "localhost")
	recLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	behind, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	behindPort := behind.Addr().(*net.TCPAddr).Port
	behind.Close()
	ctx, cancel := context.WithCancel(context.Background())
	p, err := nodeop.Start(ctx, nodeop.Config{
		Host: host, Port: recLn.Addr().(*net.TCPAddr).Port, ListenPort: behindPort,
		AppOrigins: []string{appURL}, AccessTokenTTL: tokenLifetime, Output: nodeop.LogWriter(t),
	})
	if err != nil {
		cancel()
		recLn.Close()
		t.Fatalf("starting node-oidc-provider: %v", err)
	}
	t.Cleanup(func() { _ = p.Stop(); cancel() })
	target := &url.URL{Scheme: "http", Host: "127.0.0.1:" + strconv.Itoa(behindPort)}
	rec := &recorder{next: &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(target)
		r.Out.Host = r.In.Host // the provider builds its URLs from the issuer's host
	}}}
	e2eenv.Serve(t, recLn, rec)

	e2eenv.Serve(t, appLn, e2eenv.AppForProvider(t, p.Issuer(), dist, "/callback"))
	return &server{
		name: "node-oidc-provider", issuer: p.Issuer(), appURL: appURL, pagePath: "/callback",
		browser: chrome.Start(t), rec: rec,
		loginPage: `location.pathname.startsWith("/interaction/") && document.querySelector('form[action*="/interaction/"] input[name="login"]')`,
		form: `(() => {
			const f = document.querySelector('form[action*="/interaction/"]');
			f.querySelector('input[name="login"]').value = "demo@example.com";
			f.querySelector('input[name="password"]').value = "any password";
			f.querySelector('button[type="submit"].login-submit').click();
			return true })()`,
	}
}

// refreshOpts are the options of every client that renews by refresh token.
const refreshOpts = `useRefreshTokens: true`

// clientJS creates a client for s with extra options; its redirectUri is
// the test page.
func (s *server) clientJS(extra string) string {
	// assumeSignedOut: false, so that checkSession asks the server even
	// where no sign-in is recorded: this suite pins the conversation with it.
	opts := []string{fmt.Sprintf("domain: %q", s.issuer), `clientId: "spa"`, "debug: true", "assumeSignedOut: false",
		fmt.Sprintf("redirectUri: %q", s.appURL+s.pagePath)}
	if extra != "" {
		opts = append(opts, extra)
	}
	return "silentauth.createClient({" + strings.Join(opts, ", ") + "})"
}

// openPage opens a tab on the test page and waits for the SDK.
func (s *server) openPage(t *testing.T) *chrome.Tab {
	t.Helper()
	return e2eenv.OpenSDKPage(t, s.browser, s.appURL+s.pagePath, 20*time.Second)
}

// login logs the demo user in through the SDK's interactive login
// (loginWithRedirect, the server's form, handleRedirectCallback) in a new
// tab. Afterwards window.client is a client made with clientJS(extra) that
// records its "renewed" events in window.renewed.
func (s *server) login(t *testing.T, extra string) *chrome.Tab {
	t.Helper()
	tab := s.openPage(t)
	// Not awaited, and the navigation may end the evaluation first.
	err := tab.Eval(`(async () => { window.client = await `+s.clientJS(extra)+`; client.loginWithRedirect(); return true })()`, nil)
	if err != nil && !strings.Contains(err.Error(), "navigated or closed") {
		t.Fatal(err)
	}
	if err := tab.WaitFor(fmt.Sprintf("location.origin === %q && %s", s.issuer, s.loginPage), 30*time.Second); err != nil {
		t.Fatalf("the login form: %v", err)
	}
	if err := tab.Eval(s.form, nil); err != nil && !strings.Contains(err.Error(), "navigated or closed") {
		t.Fatal(err)
	}
	if err := tab.WaitFor(fmt.Sprintf(`location.origin === %q && window.silentauth && silentauth.createClient`, s.appURL), 30*time.Second); err != nil {
		t.Fatalf("back at the app: %v", err)
	}
	tab.MustEval(`(async () => {
		window.renewed = [];
		window.client = await `+s.clientJS(extra)+`;
		client.on("renewed", r => renewed.push(r.accessToken));
		window.loginResult = await client.handleRedirectCallback();
		return true })()`, nil)
	return tab
}

// openClient opens a tab with a client made with clientJS(extra) that
// records its "renewed" events, and calls checkSession once, as an
// application does at start. It returns the outcome.
func (s *server) openClient(t *testing.T, extra string) (*chrome.Tab, outcome) {
	t.Helper()
	tab := s.openPage(t)
	return tab, startClient(t, tab, s.clientJS(extra))
}

// startClient makes window.client in tab and calls checkSession.
func startClient(t *testing.T, tab *chrome.Tab, clientJS string) outcome {
	t.Helper()
	var o outcome
	tab.MustEval(`(async () => {
		window.renewed = [];
		window.client = await `+clientJS+`;
		client.on("renewed", r => renewed.push(r.accessToken));
		try {
			const r = await client.checkSession();
			return {ok: true, accessToken: r.accessToken};
		} catch (e) {
			return {ok: false, error: e.error, desc: e.error_description};
		}
	})()`, &o)
	return o
}

// outcome is a checkSession call's result as the page saw it.
type outcome struct {
	OK          bool   `json:"ok"`
	AccessToken string `json:"accessToken"`
	Error       string `json:"error"`
	Description string `json:"desc"`
}

func (o outcome) String() string {
	if o.OK {
		return "ok"
	}
	return o.Error + ": " + o.Description
}

func renewedIn(t *testing.T, tab *chrome.Tab) []string {
	t.Helper()
	var got []string
	tab.MustEval(`renewed`, &got)
	return got
}

// waitForRenewals waits until tab has seen at least n renewals.
func waitForRenewals(t *testing.T, tab *chrome.Tab, n int, timeout time.Duration) {
	t.Helper()
	if err := tab.WaitFor(fmt.Sprintf("renewed.length >= %d", n), timeout); err != nil {
		t.Fatalf("%v (it saw %d)\nconsole:\n%s", err, len(renewedIn(t, tab)), strings.Join(tab.Console(), "\n"))
	}
}

// lines counts the tab's console lines that contain s.
func lines(tab *chrome.Tab, s string) int {
	n := 0
	for _, l := range tab.Console() {
		if strings.Contains(l, s) {
			n++
		}
	}
	return n
}

func closeTab(t *testing.T, tab *chrome.Tab) {
	t.Helper()
	if err := chromedp.Cancel(tab.Ctx); err != nil {
		t.Fatalf("closing a tab: %v", err)
	}
}

// noRefusals fails the test for any refused refresh grant or /authorize
// request among hits.
func noRefusals(t *testing.T, what string, c counts) {
	t.Helper()
	if c.Authorize != 0 {
		t.Errorf("%s: %d /authorize requests, want none: renewal went through the iframe (%v)", what, c.Authorize, c)
	}
	if c.Refused != 0 || c.InvalidGrant != 0 {
		t.Errorf("%s: %d refresh grants refused (%d invalid_grant), want none (%v)", what, c.Refused, c.InvalidGrant, c)
	}
}

// countSince counts the requests recorded at or after i.
func (rec *recorder) countSince(i int) counts {
	hits, _ := rec.since(i)
	return count(hits)
}

// redeemOutside presents refreshToken at s's token endpoint (from its
// discovery) as a copy taken out of the browser would be: from this
// process, as the public client.
func redeemOutside(t *testing.T, s *server, refreshToken string) (int, string) {
	t.Helper()
	res, err := http.Get(strings.TrimSuffix(s.issuer, "/") + "/.well-known/openid-configuration")
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
