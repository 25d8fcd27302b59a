package nodeop

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// The app origin is only a name here: nothing listens on it. The provider
// registers redirect URIs under it and the HTTP client stops at the first
// redirect that leaves the provider.
const (
	appOrigin = "http://localhost:8080"
	tokenTTL  = 90 * time.Second
)

var (
	shared     *Provider
	sharedErr  error
	sharedOnce sync.Once
	// The shared provider outlives every test, so its output cannot go to a
	// test's log; it is kept and printed when something failed or with -v.
	sharedOutput syncWriter
)

// TestMain stops the provider the tests share; starting node once keeps the
// package's run time near one provider start-up.
func TestMain(m *testing.M) {
	sharedOutput.w = new(strings.Builder)
	code := m.Run()
	if shared != nil {
		if err := shared.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			if code == 0 {
				code = 1
			}
		}
	}
	if shared != nil && (code != 0 || testing.Verbose()) {
		fmt.Fprintf(os.Stderr, "nodeop: output of the shared provider:\n%s", sharedOutput.w)
	}
	os.Exit(code)
}

// op returns the shared provider, skipping the test when node or its
// modules are not installed, unless CI is set: there `make test` has run
// `npm ci`, so their absence is a failure.
func op(t *testing.T) *Provider {
	t.Helper()
	sharedOnce.Do(func() {
		shared, sharedErr = Start(context.Background(), Config{
			AppOrigins:     []string{appOrigin},
			AccessTokenTTL: tokenTTL,
			Output:         &sharedOutput,
		})
	})
	needProvider(t, sharedErr)
	return shared
}

// needProvider skips t when starting the provider failed with err because
// node or its modules are not installed, unless CI is set (see op), and
// fails t on any other error.
func needProvider(t *testing.T, err error) {
	t.Helper()
	if errors.Is(err, ErrNodeModulesMissing) || errors.Is(err, ErrNodeMissing) {
		if os.Getenv("CI") == "" {
			t.Skipf("no real OpenID Provider: %v", err)
		}
	}
	if err != nil {
		t.Fatal(err)
	}
}

// gated starts a provider of its own behind a Gate, stopped when t ends.
func gated(t *testing.T) (*Provider, *Gate) {
	t.Helper()
	p, g, err := StartGated(context.Background(), Config{AppOrigins: []string{appOrigin}, Output: LogWriter(t)})
	needProvider(t, err)
	t.Cleanup(func() { _ = p.Stop(); _ = g.Close() })
	return p, g
}

// newClient follows redirects within the provider and stops at
// the first one to another origin (the app), so its Location can be read.
func newClient(t *testing.T, issuer string, jar http.CookieJar) *http.Client {
	t.Helper()
	return &http.Client{
		Jar:     jar,
		Timeout: 10 * time.Second,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if origin(req.URL) != issuer {
				return http.ErrUseLastResponse
			}
			if len(via) > 10 {
				return errors.New("too many redirects")
			}
			return nil
		},
	}
}

func origin(u *url.URL) string { return u.Scheme + "://" + u.Host }

type discovery struct {
	Issuer                 string   `json:"issuer"`
	AuthorizationEndpoint  string   `json:"authorization_endpoint"`
	TokenEndpoint          string   `json:"token_endpoint"`
	EndSessionEndpoint     string   `json:"end_session_endpoint"`
	ResponseModesSupported []string `json:"response_modes_supported"`
	ResponseTypesSupported []string `json:"response_types_supported"`
}

func discover(t *testing.T, p *Provider) discovery {
	t.Helper()
	resp, err := http.Get(p.Issuer() + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("discovery: %s", resp.Status)
	}
	var d discovery
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil {
		t.Fatal(err)
	}
	return d
}

type pkce struct{ verifier, challenge string }

func newPKCE() pkce {
	v := rand.Text() + rand.Text() // 52 base32 characters, within 43..128
	sum := sha256.Sum256([]byte(v))
	return pkce{verifier: v, challenge: base64.RawURLEncoding.EncodeToString(sum[:])}
}

// silentParams is what the SDK sends for a code renewal.
func silentParams(pk pkce, scope string) url.Values {
	return url.Values{
		"client_id":             {"spa"},
		"redirect_uri":          {appOrigin + "/"},
		"response_type":         {"code"},
		"response_mode":         {"web_message"},
		"prompt":                {"none"},
		"scope":                 {scope},
		"state":                 {rand.Text()},
		"nonce":                 {rand.Text()},
		"code_challenge":        {pk.challenge},
		"code_challenge_method": {"S256"},
	}
}

// webMessage is the payload of the page the provider renders for
// response_mode=web_message.
type webMessage struct {
	Status      int
	Response    map[string]any `json:"response"`
	RedirectURI string         `json:"redirect_uri"`
}

var webMessageData = regexp.MustCompile(`(?m)^\s*var data = (\{.*\});$`)

// getPage GETs u with c and returns the response with its whole body,
// closed; a failure to get or read it fails the test.
func getPage(t *testing.T, c *http.Client, u string) (*http.Response, []byte) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading %s: %v", u, err)
	}
	return resp, body
}

// authorizeWebMessage sends an authorization request and decodes the
// web_message page it answers with. It fails the test if the answer is not
// such a page, because then a browser would post nothing at all.
func authorizeWebMessage(t *testing.T, c *http.Client, endpoint string, q url.Values) webMessage {
	t.Helper()
	resp, body := getPage(t, c, endpoint+"?"+q.Encode())
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Fatalf("authorize: %s, Content-Type %q, want an HTML web_message page:\n%s", resp.Status, ct, body)
	}
	if !strings.Contains(string(body), "type: 'authorization_response'") {
		t.Fatalf("authorize: %s, no authorization_response postMessage in:\n%s", resp.Status, body)
	}
	m := webMessageData.FindSubmatch(body)
	if m == nil {
		t.Fatalf("authorize: %s, no `var data = {...};` line in:\n%s", resp.Status, body)
	}
	wm := webMessage{Status: resp.StatusCode}
	if err := json.Unmarshal(m[1], &wm); err != nil {
		t.Fatalf("authorize: decoding %s: %v", m[1], err)
	}
	return wm
}

func wantError(t *testing.T, wm webMessage, q url.Values, code string) {
	t.Helper()
	if wm.Status != http.StatusBadRequest {
		t.Errorf("status %d, want 400 for an error", wm.Status)
	}
	if got := wm.Response["error"]; got != code {
		t.Errorf("error = %v (%v), want %s", got, wm.Response["error_description"], code)
	}
	if got := wm.Response["state"]; got != q.Get("state") {
		t.Errorf("state = %v, want %s echoed", got, q.Get("state"))
	}
	if wm.RedirectURI != q.Get("redirect_uri") {
		t.Errorf("redirect_uri (postMessage target) = %q, want %q", wm.RedirectURI, q.Get("redirect_uri"))
	}
}

var formAction = regexp.MustCompile(`<form[^>]*action="([^"]+)"[^>]*method="post"`)

// login drives the built-in login page the way a user would: an interactive
// authorization request, the form it lands on, then the POST. It returns a
// cookie jar holding the provider's session for user.
func login(t *testing.T, p *Provider, d discovery, user string) http.CookieJar {
	t.Helper()
	jar, _ := loginWithScope(t, p, d, user, "openid email profile")
	return jar
}

// loginWithScope is login asking for scope; it also returns the code's
// exchange form (the code, its verifier and redirect_uri).
func loginWithScope(t *testing.T, p *Provider, d discovery, user, scope string) (http.CookieJar, url.Values) {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, p.Issuer(), jar)
	pk := newPKCE()
	q := silentParams(pk, scope)
	q.Del("prompt")
	q.Del("response_mode") // the default for code: query
	q.Set("redirect_uri", appOrigin+"/callback")

	resp, page := getPage(t, c, d.AuthorizationEndpoint+"?"+q.Encode())
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Request.URL.Path, "/interaction/") {
		t.Fatalf("interactive authorize ended at %s with %s, want the login page under /interaction/", resp.Request.URL, resp.Status)
	}
	for _, field := range []string{`name="prompt" value="login"`, `name="login"`, `name="password"`, `type="submit"`} {
		if !strings.Contains(string(page), field) {
			t.Fatalf("login page lacks %s:\n%s", field, page)
		}
	}
	m := formAction.FindSubmatch(page)
	if m == nil {
		t.Fatalf("login page has no POST form:\n%s", page)
	}
	action, err := resp.Request.URL.Parse(string(m[1]))
	if err != nil {
		t.Fatal(err)
	}

	resp, err = c.PostForm(action.String(), url.Values{"prompt": {"login"}, "login": {user}, "password": {"anything"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := resp.Location()
	if err != nil {
		t.Fatalf("after login: %s at %s, want a redirect to the app (consent should have been granted already)", resp.Status, resp.Request.URL)
	}
	if got := loc.Query(); origin(loc)+loc.Path != appOrigin+"/callback" || got.Get("code") == "" || got.Get("state") != q.Get("state") {
		t.Fatalf("after login: redirected to %s, want %s/callback with a code and the state", loc, appOrigin)
	}
	return jar, url.Values{
		"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "redirect_uri": {q.Get("redirect_uri")},
		"client_id": {"spa"}, "code_verifier": {pk.verifier},
	}
}

func TestDiscoveryAdvertisesWebMessageAndExactIssuer(t *testing.T) {
	p := op(t)
	d := discover(t, p)
	if d.Issuer != p.Issuer() || strings.HasSuffix(d.Issuer, "/") {
		t.Errorf("issuer = %q, want %q with no trailing slash", d.Issuer, p.Issuer())
	}
	if !strings.HasPrefix(p.Issuer(), "http://localhost:") {
		t.Errorf("Issuer() = %q, want http://localhost:PORT by default", p.Issuer())
	}
	if !slices.Contains(d.ResponseModesSupported, "web_message") {
		t.Errorf("response_modes_supported = %v, want web_message", d.ResponseModesSupported)
	}
	if !slices.Contains(d.ResponseTypesSupported, "id_token token") {
		t.Errorf("response_types_supported = %v, want id_token token", d.ResponseTypesSupported)
	}
	if d.AuthorizationEndpoint != p.Issuer()+"/auth" {
		t.Errorf("authorization_endpoint = %q, want %s/auth", d.AuthorizationEndpoint, p.Issuer())
	}
	if d.EndSessionEndpoint == "" {
		t.Error("no end_session_endpoint: rpInitiatedLogout is off")
	}
}

func TestSilentRequestWithoutSessionPostsLoginRequired(t *testing.T) {
	p := op(t)
	d := discover(t, p)
	q := silentParams(newPKCE(), "openid email profile")
	wm := authorizeWebMessage(t, newClient(t, p.Issuer(), nil), d.AuthorizationEndpoint, q)
	wantError(t, wm, q, "login_required")
	if wm.Response["iss"] != p.Issuer() {
		t.Errorf("iss = %v, want %s", wm.Response["iss"], p.Issuer())
	}
}

func TestSilentRenewalAfterLoginReturnsCodeThatExchangesForTokens(t *testing.T) {
	p := op(t)
	d := discover(t, p)
	jar := login(t, p, d, "alice")

	pk := newPKCE()
	q := silentParams(pk, "openid email profile")
	wm := authorizeWebMessage(t, newClient(t, p.Issuer(), jar), d.AuthorizationEndpoint, q)
	if wm.Status != http.StatusOK || wm.Response["error"] != nil {
		t.Fatalf("silent renewal: status %d, response %v, want 200 with a code", wm.Status, wm.Response)
	}
	code, _ := wm.Response["code"].(string)
	if code == "" || wm.Response["state"] != q.Get("state") || wm.RedirectURI != appOrigin+"/" {
		t.Fatalf("silent renewal: response %v to %q, want a code, the state, and %s/", wm.Response, wm.RedirectURI, appOrigin)
	}

	form := url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"redirect_uri":  {q.Get("redirect_uri")},
		"client_id":     {"spa"},
		"code_verifier": {pk.verifier},
	}
	req, _ := http.NewRequest(http.MethodPost, d.TokenEndpoint, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", appOrigin) // as fetch from the app's page sends it
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("token: %s: %s", resp.Status, body)
	}
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != appOrigin {
		t.Errorf("token endpoint Access-Control-Allow-Origin = %q, want %s", got, appOrigin)
	}
	var tok struct {
		IDToken     string `json:"id_token"`
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
		TokenType   string `json:"token_type"`
	}
	if err := json.Unmarshal(body, &tok); err != nil {
		t.Fatal(err)
	}
	if tok.IDToken == "" || tok.AccessToken == "" || tok.TokenType != "Bearer" {
		t.Fatalf("token response %s lacks an id_token, access_token or Bearer type", body)
	}
	if tok.ExpiresIn != int(tokenTTL/time.Second) {
		t.Errorf("expires_in = %d, want %d from --access-token-ttl", tok.ExpiresIn, int(tokenTTL/time.Second))
	}
	claims := jwtClaims(t, tok.IDToken)
	for name, want := range map[string]any{
		"iss": p.Issuer(), "aud": "spa", "sub": "alice",
		"email": "alice@example.test", "name": "alice", "nonce": q.Get("nonce"),
	} {
		if claims[name] != want {
			t.Errorf("ID token %s = %v, want %v", name, claims[name], want)
		}
	}
}

func TestSilentImplicitRequestPostsTokensWithConfiguredLifetime(t *testing.T) {
	p := op(t)
	d := discover(t, p)
	jar := login(t, p, d, "bob")

	q := silentParams(newPKCE(), "openid email profile")
	q.Set("response_type", "id_token token")
	q.Del("code_challenge")
	q.Del("code_challenge_method")
	wm := authorizeWebMessage(t, newClient(t, p.Issuer(), jar), d.AuthorizationEndpoint, q)
	if wm.Status != http.StatusOK || wm.Response["error"] != nil {
		t.Fatalf("implicit renewal: status %d, response %v", wm.Status, wm.Response)
	}
	if wm.Response["access_token"] == nil || wm.Response["token_type"] != "Bearer" {
		t.Errorf("response %v lacks a Bearer access_token", wm.Response)
	}
	// JSON numbers decode as float64; the SDK reads expires_in as a number.
	if got := wm.Response["expires_in"]; got != float64(tokenTTL/time.Second) {
		t.Errorf("expires_in = %v (%T), want the number %d", got, got, int(tokenTTL/time.Second))
	}
	idt, _ := wm.Response["id_token"].(string)
	claims := jwtClaims(t, idt)
	if claims["sub"] != "bob" || claims["nonce"] != q.Get("nonce") || claims["at_hash"] == nil || claims["email"] != "bob@example.test" {
		t.Errorf("implicit ID token claims %v, want sub bob, the nonce, at_hash and the email", claims)
	}
}

// TestSilentRequestThatNeedsTheUserPostsItsError: where the user must act,
// prompt=none posts the error that says why.
func TestSilentRequestThatNeedsTheUserPostsItsError(t *testing.T) {
	p := op(t)
	d := discover(t, p)
	for _, tc := range []struct {
		name, user, hint, scope, want string
	}{
		{name: "the needs-interaction hint posts interaction_required", user: "carol", hint: "needs-interaction",
			scope: "openid email profile", want: "interaction_required"},
		{name: "a scope not granted posts consent_required", user: "dave",
			scope: "openid email profile read:admin", want: "consent_required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			jar := login(t, p, d, tc.user)
			q := silentParams(newPKCE(), tc.scope)
			if tc.hint != "" {
				q.Set("login_hint", tc.hint)
			}
			wm := authorizeWebMessage(t, newClient(t, p.Issuer(), jar), d.AuthorizationEndpoint, q)
			wantError(t, wm, q, tc.want)
		})
	}
}

// offline_access is not a way to provoke consent_required: the provider drops
// it from any request whose prompt lacks "consent", so prompt=none succeeds.
func TestSilentRequestDropsOfflineAccessInsteadOfAskingConsent(t *testing.T) {
	p := op(t)
	d := discover(t, p)
	jar := login(t, p, d, "erin")
	q := silentParams(newPKCE(), "openid email profile offline_access")
	wm := authorizeWebMessage(t, newClient(t, p.Issuer(), jar), d.AuthorizationEndpoint, q)
	if wm.Status != http.StatusOK || wm.Response["code"] == nil {
		t.Errorf("status %d, response %v, want a code (offline_access silently dropped)", wm.Status, wm.Response)
	}
}

// An unregistered redirect_uri gets the provider's own error page and no
// postMessage, which is what makes the SDK's timeout path testable.
func TestUnregisteredRedirectURIGetsErrorPageWithoutWebMessage(t *testing.T) {
	p := op(t)
	d := discover(t, p)
	c := newClient(t, p.Issuer(), nil)
	for _, tc := range []struct{ client, redirect string }{
		{"spa", appOrigin + "/not-registered"},
		{"spa-strict", appOrigin + "/"},
	} {
		q := silentParams(newPKCE(), "openid")
		q.Set("client_id", tc.client)
		q.Set("redirect_uri", tc.redirect)
		resp, body := getPage(t, c, d.AuthorizationEndpoint+"?"+q.Encode())
		if resp.StatusCode != http.StatusBadRequest || strings.Contains(string(body), "postMessage") ||
			!strings.Contains(string(body), "invalid_redirect_uri") {
			t.Errorf("%s with %s: %s, want a 400 invalid_redirect_uri page without postMessage:\n%s", tc.client, tc.redirect, resp.Status, body)
		}
	}
}

func TestStopEndsProcessAndFreesPort(t *testing.T) {
	op(t) // skips like the others when node is unavailable
	var logged strings.Builder
	p, err := Start(t.Context(), Config{Host: "127.0.0.1", AppOrigins: []string{"http://localhost:8081"}, Output: &syncWriter{w: &logged}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(p.Issuer(), "http://127.0.0.1:") {
		t.Errorf("Issuer() = %q, want the 127.0.0.1 host", p.Issuer())
	}
	addr := strings.TrimPrefix(p.Issuer(), "http://")
	// A keep-alive connection must not hold the shutdown up.
	resp, err := http.Get(p.Issuer() + "/jwks")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	begin := time.Now()
	if err := p.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if took := time.Since(begin); took > 2*time.Second {
		t.Errorf("Stop took %v; SIGTERM should end it at once, not the kill after %v", took, stopGrace)
	}
	if err := p.Stop(); err != nil {
		t.Errorf("second Stop: %v, want the first result (nil) again", err)
	}
	if p.cmd.ProcessState == nil || !p.cmd.ProcessState.Exited() {
		t.Errorf("process state %v, want exited (reaped)", p.cmd.ProcessState)
	}
	if l, err := net.Listen("tcp", addr); err != nil {
		t.Errorf("port still taken after Stop: %v", err)
	} else {
		l.Close()
	}
	if !strings.Contains(logged.String(), "READY "+p.Issuer()) {
		t.Errorf("Output did not receive the READY line; got:\n%s", logged.String())
	}
}

func TestStartOutsideInstalledTreeReportsMissingNodeModules(t *testing.T) {
	dir := t.TempDir()
	_, err := Start(t.Context(), Config{Dir: dir, AppOrigins: []string{appOrigin}})
	if !errors.Is(err, ErrNodeModulesMissing) {
		t.Fatalf("Start in %s: %v, want ErrNodeModulesMissing", dir, err)
	}
}

func TestStartFailureQuotesProviderOutput(t *testing.T) {
	op(t)
	// A bad origin makes provider.mjs exit with a message before READY.
	_, err := Start(t.Context(), Config{AppOrigins: []string{"http://localhost:8080/with-path"}})
	if err == nil || !strings.Contains(err.Error(), "exited before READY") || !strings.Contains(err.Error(), "--app-origin must be a bare origin") {
		t.Fatalf("Start with a bad origin: %v, want the exit and provider.mjs's message", err)
	}
}

func TestLogWriterLogsWholeLinesOnly(t *testing.T) {
	var got []string
	w := LogWriter(loggerFunc(func(format string, args ...any) { got = append(got, fmt.Sprintf(format, args...)) }))
	for _, chunk := range []string{"READY http://loc", "alhost:1\nsecond\nthi", "rd"} {
		if _, err := io.WriteString(w, chunk); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"READY http://localhost:1", "second"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("logged %q, want %q (the unterminated third line held back)", got, want)
	}
}

func TestRepoRootFindsGoModAboveWorkingDirectory(t *testing.T) {
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(scriptPath))); err != nil {
		t.Errorf("repoRoot() = %s, which has no %s: %v", root, scriptPath, err)
	}
}

type loggerFunc func(format string, args ...any)

func (f loggerFunc) Logf(format string, args ...any) { f(format, args...) }

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(b)
}

// jwtClaims decodes a JWT's payload without verifying it: these tests check
// what the provider issues, and the SDK's own tests check signatures.
func jwtClaims(t *testing.T, jwt string) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS: %q", jwt)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(raw, &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}
