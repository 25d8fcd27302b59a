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
		{"refresh-token options are accepted", map[string]any{"domain": "d", "clientId": "spa", "useRefreshTokens": true, "useRefreshTokensFallback": false, "refreshTokenStorage": "local"}, ""},
		{"useRefreshTokens that is not a boolean", map[string]any{"domain": "d", "clientId": "spa", "useRefreshTokens": "true"}, "useRefreshTokens"},
		{"useRefreshTokensFallback that is not a boolean", map[string]any{"domain": "d", "clientId": "spa", "useRefreshTokensFallback": 0.0}, "useRefreshTokensFallback"},
		{"refreshTokenStorage that is not a string", map[string]any{"domain": "d", "clientId": "spa", "refreshTokenStorage": true}, "refreshTokenStorage"},
		{"auth0-spa-js's cacheLocation is not an option here", map[string]any{"domain": "d", "clientId": "spa", "cacheLocation": "localstorage"}, "cacheLocation"},
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
		{"refreshTokenStorage other than memory or local", Options{Domain: "d", ClientID: "spa", UseRefreshTokens: true, RefreshTokenStorage: "localstorage"}, "invalid_configuration", `refreshTokenStorage: must be "memory" or "local", got "localstorage"`},
		{"useRefreshTokens with an implicit response type", Options{Domain: "d", ClientID: "spa", UseRefreshTokens: true, ResponseType: "id_token token"}, "invalid_configuration", `useRefreshTokens: needs responseType "code"`},
		{"useRefreshTokens with local storage", Options{Domain: "d", ClientID: "spa", UseRefreshTokens: true, RefreshTokenStorage: "local"}, "", ""},
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

func TestRefreshTokenOptionsFromJS(t *testing.T) {
	cases := []struct {
		name     string
		raw      map[string]any
		use      bool
		fallback bool
		storage  string
	}{
		{"defaults: off, fallback on, memory", map[string]any{}, false, true, "memory"},
		{"useRefreshTokens keeps the fallback by default", map[string]any{"useRefreshTokens": true}, true, true, "memory"},
		{"useRefreshTokensFallback false turns it off", map[string]any{"useRefreshTokens": true, "useRefreshTokensFallback": false}, true, false, "memory"},
		{"useRefreshTokensFallback true is the default spelled out", map[string]any{"useRefreshTokens": true, "useRefreshTokensFallback": true}, true, true, "memory"},
		{"refreshTokenStorage local", map[string]any{"useRefreshTokens": true, "refreshTokenStorage": "local"}, true, true, "local"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.raw["domain"], tc.raw["clientId"] = "d", "spa"
			o, err := ParseOptions(tc.raw)
			if err != nil {
				t.Fatal(err)
			}
			s, err := o.validate(pageOrigin)
			if err != nil {
				t.Fatal(err)
			}
			if s.UseRefreshTokens != tc.use || (tc.use && s.refreshFallback() != tc.fallback) || s.RefreshTokenStorage != tc.storage {
				t.Errorf("use %v fallback %v storage %q, want %v %v %q", s.UseRefreshTokens, s.refreshFallback(), s.RefreshTokenStorage, tc.use, tc.fallback, tc.storage)
			}
		})
	}
}
