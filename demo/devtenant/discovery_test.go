package devtenant

import (
	"encoding/json"
	"net/url"
	"slices"
	"testing"
)

// Discovery is what a client reads to decide what to ask for; a grant or
// scope the tenant serves but does not list makes a standards-following
// client refuse a feature that works.
func TestDiscoveryListsWhatTheTenantServes(t *testing.T) {
	e := newEnv(t)
	var d struct {
		Grants []string `json:"grant_types_supported"`
		Scopes []string `json:"scopes_supported"`
	}
	if err := json.Unmarshal([]byte(e.get("/.well-known/openid-configuration").body), &d); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"authorization_code", "implicit", "refresh_token"} {
		if !slices.Contains(d.Grants, want) {
			t.Errorf("grant_types_supported %v lacks %s", d.Grants, want)
		}
	}
	if !slices.Contains(d.Scopes, "offline_access") {
		t.Errorf("scopes_supported %v lacks offline_access", d.Scopes)
	}
	// Every token-endpoint grant listed is one the endpoint knows: a bad
	// request for it is about its parameters, never unsupported_grant_type.
	for _, g := range d.Grants {
		if g == "implicit" {
			continue // answered at /authorize, not at the token endpoint
		}
		r := e.postForm("/oauth/token", url.Values{"grant_type": {g}, "client_id": {"spa"}})
		if errorOf(r.body) == "unsupported_grant_type" {
			t.Errorf("discovery lists %s, but the token endpoint answers %s", g, r.body)
		}
	}
	// The listing is not everything: a grant the tenant lacks is refused.
	r := e.postForm("/oauth/token", url.Values{"grant_type": {"password"}, "client_id": {"spa"}})
	if errorOf(r.body) != "unsupported_grant_type" {
		t.Errorf("grant_type=password: %s, want unsupported_grant_type", r.body)
	}
}

func errorOf(body string) string {
	var b struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal([]byte(body), &b)
	return b.Error
}
