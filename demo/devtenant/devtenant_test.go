package devtenant

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestDiscovery(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		faults      Faults
		wantStatus  int
		wantWebMsg  bool
		wantFieldOK bool
	}{
		{name: "describes Auth0 paths and web_message", wantStatus: 200, wantWebMsg: true, wantFieldOK: true},
		{name: "DiscoveryNotFound answers 404", faults: Faults{DiscoveryNotFound: true}, wantStatus: 404},
		{name: "NoWebMessageInDiscovery drops the mode", faults: Faults{NoWebMessageInDiscovery: true}, wantStatus: 200, wantFieldOK: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.ten.SetFaults(tt.faults)
			r := e.get("/.well-known/openid-configuration")
			if r.status != tt.wantStatus {
				t.Fatalf("status %d, want %d", r.status, tt.wantStatus)
			}
			if got := r.header.Get("Access-Control-Allow-Origin"); got != "*" {
				t.Errorf("Access-Control-Allow-Origin %q, want *", got)
			}
			if r.status != 200 {
				return
			}
			var d map[string]any
			if err := json.Unmarshal([]byte(r.body), &d); err != nil {
				t.Fatal(err)
			}
			base := e.srv.URL
			want := map[string]string{"issuer": base + "/", "authorization_endpoint": base + "/authorize",
				"token_endpoint": base + "/oauth/token", "jwks_uri": base + "/.well-known/jwks.json", "end_session_endpoint": base + "/v2/logout"}
			for k := range want {
				if d[k] != want[k] {
					t.Errorf("%s = %v, want %q", k, d[k], want[k])
				}
			}
			// list is the strings of a list member.
			list := func(k string) []string {
				var l []string
				vs, _ := d[k].([]any)
				for _, v := range vs {
					s, _ := v.(string)
					l = append(l, s)
				}
				return l
			}
			modes, types := list("response_modes_supported"), list("response_types_supported")
			pkce, algs := list("code_challenge_methods_supported"), list("id_token_signing_alg_values_supported")
			dpopAlgs := list("dpop_signing_alg_values_supported")
			if slices.Contains(modes, "web_message") != tt.wantWebMsg {
				t.Errorf("response_modes_supported %v, web_message wanted: %v", modes, tt.wantWebMsg)
			}
			if !slices.Contains(types, "id_token token") || !slices.Contains(types, "code") {
				t.Errorf("response_types_supported %v lacks code or id_token token", types)
			}
			if !slices.Equal(pkce, []string{"S256"}) || !slices.Equal(algs, []string{"RS256", "ES256"}) {
				t.Errorf("PKCE %v, algs %v", pkce, algs)
			}
			if !slices.Equal(dpopAlgs, []string{"ES256"}) {
				t.Errorf("dpop_signing_alg_values_supported %v, want [ES256]", dpopAlgs)
			}
		})
	}
}

func TestWebMessagePagePostsToBareOriginWithEscapedJSON(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	nasty := "</script><script>alert(1)</script>&\u2028\u2029"
	r := e.authorize(map[string]string{"state": nasty, "redirect_uri": appOrigin + "/"})
	target, resp, ok := webMessage(r.body)
	if !ok {
		t.Fatalf("page does not post a response:\n%s", r.body)
	}
	if target != appOrigin {
		t.Errorf("targetOrigin %q, want the bare origin %q", target, appOrigin)
	}
	if resp["error"] != "login_required" || resp["state"] != nasty {
		t.Errorf("response %v, want login_required with the state round-tripped", resp)
	}
	if n := strings.Count(r.body, "</script>"); n != 1 {
		t.Errorf("body has %d </script> tags, want 1: the state escaped its JSON", n)
	}
	for _, raw := range []string{"\u2028", "\u2029", "<script>alert", "&\\u2028"} {
		if strings.Contains(r.body, raw) {
			t.Errorf("body contains %q unescaped", raw)
		}
	}
	if !strings.Contains(r.body, `var webMessageRequest = {};`) || !strings.Contains(r.body, "win.opener || win.parent") {
		t.Error("page lacks the empty relay request or the opener/parent target")
	}
	if csp := r.header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'sha256-") {
		t.Errorf("CSP %q does not pin the inline script", csp)
	}
	if r.header.Get("X-Frame-Options") != "" {
		t.Error("web_message page must stay frameable")
	}
}

func TestAuthorizeRejectsBadRequests(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		params     map[string]string
		wantStatus int
		wantText   string // on the error page, or the OAuth error code delivered to the app
		delivered  bool   // the error reaches the application
	}{
		{name: "unknown client shows a page", params: map[string]string{"client_id": "nope"}, wantStatus: 400, wantText: "Unknown client"},
		{name: "callback mismatch shows a page and never redirects", params: map[string]string{"redirect_uri": "http://evil.test"},
			wantStatus: 403, wantText: "Callback URL mismatch"},
		{name: "unregistered web origin answers 400 and posts nothing", params: map[string]string{"client_id": "spa"},
			wantStatus: 400, wantText: "does not have a registered origin"},
		{name: "implicit without nonce is invalid_request", params: map[string]string{"response_type": "id_token token", "nonce": ""},
			wantStatus: 200, wantText: "invalid_request", delivered: true},
		{name: "public code request without PKCE is invalid_request", params: map[string]string{"code_challenge": ""},
			wantStatus: 200, wantText: "invalid_request", delivered: true},
		{name: "plain PKCE is refused", params: map[string]string{"code_challenge_method": "plain"},
			wantStatus: 200, wantText: "invalid_request", delivered: true},
		{name: "prompt none combined with login is invalid_request", params: map[string]string{"prompt": "none login"},
			wantStatus: 200, wantText: "invalid_request", delivered: true},
		{name: "hybrid response type is unsupported", params: map[string]string{"response_type": "code id_token"},
			wantStatus: 200, wantText: "unsupported_response_type", delivered: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, func(c *Config) {
				if tt.name == "unregistered web origin answers 400 and posts nothing" {
					c.Clients = []Client{{ID: "spa", Callbacks: []string{appOrigin}, WebOrigins: []string{"http://other.test"}}}
				}
			})
			r := e.authorize(tt.params)
			if r.status != tt.wantStatus {
				t.Fatalf("status %d, want %d:\n%s", r.status, tt.wantStatus, r.body)
			}
			_, resp, posted := webMessage(r.body)
			if posted != tt.delivered {
				t.Fatalf("posted a message: %v, want %v:\n%s", posted, tt.delivered, r.body)
			}
			if r.header.Get("Location") != "" {
				t.Errorf("redirected to %q", r.header.Get("Location"))
			}
			if tt.delivered {
				if resp["error"] != tt.wantText || resp["state"] != "st-123" {
					t.Errorf("response %v, want error %q with state", resp, tt.wantText)
				}
			} else if !strings.Contains(r.body, tt.wantText) {
				t.Errorf("page lacks %q:\n%s", tt.wantText, r.body)
			}
		})
	}
}

func TestResponseModesRedirectWithTheSameParameters(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		params     map[string]string
		wantIn     string // "query" or "fragment"
		wantParams []string
	}{
		{name: "code defaults to query", params: map[string]string{"response_mode": ""}, wantIn: "query", wantParams: []string{"error", "error_description", "state"}},
		{name: "implicit defaults to fragment", params: map[string]string{"response_mode": "", "response_type": "id_token token"}, wantIn: "fragment", wantParams: []string{"error", "state"}},
		{name: "explicit fragment for code", params: map[string]string{"response_mode": "fragment"}, wantIn: "fragment", wantParams: []string{"error", "state"}},
		{name: "query is refused for tokens and answered in the fragment", params: map[string]string{"response_mode": "query", "response_type": "token"}, wantIn: "fragment", wantParams: []string{"error"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			r := e.authorize(tt.params)
			if r.status != http.StatusFound {
				t.Fatalf("status %d, want 302", r.status)
			}
			loc, _ := url.Parse(r.header.Get("Location"))
			if got := loc.Scheme + "://" + loc.Host; got != appOrigin {
				t.Fatalf("redirected to %q", loc)
			}
			raw := loc.RawQuery
			if tt.wantIn == "fragment" {
				raw = loc.Fragment
			}
			v, _ := url.ParseQuery(raw)
			for _, p := range tt.wantParams {
				if v.Get(p) == "" {
					t.Errorf("%s lacks %s: %q", tt.wantIn, p, raw)
				}
			}
		})
	}
}

func TestSilentAuthenticationPerUser(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		email     string // "" for no login at all
		client    string
		wantError string
		wantDesc  string
	}{
		{name: "no session is login_required", wantError: "login_required", wantDesc: "Login required"},
		{name: "plain user gets a code", email: "demo@example.com"},
		{name: "MFA on every login cannot be silent", email: "mfa-always@example.com", wantError: "login_required", wantDesc: "Multifactor authentication required"},
		{name: "MFA once per session renews silently", email: "mfa-once@example.com"},
		{name: "pending redirect rule is interaction_required", email: "interaction@example.com", wantError: "interaction_required"},
		{name: "third-party client after consent gets a code", email: "demo@example.com", client: "third-party-spa"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			o := map[string]string{}
			if tt.client != "" {
				o["client_id"] = tt.client
			}
			if tt.email != "" {
				if resp := e.mustWebMessage(e.login(tt.email, o)); resp["code"] == nil {
					t.Fatalf("interactive login answered %v, want a code", resp)
				}
			}
			resp := e.mustWebMessage(e.authorize(o))
			if resp["state"] != "st-123" {
				t.Errorf("state %v not echoed", resp["state"])
			}
			if tt.wantError == "" {
				if resp["code"] == nil || resp["error"] != nil {
					t.Fatalf("silent request answered %v, want a code", resp)
				}
				return
			}
			if resp["error"] != tt.wantError || (tt.wantDesc != "" && resp["error_description"] != tt.wantDesc) {
				t.Errorf("got %v %q, want %s %q", resp["error"], resp["error_description"], tt.wantError, tt.wantDesc)
			}
		})
	}
}

func TestThirdPartyClientNeedsConsentBeforeSilentRenewal(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.mustWebMessage(e.login("demo@example.com", nil)) // session through the first-party client
	third := map[string]string{"client_id": "third-party-spa"}
	if resp := e.mustWebMessage(e.authorize(third)); resp["error"] != "consent_required" || resp["error_description"] != "Consent required" {
		t.Fatalf("got %v, want consent_required", resp)
	}
	// The interactive request goes straight to consent, since the session already exists.
	r := e.authorize(map[string]string{"client_id": "third-party-spa", "prompt": ""})
	if loc := r.header.Get("Location"); !strings.HasPrefix(loc, "/u/consent") {
		t.Fatalf("interactive request went to %q, want the consent page", loc)
	}
	e.mustWebMessage(e.login("demo@example.com", third))
	if resp := e.mustWebMessage(e.authorize(third)); resp["code"] == nil {
		t.Fatalf("after consent got %v, want a code", resp)
	}
	wider := map[string]string{"client_id": "third-party-spa", "scope": "openid profile email offline_access"}
	if resp := e.mustWebMessage(e.authorize(wider)); resp["error"] != "consent_required" {
		t.Errorf("a scope never granted answered %v, want consent_required", resp)
	}
}

func TestMFAStep(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.authorize(map[string]string{"prompt": ""})
	loginURL := r.header.Get("Location")
	state := formStateRE.FindStringSubmatch(e.get(loginURL).body)[1]
	r = e.postForm("/u/login", url.Values{"state": {state}, "username": {"mfa-always@example.com"}, "password": {"demo"}})
	if loc := r.header.Get("Location"); !strings.HasPrefix(loc, "/u/mfa") {
		t.Fatalf("after password went to %q, want the MFA step", loc)
	}
	if r := e.postForm("/u/mfa", url.Values{"state": {state}, "otp": {"000000"}}); r.status != http.StatusUnauthorized {
		t.Errorf("wrong code answered %d, want 401", r.status)
	}
	if resp := e.mustWebMessage(e.postForm("/u/mfa", url.Values{"state": {state}, "otp": {MFACode}})); resp["code"] == nil {
		t.Fatalf("after MFA got %v", resp)
	}
	// With a session, the next interactive login skips the password but not the second factor.
	r = e.authorize(map[string]string{"prompt": ""})
	if loc := r.header.Get("Location"); !strings.HasPrefix(loc, "/u/mfa") {
		t.Errorf("SSO login for mfa-always went to %q, want the MFA step", loc)
	}
}

func TestCodeExchangeWithPKCE(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.mustWebMessage(e.login("demo@example.com", nil))
	code := func() string {
		resp := e.mustWebMessage(e.authorize(nil))
		c, _ := resp["code"].(string)
		if c == "" {
			t.Fatalf("no code: %v", resp)
		}
		return c
	}

	c := code()
	if status, m := e.exchange(c, randomVerifier(), appOrigin); status != 403 || m["error"] != "invalid_grant" {
		t.Errorf("wrong verifier: %d %v, want 403 invalid_grant", status, m)
	}
	if status, m := e.exchange(c, testVerifier, appOrigin); status != 403 || m["error"] != "invalid_grant" {
		t.Errorf("replayed code: %d %v, want 403 invalid_grant", status, m)
	}
	if status, m := e.exchange(code(), testVerifier, appOrigin+"/"); status != 403 || m["error"] != "invalid_grant" {
		t.Errorf("other redirect_uri: %d %v, want invalid_grant", status, m)
	}
	stale := code()
	e.clock.Advance(codeLifetime + time.Second)
	if status, m := e.exchange(stale, testVerifier, appOrigin); status != 403 || m["error"] != "invalid_grant" {
		t.Errorf("expired code: %d %v, want invalid_grant", status, m)
	}

	status, m := e.exchange(code(), testVerifier, appOrigin)
	if status != 200 {
		t.Fatalf("exchange: %d %v", status, m)
	}
	if m["token_type"] != "Bearer" || m["expires_in"] != float64(60) || m["scope"] != "openid profile email" {
		t.Errorf("token response %v", m)
	}
	claims, err := e.verifyIDToken(m["id_token"].(string), "spa")
	if err != nil {
		t.Fatalf("ID token: %v", err)
	}
	if claims["nonce"] != "n-456" || claims["azp"] != "spa" || claims["email"] != "demo@example.com" || claims["auth_time"] == nil {
		t.Errorf("ID token claims %v", claims)
	}
	at := jwt.MapClaims{}
	if _, err := jwt.ParseWithClaims(m["access_token"].(string), at, e.keyfunc(), jwt.WithAudience(e.ten.API()), jwt.WithTimeFunc(e.clock.Now)); err != nil {
		t.Errorf("access token: %v", err)
	}
	if got := e.ten.Stats().TokenExchanges; got != 5 {
		t.Errorf("Stats().TokenExchanges = %d, want 5", got)
	}
}

func TestImplicitResponses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		responseType string
		wantAccess   bool
		wantID       bool
	}{
		{"id_token token", true, true},
		{"token id_token", true, true},
		{"id_token", false, true},
		{"token", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.responseType, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.mustWebMessage(e.login("demo@example.com", nil))
			resp := e.mustWebMessage(e.authorize(map[string]string{"response_type": tt.responseType}))
			at, hasAT := resp["access_token"].(string)
			idt, hasID := resp["id_token"].(string)
			if hasAT != tt.wantAccess || hasID != tt.wantID {
				t.Fatalf("response %v: access %v id %v", resp, hasAT, hasID)
			}
			if hasAT && (resp["token_type"] != "Bearer" || resp["expires_in"] != float64(60)) {
				t.Errorf("token_type %v expires_in %v (%T), want Bearer and the number 60", resp["token_type"], resp["expires_in"], resp["expires_in"])
			}
			if !hasID {
				return
			}
			claims, err := e.verifyIDToken(idt, "spa")
			if err != nil {
				t.Fatal(err)
			}
			if claims["nonce"] != "n-456" {
				t.Errorf("nonce %v", claims["nonce"])
			}
			if want := ""; hasAT {
				want = AtHash(at)
				if claims["at_hash"] != want {
					t.Errorf("at_hash %v, want %v", claims["at_hash"], want)
				}
			} else if claims["at_hash"] != nil {
				t.Errorf("at_hash present without an access token")
			}
		})
	}
}

func TestSessionEnds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		end  func(e *env)
	}{
		{name: "logout", end: func(e *env) {
			r := e.get("/v2/logout?client_id=spa&returnTo=" + url.QueryEscape(appOrigin+"/"))
			if r.status != http.StatusFound || r.header.Get("Location") != appOrigin+"/" {
				e.t.Errorf("logout answered %d to %q, want a redirect to returnTo", r.status, r.header.Get("Location"))
			}
		}},
		{name: "logout with a foreign returnTo still ends the session but does not redirect", end: func(e *env) {
			r := e.get("/v2/logout?client_id=spa&returnTo=" + url.QueryEscape("http://evil.test/"))
			if r.status != http.StatusBadRequest || r.header.Get("Location") != "" {
				e.t.Errorf("answered %d to %q, want a 400 page", r.status, r.header.Get("Location"))
			}
		}},
		{name: "session lifetime passes", end: func(e *env) { e.clock.Advance(DefaultSessionLifetime + time.Second) }},
		{name: "ExpireSessions", end: func(e *env) { e.ten.ExpireSessions() }},
		{name: "EndAllSessions", end: func(e *env) { e.ten.EndAllSessions() }},
		{name: "POST /dev/end-sessions", end: func(e *env) { e.devPost("/dev/end-sessions") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.mustWebMessage(e.login("demo@example.com", nil))
			e.clock.Advance(DefaultSessionLifetime - time.Minute)
			if resp := e.mustWebMessage(e.authorize(nil)); resp["code"] == nil {
				t.Fatalf("before the end: %v", resp)
			}
			tt.end(e)
			if resp := e.mustWebMessage(e.authorize(nil)); resp["error"] != "login_required" {
				t.Errorf("after the end: %v, want login_required", resp)
			}
		})
	}
}

func TestMaxAge(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.mustWebMessage(e.login("demo@example.com", nil))
	e.clock.Advance(30 * time.Second)
	if resp := e.mustWebMessage(e.authorize(map[string]string{"max_age": "60"})); resp["code"] == nil {
		t.Errorf("auth 30s old with max_age=60: %v", resp)
	}
	if resp := e.mustWebMessage(e.authorize(map[string]string{"max_age": "10"})); resp["error"] != "login_required" {
		t.Errorf("auth 30s old with max_age=10: %v, want login_required", resp)
	}
	if r := e.authorize(map[string]string{"prompt": "login"}); !strings.HasPrefix(r.header.Get("Location"), "/u/login") {
		t.Errorf("prompt=login with a session went to %q, want the login page", r.header.Get("Location"))
	}
}

func TestIDTokenFaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		faults  Faults
		wantErr error // from verifyIDToken; nil to check the nonce instead
	}{
		{name: "BadSignature", faults: Faults{BadSignature: true}, wantErr: jwt.ErrTokenSignatureInvalid},
		{name: "WrongAudience", faults: Faults{WrongAudience: true}, wantErr: jwt.ErrTokenInvalidAudience},
		{name: "ExpiredIDToken", faults: Faults{ExpiredIDToken: true}, wantErr: jwt.ErrTokenExpired},
		{name: "WrongNonce", faults: Faults{WrongNonce: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.mustWebMessage(e.login("demo@example.com", nil))
			e.ten.SetFaults(tt.faults)
			resp := e.mustWebMessage(e.authorize(map[string]string{"response_type": "id_token"}))
			claims, err := e.verifyIDToken(resp["id_token"].(string), "spa")
			if tt.wantErr != nil {
				if !errorsIs(err, tt.wantErr) {
					t.Errorf("verify: %v, want %v", err, tt.wantErr)
				}
			} else if err != nil || claims["nonce"] == "n-456" {
				t.Errorf("verify: %v, nonce %v; want a valid token with another nonce", err, claims["nonce"])
			}
			e.ten.SetFaults(Faults{})
			resp = e.mustWebMessage(e.authorize(map[string]string{"response_type": "id_token"}))
			if _, err := e.verifyIDToken(resp["id_token"].(string), "spa"); err != nil {
				t.Errorf("after clearing the fault: %v", err)
			}
		})
	}
}

func errorsIs(err, target error) bool {
	return err != nil && strings.Contains(err.Error(), target.Error())
}

func TestAuthorizePageFaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		faults     Faults
		wantStatus int
		wantPosted bool
		minElapsed time.Duration
	}{
		{name: "AuthorizeStatus500 posts nothing", faults: Faults{AuthorizeStatus500: true}, wantStatus: 500},
		{name: "NoMessage answers 200 and posts nothing", faults: Faults{NoMessage: true}, wantStatus: 200},
		{name: "Delay holds the answer back", faults: Faults{Delay: 150 * time.Millisecond}, wantStatus: 200, wantPosted: true, minElapsed: 150 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.ten.SetFaults(tt.faults)
			start := time.Now()
			r := e.authorize(nil)
			if r.status != tt.wantStatus {
				t.Errorf("status %d, want %d", r.status, tt.wantStatus)
			}
			if _, _, posted := webMessage(r.body); posted != tt.wantPosted || strings.Contains(r.body, "<script") != tt.wantPosted {
				t.Errorf("posted %v, want %v:\n%s", posted, tt.wantPosted, r.body)
			}
			if el := time.Since(start); el < tt.minElapsed {
				t.Errorf("answered after %v, want at least %v", el, tt.minElapsed)
			}
			if s := e.ten.Stats(); s.Authorize != 1 || s.AuthorizePromptNone != 1 {
				t.Errorf("stats %+v, want one prompt=none authorize", s)
			}
		})
	}
}

func TestJWKSAndKeys(t *testing.T) {
	t.Parallel()
	countKeys := func(e *env) int {
		var set struct{ Keys []json.RawMessage }
		_ = json.Unmarshal([]byte(e.get("/.well-known/jwks.json").body), &set)
		return len(set.Keys)
	}
	t.Run("JWKSDown answers 503", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.ten.SetFaults(Faults{JWKSDown: true})
		if r := e.get("/.well-known/jwks.json"); r.status != http.StatusServiceUnavailable {
			t.Errorf("status %d, want 503", r.status)
		}
	})
	t.Run("ES256 client gets EC-signed ID tokens", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, func(c *Config) {
			c.Clients = DefaultClients([]string{appOrigin})
			c.Clients[0].SigningAlg = "ES256"
		})
		e.mustWebMessage(e.login("demo@example.com", nil))
		idt := e.mustWebMessage(e.authorize(map[string]string{"response_type": "id_token"}))["id_token"].(string)
		tok, err := jwt.Parse(idt, e.keyfunc(), jwt.WithTimeFunc(e.clock.Now))
		if err != nil || tok.Method.Alg() != "ES256" {
			t.Errorf("alg %v, err %v; want a valid ES256 token", tok.Method.Alg(), err)
		}
	})
	for _, keepOld := range []bool{true, false} {
		name := "rotation drops the old keys"
		if keepOld {
			name = "graceful rotation keeps the old keys"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.mustWebMessage(e.login("demo@example.com", nil))
			old := e.mustWebMessage(e.authorize(map[string]string{"response_type": "id_token"}))["id_token"].(string)
			if n := countKeys(e); n != 2 {
				t.Fatalf("JWKS has %d keys before rotation, want RSA+EC", n)
			}
			if err := e.ten.RotateKeys(keepOld); err != nil {
				t.Fatal(err)
			}
			wantKeys := map[bool]int{true: 4, false: 2}[keepOld]
			if n := countKeys(e); n != wantKeys {
				t.Errorf("JWKS has %d keys, want %d", n, wantKeys)
			}
			if _, err := e.verifyIDToken(old, "spa"); (err == nil) != keepOld {
				t.Errorf("old token verifies: %v, want %v", err == nil, keepOld)
			}
			fresh := e.mustWebMessage(e.authorize(map[string]string{"response_type": "id_token"}))["id_token"].(string)
			if _, err := e.verifyIDToken(fresh, "spa"); err != nil {
				t.Errorf("new token: %v", err)
			}
		})
	}
}

func TestTokenEndpointCORS(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		method string
		origin string
		want   string
	}{
		{name: "preflight from a web origin is allowed", method: http.MethodOptions, origin: appOrigin, want: appOrigin},
		{name: "preflight from elsewhere is not", method: http.MethodOptions, origin: "http://evil.test", want: ""},
		{name: "POST from a web origin can read the answer", method: http.MethodPost, origin: appOrigin, want: appOrigin},
		{name: "POST from elsewhere cannot", method: http.MethodPost, origin: "http://evil.test", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			body := `{"grant_type":"authorization_code","client_id":"spa","code":"x","code_verifier":"y","redirect_uri":"` + appOrigin + `"}`
			req, _ := http.NewRequest(tt.method, e.srv.URL+"/oauth/token", strings.NewReader(body))
			req.Header.Set("Origin", tt.origin)
			req.Header.Set("Content-Type", "application/json")
			r := e.do(req)
			if got := r.header.Get("Access-Control-Allow-Origin"); got != tt.want {
				t.Errorf("Access-Control-Allow-Origin %q, want %q", got, tt.want)
			}
			if tt.method == http.MethodPost && !strings.Contains(r.body, "invalid_grant") {
				t.Errorf("JSON body was not read as a token request: %d %s", r.status, r.body)
			}
		})
	}
}

func TestPrivateAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.mustWebMessage(e.login("demo@example.com", nil))
	at := e.mustWebMessage(e.authorize(map[string]string{"response_type": "token"}))["access_token"].(string)
	call := func(auth string) response {
		req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/api/private", nil)
		req.Header.Set("Origin", appOrigin)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		return e.do(req)
	}
	r := call("Bearer " + at)
	if r.status != 200 || !strings.Contains(r.body, `"sub"`) || r.header.Get("Access-Control-Allow-Origin") != appOrigin {
		t.Fatalf("valid token: %d %s (CORS %q)", r.status, r.body, r.header.Get("Access-Control-Allow-Origin"))
	}
	e.clock.Advance(DefaultTokenLifetime + time.Second)
	for name, auth := range map[string]string{"expired token": "Bearer " + at, "no token": "", "garbage": "Bearer abc"} {
		r := call(auth)
		if r.status != 401 || !strings.HasPrefix(r.header.Get("WWW-Authenticate"), `Bearer error="invalid_token"`) {
			t.Errorf("%s: %d %q, want 401 with WWW-Authenticate", name, r.status, r.header.Get("WWW-Authenticate"))
		}
	}
}

func TestTokenLifetimeFaultOverridesExpiresIn(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.mustWebMessage(e.login("demo@example.com", nil))
	e.ten.SetFaults(Faults{TokenLifetime: 5 * time.Second})
	if resp := e.mustWebMessage(e.authorize(map[string]string{"response_type": "token"})); resp["expires_in"] != float64(5) {
		t.Errorf("expires_in %v, want 5", resp["expires_in"])
	}
}

func TestDevEndpoints(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	post := func(path, ctype, body string) response {
		req, _ := http.NewRequest(http.MethodPost, e.srv.URL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		if ctype == "" {
			req.Header.Set(DevHeader, "1")
		}
		return e.do(req)
	}
	if r := post("/dev/faults", "text/plain", `{"no_message":true}`); r.status != http.StatusForbidden {
		t.Errorf("text/plain faults: %d, want 403", r.status)
	}
	if r := post("/dev/faults", "application/json", `{"no_mesage":true}`); r.status != http.StatusBadRequest {
		t.Errorf("misspelt fault: %d, want 400", r.status)
	}
	if r := post("/dev/faults", "application/json", `{"no_message":true,"delay":"1ms","token_lifetime":"5s"}`); r.status != 200 {
		t.Fatalf("set faults: %d %s", r.status, r.body)
	}
	if want := (Faults{NoMessage: true, Delay: time.Millisecond, TokenLifetime: 5 * time.Second}); e.ten.Faults() != want {
		t.Errorf("Faults() = %+v, want %+v", e.ten.Faults(), want)
	}
	var got Faults
	if err := json.Unmarshal([]byte(e.get("/dev/faults").body), &got); err != nil || got != e.ten.Faults() {
		t.Errorf("GET /dev/faults = %+v (%v)", got, err)
	}
	e.authorize(nil)
	var stats Stats
	_ = json.Unmarshal([]byte(e.get("/dev/stats").body), &stats)
	if stats.Authorize != 1 || stats.AuthorizePromptNone != 1 {
		t.Errorf("GET /dev/stats = %+v", stats)
	}
	if r := post("/dev/rotate-keys?keep_old=true", "", ""); r.status != http.StatusNoContent {
		t.Errorf("rotate: %d", r.status)
	}
	if r := post("/dev/reset", "", ""); r.status != http.StatusNoContent {
		t.Errorf("reset: %d", r.status)
	}
	if e.ten.Faults() != (Faults{}) || e.ten.Stats() != (Stats{}) {
		t.Errorf("after reset: faults %+v stats %+v", e.ten.Faults(), e.ten.Stats())
	}
}

func TestLoginPageWithWrongPasswordStaysOnTheTenant(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	loc := e.authorize(map[string]string{"prompt": "", "login_hint": "demo@example.com"}).header.Get("Location")
	page := e.get(loc)
	if !strings.Contains(page.body, `value="demo@example.com"`) || !strings.Contains(page.body, "mfa-once@example.com") {
		t.Errorf("login page lacks the hint or the demo users:\n%s", page.body)
	}
	state := formStateRE.FindStringSubmatch(page.body)[1]
	r := e.postForm("/u/login", url.Values{"state": {state}, "username": {"demo@example.com"}, "password": {"nope"}})
	if r.status != http.StatusUnauthorized || r.header.Get("Set-Cookie") != "" {
		t.Errorf("wrong password: %d, cookie %q", r.status, r.header.Get("Set-Cookie"))
	}
	r = e.postForm("/u/login", url.Values{"state": {state}, "username": {"demo@example.com"}, "password": {"demo"}})
	ck := r.header.Get("Set-Cookie")
	for _, want := range []string{"HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=3600"} {
		if !strings.Contains(ck, want) {
			t.Errorf("session cookie %q lacks %s", ck, want)
		}
	}
	if r := e.postForm("/u/login", url.Values{"state": {"unknown"}}); r.status != http.StatusBadRequest {
		t.Errorf("unknown transaction: %d, want 400", r.status)
	}
}

func TestDevSwitchesRefuseCrossSiteAndForeignHosts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	self := e.srv.URL
	tests := []struct {
		name    string
		method  string
		path    string
		header  map[string]string
		host    string // overrides the Host header
		body    string
		want    int
		changes bool // the switch took effect
	}{
		{"a cross-site text/plain POST is refused", "POST", "/dev/faults",
			map[string]string{"Content-Type": "text/plain", "Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}, "", `{"no_message":true}`, 403, false},
		{"a cross-site form POST to reset is refused", "POST", "/dev/reset",
			map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}, "", "", 403, false},
		{"a JSON POST from another origin is refused", "POST", "/dev/faults",
			map[string]string{"Content-Type": "application/json", "Origin": "http://localhost:1"}, "", `{"no_message":true}`, 403, false},
		{"a POST without the dev header or JSON is refused", "POST", "/dev/end-sessions",
			map[string]string{"Content-Type": "text/plain"}, "", "", 403, false},
		{"a rebinding Host is refused, even with the dev header", "POST", "/dev/faults",
			map[string]string{"Content-Type": "application/json", DevHeader: "1"}, "rebind.evil.example", `{"no_message":true}`, 421, false},
		{"a rebinding Host cannot read the stats", "GET", "/dev/stats", nil, "rebind.evil.example", "", 421, false},
		{"a same-site but cross-origin fetch is refused", "POST", "/dev/faults",
			map[string]string{"Content-Type": "application/json", "Sec-Fetch-Site": "same-site"}, "", `{"no_message":true}`, 403, false},
		{"curl's JSON POST works", "POST", "/dev/faults",
			map[string]string{"Content-Type": "application/json"}, "", `{"no_message":true}`, 200, true},
		{"the tenant's own origin may POST", "POST", "/dev/faults",
			map[string]string{"Content-Type": "application/json", "Origin": self, "Sec-Fetch-Site": "same-origin"}, "", `{"no_message":true}`, 200, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.ten.SetFaults(Faults{})
			req, _ := http.NewRequest(tt.method, self+tt.path, strings.NewReader(tt.body))
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			if tt.host != "" {
				req.Host = tt.host
			}
			r := e.do(req)
			if r.status != tt.want {
				t.Fatalf("answered %d %q, want %d", r.status, r.body, tt.want)
			}
			if got := e.ten.Faults().NoMessage; got != tt.changes {
				t.Fatalf("no_message is %v after the request, want %v", got, tt.changes)
			}
		})
	}
}

// TestEveryEndpointRefusesAForeignHost: DNS rebinding points another name
// at this machine, so that a page on that name reads the tenant's answers as
// its own origin's; every endpoint, not only /dev/*, answers 421 to it.
func TestEveryEndpointRefusesAForeignHost(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tests := []struct {
		name, method, path, host string
		want                     int
	}{
		{"discovery on a rebound name", "GET", "/.well-known/openid-configuration", "rebind.evil.example", 421},
		{"the key set on a rebound name", "GET", "/.well-known/jwks.json", "rebind.evil.example:80", 421},
		{"authorize on a rebound name", "GET", "/authorize?client_id=spa", "rebind.evil.example", 421},
		{"the token endpoint on a rebound name", "POST", "/oauth/token", "rebind.evil.example", 421},
		{"revocation on a rebound name", "POST", "/oauth/revoke", "rebind.evil.example", 421},
		{"userinfo on a rebound name", "GET", "/userinfo", "rebind.evil.example", 421},
		{"the home page on a rebound name", "GET", "/", "rebind.evil.example", 421},
		{"discovery on localhost", "GET", "/.well-known/openid-configuration", "localhost:3000", 200},
		{"discovery on 127.0.0.1", "GET", "/.well-known/openid-configuration", "127.0.0.1", 200},
		{"discovery on [::1]", "GET", "/.well-known/openid-configuration", "[::1]:3000", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, e.srv.URL+tt.path, nil)
			req.Host = tt.host
			if r := e.do(req); r.status != tt.want {
				t.Fatalf("answered %d %q, want %d", r.status, r.body, tt.want)
			}
		})
	}
}

func TestLoginFormsNeedTheBrowsersCSRFToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	page := e.get(e.authorize(map[string]string{"prompt": ""}).header.Get("Location"))
	state := formStateRE.FindStringSubmatch(page.body)[1]
	token := e.cookie("devtenant_csrf")
	if token == "" || !strings.Contains(page.body, `name="csrf" value="`+token+`"`) {
		t.Fatalf("the login page has no csrf field matching its cookie %q:\n%s", token, page.body)
	}
	creds := url.Values{"state": {state}, "username": {"demo@example.com"}, "password": {"demo"}}
	with := func(csrf string) url.Values {
		v := url.Values{}
		for k, vals := range creds {
			v[k] = vals
		}
		if csrf != "" {
			v.Set("csrf", csrf)
		}
		return v
	}
	// Another browser (the attacker's page posting into the victim's) has no cookie.
	other := &http.Client{CheckRedirect: e.client.CheckRedirect}
	post := func(c *http.Client, v url.Values) int {
		req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/u/login", strings.NewReader(v.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if got := post(other, with(token)); got != http.StatusForbidden {
		t.Errorf("a login POST without the cookie (cross-site) answered %d, want 403", got)
	}
	if got := post(e.client, with("")); got != http.StatusForbidden {
		t.Errorf("a login POST without the csrf field answered %d, want 403", got)
	}
	if got := post(e.client, with(strings.Repeat("x", len(token)))); got != http.StatusForbidden {
		t.Errorf("a login POST with a wrong csrf field answered %d, want 403", got)
	}
	if e.ten.Stats().Logins != 0 {
		t.Fatalf("a refused POST logged in: %+v", e.ten.Stats())
	}
	if got := post(e.client, with(token)); got == http.StatusForbidden || e.ten.Stats().Logins != 1 {
		t.Errorf("the browser's own form answered %d and logged in %d times, want one login", got, e.ten.Stats().Logins)
	}
}
