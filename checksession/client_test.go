package checksession

import (
	"context"
	"errors"
	"github.com/silentauth/silentauth/checksession/idtoken/idtokentest"
	"github.com/silentauth/silentauth/checksession/platform"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// fixture is a fake authorization server at serverOrigin, Auth0-shaped,
// behind a fake browser and a fake clock.
type fixture struct {
	t     *testing.T
	b     *fakeBrowser
	clock *testClock
	iss   *idtokentest.Issuer

	mu        sync.Mutex
	codes     map[string]codeGrant
	expiresIn int64
	events    []string
	logs      []string
	// tamper edits the claims of the next ID tokens.
	tamper func(claims map[string]any)
	// frameResponse, when set, replaces the default "logged in" behaviour.
	frameResponse func(f *fakeFrame)
}

type codeGrant struct{ challenge, nonce string }

func newFixture(t *testing.T) *fixture {
	fx := &fixture{t: t, b: newFakeBrowser(), clock: newTestClock(), iss: idtokentest.NewIssuer(t), codes: map[string]codeGrant{}, expiresIn: 3600}
	fx.b.routes[serverOrigin+"/.well-known/openid-configuration"] = func(platform.HTTPRequest) (*platform.HTTPResponse, error) {
		return jsonResponse(200, map[string]any{
			"issuer":                   idtokentest.IssuerURL,
			"authorization_endpoint":   serverOrigin + "/authorize",
			"token_endpoint":           serverOrigin + "/oauth/token",
			"jwks_uri":                 serverOrigin + "/.well-known/jwks.json",
			"end_session_endpoint":     serverOrigin + "/v2/logout",
			"response_modes_supported": []string{"query", "fragment", "web_message"},
		})
	}
	fx.b.routes[serverOrigin+"/.well-known/jwks.json"] = func(platform.HTTPRequest) (*platform.HTTPResponse, error) {
		return &platform.HTTPResponse{Status: 200, Body: fx.iss.JWKS()}, nil
	}
	fx.b.routes[serverOrigin+"/oauth/token"] = fx.token
	fx.b.onFrame = func(f *fakeFrame) {
		fx.mu.Lock()
		custom := fx.frameResponse
		fx.mu.Unlock()
		if custom != nil {
			custom(f)
			return
		}
		f.respond(fx.loggedIn(f.URL.Query()))
	}
	return fx
}

// loggedIn is the answer of a server where the user has a session.
func (fx *fixture) loggedIn(q url.Values) map[string]any {
	fx.mu.Lock()
	defer fx.mu.Unlock()
	state := q.Get("state")
	switch q.Get("response_type") {
	case "code":
		code := randomString()
		fx.codes[code] = codeGrant{challenge: q.Get("code_challenge"), nonce: q.Get("nonce")}
		return map[string]any{"code": code, "state": state}
	default:
		at := "at-" + randomString()
		resp := map[string]any{"state": state, "token_type": "Bearer", "expires_in": float64(fx.expiresIn), "scope": q.Get("scope")}
		rt := q.Get("response_type")
		if strings.Contains(rt, "token") && rt != "id_token" {
			resp["access_token"] = at
		}
		if strings.Contains(rt, "id_token") {
			claims := fx.claimsLocked(q.Get("nonce"))
			if _, ok := resp["access_token"]; ok {
				claims["at_hash"] = idtokentest.AtHashRS256(at)
			}
			resp["id_token"] = fx.iss.Sign(fx.t, claims)
		}
		return resp
	}
}

func (fx *fixture) claimsLocked(nonce string) map[string]any {
	claims := fx.iss.Claims(fx.clock.Now())
	claims["nonce"] = nonce
	claims["email"] = "demo@example.com"
	if fx.tamper != nil {
		fx.tamper(claims)
	}
	return claims
}

func (fx *fixture) token(req platform.HTTPRequest) (*platform.HTTPResponse, error) {
	form, _ := url.ParseQuery(string(req.Body))
	fx.mu.Lock()
	grant, ok := fx.codes[form.Get("code")]
	delete(fx.codes, form.Get("code"))
	fx.mu.Unlock()
	if !ok {
		return jsonResponse(403, map[string]any{"error": "invalid_grant", "error_description": "Invalid authorization code"})
	}
	if pkceChallenge(form.Get("code_verifier")) != grant.challenge {
		return jsonResponse(403, map[string]any{"error": "invalid_grant", "error_description": "Failed to verify code verifier"})
	}
	fx.mu.Lock()
	claims := fx.claimsLocked(grant.nonce)
	expiresIn := fx.expiresIn
	fx.mu.Unlock()
	return jsonResponse(200, map[string]any{
		"access_token": "at-" + randomString(), "id_token": fx.iss.Sign(fx.t, claims),
		"token_type": "Bearer", "expires_in": expiresIn, "scope": "openid profile email",
	})
}

func (fx *fixture) options() Options {
	return Options{
		Domain: serverOrigin, ClientID: idtokentest.ClientID, Debug: true,
		Logger: func(_ LogLevel, s string) { fx.mu.Lock(); fx.logs = append(fx.logs, s); fx.mu.Unlock() },
		OnEvent: func(e Event) {
			fx.mu.Lock()
			fx.events = append(fx.events, string(e.Name))
			fx.mu.Unlock()
		},
	}
}

func (fx *fixture) client(edit ...func(*Options)) *Client { return fx.clientOn(fx.b, edit...) }

// clientOn is a client of the fixture's server on b, a fakeBrowser that
// can do more than the plain one.
func (fx *fixture) clientOn(b platform.Browser, edit ...func(*Options)) *Client {
	fx.t.Helper()
	o := fx.options()
	for _, e := range edit {
		e(&o)
	}
	c, err := NewClient(o, b, fx.clock)
	if err != nil {
		fx.t.Fatalf("NewClient: %v", err)
	}
	fx.t.Cleanup(c.Destroy)
	return c
}

// signedIn is a client after one successful checkSession.
func (fx *fixture) signedIn(edit ...func(*Options)) *Client {
	fx.t.Helper()
	c := fx.client(edit...)
	if _, err := c.CheckSession(context.Background(), AuthorizeParams{}); err != nil {
		fx.t.Fatal(err)
	}
	return c
}

// answer has the server answer the silent requests from now on with
// respond instead of "logged in"; nil brings "logged in" back.
func (fx *fixture) answer(respond func(f *fakeFrame)) {
	fx.mu.Lock()
	fx.frameResponse = respond
	fx.mu.Unlock()
}

// holdAnswers has the server hold every "logged in" answer until release
// is closed, so that callers can pile up behind one request.
func (fx *fixture) holdAnswers() (release chan struct{}) {
	release = make(chan struct{})
	fx.answer(func(f *fakeFrame) { <-release; f.respond(fx.loggedIn(f.URL.Query())) })
	return release
}

func (fx *fixture) eventList() []string {
	fx.mu.Lock()
	defer fx.mu.Unlock()
	return append([]string(nil), fx.events...)
}

func (fx *fixture) logged(substr string) bool {
	fx.mu.Lock()
	defer fx.mu.Unlock()
	for _, l := range fx.logs {
		if strings.Contains(l, substr) {
			return true
		}
	}
	return false
}

func errCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	if err == nil {
		return ""
	}
	return "non-oauth: " + err.Error()
}

func TestCheckSessionReturnsValidatedTokens(t *testing.T) {
	for _, rt := range []string{"code", "id_token token", "token id_token", "token", "id_token"} {
		t.Run(rt, func(t *testing.T) {
			fx := newFixture(t)
			c := fx.client(func(o *Options) { o.ResponseType = rt })
			res, err := c.CheckSession(context.Background(), AuthorizeParams{})
			if err != nil {
				t.Fatalf("CheckSession: %v", err)
			}
			f := fx.b.frame(0)
			q := f.URL.Query()
			if q.Get("prompt") != "none" || q.Get("response_mode") != "web_message" || q.Get("client_id") != idtokentest.ClientID {
				t.Errorf("authorize URL lacks the silent parameters: %s", f.URL)
			}
			if len(q.Get("state")) < 22 || len(q.Get("nonce")) < 22 {
				t.Errorf("state/nonce carry fewer than 128 bits: %q %q", q.Get("state"), q.Get("nonce"))
			}
			if (q.Get("code_challenge") != "") != (rt == "code") || (rt == "code" && q.Get("code_challenge_method") != "S256") {
				t.Errorf("PKCE parameters wrong for %s: %s", rt, f.URL)
			}
			wantAT, wantID := rt != "id_token", rt != "token"
			if (res.AccessToken != "") != wantAT || (res.IDToken != "") != wantID {
				t.Errorf("tokens: access %t id %t, want %t %t", res.AccessToken != "", res.IDToken != "", wantAT, wantID)
			}
			if wantID && res.IDTokenPayload["email"] != "demo@example.com" {
				t.Errorf("claims not returned: %v", res.IDTokenPayload)
			}
			if wantID && c.GetUser()["sub"] != "auth0|user-1" {
				t.Errorf("GetUser = %v", c.GetUser())
			}
			if res.ExpiresIn != 3600 || !res.ExpiresAt.Equal(fx.clock.Now().Add(time.Hour)) {
				t.Errorf("expiry: in %d at %v", res.ExpiresIn, res.ExpiresAt)
			}
			if res.State != q.Get("state") {
				t.Errorf("state %q, sent %q", res.State, q.Get("state"))
			}
			if !f.isClosed() {
				t.Error("iframe left open after success")
			}
			if got := fx.eventList(); len(got) != 1 || got[0] != "renewed" {
				t.Errorf("events %v, want [renewed]", got)
			}
		})
	}
}

func TestMessagesThatAreNotOursAreIgnored(t *testing.T) {
	cases := []struct {
		name   string
		post   func(f *fakeFrame)
		reason string
	}{
		{"message from another origin is ignored", func(f *fakeFrame) {
			f.post("https://evil.example", true, map[string]any{"type": "authorization_response", "response": map[string]any{"error": "login_required", "state": f.param("state")}})
		}, "is not the authorization server's"},
		{"message not from our iframe is ignored", func(f *fakeFrame) {
			f.post(serverOrigin, false, map[string]any{"type": "authorization_response", "response": map[string]any{"error": "login_required", "state": f.param("state")}})
		}, "source is not this request's iframe"},
		{"message of another type is ignored", func(f *fakeFrame) {
			f.post(serverOrigin, true, map[string]any{"type": "relay_request", "response": map[string]any{"error": "login_required", "state": f.param("state")}})
		}, "type is not"},
		{"message with a state we did not send is ignored", func(f *fakeFrame) {
			f.post(serverOrigin, true, map[string]any{"type": "authorization_response", "response": map[string]any{"error": "login_required", "state": "forged"}})
		}, "state is not one this client sent"},
		{"message that is not an object is ignored", func(f *fakeFrame) { f.post(serverOrigin, true, "authorization_response") }, "not an object"},
		{"message without a response is ignored", func(f *fakeFrame) {
			f.post(serverOrigin, true, map[string]any{"type": "authorization_response"})
		}, "response is missing"},
		{"message with a field of the wrong type is ignored", func(f *fakeFrame) {
			f.post(serverOrigin, true, map[string]any{"type": "authorization_response", "response": map[string]any{"error": 7, "state": f.param("state")}})
		}, "error is not a string"},
		{"unreadable message is ignored", func(f *fakeFrame) {
			f.handler.OnMessage(platform.Message{Origin: serverOrigin, FromFrame: true, DataProblem: "larger than 262144 bytes"})
		}, "data unreadable"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fx := newFixture(t)
			fx.frameResponse = func(f *fakeFrame) {
				tc.post(f) // would fail the call with login_required if accepted
				f.respond(fx.loggedIn(f.URL.Query()))
			}
			c := fx.client()
			if _, err := c.CheckSession(context.Background(), AuthorizeParams{}); err != nil {
				t.Fatalf("the bad message was not ignored: %v", err)
			}
			if !fx.logged(tc.reason) {
				t.Errorf("debug log does not say %q: %q", tc.reason, fx.logs)
			}
		})
	}
}

func TestServerErrorsPassThroughWithDescriptionAndState(t *testing.T) {
	for _, code := range []string{"login_required", "consent_required", "interaction_required", "account_selection_required", "access_denied"} {
		t.Run(code, func(t *testing.T) {
			fx := newFixture(t)
			fx.frameResponse = func(f *fakeFrame) {
				f.respond(map[string]any{"error": code, "error_description": "said the server", "state": f.param("state")})
			}
			_, err := fx.client().CheckSession(context.Background(), AuthorizeParams{})
			var e *Error
			if !errors.As(err, &e) || e.Code != code || e.Description != "said the server" || e.State != fx.b.frame(0).param("state") {
				t.Fatalf("got %#v", err)
			}
		})
	}
}

func TestTimeoutReportsAuth0sDescriptionAndCleansUp(t *testing.T) {
	fx := newFixture(t)
	fx.frameResponse = func(*fakeFrame) {} // the server never answers, the page never loads
	c := fx.client(func(o *Options) { o.Timeout = 10 * time.Second })
	done := make(chan error, 1)
	go func() { _, err := c.CheckSession(context.Background(), AuthorizeParams{}); done <- err }()
	waitFor(t, "the frame", func() bool { return fx.b.frameCount() == 1 })
	fx.clock.waitArmed(t, 2, "the request's deadline and its first race")
	fx.clock.Advance(9 * time.Second)
	waitFor(t, "the racing iframe", func() bool { return fx.b.frameCount() == 2 })
	fx.clock.waitArmed(t, 1, "the deadline")
	if d := fx.clock.pending(); len(d) != 1 || d[0] != time.Second {
		t.Fatalf("after 9 s the deadline should be 1 s away, timers %v", d)
	}
	select {
	case err := <-done:
		t.Fatalf("ended before the timeout: %v", err)
	default:
	}
	fx.clock.Advance(time.Second)
	err := <-done
	var e *Error
	if !errors.As(err, &e) || e.Code != "timeout" || e.Description != timeoutDescription {
		t.Fatalf("got %v", err)
	}
	if fx.b.frameCount() != 2 || !fx.b.frame(0).isClosed() || !fx.b.frame(1).isClosed() || len(fx.clock.pending()) != 0 {
		t.Errorf("left behind: %d frames (want the first and one racer), closed %t %t, timers %v", fx.b.frameCount(),
			fx.b.frame(0).isClosed(), fx.b.frameCount() > 1 && fx.b.frame(1).isClosed(), fx.clock.pending())
	}
}

func TestPageThatLoadsButPostsNothingFailsFast(t *testing.T) {
	fx := newFixture(t)
	fx.frameResponse = func(f *fakeFrame) { f.handler.OnLoad() }
	c := fx.client()
	done := make(chan error, 1)
	go func() { _, err := c.CheckSession(context.Background(), AuthorizeParams{}); done <- err }()
	fx.clock.waitArmed(t, 3, "the grace timer (with the deadline and the race)")
	fx.clock.Advance(loadGrace)
	err := <-done
	var e *Error
	if !errors.As(err, &e) || e.Code != "timeout" || !strings.HasPrefix(e.Description, timeoutDescription) || !strings.Contains(e.Description, "Allowed Web Origins") {
		t.Fatalf("got %v", err)
	}
}

func TestCrossOriginIsolatedPageFailsAtOnce(t *testing.T) {
	fx := newFixture(t)
	fx.b.isolated = true
	_, err := fx.client().CheckSession(context.Background(), AuthorizeParams{})
	if errCode(err) != "timeout" || !strings.Contains(err.Error(), "cross-origin isolated") || fx.b.frameCount() != 0 {
		t.Fatalf("got %v with %d frames", err, fx.b.frameCount())
	}
}

func TestTamperedIDTokenIsRefusedNamingTheCheck(t *testing.T) {
	cases := []struct {
		check  string
		tamper func(map[string]any)
	}{
		{"nonce", func(c map[string]any) { c["nonce"] = "someone-elses" }},
		{"aud", func(c map[string]any) { c["aud"] = "another-client" }},
		{"iss", func(c map[string]any) { c["iss"] = "https://evil.example/" }},
		{"exp", func(c map[string]any) { c["exp"] = time.Date(2026, 11, 25, 11, 0, 0, 0, time.UTC).Unix() }},
	}
	for _, rt := range []string{"code", "id_token token"} {
		for _, tc := range cases {
			t.Run(rt+"/"+tc.check, func(t *testing.T) {
				fx := newFixture(t)
				fx.tamper = tc.tamper
				c := fx.client(func(o *Options) { o.ResponseType = rt })
				res, err := c.CheckSession(context.Background(), AuthorizeParams{})
				if res != nil || errCode(err) != "invalid_token" || !strings.HasPrefix(err.(*Error).Description, tc.check+":") {
					t.Fatalf("got %v, %v", res, err)
				}
				if c.GetUser() != nil {
					t.Error("a refused token's claims became the user")
				}
			})
		}
	}
}

func TestResponseNamingAnotherIssuerIsRefused(t *testing.T) {
	for _, tc := range []struct {
		iss  string
		want string
	}{{idtokentest.IssuerURL, ""}, {"https://evil.example/", "invalid_token"}} {
		fx := newFixture(t)
		fx.frameResponse = func(f *fakeFrame) {
			r := fx.loggedIn(f.URL.Query())
			r["iss"] = tc.iss
			f.respond(r)
		}
		_, err := fx.client().CheckSession(context.Background(), AuthorizeParams{})
		if errCode(err) != tc.want {
			t.Errorf("iss %q: got %v, want %q", tc.iss, err, tc.want)
		}
	}
}

func TestConcurrentCallsShareOneIframe(t *testing.T) {
	fx := newFixture(t)
	release := fx.holdAnswers()
	c := fx.client()
	results := make([]*AuthResult, 5)
	wait := inParallel(len(results), func(i int) { results[i], _ = c.CheckSession(context.Background(), AuthorizeParams{}) })
	waitFor(t, "one frame and four callers joining it", func() bool {
		fx.mu.Lock()
		defer fx.mu.Unlock()
		joined := 0
		for _, l := range fx.logs {
			if strings.Contains(l, "joining the silent request already in flight") {
				joined++
			}
		}
		return fx.b.frameCount() == 1 && joined == 4
	})
	close(release)
	wait()
	if fx.b.frameCount() != 1 {
		t.Fatalf("%d frames for 5 identical calls", fx.b.frameCount())
	}
	for i, r := range results {
		if r == nil || r != results[0] {
			t.Errorf("call %d got %p, want the shared %p", i, r, results[0])
		}
	}
}

func TestDifferentAudiencesRunInParallel(t *testing.T) {
	fx := newFixture(t)
	release := fx.holdAnswers()
	c := fx.client()
	audiences := []string{"https://api-a", "https://api-b"}
	wait := inParallel(len(audiences), func(i int) {
		if _, err := c.CheckSession(context.Background(), AuthorizeParams{Audience: audiences[i]}); err != nil {
			t.Error(err)
		}
	})
	waitFor(t, "two frames", func() bool { return fx.b.frameCount() == 2 })
	close(release)
	wait()
	if a, b := fx.b.frame(0).param("state"), fx.b.frame(1).param("state"); a == b {
		t.Error("two requests shared one state")
	}
}

func TestGetTokenSilentlyServesTheCacheWhileValid(t *testing.T) {
	// The cache serves a token while it has MinValidity left and the second
	// that expires_in's rounding may have taken.
	cases := []struct {
		name   string
		left   time.Duration // validity left at the call
		served bool
	}{
		{"long before expiry", 30 * time.Minute, true},
		{"just over minValidity and the slack", defaultMinValidity + wholeSecondSlack + time.Millisecond, true},
		{"inside the slack second", defaultMinValidity + wholeSecondSlack - time.Millisecond, false},
		{"under minValidity", defaultMinValidity - time.Second, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fx := newFixture(t)
			c := fx.client(func(o *Options) { o.AutoRenew = new(bool) })
			first, err := c.GetTokenSilently(context.Background(), AuthorizeParams{})
			if err != nil {
				t.Fatal(err)
			}
			fx.clock.Advance(time.Hour - tc.left)
			again, err := c.GetTokenSilently(context.Background(), AuthorizeParams{})
			if err != nil {
				t.Fatal(err)
			}
			// Inside the renewal window a served call also starts the
			// background renewal, so frames do not tell; the token does.
			if served := again == first; served != tc.served {
				t.Fatalf("with %v left: served from the cache %t, want %t", tc.left, served, tc.served)
			}
		})
	}
}

func TestACodesTokensExpireCountingFromTheTokenRequest(t *testing.T) {
	fx := newFixture(t)
	// The token endpoint takes 2 s to answer: the tokens were issued at
	// some moment in those 2 s, so only the request's start is safe.
	fx.b.routes[serverOrigin+"/oauth/token"] = func(req platform.HTTPRequest) (*platform.HTTPResponse, error) {
		fx.clock.Advance(2 * time.Second)
		return fx.token(req)
	}
	c := fx.client(func(o *Options) { o.AutoRenew = new(bool); o.ResponseType = "code" })
	sent := fx.clock.Now()
	res, err := c.CheckSession(context.Background(), AuthorizeParams{})
	if err != nil {
		t.Fatal(err)
	}
	if want := sent.Add(time.Hour); !res.ExpiresAt.Equal(want) {
		t.Fatalf("expiresAt %v after the request, want %v: an hour from when the token request left",
			res.ExpiresAt.Sub(sent), want.Sub(sent))
	}
}

func TestTheKeysAreFetchedWhileTheGrantIsOnTheNetwork(t *testing.T) {
	tests := []struct {
		name  string
		scope string
		// refresh runs a refresh grant instead of a code exchange.
		refresh    bool
		wantBefore bool
	}{
		{"a code exchange asking for openid", defaultScope, false, true},
		{"a refresh grant asking for openid", defaultScope, true, true},
		{"a code exchange without openid asks for no keys it may not need", "profile email", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t)
			var mu sync.Mutex
			var answered, jwksBeforeAnswer, jwksSeen bool
			jwks := fx.b.routes[serverOrigin+"/.well-known/jwks.json"]
			fx.b.routes[serverOrigin+"/.well-known/jwks.json"] = func(req platform.HTTPRequest) (*platform.HTTPResponse, error) {
				mu.Lock()
				jwksSeen, jwksBeforeAnswer = true, jwksBeforeAnswer || !answered
				mu.Unlock()
				return jwks(req)
			}
			var grant func(platform.HTTPRequest) (*platform.HTTPResponse, error)
			var c *Client
			var h *refreshTokens
			if tt.refresh {
				c = fx.client(func(o *Options) { o.UseRefreshTokens = true; o.Scope = tt.scope })
				h = newRefreshTokens(c.s, fx.b)
				grant = newRotatingServer(fx, "rt-1").token
				if err := h.Adopt(context.Background(), "rt-1"); err != nil {
					t.Fatal(err)
				}
			} else {
				c = fx.client(func(o *Options) { o.AutoRenew = new(bool); o.ResponseType = "code"; o.Scope = tt.scope })
				grant = fx.token
			}
			// The server answers the grant once the key set was asked for,
			// or after a second when it is not.
			fx.b.routes[serverOrigin+"/oauth/token"] = func(req platform.HTTPRequest) (*platform.HTTPResponse, error) {
				deadline := time.Now().Add(time.Second)
				for tt.wantBefore && time.Now().Before(deadline) {
					mu.Lock()
					seen := jwksSeen
					mu.Unlock()
					if seen {
						break
					}
					runtime.Gosched()
				}
				defer func() { mu.Lock(); answered = true; mu.Unlock() }()
				return grant(req)
			}
			var err error
			if tt.refresh {
				_, err = c.flow.refreshWith(context.Background(), h, defaultRequest(c))
			} else {
				_, err = c.CheckSession(context.Background(), AuthorizeParams{})
			}
			if err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if jwksBeforeAnswer != tt.wantBefore {
				t.Errorf("key set asked for before the grant was answered: %v, want %v", jwksBeforeAnswer, tt.wantBefore)
			}
		})
	}
}

func TestDiscovery(t *testing.T) {
	t.Run("missing discovery falls back to Auth0's paths", func(t *testing.T) {
		fx := newFixture(t)
		fx.b.routes[serverOrigin+"/.well-known/openid-configuration"] = func(platform.HTTPRequest) (*platform.HTTPResponse, error) {
			return &platform.HTTPResponse{Status: 404}, nil
		}
		if _, err := fx.client().CheckSession(context.Background(), AuthorizeParams{}); err != nil {
			t.Fatal(err)
		}
		if got := fx.b.frame(0).URL; got.Path != "/authorize" {
			t.Errorf("authorize at %s", got)
		}
	})
	t.Run("discovery without web_message is invalid_configuration before any iframe", func(t *testing.T) {
		fx := newFixture(t)
		fx.b.routes[serverOrigin+"/.well-known/openid-configuration"] = func(platform.HTTPRequest) (*platform.HTTPResponse, error) {
			return jsonResponse(200, map[string]any{"issuer": idtokentest.IssuerURL, "authorization_endpoint": serverOrigin + "/authorize",
				"jwks_uri": serverOrigin + "/jwks", "response_modes_supported": []string{"query", "fragment"}})
		}
		_, err := fx.client().CheckSession(context.Background(), AuthorizeParams{})
		if errCode(err) != "invalid_configuration" || !strings.Contains(err.Error(), "web_message") || fx.b.frameCount() != 0 {
			t.Fatalf("got %v, %d frames", err, fx.b.frameCount())
		}
	})
	t.Run("unreachable discovery is a network error and is tried again once the backoff ends", func(t *testing.T) {
		fx := newFixture(t)
		route := fx.b.routes[serverOrigin+"/.well-known/openid-configuration"]
		delete(fx.b.routes, serverOrigin+"/.well-known/openid-configuration")
		c := fx.client()
		if _, err := c.CheckSession(context.Background(), AuthorizeParams{}); errCode(err) != "network_error" {
			t.Fatalf("got %v", err)
		}
		fx.b.routes[serverOrigin+"/.well-known/openid-configuration"] = route
		fx.clock.Advance(backoffDelay(1, 1)) // the first failure's longest wait
		if _, err := c.CheckSession(context.Background(), AuthorizeParams{}); err != nil {
			t.Fatalf("second try: %v", err)
		}
	})
	t.Run("explicit endpoints skip discovery", func(t *testing.T) {
		fx := newFixture(t)
		c := fx.client(func(o *Options) {
			o.Issuer, o.AuthorizationEndpoint = idtokentest.IssuerURL, serverOrigin+"/custom/authorize"
			o.TokenEndpoint, o.JWKSURI = serverOrigin+"/oauth/token", serverOrigin+"/.well-known/jwks.json"
		})
		if _, err := c.CheckSession(context.Background(), AuthorizeParams{}); err != nil {
			t.Fatal(err)
		}
		if fx.b.fetchCount(serverOrigin+"/.well-known/openid-configuration") != 0 || fx.b.frame(0).URL.Path != "/custom/authorize" {
			t.Error("discovery was fetched or the override ignored")
		}
	})
}

func TestCodeExchangeErrorsPassThrough(t *testing.T) {
	fx := newFixture(t)
	fx.frameResponse = func(f *fakeFrame) {
		f.respond(map[string]any{"code": "not-issued", "state": f.param("state")})
	}
	_, err := fx.client().CheckSession(context.Background(), AuthorizeParams{})
	if errCode(err) != "invalid_grant" || !strings.Contains(err.Error(), "Invalid authorization code") {
		t.Fatalf("got %v", err)
	}
}

func TestCheckSessionParams(t *testing.T) {
	fx := newFixture(t)
	c := fx.client()
	p := AuthorizeParams{Audience: "https://api", Scope: "openid read", Extra: map[string]string{"login_hint": "a@b.c", "max_age": "3600"}}
	if _, err := c.CheckSession(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	q := fx.b.frame(0).URL.Query()
	for k, want := range map[string]string{"audience": "https://api", "scope": "openid read", "login_hint": "a@b.c", "max_age": "3600"} {
		if q.Get(k) != want {
			t.Errorf("%s = %q, want %q", k, q.Get(k), want)
		}
	}
	if _, err := c.CheckSession(context.Background(), AuthorizeParams{Extra: map[string]string{"prompt": "login"}}); errCode(err) != "invalid_configuration" {
		t.Errorf("prompt=login accepted by checkSession: %v", err)
	}
	for _, reserved := range []string{"state", "scope", "client_id"} {
		if _, err := c.CheckSession(context.Background(), AuthorizeParams{Extra: map[string]string{reserved: "mine"}}); errCode(err) != "invalid_configuration" || !strings.HasPrefix(err.(*Error).Description, reserved+": ") {
			t.Errorf("caller-chosen %s accepted: %v", reserved, err)
		}
	}
}

func TestDestroyCancelsTheRequestInFlight(t *testing.T) {
	fx := newFixture(t)
	fx.frameResponse = func(*fakeFrame) {}
	c := fx.client()
	done := make(chan error, 1)
	go func() { _, err := c.CheckSession(context.Background(), AuthorizeParams{}); done <- err }()
	waitFor(t, "the frame", func() bool { return fx.b.frameCount() == 1 })
	c.Destroy()
	if err := <-done; !errors.Is(err, ErrDestroyed) {
		t.Fatalf("got %v", err)
	}
	waitFor(t, "the frame to close", fx.b.frame(0).isClosed)
	if _, err := c.CheckSession(context.Background(), AuthorizeParams{}); !errors.Is(err, ErrDestroyed) {
		t.Fatalf("a destroyed client still works: %v", err)
	}
}
