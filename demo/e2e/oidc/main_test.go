// Package oidc_test runs silentauth against a real OpenID Provider,
// node-oidc-provider (demo/oidcprovider), in headless Chromium: both flows,
// every prompt=none error the provider can give, and the same checks against
// the offline dev tenant, which speaks Auth0's dialect.
//
// TestMain starts what every test shares: the dev tenant; two providers,
// one on localhost (same site as the app) and one on 127.0.0.1, where its
// SameSite=Lax session cookie is third-party in the iframe; a proxy in front
// of the first that can rewrite "iss" in its web_message page; the demo app;
// and one Chromium. Each test opens its tab after clearing the browser's
// cookies, so each begins with no session; for the same reason the tests
// must not run in parallel (no t.Parallel).
package oidc_test

import (
	"context"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/storage"
	"github.com/chromedp/chromedp"
	"github.com/golang-jwt/jwt/v5"

	"github.com/silentauth/silentauth/demo/devtenant"
	"github.com/silentauth/silentauth/demo/internal/e2eenv"
	"github.com/silentauth/silentauth/demo/internal/nodeop"
)

// callbackPath is a redirect URI that provider.mjs registers for client
// "spa" (origin+"/callback"); the app serves the blank test page there.
const callbackPath = "/callback"

// shared is what TestMain starts for the whole package.
var shared struct {
	appURL   string // http://localhost:PORT, the demo app and the test page
	issuer   string // node-oidc-provider on localhost (same site as the app)
	crossOP  string // node-oidc-provider on 127.0.0.1 (another site)
	proxyURL string // http://localhost:PORT in front of issuer
	proxy    *issProxy
	browser  *e2eenv.Browser // one Chromium; each test clears its cookies and storage
	// tenant is the dev tenant (issuer TenantURL+"/"), with the same app
	// and browser; its test page is e2eenv.TestPagePath.
	tenant *e2eenv.Env
}

func TestMain(m *testing.M) {
	os.Exit(e2eenv.Main(m, "oidc", setUp))
}

func setUp(tb testing.TB) {
	dist := e2eenv.BuiltDistDir(tb)
	appLn, appURL := e2eenv.Listen(tb, "localhost")
	proxyLn, proxyURL := e2eenv.Listen(tb, "localhost")

	logs := &tailLog{}
	tb.Cleanup(func() {
		if tb.Failed() {
			fmt.Fprint(os.Stderr, logs.String())
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	// Both providers start at once: each takes a second or two of node start-up.
	var wg sync.WaitGroup
	var same, cross *nodeop.Provider
	var sameErr, crossErr error
	wg.Add(2)
	go func() {
		defer wg.Done()
		same, sameErr = nodeop.Start(ctx, nodeop.Config{AppOrigins: []string{appURL}, Output: logs.prefixed("op ")})
	}()
	go func() {
		defer wg.Done()
		cross, crossErr = nodeop.Start(ctx, nodeop.Config{Host: "127.0.0.1", AppOrigins: []string{appURL}, Output: logs.prefixed("op127 ")})
	}()
	wg.Wait()
	for _, p := range []*nodeop.Provider{same, cross} {
		if p != nil {
			tb.Cleanup(func() { _ = p.Stop() })
		}
	}
	if err := errors.Join(sameErr, crossErr); err != nil {
		tb.Fatal("starting node-oidc-provider: ", err)
	}

	// The dev tenant, for the comparisons with Auth0's dialect. It is
	// e2eenv.Start's tenant, sharing this package's app and browser.
	tenantLn, tenantURL := e2eenv.Listen(tb, "localhost")
	tenant, err := devtenant.New(devtenant.Config{Issuer: tenantURL, AppOrigins: []string{appURL}, Clients: e2eenv.TenantClients(appURL)})
	if err != nil {
		tb.Fatal(err)
	}
	proxy, err := newIssProxy(same.Issuer())
	if err != nil {
		tb.Fatal(err)
	}
	// The test page's CSP names every server a test frames or fetches from.
	e2eenv.Serve(tb, appLn, e2eenv.AppForProvider(tb, same.Issuer(), dist, callbackPath, cross.Issuer(), proxyURL, tenantURL))
	e2eenv.Serve(tb, proxyLn, proxy)
	e2eenv.Serve(tb, tenantLn, tenant)
	browser := e2eenv.StartBrowser(tb)

	shared.browser = browser
	shared.appURL, shared.issuer, shared.crossOP = appURL, same.Issuer(), cross.Issuer()
	shared.proxyURL, shared.proxy = proxyURL, proxy
	shared.tenant = &e2eenv.Env{Tenant: tenant, TenantURL: tenantURL, AppURL: appURL, Browser: browser}
}

// tailLog keeps the providers' output and prints it only if a test failed.
type tailLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *tailLog) prefixed(prefix string) io.Writer {
	return nodeop.LogWriter(logFunc(func(format string, args ...any) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.lines = append(l.lines, prefix+fmt.Sprintf(format, args...))
		if len(l.lines) > 400 {
			l.lines = l.lines[len(l.lines)-400:]
		}
	}))
}

func (l *tailLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return "provider output (last lines):\n" + strings.Join(l.lines, "\n") + "\n"
}

type logFunc func(format string, args ...any)

func (f logFunc) Logf(format string, args ...any) { f(format, args...) }

// issProxy forwards everything to the provider. It keeps the body of each
// web_message page it passes on, and while rewriteTo is set it replaces the
// provider's "iss" in that page with another issuer: an authorization
// response that names the wrong issuer (a mix-up, RFC 9207).
type issProxy struct {
	issuer string
	rp     *httputil.ReverseProxy

	mu        sync.Mutex
	rewriteTo string
	pages     []string
}

func newIssProxy(issuer string) (*issProxy, error) {
	target, err := url.Parse(issuer)
	if err != nil {
		return nil, err
	}
	p := &issProxy{issuer: issuer}
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Header.Del("Accept-Encoding") // the body must be plain text to rewrite it
		},
		ModifyResponse: p.modify,
	}
	return p, nil
}

func (p *issProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) { p.rp.ServeHTTP(w, r) }

func (p *issProxy) modify(resp *http.Response) error {
	if resp.Request.URL.Path != "/auth" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		return nil
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.pages = append(p.pages, string(body))
	to := p.rewriteTo
	p.mu.Unlock()
	if to != "" {
		body = []byte(strings.ReplaceAll(string(body), `"iss":"`+p.issuer+`"`, `"iss":"`+to+`"`))
		// A script-src hash, if the provider sent one, would no longer match.
		resp.Header.Del("Content-Security-Policy")
	}
	resp.Body = io.NopCloser(strings.NewReader(string(body)))
	resp.ContentLength = int64(len(body))
	resp.Header.Set("Content-Length", fmt.Sprint(len(body)))
	return nil
}

// setRewrite turns the iss rewrite on (a non-empty issuer) or off, and
// forgets the pages seen so far.
func (p *issProxy) setRewrite(to string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rewriteTo = to
	p.pages = nil
}

func (p *issProxy) seen() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.pages...)
}

// --- browser helpers --------------------------------------------------------

// openTestPage opens the blank test page at path on the app in the shared
// browser, with no cookies (so no session at any provider) and nothing in
// the app's storage left by an earlier test, and waits for the SDK.
func openTestPage(t *testing.T, path string) *e2eenv.Tab {
	t.Helper()
	tab := shared.browser.NewTab(t)
	if err := chromedp.Run(tab.Ctx,
		network.ClearBrowserCookies(),
		storage.ClearDataForOrigin(shared.appURL, "all"),
	); err != nil {
		t.Fatalf("clearing the browser's cookies and storage: %v", err)
	}
	if err := tab.Navigate(shared.appURL + path); err != nil {
		t.Fatal(err)
	}
	if err := tab.WaitFor("window.silentauth && silentauth.createClient", 20*time.Second); err != nil {
		t.Fatal(err)
	}
	return tab
}

// opClientJS creates a client for node-oidc-provider at domain, with
// redirectUri the registered callback (the test page) and extra options.
func opClientJS(domain, extra string) string {
	// assumeSignedOut: false, so that checkSession asks the provider even
	// where no sign-in is recorded: this suite pins the conversation with it.
	return e2eenv.CreateClientJS(fmt.Sprintf("domain: %q", domain), `clientId: "spa"`, "debug: true", "assumeSignedOut: false",
		fmt.Sprintf("redirectUri: %q", shared.appURL+callbackPath), extra)
}

// opLogin logs user in at the provider through the SDK: loginWithRedirect,
// the provider's built-in sign-in form, handleRedirectCallback on the test
// page at /callback. Afterwards window.client is a client made with
// opClientJS(domain, extra) and window.loginResult the callback's result.
func opLogin(t *testing.T, tab *e2eenv.Tab, domain, user, extra string) time.Duration {
	t.Helper()
	start := time.Now()
	// The login is started, not awaited: it navigates the page away, maybe
	// before its promise settles. The sign-in form below is the proof.
	tab.MustEval(`(async () => { window.client = await `+opClientJS(domain, extra)+`; client.loginWithRedirect(); return true })()`, nil)
	form := fmt.Sprintf(`location.origin === %q && %s`, domain, e2eenv.ProviderLoginPage)
	if err := tab.WaitFor(form, 20*time.Second); err != nil {
		t.Fatalf("the provider's sign-in form: %v", err)
	}
	tab.MustEval(e2eenv.ProviderLoginForm(user), nil)
	back := fmt.Sprintf(`location.origin === %q && location.pathname === %q && document.readyState !== "loading" && window.silentauth && silentauth.createClient`, shared.appURL, callbackPath)
	if err := tab.WaitFor(back, 20*time.Second); err != nil {
		t.Fatalf("back at the app after the sign-in form: %v", err)
	}
	var href string
	tab.MustEval(`location.href`, &href)
	if !strings.Contains(href, "code=") || !strings.Contains(href, "iss=") {
		t.Fatalf("the redirect back carries no code and iss: %s", href)
	}
	tab.MustEval(`(async () => { window.client = await `+opClientJS(domain, extra)+`; window.loginResult = await client.handleRedirectCallback(); return true })()`, nil)
	return time.Since(start)
}

// outcome is one checkSession call as the page saw it.
type outcome = e2eenv.Outcome

// checkSession runs client.checkSession(params) (params a JS expression) on
// the page's window.client, timing it there.
func checkSession(t *testing.T, tab *e2eenv.Tab, params string) outcome {
	t.Helper()
	return evalOutcome(t, tab, "client", params)
}

func evalOutcome(t *testing.T, tab *e2eenv.Tab, client, params string) outcome {
	t.Helper()
	if params == "" {
		params = "undefined"
	}
	return e2eenv.Settle(t, tab, `const c = await (`+client+`);`, `c.checkSession(`+params+`)`)
}

// --- server-side checks -----------------------------------------------------

type discovery struct {
	Issuer                string   `json:"issuer"`
	AuthorizationEndpoint string   `json:"authorization_endpoint"`
	TokenEndpoint         string   `json:"token_endpoint"`
	JWKSURI               string   `json:"jwks_uri"`
	ResponseModes         []string `json:"response_modes_supported"`
}

func getDiscovery(t *testing.T, domain string) discovery {
	t.Helper()
	var d discovery
	getJSON(t, domain+"/.well-known/openid-configuration", &d)
	return d
}

func getJSON(t *testing.T, u string, out any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: HTTP %d", u, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
}

// verifyIDToken checks an ID token the SDK accepted once more, in Go and
// with none of the SDK's code: RS256 signature against the key with its kid
// in the server's JWKS (found through discovery), iss exactly the discovered
// issuer, aud the client, exp ahead, nonce, and at_hash when an access token
// came with it in the same response. It returns the claims.
func verifyIDToken(t *testing.T, domain, raw, accessToken string, requireAtHash bool) jwt.MapClaims {
	t.Helper()
	d := getDiscovery(t, domain)
	var jwks struct {
		Keys []struct {
			Kid, Kty, Alg, Use, N, E string
		} `json:"keys"`
	}
	getJSON(t, d.JWKSURI, &jwks)
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(raw, claims, func(tok *jwt.Token) (any, error) {
		kid, _ := tok.Header["kid"].(string)
		for _, k := range jwks.Keys {
			if k.Kty == "RSA" && k.Kid == kid {
				n, err1 := base64.RawURLEncoding.DecodeString(k.N)
				e, err2 := base64.RawURLEncoding.DecodeString(k.E)
				if err := errors.Join(err1, err2); err != nil {
					return nil, err
				}
				return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}, nil
			}
		}
		return nil, fmt.Errorf("kid %q is not in %s", kid, d.JWKSURI)
	}, jwt.WithValidMethods([]string{"RS256"}), jwt.WithIssuer(d.Issuer), jwt.WithAudience("spa"),
		jwt.WithExpirationRequired(), jwt.WithIssuedAt())
	if err != nil {
		t.Fatalf("ID token from %s does not verify: %v", domain, err)
	}
	if n, _ := claims["nonce"].(string); n == "" {
		t.Errorf("ID token from %s has no nonce", domain)
	}
	atHash, has := claims["at_hash"].(string)
	if requireAtHash && !has {
		t.Errorf("ID token from %s with an access token has no at_hash", domain)
	}
	if has && accessToken != "" {
		if want := devtenant.AtHash(accessToken); atHash != want {
			t.Errorf("at_hash %q, the access token hashes to %q", atHash, want)
		}
	}
	return claims
}
