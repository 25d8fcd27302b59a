package wire

import (
	"errors"
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/silentauth/silentauth/checksession"
	"github.com/silentauth/silentauth/checksession/platform"
	"github.com/silentauth/silentauth/internal/apidoc"
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
		{"both spellings of one client id are accepted", map[string]any{"domain": "d", "clientId": "a", "clientID": "a"}, ""},
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
type page struct{ platform.Browser }

func (page) Origin() string { return "https://app.example.com" }

// TestEveryOptionOfTheWrongTypeIsNamedInJS: for every option in the
// table, a value no option takes (an object) is refused naming the option
// as the page wrote it.
func TestEveryOptionOfTheWrongTypeIsNamedInJS(t *testing.T) {
	for _, opt := range options {
		t.Run(opt.js, func(t *testing.T) {
			raw := map[string]any{"domain": "d", "clientId": "spa", opt.js: map[string]any{}}
			_, err := ParseOptions(raw)
			if !namesOption(err, opt.js) || strings.Contains(err.Error(), "not an option") {
				t.Fatalf("got %v, want invalid_configuration naming %s", err, opt.js)
			}
		})
	}
}

// goodValue is a value of kind k that is not the zero Options' value.
func goodValue(k kind) any {
	switch k {
	case seconds:
		return 7.0
	case flag:
		return true
	case notFlag:
		return false
	case textList:
		return []any{"https://api.example.com"}
	}
	return "x"
}

// TestTheTableCoversOptions: every Go name in the table is an Options field
// that its JS option sets, and every Options field a page can set has a JS
// option, so that JSError can name any field.
func TestTheTableCoversOptions(t *testing.T) {
	named := map[string]bool{}
	for _, opt := range options {
		if opt.goName == "" {
			continue
		}
		named[opt.goName] = true
		t.Run(opt.js, func(t *testing.T) {
			if _, ok := reflect.TypeOf(checksession.Options{}).FieldByName(opt.goName); !ok {
				t.Fatalf("%s sets Options.%s, which does not exist", opt.js, opt.goName)
			}
			o, err := ParseOptions(map[string]any{opt.js: goodValue(opt.kind)})
			if err != nil {
				t.Fatal(err)
			}
			if reflect.ValueOf(o).FieldByName(opt.goName).IsZero() {
				t.Errorf("%s did not set Options.%s", opt.js, opt.goName)
			}
		})
	}
	// Not options a page passes: the loader's marker key, and Go callbacks.
	notFromJS := map[string]bool{"MarkerKey": true, "Logger": true, "OnEvent": true}
	for _, f := range reflect.VisibleFields(reflect.TypeOf(checksession.Options{})) {
		if !named[f.Name] && !notFromJS[f.Name] {
			t.Errorf("Options.%s has no JS option in the table", f.Name)
		}
	}
}

// TestTheTableIsTheDeclaredOptions: the table's JS names are the options
// silentauth.d.ts declares, no more and no fewer.
func TestTheTableIsTheDeclaredOptions(t *testing.T) {
	src, err := os.ReadFile("../../wasm/loader/silentauth.d.ts")
	if err != nil {
		t.Fatal(err)
	}
	dts, err := apidoc.ParseDTS(string(src))
	if err != nil {
		t.Fatal(err)
	}
	var table []string
	for _, opt := range options {
		table = append(table, opt.js)
	}
	sort.Strings(table)
	if want := dts.Sorted(apidoc.Options); !slices.Equal(table, want) {
		t.Errorf("wire's options %v, silentauth.d.ts declares %v", table, want)
	}
}

// TestABadOptionIsNamedAsEachCallerWroteIt: the options a page passes and
// the same Options a Go caller writes fail alike; the Go caller reads the
// Go field and the page the JS option, each with the same problem.
func TestABadOptionIsNamedAsEachCallerWroteIt(t *testing.T) {
	cases := []struct {
		name   string
		raw    map[string]any // besides a valid domain and clientId
		code   checksession.Code
		goName string
		js     string
	}{
		{"no domain", map[string]any{"domain": ""}, checksession.ErrInvalidConfiguration, "Domain", "domain"},
		{"a domain with a query", map[string]any{"domain": "https://d/?x=1"}, checksession.ErrInvalidConfiguration, "Domain", "domain"},
		{"no client id", map[string]any{"clientId": ""}, checksession.ErrInvalidConfiguration, "ClientID", "clientId"},
		{"a relative redirect URI", map[string]any{"redirectUri": "/cb"}, checksession.ErrInvalidConfiguration, "RedirectURI", "redirectUri"},
		{"a redirect URI on another origin", map[string]any{"redirectUri": "https://other.example/cb"}, checksession.ErrOriginMismatch, "RedirectURI", "redirectUri"},
		{"an unknown response type", map[string]any{"responseType": "code token"}, checksession.ErrInvalidConfiguration, "ResponseType", "responseType"},
		{"a leeway above 300 seconds", map[string]any{"leewayInSeconds": 301.0}, checksession.ErrInvalidConfiguration, "Leeway", "leewayInSeconds"},
		{"refresh tokens with an implicit response type", map[string]any{"useRefreshTokens": true, "responseType": "id_token"}, checksession.ErrInvalidConfiguration, "UseRefreshTokens", "useRefreshTokens"},
		{"DPoP with an implicit response type", map[string]any{"useDpop": true, "responseType": "token"}, checksession.ErrInvalidConfiguration, "UseDPoP", "useDpop"},
		{"an unknown refresh token storage", map[string]any{"refreshTokenStorage": "cookie"}, checksession.ErrInvalidConfiguration, "RefreshTokenStorage", "refreshTokenStorage"},
		{"an issuer with a query", map[string]any{"issuer": "https://d/?x=1"}, checksession.ErrInvalidConfiguration, "Issuer", "issuer"},
		{"a javascript authorization endpoint", map[string]any{"authorizationEndpoint": "javascript:alert(1)"}, checksession.ErrInvalidConfiguration, "AuthorizationEndpoint", "authorizationEndpoint"},
		{"an http token endpoint", map[string]any{"tokenEndpoint": "http://d.example/token"}, checksession.ErrInvalidConfiguration, "TokenEndpoint", "tokenEndpoint"},
		{"an ftp jwks URI", map[string]any{"jwksUri": "ftp://d.example/jwks"}, checksession.ErrInvalidConfiguration, "JWKSURI", "jwksUri"},
		{"a data end-session endpoint", map[string]any{"endSessionEndpoint": "data:text/html,x"}, checksession.ErrInvalidConfiguration, "EndSessionEndpoint", "endSessionEndpoint"},
		{"an API origin with a path", map[string]any{"apiOrigins": []any{"https://api.example.com/v1"}}, checksession.ErrInvalidConfiguration, "APIOrigins", "apiOrigins"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			raw := map[string]any{"domain": "login.example.com", "clientId": "spa"}
			for k, v := range tc.raw {
				raw[k] = v
			}
			o, err := ParseOptions(raw)
			if err != nil {
				t.Fatalf("the page's options are refused before the client checks them: %v", err)
			}
			_, err = checksession.NewClient(o, page{}, nil)
			var e *checksession.Error
			if !errors.As(err, &e) || e.Code != string(tc.code) {
				t.Fatalf("got %v, want %s", err, tc.code)
			}
			field, problem := e.Option()
			goPrefix := string(tc.code) + ": Options." + tc.goName + ": "
			if field != tc.goName || problem == "" || e.Error() != goPrefix+problem {
				t.Errorf("a Go caller reads %q (field %q), want %q followed by the problem", e.Error(), field, goPrefix)
			}
			var je *checksession.Error
			if !errors.As(JSError(err), &je) || je.Code != string(tc.code) || je.Description != tc.js+": "+problem {
				t.Errorf("a page reads %v, want %q", JSError(err), tc.js+": "+problem)
			}
		})
	}
	// Negative durations cannot come from JS (the reader refuses them first),
	// only from Go.
	for goName, o := range map[string]checksession.Options{
		"Timeout":              {Timeout: -time.Second},
		"RenewBeforeExpiry":    {RenewBeforeExpiry: ptr(-time.Second)},
		"MinValidity":          {MinValidity: ptr(-time.Second)},
		"SessionCheckInterval": {SessionCheckInterval: -time.Second},
	} {
		t.Run("negative "+goName, func(t *testing.T) {
			o.Domain, o.ClientID = "d", "spa"
			_, err := checksession.NewClient(o, page{}, nil)
			if want := "invalid_configuration: Options." + goName + ": must not be negative"; err == nil || err.Error() != want {
				t.Errorf("a Go caller reads %v, want %q", err, want)
			}
			if want := jsName(goName) + ": must not be negative"; !namesOption(JSError(err), jsName(goName)) || JSError(err).(*checksession.Error).Description != want {
				t.Errorf("a page reads %v, want %q", JSError(err), want)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestJSErrorLeavesOtherErrorsAlone(t *testing.T) {
	for _, err := range []error{
		&checksession.Error{Code: string(checksession.ErrTimeout), Description: "Options.Timeout: x"},
		&checksession.Error{Code: string(checksession.ErrInvalidConfiguration), Description: "prompt: x"},
		checksession.ErrDestroyed,
		errors.New("other"),
	} {
		if JSError(err) != err {
			t.Errorf("%v was changed to %v", err, JSError(err))
		}
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
