package devtenant

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const appOrigin = "http://app.test"

// fakeClock is the tenant's time, moved by tests instead of sleeping.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// env is one tenant behind a real HTTP server, with a browser-like client
// that keeps cookies and does not follow redirects.
type env struct {
	t      *testing.T
	ten    *Tenant
	srv    *httptest.Server
	clock  *fakeClock
	client *http.Client
}

func newEnv(t *testing.T, mutate ...func(*Config)) *env {
	t.Helper()
	e := &env{t: t, clock: &fakeClock{now: time.Unix(1_800_000_000, 0)}}
	var h http.Handler
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(e.srv.Close)
	cfg := Config{Issuer: e.srv.URL, AppOrigins: []string{appOrigin}, Now: e.clock.Now}
	for _, m := range mutate {
		m(&cfg)
	}
	ten, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	e.ten, h = ten, ten
	jar, _ := cookiejar.New(nil)
	e.client = &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return e
}

// response is a read HTTP answer.
type response struct {
	status int
	header http.Header
	body   string
}

func (e *env) do(req *http.Request) response {
	e.t.Helper()
	res, err := e.client.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return response{res.StatusCode, res.Header, string(b)}
}

// tokenPost posts form to /oauth/token from the app's origin with a DPoP header ("" for none).
func (e *env) tokenPost(form url.Values, proof string) (int, map[string]any, http.Header) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", appOrigin)
	if proof != "" {
		req.Header.Set("DPoP", proof)
	}
	r := e.do(req)
	var m map[string]any
	if err := json.Unmarshal([]byte(r.body), &m); err != nil {
		e.t.Fatalf("token endpoint answered non-JSON %d: %s", r.status, r.body)
	}
	return r.status, m, r.header
}

func (e *env) get(path string) response {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
	return e.do(req)
}

// postForm posts v as a browser's form would: the login pages' forms carry
// the browser's form token (the csrf cookie), so it is added when v lacks it.
func (e *env) postForm(path string, v url.Values) response {
	e.t.Helper()
	if strings.HasPrefix(path, "/u/") && v.Get("csrf") == "" {
		v2 := url.Values{}
		for k, vals := range v {
			v2[k] = vals
		}
		if c := e.cookie("devtenant_csrf"); c != "" {
			v2.Set("csrf", c)
		}
		v = v2
	}
	return e.postRawForm(path, v)
}

// postRawForm posts v exactly as given.
func (e *env) postRawForm(path string, v url.Values) response {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+path, strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return e.do(req)
}

// cookie is the value of the browser's cookie name for /u/, or "".
func (e *env) cookie(name string) string {
	u, _ := url.Parse(e.srv.URL + "/u/login")
	for _, c := range e.client.Jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// devPost posts to a /dev/ switch the way curl and the tests do.
func (e *env) devPost(path string) response {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+path, nil)
	req.Header.Set(DevHeader, "1")
	return e.do(req)
}

// authorizeParams are the defaults of a silent code request; tests override keys.
func authorizeParams(overrides map[string]string) url.Values {
	v := url.Values{
		"client_id":             {"spa"},
		"redirect_uri":          {appOrigin},
		"response_type":         {"code"},
		"response_mode":         {"web_message"},
		"prompt":                {"none"},
		"state":                 {"st-123"},
		"nonce":                 {"n-456"},
		"scope":                 {"openid profile email"},
		"code_challenge":        {S256(testVerifier)},
		"code_challenge_method": {"S256"},
	}
	for k, val := range overrides {
		if val == "" {
			v.Del(k)
		} else {
			v.Set(k, val)
		}
	}
	return v
}

func (e *env) authorize(overrides map[string]string) response {
	e.t.Helper()
	return e.get("/authorize?" + authorizeParams(overrides).Encode())
}

var (
	targetOriginRE = regexp.MustCompile(`var targetOrigin = (.*);\n`)
	responseRE     = regexp.MustCompile(`type: "authorization_response", response: (.*)};\n`)
)

// webMessage extracts what the page would post; ok is false when the page posts nothing.
func webMessage(body string) (targetOrigin string, resp map[string]any, ok bool) {
	to, rm := targetOriginRE.FindStringSubmatch(body), responseRE.FindStringSubmatch(body)
	if to == nil || rm == nil || !strings.Contains(body, "postMessage(authorizationResponse, targetOrigin)") {
		return "", nil, false
	}
	if json.Unmarshal([]byte(to[1]), &targetOrigin) != nil || json.Unmarshal([]byte(rm[1]), &resp) != nil {
		return "", nil, false
	}
	return targetOrigin, resp, true
}

func (e *env) mustWebMessage(r response) map[string]any {
	e.t.Helper()
	_, resp, ok := webMessage(r.body)
	if r.status != http.StatusOK || !ok {
		e.t.Fatalf("want a 200 web_message page, got %d:\n%s", r.status, r.body)
	}
	return resp
}

var formStateRE = regexp.MustCompile(`name="state" value="([^"]+)"`)

// login runs the interactive flow for email, answering each step the tenant
// asks for, and returns the final answer (the web_message page by default).
func (e *env) login(email string, overrides map[string]string) response {
	e.t.Helper()
	o := map[string]string{"prompt": ""}
	for k, v := range overrides {
		o[k] = v
	}
	r := e.authorize(o)
	for step := 0; step < 6 && r.status == http.StatusFound; step++ {
		loc, _ := url.Parse(r.header.Get("Location"))
		if loc.Host != "" && loc.Host != strings.TrimPrefix(e.srv.URL, "http://") {
			return r // redirect to the application
		}
		page := e.get(loc.RequestURI())
		m := formStateRE.FindStringSubmatch(page.body)
		if m == nil {
			e.t.Fatalf("no form at %s:\n%s", loc.Path, page.body)
		}
		v := url.Values{"state": {m[1]}}
		switch loc.Path {
		case "/u/login":
			v.Set("username", email)
			v.Set("password", DefaultPassword)
		case "/u/mfa":
			v.Set("otp", MFACode)
		case "/u/consent":
			v.Set("decision", "accept")
		}
		r = e.postForm(loc.Path, v)
	}
	return r
}

const testVerifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk-dev-tenant"

// exchange posts a code to /oauth/token as a public SPA would.
func (e *env) exchange(code, verifier, redirectURI string) (int, map[string]any) {
	e.t.Helper()
	r := e.postForm("/oauth/token", url.Values{
		"grant_type": {"authorization_code"}, "client_id": {"spa"}, "code": {code},
		"code_verifier": {verifier}, "redirect_uri": {redirectURI},
	})
	var m map[string]any
	if err := json.Unmarshal([]byte(r.body), &m); err != nil {
		e.t.Fatalf("token endpoint answered non-JSON %d: %s", r.status, r.body)
	}
	return r.status, m
}

// keyfunc reads the tenant's JWKS over HTTP, the way a relying party would.
func (e *env) keyfunc() jwt.Keyfunc {
	e.t.Helper()
	r := e.get("/.well-known/jwks.json")
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal([]byte(r.body), &set); err != nil {
		e.t.Fatalf("JWKS: %v: %s", err, r.body)
	}
	return func(tok *jwt.Token) (any, error) {
		for _, k := range set.Keys {
			if k["kid"] != tok.Header["kid"] {
				continue
			}
			dec := func(s string) *big.Int {
				b, _ := base64.RawURLEncoding.DecodeString(s)
				return new(big.Int).SetBytes(b)
			}
			if k["kty"] == "RSA" {
				return &rsa.PublicKey{N: dec(k["n"]), E: int(dec(k["e"]).Int64())}, nil
			}
			return &ecdsa.PublicKey{Curve: elliptic.P256(), X: dec(k["x"]), Y: dec(k["y"])}, nil
		}
		return nil, jwt.ErrTokenUnverifiable
	}
}

// verifyIDToken checks signature, iss, aud, exp and iat against the tenant's clock.
func (e *env) verifyIDToken(raw, aud string) (jwt.MapClaims, error) {
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(raw, claims, e.keyfunc(),
		jwt.WithIssuer(e.ten.Issuer()), jwt.WithAudience(aud), jwt.WithIssuedAt(),
		jwt.WithExpirationRequired(), jwt.WithTimeFunc(e.clock.Now), jwt.WithValidMethods([]string{"RS256", "ES256"}))
	return claims, err
}

func randomVerifier() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
