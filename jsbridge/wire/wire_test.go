package wire

import (
	"strings"
	"testing"
	"time"

	"github.com/silentauth/silentauth/checksession"
)

// namesOption reports whether err is an invalid_configuration naming option.
func namesOption(err error, option string) bool {
	e, ok := err.(*checksession.Error)
	return ok && e.Code == string(checksession.ErrInvalidConfiguration) && strings.HasPrefix(e.Description, option+":")
}

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
		{"assumeSignedOut belongs to the loader and is accepted", map[string]any{"domain": "d", "clientId": "spa", "assumeSignedOut": false}, ""},
		{"assumeSignedOut that is not a boolean", map[string]any{"domain": "d", "clientId": "spa", "assumeSignedOut": "no"}, "assumeSignedOut"},
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
			if !namesOption(err, tc.option) {
				t.Fatalf("got %v, want invalid_configuration naming %s", err, tc.option)
			}
		})
	}
}

func TestRefreshTokenOptions(t *testing.T) {
	cases := []struct {
		name     string
		raw      map[string]any
		use      bool
		fallback bool
		storage  string
	}{
		{"defaults: off, fallback on, storage left to the client", map[string]any{}, false, true, ""},
		{"useRefreshTokens keeps the fallback by default", map[string]any{"useRefreshTokens": true}, true, true, ""},
		{"useRefreshTokensFallback false turns it off", map[string]any{"useRefreshTokens": true, "useRefreshTokensFallback": false}, true, false, ""},
		{"useRefreshTokensFallback true is the default spelled out", map[string]any{"useRefreshTokens": true, "useRefreshTokensFallback": true}, true, true, ""},
		{"refreshTokenStorage local", map[string]any{"useRefreshTokens": true, "refreshTokenStorage": "local"}, true, true, "local"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.raw["domain"], tc.raw["clientId"] = "d", "spa"
			o, err := ParseOptions(tc.raw)
			if err != nil {
				t.Fatal(err)
			}
			if o.UseRefreshTokens != tc.use || o.RefreshTokensNoFallback == tc.fallback || o.RefreshTokenStorage != tc.storage {
				t.Errorf("use %v no fallback %v storage %q, want %v %v %q", o.UseRefreshTokens, o.RefreshTokensNoFallback, o.RefreshTokenStorage, tc.use, !tc.fallback, tc.storage)
			}
		})
	}
}

func TestAPIOriginsOfTheWrongTypeAreRefused(t *testing.T) {
	_, err := ParseOptions(map[string]any{"domain": "d", "clientId": "spa", "apiOrigins": "https://api.example.com"})
	if !namesOption(err, "apiOrigins") {
		t.Fatalf("got %v", err)
	}
}

// page is a Browser that only knows its origin: enough for NewClient to
// validate options.
type page struct{ checksession.Browser }

func (page) Origin() string { return "https://app.example.com" }

func TestJSErrorNamesTheJSOption(t *testing.T) {
	cases := []struct {
		name string
		o    checksession.Options
		want string // the description's start
	}{
		{"a negative timeout is timeoutInSeconds", checksession.Options{Domain: "d", ClientID: "spa", Timeout: -time.Second}, "timeoutInSeconds: must not be negative"},
		{"a missing client id is clientId", checksession.Options{Domain: "d"}, "clientId: is required"},
		{"a bad jwks URI is jwksUri", checksession.Options{Domain: "d", ClientID: "spa", JWKSURI: "ftp://x"}, "jwksUri: "},
		{"an apiOrigins entry is apiOrigins", checksession.Options{Domain: "d", ClientID: "spa", APIOrigins: []string{"*"}}, "apiOrigins: entry"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := checksession.NewClient(tc.o, page{}, nil)
			got := JSError(err)
			e, ok := got.(*checksession.Error)
			if !ok || !strings.HasPrefix(e.Description, tc.want) {
				t.Fatalf("JSError(%v) = %v, want a description starting %q", err, got, tc.want)
			}
		})
	}
	other := &checksession.Error{Code: string(checksession.ErrTimeout), Description: "Options.Timeout: x"}
	if JSError(other) != error(other) {
		t.Error("an error other than invalid_configuration was changed")
	}
}

func TestParseAuthorizeParams(t *testing.T) {
	p, err := ParseAuthorizeParams(map[string]any{"audience": "https://api", "scope": "openid read", "login_hint": "a@b.c", "max_age": float64(3600), "timeoutInSeconds": 5.0})
	if err != nil {
		t.Fatal(err)
	}
	if p.Audience != "https://api" || p.Scope != "openid read" || p.Timeout != 5*time.Second ||
		p.Extra["login_hint"] != "a@b.c" || p.Extra["max_age"] != "3600" || len(p.Extra) != 2 {
		t.Fatalf("got %+v", p)
	}
	if _, err := ParseAuthorizeParams(map[string]any{"ui_locales": []any{"en"}}); !namesOption(err, "ui_locales") {
		t.Errorf("an array parameter was accepted: %v", err)
	}
	l, err := ParseLogoutParams(map[string]any{"returnTo": "https://app/", "localOnly": true, "federated": true})
	if err != nil || l.ReturnTo != "https://app/" || !l.LocalOnly || l.Extra["federated"] != "true" {
		t.Fatalf("logout params %+v, %v", l, err)
	}
}

func TestResultHasTheJSNamesAndOnlyWhatWasProduced(t *testing.T) {
	at := time.UnixMilli(1_800_000_000_000)
	got := Result(&checksession.AuthResult{IDToken: "h.p.s", IDTokenPayload: map[string]any{"sub": "u"}, ExpiresAt: at, State: "st"})
	if len(got) != 4 || got["idToken"] != "h.p.s" || got["expiresAt"] != at.UnixMilli() || got["state"] != "st" || got["idTokenPayload"] == nil {
		t.Fatalf("got %v", got)
	}
	if _, ok := got["accessToken"]; ok {
		t.Error("an id_token result has an accessToken")
	}
}

func TestRetryAfterCrossesAsWholeSeconds(t *testing.T) {
	cases := []struct {
		name   string
		err    *checksession.Error
		want   int64
		wantOK bool
	}{
		{"no backoff: no property", &checksession.Error{Code: "timeout"}, 0, false},
		{"whole seconds", &checksession.Error{Code: "timeout", RetryAfter: 20 * time.Second}, 20, true},
		{"a part of a second counts as one", &checksession.Error{Code: "timeout", RetryAfter: 1500 * time.Millisecond}, 2, true},
		{"the cap", &checksession.Error{Code: "server_error", RetryAfter: 5 * time.Minute}, 300, true},
		{"nil", nil, 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := RetryAfter(tc.err)
			if got != tc.want || ok != tc.wantOK {
				t.Errorf("RetryAfter = %d, %t; want %d, %t", got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

func TestUnknownOptionSuggestsTheNearestAndTheReadme(t *testing.T) {
	for _, tc := range []struct {
		name, option, want string // want "" : no suggestion
	}{
		{"a dropped letter", "timeoutInSecond", "timeoutInSeconds"},
		{"snake_case for camelCase", "redirect_uri", "redirectUri"},
		{"a wrong case", "redirectURI", "redirectUri"},
		{"a wrong word", "useRefreshToken", "useRefreshTokens"},
		{"another SDK's option with no near match", "cacheLocation", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseOptions(map[string]any{"domain": "d", "clientId": "spa", tc.option: "x"})
			e, ok := err.(*checksession.Error)
			if !ok || e.Code != "invalid_configuration" || !strings.HasPrefix(e.Description, tc.option+": is not an option") {
				t.Fatalf("got %v", err)
			}
			if !strings.Contains(e.Description, `README, section "Options, errors and events"`) || strings.Contains(e.Description, "docs/API.md") {
				t.Errorf("should point to the README's section, which the package carries: %q", e.Description)
			}
			got := ""
			if _, after, found := strings.Cut(e.Description, `did you mean "`); found {
				got, _, _ = strings.Cut(after, `"`)
			}
			if got != tc.want {
				t.Errorf("suggested %q, want %q: %q", got, tc.want, e.Description)
			}
		})
	}
}
