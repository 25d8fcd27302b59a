package dpop_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/silentauth/silentauth/demo/devtenant"
	"github.com/silentauth/silentauth/demo/internal/chrome"
	"github.com/silentauth/silentauth/demo/internal/e2eenv"
	"github.com/silentauth/silentauth/demo/internal/nodeop"
)

// hit is one request that reached the server, as the recorder saw it.
type hit struct {
	Method     string
	Path       string
	PromptNone bool
	DPoPJKT    string // /authorize's dpop_jkt
	Proof      bool   // the request carried a DPoP header
	Auth       string // the Authorization header's scheme
	Grant      string // a token request's grant_type
	Status     int
	Error      string // a token request's error code
	TokenType  string
	Access     string // the access token an answer carried
	Refresh    string // the refresh token an answer carried
	RTIn       string // the refresh token a grant presented
}

// recorder stands in front of a server and records every request.
type recorder struct {
	next http.Handler
	mu   sync.Mutex
	hits []hit
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := hit{Method: r.Method, Path: r.URL.Path, PromptNone: r.URL.Query().Get("prompt") == "none", DPoPJKT: r.URL.Query().Get("dpop_jkt"),
		Proof: r.Header.Get("DPoP") != ""}
	h.Auth, _, _ = strings.Cut(r.Header.Get("Authorization"), " ")
	if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/token") {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		r.Body.Close()
		form, _ := url.ParseQuery(string(body))
		h.Grant, h.RTIn = form.Get("grant_type"), form.Get("refresh_token")
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	bw := &bufferWriter{header: http.Header{}}
	rec.next.ServeHTTP(bw, r)
	if bw.status == 0 {
		bw.status = http.StatusOK
	}
	var answer struct {
		Error        string `json:"error"`
		TokenType    string `json:"token_type"`
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	if h.Grant != "" {
		_ = json.Unmarshal(bw.body.Bytes(), &answer)
	}
	h.Status, h.Error, h.TokenType, h.Access, h.Refresh = bw.status, answer.Error, answer.TokenType, answer.AccessToken, answer.RefreshToken
	for k, v := range bw.header {
		w.Header()[k] = v
	}
	w.WriteHeader(bw.status)
	_, _ = w.Write(bw.body.Bytes())
	rec.mu.Lock()
	rec.hits = append(rec.hits, h)
	rec.mu.Unlock()
}

// since is the requests recorded at or after mark i.
func (rec *recorder) since(i int) []hit {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]hit(nil), rec.hits[min(i, len(rec.hits)):]...)
}

func (rec *recorder) mark() int { rec.mu.Lock(); defer rec.mu.Unlock(); return len(rec.hits) }

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

// tokenLog keeps node-oidc-provider's --log-tokens lines: each token's jkt.
type tokenLog struct {
	t  testing.TB
	mu sync.Mutex
	// jkt maps each token (access or refresh) to its DPoP key's thumbprint.
	jkt map[string]string
}

func (l *tokenLog) Logf(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	l.t.Log(line)
	l.mu.Lock()
	defer l.mu.Unlock()
	if tok, ok := nodeop.ParseAccessTokenLine(line); ok {
		l.jkt[tok.Value] = tok.JKT
	}
	if tok, jkt, ok := nodeop.ParseRefreshTokenLine(line); ok {
		l.jkt[tok] = jkt
	}
}

// server is one authorization server, the app on localhost that uses it,
// and a browser.
type server struct {
	name     string
	issuer   string
	appURL   string
	pagePath string
	browser  *chrome.Browser
	rec      *recorder
	tokens   *tokenLog // node-oidc-provider only
	// api is a URL on the server that takes the access token, and its
	// method: the dev tenant's /api/private, the provider's userinfo.
	api string
	// nonceAPI is an API on the app's origin that wants its own DPoP nonce.
	nonceAPI *nonceAPI
	// loginPage is true on the server's login form; form fills it in and submits it.
	loginPage, form string
}

var servers = []struct {
	name  string
	start func(t *testing.T) *server
}{
	{"devtenant", startTenant},
	{"node-oidc-provider", startOP},
}

func eachServer(t *testing.T, f func(t *testing.T, s *server)) {
	for _, k := range servers {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			f(t, k.start(t))
		})
	}
}

func startTenant(t *testing.T) *server {
	rec := &recorder{}
	env := e2eenv.Start(t, e2eenv.Options{TokenLifetime: time.Minute,
		TenantMiddleware: func(h http.Handler) http.Handler { rec.next = h; return rec }})
	return &server{
		name: "devtenant", issuer: env.TenantURL, appURL: env.AppURL, pagePath: e2eenv.TestPagePath,
		browser: env.Browser, rec: rec, api: env.TenantURL + "/api/private",
		loginPage: `location.pathname === "/u/login" && document.querySelector("input[name=password]")`,
		form: fmt.Sprintf(`(() => {
			const f = document.querySelector("form");
			f.querySelector("input[name=username]").value = "demo@example.com";
			f.querySelector("input[name=password]").value = %q;
			(f.querySelector("button[type=submit]") || f.querySelector("button")).click();
			return true })()`, devtenant.DefaultPassword),
	}
}

func startOP(t *testing.T) *server {
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
	tokens := &tokenLog{t: t, jkt: map[string]string{}}
	p, err := nodeop.Start(ctx, nodeop.Config{
		Port: recLn.Addr().(*net.TCPAddr).Port, ListenPort: behindPort,
		AppOrigins: []string{appURL}, AccessTokenTTL: time.Minute, Output: nodeop.LogWriter(tokens), LogTokens: true,
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
		r.Out.Host = r.In.Host
	}}}
	e2eenv.Serve(t, recLn, rec)
	app := http.NewServeMux()
	app.Handle("/", e2eenv.AppForProvider(t, p.Issuer(), dist, "/callback"))
	api := &nonceAPI{}
	app.Handle("/api/dpop", api)
	e2eenv.Serve(t, appLn, app)
	return &server{
		name: "node-oidc-provider", issuer: p.Issuer(), appURL: appURL, pagePath: "/callback",
		browser: chrome.Start(t), rec: rec, tokens: tokens, api: p.Issuer() + "/me", nonceAPI: api,
		loginPage: `location.pathname.startsWith("/interaction/") && document.querySelector('form[action*="/interaction/"] input[name="login"]')`,
		form: `(() => {
			const f = document.querySelector('form[action*="/interaction/"]');
			f.querySelector('input[name="login"]').value = "demo@example.com";
			f.querySelector('input[name="password"]').value = "any password";
			f.querySelector('button[type="submit"].login-submit').click();
			return true })()`,
	}
}

// clientJS creates a client for s with extra options.
func (s *server) clientJS(extra string) string {
	opts := []string{fmt.Sprintf("domain: %q", s.issuer), `clientId: "spa"`, "debug: true",
		fmt.Sprintf("redirectUri: %q", s.appURL+s.pagePath), fmt.Sprintf("apiOrigins: [%q, %q]", s.appURL, s.issuer)}
	if extra != "" {
		opts = append(opts, extra)
	}
	return "silentauth.createClient({" + strings.Join(opts, ", ") + "})"
}

func (s *server) openPage(t *testing.T) *chrome.Tab {
	t.Helper()
	return e2eenv.OpenSDKPage(t, s.browser, s.appURL+s.pagePath, 20*time.Second)
}

// login logs the demo user in with loginWithRedirect in a new tab;
// afterwards window.client is a client made with clientJS(extra) and
// window.loginResult the callback's result.
func (s *server) login(t *testing.T, extra string) *chrome.Tab {
	t.Helper()
	tab := s.openPage(t)
	err := tab.Eval(`(async () => { window.client = await `+s.clientJS(extra)+`; client.loginWithRedirect(); return true })()`, nil)
	if err != nil && !strings.Contains(err.Error(), "navigated or closed") {
		t.Fatal(err)
	}
	if err := tab.WaitFor(fmt.Sprintf("location.origin === %q && %s", s.issuer, s.loginPage), 30*time.Second); err != nil {
		t.Fatalf("the login form: %v\n%s", err, strings.Join(tab.Console(), "\n"))
	}
	if err := tab.Eval(s.form, nil); err != nil && !strings.Contains(err.Error(), "navigated or closed") {
		t.Fatal(err)
	}
	if err := tab.WaitFor(fmt.Sprintf(`location.origin === %q && window.silentauth && silentauth.createClient`, s.appURL), 30*time.Second); err != nil {
		t.Fatalf("back at the app: %v", err)
	}
	tab.MustEval(`(async () => {
		window.client = await `+s.clientJS(extra)+`;
		window.loginResult = await client.handleRedirectCallback();
		return true })()`, nil)
	return tab
}

// jktOf is the DPoP key a token is bound to, as the server recorded it: the
// dev tenant's access tokens are JWTs with cnf.jkt (read here without
// checking the signature: the tenant's own tests do that); the provider
// logs each token's jkt.
func (s *server) jktOf(t *testing.T, token string) string {
	t.Helper()
	if s.tokens != nil {
		s.tokens.mu.Lock()
		defer s.tokens.mu.Unlock()
		jkt, ok := s.tokens.jkt[token]
		if !ok {
			t.Fatalf("the provider logged no token %.8s…", token)
		}
		return jkt
	}
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(token, claims); err != nil {
		t.Fatalf("access token: %v", err)
	}
	cnf, _ := claims["cnf"].(map[string]any)
	jkt, _ := cnf["jkt"].(string)
	return jkt
}

// tokenURL is the server's token endpoint.
func (s *server) tokenURL() string {
	if s.tokens != nil {
		return s.issuer + "/token"
	}
	return s.issuer + "/oauth/token"
}

// redeem presents refreshToken at the token endpoint from Go, as whoever
// copied it out of the browser would: with no proof, or with proofs by a
// key of its own (answering one use_dpop_nonce with the nonce it brings).
func (s *server) redeem(t *testing.T, refreshToken string, withKey bool) (int, map[string]any) {
	t.Helper()
	var key *ecdsa.PrivateKey
	if withKey {
		key, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	nonce := ""
	for attempt := 0; ; attempt++ {
		form := url.Values{"grant_type": {"refresh_token"}, "client_id": {"spa"}, "refresh_token": {refreshToken}}
		req, _ := http.NewRequest(http.MethodPost, s.tokenURL(), strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", s.appURL)
		if key != nil {
			req.Header.Set("DPoP", forgedProof(t, key, s.tokenURL(), nonce))
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		resp.Body.Close()
		if attempt == 0 && m["error"] == "use_dpop_nonce" && resp.Header.Get("DPoP-Nonce") != "" {
			nonce = resp.Header.Get("DPoP-Nonce")
			continue
		}
		return resp.StatusCode, m
	}
}

// forgedProof is a well-formed proof by a key that is not the browser's.
func forgedProof(t *testing.T, key *ecdsa.PrivateKey, htu, nonce string) string {
	t.Helper()
	b64 := base64.RawURLEncoding.EncodeToString
	jti := make([]byte, 16)
	_, _ = rand.Read(jti)
	claims := jwt.MapClaims{"jti": b64(jti), "htm": "POST", "htu": htu, "iat": time.Now().Unix()}
	if nonce != "" {
		claims["nonce"] = nonce
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	tok.Header["typ"] = "dpop+jwt"
	tok.Header["jwk"] = map[string]any{"kty": "EC", "crv": "P-256",
		"x": b64(key.X.FillBytes(make([]byte, 32))), "y": b64(key.Y.FillBytes(make([]byte, 32)))}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
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

// nonceAPI is a resource server that speaks DPoP with nonces of its own: a
// proof without its current nonce gets a 401 with WWW-Authenticate: DPoP
// error="use_dpop_nonce" and the nonce in DPoP-Nonce (RFC 9449, 9). It checks
// the proof's signature over its jwk, htm, htu and ath.
type nonceAPI struct {
	mu      sync.Mutex
	answers []string // "use_dpop_nonce", "ok", or why the proof was refused
}

const apiNonce = "api-nonce-1"

func (a *nonceAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	answer := a.check(r)
	a.mu.Lock()
	a.answers = append(a.answers, answer)
	a.mu.Unlock()
	w.Header().Set("DPoP-Nonce", apiNonce)
	switch answer {
	case "ok":
		w.WriteHeader(http.StatusOK)
	case "use_dpop_nonce":
		w.Header().Set("WWW-Authenticate", `DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof"`)
		w.WriteHeader(http.StatusUnauthorized)
	default:
		w.Header().Set("WWW-Authenticate", `DPoP error="invalid_dpop_proof"`)
		w.WriteHeader(http.StatusUnauthorized)
	}
}

func (a *nonceAPI) check(r *http.Request) string {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "DPoP ")
	if !ok {
		return "no DPoP token"
	}
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(r.Header.Get("DPoP"), claims, func(tok *jwt.Token) (any, error) {
		jwk, _ := tok.Header["jwk"].(map[string]any)
		xs, _ := jwk["x"].(string)
		ys, _ := jwk["y"].(string)
		x, _ := base64.RawURLEncoding.DecodeString(xs)
		y, _ := base64.RawURLEncoding.DecodeString(ys)
		if tok.Header["typ"] != "dpop+jwt" || len(x) != 32 || len(y) != 32 {
			return nil, fmt.Errorf("header %v", tok.Header)
		}
		return &ecdsa.PublicKey{Curve: elliptic.P256(), X: new(big.Int).SetBytes(x), Y: new(big.Int).SetBytes(y)}, nil
	}, jwt.WithValidMethods([]string{"ES256"}))
	if err != nil {
		return "proof: " + err.Error()
	}
	sum := sha256.Sum256([]byte(token))
	want := "http://" + r.Host + r.URL.Path
	switch {
	case claims["htm"] != r.Method || claims["htu"] != want:
		return fmt.Sprintf("htm %v htu %v, want %s %s", claims["htm"], claims["htu"], r.Method, want)
	case claims["ath"] != base64.RawURLEncoding.EncodeToString(sum[:]):
		return "ath is not the token's hash"
	case claims["nonce"] != apiNonce:
		return "use_dpop_nonce"
	}
	return "ok"
}

func (a *nonceAPI) seen() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.answers...)
}
