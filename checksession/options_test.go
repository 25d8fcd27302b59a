package checksession

import (
	"strings"
	"testing"
	"time"
)

func TestParseOptionsNamesTheBadOption(t *testing.T) {
	cases := []struct {
		name   string
		raw    map[string]any
		option string // named in the error; "" means valid
	}{
		{"minimal options are valid", map[string]any{"domain": "login.example.com", "clientId": "spa"}, ""},
		{"auth0.js spelling clientID is accepted", map[string]any{"domain": "login.example.com", "clientID": "spa"}, ""},
		{"unknown option is refused", map[string]any{"domain": "d", "clientId": "spa", "redirect_uri": "x"}, "redirect_uri"},
		{"typo in an option is refused", map[string]any{"domain": "d", "clientId": "spa", "timeoutInSecond": 5.0}, "timeoutInSecond"},
		{"domain of the wrong type", map[string]any{"domain": 42.0, "clientId": "spa"}, "domain"},
		{"timeout that is not a number", map[string]any{"domain": "d", "clientId": "spa", "timeoutInSeconds": "60"}, "timeoutInSeconds"},
		{"negative timeout", map[string]any{"domain": "d", "clientId": "spa", "timeoutInSeconds": -1.0}, "timeoutInSeconds"},
		{"autoRenew that is not a boolean", map[string]any{"domain": "d", "clientId": "spa", "autoRenew": "yes"}, "autoRenew"},
		{"conflicting client ids", map[string]any{"domain": "d", "clientId": "a", "clientID": "b"}, "clientID"},
		{"wasmUrl belongs to the loader and is accepted", map[string]any{"domain": "d", "clientId": "spa", "wasmUrl": "/x.wasm"}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseOptions(tc.raw)
			if tc.option == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if errCode(err) != "invalid_configuration" || !strings.HasPrefix(err.(*Error).Description, tc.option+":") {
				t.Fatalf("got %v, want invalid_configuration naming %s", err, tc.option)
			}
		})
	}
}

func TestValidateOptions(t *testing.T) {
	leeway := func(s int) *time.Duration { d := time.Duration(s) * time.Second; return &d }
	cases := []struct {
		name string
		o    Options
		code string
		want string // substring of the description
	}{
		{"domain is required", Options{ClientID: "spa"}, "invalid_configuration", "domain: is required"},
		{"clientId is required", Options{Domain: "d"}, "invalid_configuration", "clientId: is required"},
		{"domain with a bad scheme", Options{Domain: "ftp://d", ClientID: "spa"}, "invalid_configuration", `domain: must be an https:// URL, got scheme "ftp"`},
		{"domain with a query", Options{Domain: "https://d/?x=1", ClientID: "spa"}, "invalid_configuration", "domain: must be a base URL"},
		{"unknown response type", Options{Domain: "d", ClientID: "spa", ResponseType: "code token"}, "invalid_configuration", "responseType"},
		{"redirectUri on another origin", Options{Domain: "d", ClientID: "spa", RedirectURI: "https://other.example/cb"}, "origin_mismatch", "not on the page's origin"},
		{"redirectUri on another port", Options{Domain: "d", ClientID: "spa", RedirectURI: pageOrigin + ":8443/"}, "origin_mismatch", ""},
		{"leeway above 300", Options{Domain: "d", ClientID: "spa", Leeway: leeway(301)}, "invalid_configuration", "leewayInSeconds"},
		{"leeway of 0 is allowed", Options{Domain: "d", ClientID: "spa", Leeway: leeway(0)}, "", ""},
		{"issuer override must be a URL", Options{Domain: "d", ClientID: "spa", Issuer: "not a url"}, "invalid_configuration", "issuer"},
		{"redirectUri on the page's origin", Options{Domain: "d", ClientID: "spa", RedirectURI: pageOrigin + "/callback"}, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := tc.o.validate(pageOrigin)
			if errCode(err) != tc.code || (err != nil && !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("got %v, want %s containing %q", err, tc.code, tc.want)
			}
			if err == nil && s.RedirectURI == "" {
				t.Error("no redirect URI")
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	s, err := Options{Domain: "login.example.com/", ClientID: "spa"}.validate(pageOrigin)
	if err != nil {
		t.Fatal(err)
	}
	if s.domain.String() != "https://login.example.com" || s.ResponseType != "code" || s.Scope != DefaultScope ||
		s.RedirectURI != pageOrigin || s.timeout != 60*time.Second || s.leeway != 60*time.Second ||
		!s.autoRenew || s.renewBeforeExpiry != 60*time.Second {
		t.Fatalf("defaults wrong: %+v", s)
	}
}
