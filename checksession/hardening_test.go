package checksession

import (
	"context"
	"encoding/json"
	"errors"
	"github.com/silentauth/silentauth/checksession/idtoken"
	"github.com/silentauth/silentauth/checksession/idtoken/idtokentest"
	"github.com/silentauth/silentauth/checksession/platform"
	"net/url"
	"strings"
	"testing"
)

func TestEndpointOptionsMustBeHTTPSOrLoopbackHTTP(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(*Options)
		option string // named in the error; "" means valid
		detail string // also in the error
	}{
		{"https domain is accepted", func(o *Options) { o.Domain = "https://login.example.com" }, "", ""},
		{"bare domain means https", func(o *Options) { o.Domain = "login.example.com" }, "", ""},
		{"http domain on localhost is accepted", func(o *Options) { o.Domain = "http://localhost:3000" }, "", ""},
		{"http domain on 127.0.0.1 is accepted", func(o *Options) { o.Domain = "http://127.0.0.1:3000" }, "", ""},
		{"http domain on [::1] is accepted", func(o *Options) { o.Domain = "http://[::1]:3000" }, "", ""},
		{"http domain on another host is refused", func(o *Options) { o.Domain = "http://login.example.com" }, "Options.Domain", `host "login.example.com"`},
		{"http domain on a host merely starting with localhost is refused", func(o *Options) { o.Domain = "http://localhost.evil.example" }, "Options.Domain", `host "localhost.evil.example"`},
		{"javascript authorizationEndpoint is refused", func(o *Options) { o.AuthorizationEndpoint = "javascript:alert(document.domain)//" }, "Options.AuthorizationEndpoint", `scheme "javascript"`},
		{"data endSessionEndpoint is refused", func(o *Options) { o.EndSessionEndpoint = "data:text/html,<script>alert(1)</script>" }, "Options.EndSessionEndpoint", `scheme "data"`},
		{"http tokenEndpoint on another host is refused", func(o *Options) { o.TokenEndpoint = "http://login.example.com/oauth/token" }, "Options.TokenEndpoint", "http"},
		{"http jwksUri on localhost is accepted", func(o *Options) { o.JWKSURI = "http://localhost:3000/jwks" }, "", ""},
		{"authorizationEndpoint that does not re-parse is refused", func(o *Options) { o.AuthorizationEndpoint = "http://[::%25é]/authorize" }, "Options.AuthorizationEndpoint", ""},
		{"https endpoint with an escaped zone is refused", func(o *Options) { o.AuthorizationEndpoint = "https://[::%25é]/authorize" }, "Options.AuthorizationEndpoint", ""},
		{"endpoint with credentials is refused", func(o *Options) { o.TokenEndpoint = "https://u:p@login.example.com/t" }, "Options.TokenEndpoint", "credentials"},
		{"issuer must be a URL", func(o *Options) { o.Issuer = "login.example.com" }, "Options.Issuer", ""},
		{"issuer with a query is refused", func(o *Options) { o.Issuer = "https://login.example.com/?x=1" }, "Options.Issuer", "query"},
		{"http issuer on loopback is accepted", func(o *Options) { o.Issuer = "http://localhost:3000" }, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := Options{Domain: "https://login.example.com", ClientID: "spa"}
			tt.edit(&o)
			_, err := o.validate(pageOrigin)
			if tt.option == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Code != "invalid_configuration" || !strings.HasPrefix(e.Description, tt.option+":") {
				t.Fatalf("got %v, want invalid_configuration naming %s", err, tt.option)
			}
			if !strings.Contains(e.Description, tt.detail) {
				t.Fatalf("got %q, want it to mention %s", e.Description, tt.detail)
			}
			checkOptionError(t, e)
		})
	}
}

func TestDiscoveredEndpointsMustBeHTTPSOrLoopbackHTTP(t *testing.T) {
	tests := []struct {
		name  string
		field string
		value string
		want  string // in the error; "" means the document is accepted
	}{
		{"javascript authorization_endpoint never becomes an iframe", "authorization_endpoint", "javascript:alert(document.domain)//", `authorization_endpoint: must be an https:// URL, got scheme "javascript"`},
		{"javascript end_session_endpoint never reaches location.assign", "end_session_endpoint", "javascript:alert(1)", `end_session_endpoint: must be an https:// URL, got scheme "javascript"`},
		{"http token_endpoint on another host", "token_endpoint", "http://login.example.com/oauth/token", `token_endpoint: must be https://`},
		{"http jwks_uri on another host", "jwks_uri", "http://cdn.example.com/jwks", `host "cdn.example.com"`},
		{"authorization_endpoint that does not re-parse", "authorization_endpoint", "https://[::%25é]/authorize", "authorization_endpoint:"},
		{"http authorization_endpoint on loopback is fine", "authorization_endpoint", "http://127.0.0.1:3000/authorize", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t)
			doc := map[string]any{
				"issuer":                 idtokentest.IssuerURL,
				"authorization_endpoint": serverOrigin + "/authorize",
				"token_endpoint":         serverOrigin + "/oauth/token",
				"jwks_uri":               serverOrigin + "/.well-known/jwks.json",
				"end_session_endpoint":   serverOrigin + "/v2/logout",
			}
			doc[tt.field] = tt.value
			fx.b.routes[serverOrigin+"/.well-known/openid-configuration"] = func(platform.HTTPRequest) (*platform.HTTPResponse, error) {
				return jsonResponse(200, doc)
			}
			m, err := fx.client().disc.metadata(context.Background())
			if tt.want == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if errCode(err) != "invalid_configuration" || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v (metadata %+v), want invalid_configuration containing %q", err, m, tt.want)
			}
		})
	}
	t.Run("an endpoint option overrides a bad discovered one", func(t *testing.T) {
		fx := newFixture(t)
		fx.b.routes[serverOrigin+"/.well-known/openid-configuration"] = func(platform.HTTPRequest) (*platform.HTTPResponse, error) {
			return jsonResponse(200, map[string]any{"issuer": idtokentest.IssuerURL, "authorization_endpoint": "javascript:alert(1)",
				"jwks_uri": serverOrigin + "/.well-known/jwks.json"})
		}
		c := fx.client(func(o *Options) { o.AuthorizationEndpoint = serverOrigin + "/authorize" })
		if _, err := c.disc.metadata(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("no iframe and no navigation for a javascript endpoint", func(t *testing.T) {
		fx := newFixture(t)
		fx.b.routes[serverOrigin+"/.well-known/openid-configuration"] = func(platform.HTTPRequest) (*platform.HTTPResponse, error) {
			return jsonResponse(200, map[string]any{"issuer": idtokentest.IssuerURL, "authorization_endpoint": "javascript:alert(document.domain)//",
				"jwks_uri": serverOrigin + "/.well-known/jwks.json", "end_session_endpoint": "javascript:alert(1)"})
		}
		c := fx.client()
		if _, err := c.CheckSession(context.Background(), AuthorizeParams{}); errCode(err) != "invalid_configuration" {
			t.Fatalf("checkSession: %v", err)
		}
		if err := c.Logout(context.Background(), LogoutParams{}); errCode(err) != "invalid_configuration" {
			t.Fatalf("logout: %v", err)
		}
		if fx.b.frameCount() != 0 || fx.b.Location() != "" {
			t.Fatalf("%d frames, navigated to %q", fx.b.frameCount(), fx.b.Location())
		}
	})
}

func TestAPIOrigins(t *testing.T) {
	tests := []struct {
		name    string
		origins []string // nil: the default
		url     string
		allowed bool
		wantErr string // validate's error naming the entry
	}{
		{"default allows the page's own origin", nil, pageOrigin + "/api/data", true, ""},
		{"default refuses another origin", nil, "https://evil.example/steal", false, ""},
		{"default refuses the page's host on another port", nil, pageOrigin + ":8443/api", false, ""},
		{"default refuses the page's host over http", nil, "http://app.example.com/api", false, ""},
		{"listed origin is allowed", []string{"https://api.example.com"}, "https://api.example.com/v1/x?y=1", true, ""},
		{"listing replaces the default", []string{"https://api.example.com"}, pageOrigin + "/api", false, ""},
		{"default port is the same origin", []string{"https://api.example.com:443"}, "https://API.example.com/v1", true, ""},
		{"loopback http origin is allowed", []string{"http://localhost:8081"}, "http://localhost:8081/api", true, ""},
		{"a look-alike host is refused", []string{"https://api.example.com"}, "https://api.example.com.evil.example/", false, ""},
		{"userinfo does not fool the check", []string{"https://api.example.com"}, "https://api.example.com@evil.example/", false, ""},
		{"entry with a path is refused", []string{"https://api.example.com/v1"}, "", false, `"https://api.example.com/v1"`},
		{"http entry on another host is refused", []string{"http://api.example.com"}, "", false, `"http://api.example.com"`},
		{"entry without a scheme is refused", []string{"api.example.com"}, "", false, `"api.example.com"`},
		{"wildcard entry is refused", []string{"*"}, "", false, `"*"`},
		{"a wildcard subdomain entry is refused", []string{"https://*.example.com"}, "", false, `"https://*.example.com"`},
		{"a wildcard host entry is refused", []string{"https://*"}, "", false, `"https://*"`},
		{"a non-ASCII host is refused, naming punycode", []string{"https://bücher.example"}, "", false, "punycode"},
		{"a host with a character no origin has is refused", []string{"https://api!.example.com"}, "", false, `"https://api!.example.com"`},
		{"an entry with a trailing slash is refused", []string{"https://api.example.com/"}, "", false, `"https://api.example.com/"`},
		{"a punycode host is allowed", []string{"https://xn--bcher-kva.example"}, "https://xn--bcher-kva.example/x", true, ""},
		{"an IPv6 loopback origin is allowed", []string{"http://[::1]:8081"}, "http://[::1]:8081/api", true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := Options{Domain: "login.example.com", ClientID: "spa", APIOrigins: tt.origins}
			c, err := NewClient(o, newFakeBrowser(), newTestClock())
			if tt.wantErr != "" {
				if errCode(err) != "invalid_configuration" || !strings.HasPrefix(err.(*Error).Description, "Options.APIOrigins:") || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, want invalid_configuration naming Options.APIOrigins and %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.Destroy()
			err = c.CheckAPIURL(tt.url)
			if tt.allowed != (err == nil) {
				t.Fatalf("CheckAPIURL(%q) = %v, want allowed=%v", tt.url, err, tt.allowed)
			}
			if err != nil {
				u, _ := url.Parse(tt.url)
				if errCode(err) != "invalid_configuration" || !strings.Contains(err.Error(), "apiOrigins") || !strings.Contains(err.Error(), u.Hostname()) {
					t.Fatalf("error %q does not name the option and the origin", err)
				}
			}
		})
	}
}

func TestRedactURL(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		keep      []string
		forbidden []string
	}{
		{"authorize URL keeps its shape and loses its secrets",
			"https://login.example.com/authorize?client_id=spa&state=S3CR3T-state&nonce=S3CR3T-nonce&code_challenge=S3CR3T-cc&code_challenge_method=S256&login_hint=alice%40example.com&prompt=none&response_mode=web_message",
			[]string{"https://login.example.com/authorize?", "client_id=spa", "state=" + redacted, "nonce=" + redacted, "code_challenge=" + redacted, "code_challenge_method=S256", "login_hint=" + redacted, "prompt=none", "response_mode=web_message"},
			[]string{"S3CR3T", "alice"}},
		{"callback fragment loses its tokens",
			"https://app.example.com/cb#access_token=S3CR3T-at&id_token=S3CR3T-it&token_type=Bearer&state=S3CR3T-s",
			[]string{"#access_token=" + redacted, "id_token=" + redacted, "token_type=Bearer"},
			[]string{"S3CR3T"}},
		{"logout URL loses id_token_hint",
			"https://login.example.com/session/end?client_id=spa&id_token_hint=S3CR3T&post_logout_redirect_uri=https%3A%2F%2Fapp.example.com",
			[]string{"client_id=spa", "id_token_hint=" + redacted, "post_logout_redirect_uri="},
			[]string{"S3CR3T"}},
		{"code query and refresh token",
			"https://app.example.com/?code=S3CR3T&refresh_token=S3CR3T2&code_verifier=S3CR3T3",
			[]string{"code=" + redacted, "refresh_token=" + redacted, "code_verifier=" + redacted},
			[]string{"S3CR3T"}},
		{"names are matched case-insensitively and escaped",
			"https://x.example/?STATE=S3CR3T&%6eonce=S3CR3T&my_custom_token=S3CR3T",
			[]string{"STATE=" + redacted},
			[]string{"S3CR3T"}},
		{"credentials in the authority are dropped", "https://user:S3CR3T@x.example/p", []string{"https://x.example/p"}, []string{"S3CR3T", "user"}},
		{"unparsable URL is redacted whole", "https://[::%25é]/?state=S3CR3T", []string{redacted}, []string{"S3CR3T"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := redactURL(tt.in)
			for _, k := range tt.keep {
				if !strings.Contains(got, k) {
					t.Errorf("redactURL = %q, want it to keep %q", got, k)
				}
			}
			for _, f := range tt.forbidden {
				if strings.Contains(got, f) {
					t.Errorf("redactURL = %q still contains %q", got, f)
				}
			}
		})
	}
}

func TestInteractiveLoginDebugLineHasNoSecrets(t *testing.T) {
	fx := newFixture(t)
	var logs []string
	c := fx.client(func(o *Options) {
		o.Debug = true
		o.Logger = func(_ LogLevel, s string) { logs = append(logs, s) }
	})
	if err := c.LoginWithRedirect(context.Background(), AuthorizeParams{Extra: map[string]string{"login_hint": "alice@example.com"}}); err != nil {
		t.Fatal(err)
	}
	q, _ := url.Parse(fx.b.Location())
	secrets := []string{q.Query().Get("state"), q.Query().Get("nonce"), q.Query().Get("code_challenge"), "alice@example.com", "alice%40example.com"}
	found := false
	for _, l := range logs {
		if strings.HasPrefix(l, "interactive login: ") {
			found = true
		}
		for _, s := range secrets {
			if s != "" && strings.Contains(l, s) {
				t.Errorf("debug line %q contains %q", l, s)
			}
		}
	}
	if !found {
		t.Fatalf("no interactive login line in %q", logs)
	}
}

func TestGoSafeTurnsAPanicIntoAnUnexpectedError(t *testing.T) {
	got := make(chan error, 1)
	goSafe("test goroutine", func() {
		var u *url.URL
		_ = origin(u) // the nil dereference of issue 12
	}, func(err error) { got <- err })
	err := <-got
	if errCode(err) != "unexpected_error" || !strings.Contains(err.Error(), "test goroutine panicked") {
		t.Fatalf("got %v, want unexpected_error naming the goroutine", err)
	}
}

func TestPanickingKeySetFetchFailsTheCallInsteadOfTheRuntime(t *testing.T) {
	ks := idtoken.NewKeySet(func(context.Context) ([]byte, error) { panic("boom") }, idtoken.WithGoroutines(goSafe))
	_, err := ks.Key(context.Background(), "rsa-0", "RS256")
	if errCode(err) != "unexpected_error" || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("got %v, want unexpected_error", err)
	}
}

func TestPanickingDiscoveryFailsTheCallInsteadOfTheRuntime(t *testing.T) {
	fx := newFixture(t)
	fx.b.routes[serverOrigin+"/.well-known/openid-configuration"] = func(platform.HTTPRequest) (*platform.HTTPResponse, error) { panic("boom") }
	_, err := fx.client().disc.metadata(context.Background())
	if errCode(err) != "unexpected_error" || !strings.Contains(err.Error(), "discovery") {
		t.Fatalf("got %v, want unexpected_error", err)
	}
}

// acceptedEndpoint fails t unless raw is an https URL, or http on loopback,
// that parses back to the same origin.
func acceptedEndpoint(t *testing.T, what, raw string) {
	t.Helper()
	if raw == "" {
		return
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("%s %q was accepted but does not parse: %v", what, raw, err)
	}
	if !(u.Scheme == "https" || u.Scheme == "http" && isLoopback(u.Hostname())) || u.Host == "" {
		t.Fatalf("%s %q was accepted", what, raw)
	}
	again, err := url.Parse(u.String())
	if err != nil || origin(again) != origin(u) {
		t.Fatalf("%s %q was accepted but does not survive a round trip", what, raw)
	}
}

// FuzzOptions feeds arbitrary options (JSON decoded into Options, whose
// field names match the JS ones case-insensitively) through validation:
// nothing may panic, and every endpoint accepted is https or loopback http.
func FuzzOptions(f *testing.F) {
	for _, seed := range []string{
		`{"domain":"login.example.com","clientId":"spa"}`,
		`{"domain":"http://localhost:3000","clientId":"spa","authorizationEndpoint":"http://[::%25é]/authorize"}`,
		`{"domain":"https://[::%25é]","clientId":"spa"}`,
		`{"domain":"http://login.example.com","clientId":"spa"}`,
		`{"domain":"d","clientId":"spa","authorizationEndpoint":"javascript:alert(document.domain)//"}`,
		`{"domain":"d","clientId":"spa","endSessionEndpoint":"javascript:alert(1)","issuer":"x"}`,
		`{"domain":"d","clientId":"spa","apiOrigins":["https://api.example.com","http://127.0.0.1:1"]}`,
		`{"domain":"d","clientId":"spa","apiOrigins":["https://api.example.com/x"]}`,
		`{"domain":"d","clientId":"spa","apiOrigins":[1]}`,
		`{"domain":"http://[::1]:3000","clientId":"spa","tokenEndpoint":"http://[::1]:3000/t"}`,
		`{"domain":"https://u:p@x","clientId":"spa"}`,
		`{"domain":"//x","clientId":"spa"}`,
		`{}`, `null`, `[]`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var o Options
		if json.Unmarshal(data, &o) != nil {
			return
		}
		s, err := o.validate(pageOrigin)
		if err != nil {
			return
		}
		acceptedEndpoint(t, "domain", s.domain.String())
		for _, v := range []string{s.Issuer, s.AuthorizationEndpoint, s.TokenEndpoint, s.JWKSURI, s.EndSessionEndpoint} {
			acceptedEndpoint(t, "endpoint", v)
		}
		if o.APIOrigins != nil {
			for _, o := range s.apiOrigins {
				acceptedEndpoint(t, "apiOrigins entry", o)
			}
		}
		for _, m := range []*serverMetadata{auth0Metadata(s.domain.String()), s.overlay(auth0Metadata(s.domain.String()))} {
			acceptedEndpoint(t, "fallback authorization endpoint", m.AuthorizationEndpoint)
		}
	})
}

// FuzzDiscovery feeds arbitrary discovery documents to the client: nothing
// may panic, and whatever metadata comes out has only https or loopback
// http endpoints.
func FuzzDiscovery(f *testing.F) {
	for _, seed := range []string{
		`{"issuer":"https://login.example.com/","authorization_endpoint":"https://login.example.com/authorize","jwks_uri":"https://login.example.com/jwks"}`,
		`{"issuer":"https://login.example.com/","authorization_endpoint":"javascript:alert(document.domain)//","jwks_uri":"https://login.example.com/jwks"}`,
		`{"issuer":"https://login.example.com/","authorization_endpoint":"http://[::%25é]/authorize","jwks_uri":"https://login.example.com/jwks"}`,
		`{"issuer":"https://login.example.com/","authorization_endpoint":"https://login.example.com/a","jwks_uri":"https://login.example.com/jwks","end_session_endpoint":"javascript:alert(1)"}`,
		`{"issuer":"https://login.example.com/","authorization_endpoint":"https://login.example.com/a","jwks_uri":"http://cdn.example.com/jwks","token_endpoint":"http://127.0.0.1/t"}`,
		`{"issuer":"https://login.example.com/","authorization_endpoint":"https://login.example.com/a","jwks_uri":"https://login.example.com/jwks","response_modes_supported":["query"]}`,
		`{"issuer":1}`, `[]`, `{`, ``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		b := newFakeBrowser()
		b.routes[serverOrigin+"/.well-known/openid-configuration"] = func(platform.HTTPRequest) (*platform.HTTPResponse, error) {
			return &platform.HTTPResponse{Status: 200, Body: data}, nil
		}
		c, err := NewClient(Options{Domain: serverOrigin, ClientID: "spa"}, b, newTestClock())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Destroy()
		m, err := c.disc.metadata(context.Background())
		if err != nil {
			return
		}
		for _, v := range []string{m.Issuer, m.AuthorizationEndpoint, m.TokenEndpoint, m.JWKSURI, m.EndSessionEndpoint} {
			acceptedEndpoint(t, "discovered endpoint", v)
		}
	})
}

func TestUnparsableCallbackErrorQuotesNoToken(t *testing.T) {
	fx := newFixture(t)
	c := fx.client()
	_, err := c.HandleRedirectCallback(context.Background(), "https://app.example.com/cb#access_token=S3CR3T&state=%zz")
	if errCode(err) != "invalid_state" || strings.Contains(err.Error(), "S3CR3T") {
		t.Fatalf("got %v, want invalid_state without the URL's secrets", err)
	}
}
