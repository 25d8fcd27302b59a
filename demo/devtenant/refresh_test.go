package devtenant

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

const offlineScope = "openid profile email offline_access"

// loginWithRefreshToken logs demo@example.com in with offline_access and
// returns the code exchange's answer.
func (e *env) loginWithRefreshToken(scope string) map[string]any {
	e.t.Helper()
	resp := e.mustWebMessage(e.login("demo@example.com", map[string]string{"scope": scope}))
	code, _ := resp["code"].(string)
	if code == "" {
		e.t.Fatalf("login gave no code: %v", resp)
	}
	status, m := e.exchange(code, testVerifier, appOrigin)
	if status != http.StatusOK {
		e.t.Fatalf("code exchange: %d %v", status, m)
	}
	return m
}

// refresh posts a refresh_token grant as a public SPA would, from the app's origin.
func (e *env) refresh(rt, scope string) (int, map[string]any, http.Header) {
	e.t.Helper()
	v := url.Values{"grant_type": {"refresh_token"}, "client_id": {"spa"}, "refresh_token": {rt}}
	if scope != "" {
		v.Set("scope", scope)
	}
	return e.tokenPost(v, "")
}

func rtOf(m map[string]any) string { s, _ := m["refresh_token"].(string); return s }

func TestRefreshTokenIssuedOnlyForOfflineAccess(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		scope string
		want  bool
	}{
		{"offline_access gives a refresh token", offlineScope, true},
		{"without offline_access no refresh token", "openid profile email", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			m := e.loginWithRefreshToken(tc.scope)
			if got := rtOf(m) != ""; got != tc.want {
				t.Errorf("refresh_token present = %v, want %v (%v)", got, tc.want, m)
			}
		})
	}
	t.Run("a confidential client gets none", func(t *testing.T) {
		e := newEnv(t, func(c *Config) {
			c.Clients = []Client{{ID: "spa", Secret: "s3cret", Callbacks: []string{appOrigin}, WebOrigins: []string{appOrigin}}}
		})
		resp := e.mustWebMessage(e.login("demo@example.com", map[string]string{"scope": offlineScope}))
		r := e.postForm("/oauth/token", url.Values{"grant_type": {"authorization_code"}, "client_id": {"spa"}, "client_secret": {"s3cret"},
			"code": {resp["code"].(string)}, "code_verifier": {testVerifier}, "redirect_uri": {appOrigin}})
		if r.status != 200 || strings.Contains(r.body, "refresh_token") {
			t.Errorf("confidential client: %d %s, want tokens without a refresh token", r.status, r.body)
		}
	})
}

func TestRefreshGrantRotates(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	first := e.loginWithRefreshToken(offlineScope)
	loginClaims, err := e.verifyIDToken(first["id_token"].(string), "spa")
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(10 * time.Minute)
	status, m, h := e.refresh(rtOf(first), "")
	if status != 200 {
		t.Fatalf("refresh: %d %v", status, m)
	}
	if h.Get("Access-Control-Allow-Origin") != appOrigin || h.Get("Cache-Control") != "no-store" {
		t.Errorf("headers %v, want CORS for the app and no-store", h)
	}
	if rtOf(m) == "" || rtOf(m) == rtOf(first) {
		t.Errorf("refresh_token %q, want a new one", rtOf(m))
	}
	if m["access_token"] == "" || m["access_token"] == first["access_token"] || m["scope"] != offlineScope || m["expires_in"] != float64(60) {
		t.Errorf("refresh answer %v", m)
	}
	claims, err := e.verifyIDToken(m["id_token"].(string), "spa")
	if err != nil {
		t.Fatalf("ID token from refresh: %v", err)
	}
	if _, has := claims["nonce"]; has {
		t.Errorf("ID token from refresh carries a nonce: %v", claims)
	}
	for _, c := range []string{"sub", "sid", "auth_time"} {
		if claims[c] != loginClaims[c] {
			t.Errorf("%s = %v, want the login's %v", c, claims[c], loginClaims[c])
		}
	}
	if claims["iat"] == loginClaims["iat"] {
		t.Errorf("iat not renewed")
	}
	// The new token works in turn.
	if status, m2, _ := e.refresh(rtOf(m), ""); status != 200 || rtOf(m2) == rtOf(m) {
		t.Errorf("second rotation: %d %v", status, m2)
	}
	if s := e.ten.Stats(); s.RefreshGrants != 2 || s.TokenExchanges != 1 {
		t.Errorf("stats %+v, want 2 refresh grants and 1 code exchange", s)
	}
}

func TestRefreshTokenReuseRevokesTheFamily(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	first := rtOf(e.loginWithRefreshToken(offlineScope))
	_, m, _ := e.refresh(first, "")
	second := rtOf(m)
	_, m, _ = e.refresh(second, "")
	third := rtOf(m)
	other := rtOf(e.loginWithRefreshToken(offlineScope)) // another login: another family

	status, m, _ := e.refresh(first, "") // reuse of a rotated token
	if status != 403 || m["error"] != "invalid_grant" {
		t.Fatalf("reuse: %d %v, want 403 invalid_grant", status, m)
	}
	if strings.Contains(m["error_description"].(string), first) {
		t.Errorf("description echoes the token: %v", m)
	}
	if status, m, _ := e.refresh(third, ""); status != 403 || m["error"] != "invalid_grant" {
		t.Errorf("current token of the revoked family: %d %v, want invalid_grant", status, m)
	}
	if status, m, _ := e.refresh(other, ""); status != 200 {
		t.Errorf("another login's family was revoked too: %d %v", status, m)
	}
	if s := e.ten.Stats(); s.RefreshReuses != 1 {
		t.Errorf("RefreshReuses = %d, want 1", s.RefreshReuses)
	}
}

func TestRefreshTokenLifetime(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		steps   []time.Duration // each: advance, then refresh
		wantOK  []bool
		absLife time.Duration
		idle    time.Duration
	}{
		{"rotation does not extend the absolute lifetime", []time.Duration{40 * time.Minute, 40 * time.Minute}, []bool{true, false}, time.Hour, 30 * time.Minute * 3},
		{"an idle family expires", []time.Duration{20 * time.Minute, 31 * time.Minute}, []bool{true, false}, 10 * time.Hour, 30 * time.Minute},
		{"use inside the idle window keeps it alive", []time.Duration{25 * time.Minute, 25 * time.Minute, 25 * time.Minute}, []bool{true, true, true}, 10 * time.Hour, 30 * time.Minute},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(c *Config) { c.RefreshTokenLifetime, c.RefreshTokenIdleLifetime = tc.absLife, tc.idle })
			rt := rtOf(e.loginWithRefreshToken(offlineScope))
			for i, d := range tc.steps {
				e.clock.Advance(d)
				status, m, _ := e.refresh(rt, "")
				if ok := status == 200; ok != tc.wantOK[i] {
					t.Fatalf("step %d after %v: %d %v, want ok=%v", i, d, status, m, tc.wantOK[i])
				}
				if status != 200 && m["error"] != "invalid_grant" {
					t.Errorf("expired: %v, want invalid_grant", m)
				}
				rt = rtOf(m)
			}
		})
	}
}

func TestExpiredFamiliesAreDroppedAtTheNextLogin(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.RefreshTokenLifetime = time.Hour })
	e.loginWithRefreshToken(offlineScope)
	e.clock.Advance(2 * time.Hour)
	e.loginWithRefreshToken(offlineScope)
	e.ten.mu.Lock()
	n := len(e.ten.refresh)
	e.ten.mu.Unlock()
	if n != 1 {
		t.Errorf("%d refresh tokens kept, want only the new login's", n)
	}
}

func TestRefreshScopeMayNarrowNeverWiden(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		scope     string
		status    int
		wantScope string
		wantError string
	}{
		{"no scope keeps the granted scope", "", 200, offlineScope, ""},
		{"a narrower scope is granted", "openid offline_access", 200, "openid offline_access", ""},
		{"a scope never granted is refused", "openid read:admin", 403, "", "invalid_scope"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			rt := rtOf(e.loginWithRefreshToken(offlineScope))
			status, m, _ := e.refresh(rt, tc.scope)
			if status != tc.status || (tc.wantScope != "" && m["scope"] != tc.wantScope) || (tc.wantError != "" && m["error"] != tc.wantError) {
				t.Fatalf("got %d %v, want %d scope %q error %q", status, m, tc.status, tc.wantScope, tc.wantError)
			}
			if status != 200 {
				return
			}
			// Narrowing once does not narrow the next refresh.
			if _, m, _ := e.refresh(rtOf(m), ""); m["scope"] != offlineScope {
				t.Errorf("next refresh scope %v, want the granted %q", m["scope"], offlineScope)
			}
		})
	}
}

func TestEndingTheSessionRevokesRefreshTokens(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		end     func(e *env)
		revoked bool
	}{
		{"logout", func(e *env) { e.get("/v2/logout") }, true},
		{"POST /dev/end-sessions", func(e *env) { e.devPost("/dev/end-sessions") }, true},
		{"an expired session leaves refresh tokens working", func(e *env) { e.ten.ExpireSessions() }, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			rt := rtOf(e.loginWithRefreshToken(offlineScope))
			tc.end(e)
			status, m, _ := e.refresh(rt, "")
			if revoked := status == 403 && m["error"] == "invalid_grant"; revoked != tc.revoked {
				t.Errorf("after %s: %d %v, want revoked=%v", tc.name, status, m, tc.revoked)
			}
		})
	}
}

func TestRefreshGrantRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rt := rtOf(e.loginWithRefreshToken(offlineScope))
	if status, m, _ := e.refresh("not-a-token", ""); status != 403 || m["error"] != "invalid_grant" {
		t.Errorf("unknown token: %d %v", status, m)
	}
	r := e.postForm("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "client_id": {"third-party-spa"}, "refresh_token": {rt}})
	if r.status != 403 || !strings.Contains(r.body, "invalid_grant") {
		t.Errorf("another client's token: %d %s", r.status, r.body)
	}
}

// revoke posts an RFC 7009 revocation as a public SPA would.
func (e *env) revoke(token, client string) response {
	e.t.Helper()
	v := url.Values{"token": {token}, "token_type_hint": {"refresh_token"}, "client_id": {client}}
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/oauth/revoke", strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", appOrigin)
	return e.do(req)
}

func TestRevocationKillsTheRefreshTokenFamily(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		client     string
		revokeWith func(first, rotated string) string // which token is revoked
		wantStatus int
		wantDead   bool // the current token is refused afterwards
	}{
		{"revoking the current token kills it", "spa", func(_, cur string) string { return cur }, 200, true},
		{"revoking an earlier token of the family kills the current one", "spa", func(first, _ string) string { return first }, 200, true},
		{"an unknown token is answered 200 and changes nothing", "spa", func(string, string) string { return "no-such-token" }, 200, false},
		{"an unknown client is refused and changes nothing", "nobody", func(_, cur string) string { return cur }, 401, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			first := rtOf(e.loginWithRefreshToken(offlineScope))
			status, m, _ := e.refresh(first, "")
			if status != 200 {
				t.Fatalf("refresh: %d %v", status, m)
			}
			cur := rtOf(m)
			r := e.revoke(tt.revokeWith(first, cur), tt.client)
			if r.status != tt.wantStatus {
				t.Fatalf("revocation answered %d %s, want %d", r.status, r.body, tt.wantStatus)
			}
			if r.status == 200 && r.header.Get("Access-Control-Allow-Origin") != appOrigin {
				t.Errorf("revocation CORS %q, want %q", r.header.Get("Access-Control-Allow-Origin"), appOrigin)
			}
			status, m, _ = e.refresh(cur, "")
			if dead := status != 200; dead != tt.wantDead {
				t.Fatalf("refresh after revocation: %d %v, want refused = %v", status, m, tt.wantDead)
			}
			if tt.wantDead && m["error"] != "invalid_grant" {
				t.Errorf("refused with %v, want invalid_grant", m["error"])
			}
		})
	}
}

func TestDiscoveryAdvertisesRevocation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var d map[string]any
	if err := json.Unmarshal([]byte(e.get("/.well-known/openid-configuration").body), &d); err != nil {
		t.Fatal(err)
	}
	if got, want := d["revocation_endpoint"], e.srv.URL+"/oauth/revoke"; got != want {
		t.Errorf("revocation_endpoint %v, want %v", got, want)
	}
}
