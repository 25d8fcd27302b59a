package nodeop

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestGateOutageModesFailOnlyTheirEndpoint(t *testing.T) {
	p, g := gated(t)
	do := func(method, path string) *http.Response {
		req, _ := http.NewRequest(method, p.Issuer()+path, strings.NewReader(url.Values{"grant_type": {"refresh_token"}}.Encode()))
		req.Header.Set("Origin", appOrigin)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		c := http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	g.SetMode(AuthError, 0)
	if s := do("GET", "/auth?client_id=spa&prompt=none").StatusCode; s != 500 {
		t.Errorf("/auth with auth_500: HTTP %d, want 500", s)
	}
	if s := do("GET", "/.well-known/openid-configuration").StatusCode; s != 200 {
		t.Errorf("discovery with auth_500: HTTP %d, want it to pass", s)
	}
	g.SetMode(TokenBusy, 0)
	r := do("POST", "/token")
	if r.StatusCode != 503 || r.Header.Get("Retry-After") != "20" || r.Header.Get("Access-Control-Allow-Origin") != appOrigin ||
		!strings.EqualFold(r.Header.Get("Access-Control-Expose-Headers"), "Retry-After") {
		t.Errorf("/token with token_503: HTTP %d, headers %v; want 503, Retry-After 20, readable by %s", r.StatusCode, r.Header, appOrigin)
	}
	if s := do("GET", "/auth?client_id=spa&prompt=none").StatusCode; s == 500 || s == 503 {
		t.Errorf("/auth with token_503: HTTP %d, want it to pass", s)
	}
}
