package nodeop

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// tokenAnswer is a token endpoint's JSON answer with its status and CORS header.
type tokenAnswer struct {
	Status int
	CORS   string
	Body   map[string]any
}

func (a tokenAnswer) str(k string) string { s, _ := a.Body[k].(string); return s }

// postToken calls the token endpoint as fetch from the app's page does.
func postToken(t *testing.T, d discovery, form url.Values) tokenAnswer {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, d.TokenEndpoint, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", appOrigin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	a := tokenAnswer{Status: resp.StatusCode, CORS: resp.Header.Get("Access-Control-Allow-Origin")}
	if err := json.Unmarshal(body, &a.Body); err != nil {
		t.Fatalf("token endpoint: %s, not JSON: %s", resp.Status, body)
	}
	return a
}

func refreshForm(rt string) url.Values {
	return url.Values{"grant_type": {"refresh_token"}, "client_id": {"spa"}, "refresh_token": {rt}}
}

func TestCodeExchangeGivesARefreshTokenOnlyWhenOfflineAccessWasAsked(t *testing.T) {
	p := op(t)
	d := discover(t, p)
	cases := []struct {
		name   string
		scope  string
		silent bool
		want   bool
	}{
		{"interactive login with offline_access and no prompt=consent", "openid email profile offline_access", false, true},
		{"interactive login without offline_access", "openid email profile", false, false},
		{"prompt=none with offline_access", "openid email profile offline_access", true, true},
		{"prompt=none without offline_access", "openid email profile", true, false},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			user := "rt-issue-" + string(rune('a'+i))
			jar, form := loginWithScope(t, p, d, user, tc.scope)
			if tc.silent {
				pk := newPKCE()
				q := silentParams(pk, tc.scope)
				wm := authorizeWebMessage(t, newClient(t, p.Issuer(), jar), d.AuthorizationEndpoint, q)
				code, _ := wm.Response["code"].(string)
				if code == "" {
					t.Fatalf("silent request: %v, want a code", wm.Response)
				}
				form = url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {q.Get("redirect_uri")},
					"client_id": {"spa"}, "code_verifier": {pk.verifier}}
			}
			a := postToken(t, d, form)
			if a.Status != http.StatusOK || a.CORS != appOrigin {
				t.Fatalf("code exchange: %d CORS %q %v", a.Status, a.CORS, a.Body)
			}
			if got := a.str("refresh_token") != ""; got != tc.want {
				t.Errorf("refresh_token present = %v, want %v (%v)", got, tc.want, a.Body)
			}
		})
	}
}

func TestRefreshTokenRotatesAndReuseRevokesTheGrant(t *testing.T) {
	p := op(t)
	d := discover(t, p)
	_, form := loginWithScope(t, p, d, "rt-rotate", "openid email profile offline_access")
	login := postToken(t, d, form)
	first := login.str("refresh_token")
	if first == "" {
		t.Fatalf("code exchange gave no refresh token: %v", login.Body)
	}

	second := postToken(t, d, refreshForm(first))
	if second.Status != http.StatusOK || second.CORS != appOrigin {
		t.Fatalf("refresh: %d CORS %q %v", second.Status, second.CORS, second.Body)
	}
	rt2 := second.str("refresh_token")
	if rt2 == "" || rt2 == first {
		t.Errorf("refresh_token after a refresh = %q, want a new one (rotateRefreshToken)", rt2)
	}
	if second.str("access_token") == "" || second.str("id_token") == "" {
		t.Errorf("refresh answer %v lacks an access or ID token", second.Body)
	}
	loginClaims, claims := jwtClaims(t, login.str("id_token")), jwtClaims(t, second.str("id_token"))
	// The provider puts neither sid nor auth_time in these ID tokens, and it
	// copies the login's nonce into the refreshed one (see README.md).
	for _, c := range []string{"sub", "iss", "aud", "nonce"} {
		if claims[c] != loginClaims[c] {
			t.Errorf("refreshed ID token %s = %v, want the login's %v", c, claims[c], loginClaims[c])
		}
	}

	reused := postToken(t, d, refreshForm(first))
	if reused.Status != http.StatusBadRequest || reused.str("error") != "invalid_grant" {
		t.Errorf("the rotated token again: %d %v, want 400 invalid_grant", reused.Status, reused.Body)
	}
	if strings.Contains(reused.str("error_description"), first) {
		t.Errorf("the description quotes the token: %v", reused.Body)
	}
	if after := postToken(t, d, refreshForm(rt2)); after.str("error") != "invalid_grant" {
		t.Errorf("the newest token after a reuse: %d %v, want invalid_grant (the grant is revoked)", after.Status, after.Body)
	}
}

func TestRefreshScopeMayNarrowNotWiden(t *testing.T) {
	p := op(t)
	d := discover(t, p)
	_, form := loginWithScope(t, p, d, "rt-scope", "openid email profile offline_access")
	rt := postToken(t, d, form).str("refresh_token")
	f := refreshForm(rt)
	f.Set("scope", "openid read:admin")
	if a := postToken(t, d, f); a.str("error") != "invalid_scope" {
		t.Errorf("wider scope: %d %v, want invalid_scope", a.Status, a.Body)
	}
	f.Set("scope", "openid")
	if a := postToken(t, d, f); a.Status != http.StatusOK || a.str("scope") != "openid" {
		t.Errorf("narrower scope: %d %v, want 200 with scope openid", a.Status, a.Body)
	}
}
