package checksession

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestValidateOptions(t *testing.T) {
	leeway := func(s int) *time.Duration { d := time.Duration(s) * time.Second; return &d }
	cases := []struct {
		name string
		o    Options
		code string
		want string // substring of the description
	}{
		{"domain is required", Options{ClientID: "spa"}, "invalid_configuration", "Options.Domain: is required"},
		{"clientId is required", Options{Domain: "d"}, "invalid_configuration", "Options.ClientID: is required"},
		{"domain with a bad scheme", Options{Domain: "ftp://d", ClientID: "spa"}, "invalid_configuration", `Options.Domain: must be an https:// URL, got scheme "ftp"`},
		{"domain with a query", Options{Domain: "https://d/?x=1", ClientID: "spa"}, "invalid_configuration", "Options.Domain: must be a base URL"},
		{"unknown response type", Options{Domain: "d", ClientID: "spa", ResponseType: "code token"}, "invalid_configuration", "Options.ResponseType"},
		{"redirectUri on another origin", Options{Domain: "d", ClientID: "spa", RedirectURI: "https://other.example/cb"}, "origin_mismatch", "not on the page's origin"},
		{"redirectUri on another port", Options{Domain: "d", ClientID: "spa", RedirectURI: pageOrigin + ":8443/"}, "origin_mismatch", ""},
		{"leeway above 300", Options{Domain: "d", ClientID: "spa", Leeway: leeway(301)}, "invalid_configuration", "Options.Leeway: must be between 0 and 300 seconds"},
		{"leeway of 0 is allowed", Options{Domain: "d", ClientID: "spa", Leeway: leeway(0)}, "", ""},
		{"issuer override must be a URL", Options{Domain: "d", ClientID: "spa", Issuer: "not a url"}, "invalid_configuration", "Options.Issuer"},
		{"refreshTokenStorage other than memory or local", Options{Domain: "d", ClientID: "spa", UseRefreshTokens: true, RefreshTokenStorage: "localstorage"}, "invalid_configuration", `Options.RefreshTokenStorage: must be "memory" or "local", got "localstorage"`},
		{"useRefreshTokens with an implicit response type", Options{Domain: "d", ClientID: "spa", UseRefreshTokens: true, ResponseType: "id_token token"}, "invalid_configuration", `Options.UseRefreshTokens: needs ResponseType "code"`},
		{"useRefreshTokens with local storage", Options{Domain: "d", ClientID: "spa", UseRefreshTokens: true, RefreshTokenStorage: "local"}, "", ""},
		{"negative timeout names the Go field", Options{Domain: "d", ClientID: "spa", Timeout: -time.Second}, "invalid_configuration", "Options.Timeout: must not be negative"},
		{"zero timeout takes the default", Options{Domain: "d", ClientID: "spa", Timeout: 0}, "", ""},
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
			if e, ok := err.(*Error); ok {
				checkOptionError(t, e)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	s, err := Options{Domain: "login.example.com/", ClientID: "spa"}.validate(pageOrigin)
	if err != nil {
		t.Fatal(err)
	}
	if s.domain.String() != "https://login.example.com" || s.ResponseType != "code" || s.Scope != defaultScope ||
		s.RedirectURI != pageOrigin || s.timeout != 60*time.Second || s.leeway != 60*time.Second ||
		!s.autoRenew || s.renewBeforeExpiry != 60*time.Second {
		t.Fatalf("defaults wrong: %+v", s)
	}
}

func TestRefreshTokenOptions(t *testing.T) {
	for _, tc := range []struct {
		name     string
		o        Options
		fallback bool
		storage  string
	}{
		{"defaults: fallback on, memory", Options{UseRefreshTokens: true}, true, "memory"},
		{"RefreshTokensNoFallback turns the fallback off", Options{UseRefreshTokens: true, RefreshTokensNoFallback: true}, false, "memory"},
		{"local storage", Options{UseRefreshTokens: true, RefreshTokenStorage: RefreshTokenStorageLocal}, true, "local"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.Domain, tc.o.ClientID = "d", "spa"
			s, err := tc.o.validate(pageOrigin)
			if err != nil {
				t.Fatal(err)
			}
			if s.refreshFallback() != tc.fallback || s.RefreshTokenStorage != tc.storage {
				t.Errorf("fallback %v storage %q, want %v %q", s.refreshFallback(), s.RefreshTokenStorage, tc.fallback, tc.storage)
			}
		})
	}
}

// checkOptionError: an error that names an option carries it (Option), as
// a field Options has, and says the same problem to Go callers and to the
// JS bridge, which names the field its own way.
func checkOptionError(t *testing.T, e *Error) {
	t.Helper()
	field, problem := e.Option()
	if field == "" {
		if strings.HasPrefix(e.Description, "Options.") {
			t.Errorf("%q names an option it does not carry", e.Description)
		}
		return
	}
	if _, ok := reflect.TypeOf(Options{}).FieldByName(field); !ok {
		t.Errorf("the error is about Options.%s, which does not exist", field)
	}
	if e.Description != "Options."+field+": "+problem {
		t.Errorf("description %q, problem for JS %q: they differ", e.Description, problem)
	}
}
