package nodeop

import (
	"net/http"
	"testing"
	"time"
)

func TestAccessTokenLineParsesOnlyItsOwnLines(t *testing.T) {
	for _, c := range []struct {
		line string
		ok   bool
	}{
		{`ACCESS_TOKEN {"jti":"abc","exp":1700000000,"gty":"authorization_code"}`, true},
		{`ACCESS_TOKEN {"jti":"abc"}`, false},
		{`READY http://localhost:1`, false},
		{`ACCESS_TOKEN not json`, false},
	} {
		tok, ok := ParseAccessTokenLine(c.line)
		if ok != c.ok {
			t.Errorf("%q: ok %v, want %v", c.line, ok, c.ok)
		}
		if ok && (tok.Value != "abc" || tok.Exp.Unix() != 1700000000 || tok.Grant != "authorization_code") {
			t.Errorf("%q: %+v", c.line, tok)
		}
	}
}

func TestTokenLinesCarryTheDPoPKey(t *testing.T) {
	if tok, ok := ParseAccessTokenLine(`ACCESS_TOKEN {"jti":"abc","exp":1700000000,"gty":"refresh_token","jkt":"k1"}`); !ok || tok.JKT != "k1" {
		t.Errorf("access token line: %+v %v, want jkt k1", tok, ok)
	}
	for _, c := range []struct {
		line, token, jkt string
		ok               bool
	}{
		{`REFRESH_TOKEN {"jti":"rt1","jkt":"k1"}`, "rt1", "k1", true},
		{`REFRESH_TOKEN {"jti":"rt1"}`, "rt1", "", true},
		{`REFRESH_TOKEN {"jkt":"k1"}`, "", "", false},
		{`ACCESS_TOKEN {"jti":"abc","exp":1700000000}`, "", "", false},
	} {
		token, jkt, ok := ParseRefreshTokenLine(c.line)
		if ok != c.ok || token != c.token || jkt != c.jkt {
			t.Errorf("%q: %q %q %v, want %q %q %v", c.line, token, jkt, ok, c.token, c.jkt, c.ok)
		}
	}
}

func TestGateForwardsRecordsAndGoesDown(t *testing.T) {
	p, g := gated(t)
	get := func() int {
		resp, err := http.Get(p.Issuer() + "/.well-known/openid-configuration")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := get(); s != 200 {
		t.Fatalf("discovery through the gate: HTTP %d", s)
	}
	g.SetMode(Down, 0)
	if s := get(); s != 503 {
		t.Errorf("discovery with the gate down: HTTP %d, want 503", s)
	}
	g.SetMode(Pass, time.Second)
	if s := get(); s != 200 {
		t.Errorf("discovery with the gate back up: HTTP %d", s)
	}
	hits := g.Hits()
	if len(hits) != 3 || hits[1].Mode != Down || hits[1].Status != 503 || hits[2].Status != 200 {
		t.Errorf("hits %+v, want three, the second refused", hits)
	}
}
