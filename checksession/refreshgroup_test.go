package checksession

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/silentauth/silentauth/checksession/platform"
)

// issuingServer is rotatingServer that also gives a refresh token with
// every code exchange that asked for offline_access, as Auth0 does for an
// SPA with rotation on, and records which refresh tokens were presented.
type issuingServer struct {
	*rotatingServer
}

func newIssuingServer(fx *fixture) *issuingServer {
	s := &issuingServer{newRotatingServer(fx, "unused")}
	fx.b.routes[serverOrigin+"/oauth/token"] = s.token
	return s
}

func (s *issuingServer) token(req platform.HTTPRequest) (*platform.HTTPResponse, error) {
	form, _ := url.ParseQuery(string(req.Body))
	if form.Get("grant_type") == "refresh_token" {
		return s.rotatingServer.token(req)
	}
	resp, err := s.fx.token(req)
	if err != nil || resp.Status != 200 {
		return resp, err
	}
	s.mu.Lock()
	s.forms = append(s.forms, form)
	s.n++
	rt := fmt.Sprintf("rt-%d", s.n+1)
	s.live[rt] = true
	s.mu.Unlock()
	return withField(resp, "refresh_token", rt), nil
}

// presented lists the refresh tokens sent, in order.
func (s *issuingServer) presented() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, f := range s.forms {
		if f.Get("grant_type") == "refresh_token" {
			out = append(out, f.Get("refresh_token"))
		}
	}
	return out
}

func withField(resp *platform.HTTPResponse, name, value string) *platform.HTTPResponse {
	body := strings.TrimSuffix(strings.TrimSpace(string(resp.Body)), "}")
	resp.Body = []byte(body + fmt.Sprintf(",%q:%q}", name, value))
	return resp
}

// pageTab is a tab of a tab group whose page can go away (pagehide).
type pageTab struct {
	*fakeBrowser
	*tabHub
	mu     sync.Mutex
	onHide []func()
}

func (p *pageTab) OnPageHide(fn func()) func() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.onHide = append(p.onHide, fn)
	i := len(p.onHide) - 1
	return func() { p.mu.Lock(); p.onHide[i] = nil; p.mu.Unlock() }
}

func (p *pageTab) hide() {
	p.mu.Lock()
	fns := append([]func(){}, p.onHide...)
	p.mu.Unlock()
	for _, fn := range fns {
		if fn != nil {
			fn()
		}
	}
}

func (p *pageTab) listeners() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, fn := range p.onHide {
		if fn != nil {
			n++
		}
	}
	return n
}

// refreshTabs opens n clients with useRefreshTokens in one tab group;
// none has a session yet.
func refreshTabs(t *testing.T, fx *fixture, n int, edit ...func(*Options)) ([]*Client, []*pageTab) {
	hub := newTabHub()
	var clients []*Client
	var tabs []*pageTab
	for range n {
		o := fx.options()
		o.UseRefreshTokens = true
		for _, e := range edit {
			e(&o)
		}
		tab := &pageTab{fakeBrowser: fx.b, tabHub: hub}
		c, err := NewClient(o, tab, fx.clock)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Destroy)
		clients = append(clients, c)
		tabs = append(tabs, tab)
	}
	return clients, tabs
}

// checkAdvancing runs c.CheckSession while moving the fake clock, which
// a tab asking its group for a renewal may wait on, once c and the tabs
// also (which may be renewing for it) are idle.
func checkAdvancing(t *testing.T, fx *fixture, c *Client, also ...*Client) (*AuthResult, error) {
	t.Helper()
	type outcome struct {
		res *AuthResult
		err error
	}
	done := make(chan outcome, 1)
	go func() { res, err := c.CheckSession(context.Background(), AuthorizeParams{}); done <- outcome{res, err} }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		select {
		case o := <-done:
			return o.res, o.err
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("checkSession did not finish; logs %q", fx.logs)
		}
		asking := c.engine.asks.asking.Load() > 0
		if next := fx.clock.pending(); asking && c.idle() && allIdle(also) && len(next) > 0 {
			fx.clock.Advance(next[0])
		}
		runtime.Gosched()
	}
}

// cookiesBlocked makes every silent iframe answer as a browser without
// third-party cookies gets answered: login_required.
func cookiesBlocked(fx *fixture) { fx.answer(answerLoginRequired("Login required")) }

// aSignedInTabAndANewOne is two tabs sharing the refresh tokens of an
// issuing server: the first signed in, so it holds the group's token, and
// the provider's cookie blocked from then on, so the second can be signed in
// only through its group.
func aSignedInTabAndANewOne(t *testing.T, fx *fixture, edit ...func(*Options)) (srv *issuingServer, first, second *Client, firstTab *pageTab) {
	t.Helper()
	srv = newIssuingServer(fx)
	clients, tabs := refreshTabs(t, fx, 2, edit...)
	if _, err := checkAdvancing(t, fx, clients[0]); err != nil {
		t.Fatal(err)
	}
	cookiesBlocked(fx)
	return srv, clients[0], clients[1], tabs[0]
}

func TestRefreshTokensRenewWithoutTheIframeAndRotate(t *testing.T) {
	fx := newFixture(t)
	fx.expiresIn = 120
	srv := newIssuingServer(fx)
	c := fx.client(func(o *Options) { o.UseRefreshTokens = true })
	if _, err := c.CheckSession(context.Background(), AuthorizeParams{}); err != nil {
		t.Fatal(err)
	}
	if q := fx.b.frame(0).URL.Query(); !hasScope(q.Get("scope"), "offline_access") {
		t.Fatalf("the silent request asked for scope %q, without offline_access", q.Get("scope"))
	}
	cookiesBlocked(fx) // from here on only the refresh token can renew
	advanceUntil(t, fx, 5*time.Minute, func() bool { return len(srv.presented()) == 3 }, c)
	if got := strings.Join(srv.presented(), " "); got != "rt-2 rt-3 rt-4" {
		t.Errorf("presented %q, want each rotated token once, in order", got)
	}
	if fx.b.frameCount() != 1 {
		t.Errorf("%d iframes; renewals with a refresh token need none", fx.b.frameCount())
	}
	if held, _ := c.refresh.Current(); held != "rt-5" {
		t.Errorf("holding %q, want the last rotation rt-5", held)
	}
	if ev := fx.eventList(); strings.Join(ev, " ") != "renewed renewed renewed renewed" {
		t.Errorf("events %v: want one renewed per renewal", ev)
	}
	if !strings.Contains(strings.Join(fx.logs, "\n"), "renewal via refresh token") {
		t.Error("the debug log does not say which way the renewal went")
	}
}

func TestRefreshTokenFailures(t *testing.T) {
	cases := []struct {
		name       string
		noFallback bool
		answer     func(url.Values) (*platform.HTTPResponse, error)
		wantEvent  string // the event after the failed renewal
		wantFrames int    // iframes after the first one
		keepsToken bool
	}{
		{"invalid_grant falls back to the iframe", false,
			func(url.Values) (*platform.HTTPResponse, error) {
				return jsonResponse(403, map[string]any{"error": "invalid_grant", "error_description": "Unknown or invalid refresh token."})
			}, "renewed", 1, true}, // the iframe's code exchange brings a new one
		{"invalid_grant without fallback ends the session", true,
			func(url.Values) (*platform.HTTPResponse, error) {
				return jsonResponse(403, map[string]any{"error": "invalid_grant", "error_description": "Unknown or invalid refresh token."})
			}, "session_ended", 0, false},
		{"a server error is retried with the same token", true,
			func(url.Values) (*platform.HTTPResponse, error) {
				return jsonResponse(503, map[string]any{"error": "temporarily_unavailable"})
			}, "renew_error", 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fx := newFixture(t)
			fx.expiresIn = 120
			srv := newIssuingServer(fx)
			c := fx.client(func(o *Options) { o.UseRefreshTokens = true; o.RefreshTokensNoFallback = tc.noFallback })
			if _, err := c.CheckSession(context.Background(), AuthorizeParams{}); err != nil && !tc.noFallback {
				t.Fatal(err)
			}
			if tc.noFallback {
				// Without fallback the first token must come from a login.
				completeInteractiveLogin(t, fx, c)
			}
			frames, events := fx.b.frameCount(), len(fx.eventList())
			srv.mu.Lock()
			srv.answer = tc.answer
			srv.mu.Unlock()
			advanceUntil(t, fx, 5*time.Minute, func() bool { return len(fx.eventList()) > events }, c)
			if ev := fx.eventList(); ev[events] != tc.wantEvent {
				t.Errorf("events %v, want %s after the failed grant", ev, tc.wantEvent)
			}
			if got := fx.b.frameCount() - frames; got != tc.wantFrames {
				t.Errorf("%d fallback iframes, want %d", got, tc.wantFrames)
			}
			if c.refresh.Has() != tc.keepsToken {
				t.Errorf("holds a refresh token: %v, want %v", c.refresh.Has(), tc.keepsToken)
			}
		})
	}
}

// noTwice fails the test when the server saw a refresh token twice.
func noTwice(t *testing.T, srv *issuingServer) {
	t.Helper()
	seen := map[string]bool{}
	for _, rt := range srv.presented() {
		if seen[rt] {
			t.Fatalf("refresh token %s presented twice: %v", rt, srv.presented())
		}
		seen[rt] = true
	}
}

func TestANewTabIsSignedInByTheGroupAndTheTokenStays(t *testing.T) {
	fx := newFixture(t)
	fx.expiresIn = 120
	srv, first, second, _ := aSignedInTabAndANewOne(t, fx)
	res, err := checkAdvancing(t, fx, second)
	if err != nil {
		t.Fatalf("the new tab was not signed in: %v; logs %q", err, fx.logs)
	}
	if res.IDTokenPayload["sub"] == nil || fx.b.frameCount() != 1 {
		t.Errorf("result %+v after %d iframes, want claims and no new iframe", res, fx.b.frameCount())
	}
	if !first.refresh.Has() || second.refresh.Has() {
		t.Errorf("the first tab holds a refresh token: %v, the second: %v; want the first only", first.refresh.Has(), second.refresh.Has())
	}
	// Renewals go on by the first tab's token alone: it never moves on request.
	advanceUntil(t, fx, 5*time.Minute, func() bool { return len(srv.presented()) >= 3 }, first, second)
	noTwice(t, srv)
	if second.refresh.Has() {
		t.Error("the second tab holds a refresh token though the first never left")
	}
	if got := second.GetUser()["sub"]; got == nil {
		t.Error("the second tab lost its session")
	}
}

// Seen in headless Chromium on a loaded machine: the holder answered the
// new tab later than a quarter second, the new tab fell back to the iframe,
// which fails where cookies are blocked, and was signed out though its group
// held a refresh token.
func TestANewTabWaitsForABusyHolder(t *testing.T) {
	fx := newFixture(t)
	fx.expiresIn = 120
	srv, _, second, firstTab := aSignedInTabAndANewOne(t, fx)
	firstTab.tabHub.mu.Lock()
	firstTab.tabHub.holdWanted = true
	firstTab.tabHub.mu.Unlock()
	checked := checkInBackground(t, fx, second)
	waitFor(t, "the new tab to ask its group and wait", func() bool {
		return second.engine.asks.asking.Load() > 0 && second.idle()
	})
	fx.clock.Advance(time.Second) // the holder is busy for a second
	waitFor(t, "the new tab to wait on, or give up", func() bool { return second.idle() })
	firstTab.tabHub.releaseHeld()
	_, err := checked()
	if err != nil {
		t.Fatalf("the new tab was signed out: %v; logs %q", err, fx.logs)
	}
	if fx.b.frameCount() != 1 || len(srv.presented()) > 1 {
		t.Errorf("%d iframes, refresh tokens presented %q: want the login's iframe only and at most the first tab's token", fx.b.frameCount(), srv.presented())
	}
}

// Seen in headless Chromium: the holder shared the result it had, fresh by
// its own renewal point and already due by the asker's, and the asker
// waited for another until it gave up. It asks again, naming that result,
// and the holder renews.
func TestAResultDueForTheAskerBringsARenewal(t *testing.T) {
	fx := newFixture(t)
	fx.expiresIn = 40
	srv := newIssuingServer(fx)
	n := 0
	clients, _ := refreshTabs(t, fx, 2, func(o *Options) {
		// The holder renews 5 s before expiry, the asker halfway (20 s before).
		early := []time.Duration{5 * time.Second, time.Minute}[n]
		o.RenewBeforeExpiry = &early
		n++
	})
	first, second := clients[0], clients[1]
	if _, err := checkAdvancing(t, fx, first); err != nil {
		t.Fatal(err)
	}
	cookiesBlocked(fx)
	fx.clock.Advance(25 * time.Second) // due for the asker, fresh and recent for the holder
	if _, err := checkAdvancing(t, fx, second, first); err != nil {
		t.Fatalf("the new tab was not signed in: %v; logs %q", err, fx.logs)
	}
	if second.tokens.fresh(second.s.defaultRequest()) == nil {
		t.Error("the new tab holds a result already due")
	}
	if got := strings.Join(srv.presented(), " "); got != "rt-2" || fx.b.frameCount() != 1 {
		t.Errorf("presented %q after %d iframes, want one renewal by the holder's token and no new iframe", got, fx.b.frameCount())
	}
}

// A tab that asks for a renewal while the holder's grant is on the network
// gets that grant's result, and the token is presented once.
func TestARenewalAskedForDuringTheHoldersGrantIsAnsweredByIt(t *testing.T) {
	fx := newFixture(t)
	fx.expiresIn = 120
	srv, first, second, _ := aSignedInTabAndANewOne(t, fx)
	gate := make(chan struct{})
	srv.mu.Lock()
	srv.gate = gate
	srv.mu.Unlock()
	checked := make(chan error, 1)
	go func() {
		_, err := first.CheckSession(context.Background(), AuthorizeParams{})
		checked <- err
	}()
	waitFor(t, "the holder's grant to take the token", func() bool {
		first.refresh.mu.Lock()
		defer first.refresh.mu.Unlock()
		return first.refresh.out
	})
	asked := make(chan *AuthResult, 1)
	go func() {
		res, err := second.engine.asks.ask(context.Background(), second.s.defaultRequest(), false)
		if err != nil {
			t.Errorf("the ask failed: %v", err)
		}
		asked <- res
	}()
	waitFor(t, "the new tab to ask and wait", func() bool {
		return second.engine.asks.asking.Load() > 0 && second.idle()
	})
	close(gate)
	if err := <-checked; err != nil {
		t.Fatalf("the holder's renewal: %v", err)
	}
	var res *AuthResult
	select {
	case res = <-asked:
	case <-time.After(5 * time.Second):
		t.Fatalf("the ask did not end; logs %q", fx.logs)
	}
	if res == nil || res.AccessToken != first.tokens.latest(first.s.defaultRequest()).AccessToken {
		t.Fatalf("the ask got %+v, want the holder's renewal; logs %q", res, fx.logs)
	}
	if held, _ := first.refresh.Current(); held != "rt-3" || second.refresh.Has() {
		t.Errorf("the holder holds %q, want the rotated rt-3; the asker holds one: %v", held, second.refresh.Has())
	}
	if got := strings.Join(srv.presented(), " "); got != "rt-2" {
		t.Errorf("presented %q, want the holder's token once; logs %q", got, fx.logs)
	}
}

// nextInLine waits until c has announced itself next in line for the token.
func nextInLine(t *testing.T, c *Client) string {
	t.Helper()
	var nonce string
	waitFor(t, "the tab to be next in line", func() bool {
		c.refresh.mu.Lock()
		defer c.refresh.mu.Unlock()
		nonce = c.refresh.awaiting
		return nonce != ""
	})
	return nonce
}

// heardNextInLine waits until holder has heard next announce itself next
// in line.
func heardNextInLine(t *testing.T, holder, next *Client) {
	t.Helper()
	nonce := nextInLine(t, next)
	waitFor(t, "the holder to hear the nonce of the next in line", func() bool {
		holder.refresh.mu.Lock()
		defer holder.refresh.mu.Unlock()
		return holder.refresh.heir == nonce
	})
}

func TestPageHideHandsTheRefreshTokenToTheTabNextInLine(t *testing.T) {
	fx := newFixture(t)
	fx.expiresIn = 120
	srv := newIssuingServer(fx)
	clients, tabs := refreshTabs(t, fx, 3)
	for _, c := range clients {
		if _, err := checkAdvancing(t, fx, c); err != nil {
			t.Fatal(err)
		}
	}
	// The first tab's login gave it the token; the second was granted the
	// custody lock, the third waits behind it.
	if !clients[0].refresh.Has() || clients[1].refresh.Has() || clients[2].refresh.Has() {
		t.Fatalf("holding: %v %v %v, want the first tab only", clients[0].refresh.Has(), clients[1].refresh.Has(), clients[2].refresh.Has())
	}
	heardNextInLine(t, clients[0], clients[1])
	held, _ := clients[0].refresh.Current()
	tabs[0].hide()
	if clients[0].refresh.Has() {
		t.Error("the hidden tab kept the token it handed over")
	}
	if got, _ := clients[1].refresh.Current(); got != held {
		t.Fatalf("the next in line holds %q, want the handed-over %q; logs %q", got, held, fx.logs)
	}
	if clients[2].refresh.Has() {
		t.Error("the tab behind the next in line took the token too")
	}
	clients[0].Destroy()
	if tabs[0].listeners() != 0 {
		t.Error("destroy left the pagehide listener")
	}
	// The third tab steps up, and the new holder hands on to it in turn.
	nextInLine(t, clients[2])
	cookiesBlocked(fx)
	n := len(srv.presented())
	advanceUntil(t, fx, 5*time.Minute, func() bool { return len(srv.presented()) > n }, clients[1], clients[2])
	if got := srv.presented()[n]; got != held {
		t.Errorf("the new holder presented %q, want %q", got, held)
	}
	// A late copy of the spent token is refused, so it is never presented again.
	_ = clients[1].refresh.Adopt(context.Background(), held)
	if got, _ := clients[1].refresh.Current(); got == held {
		t.Error("a spent refresh token was adopted again")
	}
	waitFor(t, "the tabs to settle", func() bool { return allIdle(clients[1:]) })
	heardNextInLine(t, clients[1], clients[2])
	rotated, _ := clients[1].refresh.Current()
	clients[1].Destroy()
	if got, _ := clients[2].refresh.Current(); got != rotated || rotated == "" {
		t.Errorf("after the holder's destroy the third tab holds %q, want %q", got, rotated)
	}
}

// TestTheRefreshTokenMovesOnlyToTheTabNextInLine: a script on the origin
// that posts on the group's channel gets no refresh token by asking, and
// no tab adopts a hand-over that is not addressed to its own nonce.
func TestTheRefreshTokenMovesOnlyToTheTabNextInLine(t *testing.T) {
	cases := []struct {
		name string
		post func(heirNonce string) map[string]any
		// wantShare: the script receives a renewed (a result, never the token).
		wantShare bool
	}{
		{"asking for the token is not answered", func(string) map[string]any {
			return map[string]any{"kind": "refresh_token_wanted"}
		}, false},
		{"asking for a renewal gets a result, not the token", func(string) map[string]any {
			return map[string]any{"kind": "renewal_wanted"}
		}, true},
		{"a hand-over addressed to nobody is refused", func(string) map[string]any {
			return map[string]any{"kind": "refresh_token_handover", "refresh_token": "rt-forged"}
		}, false},
		{"a hand-over addressed to another nonce is refused", func(string) map[string]any {
			return map[string]any{"kind": "refresh_token_handover", "to": "another-nonce", "refresh_token": "rt-forged"}
		}, false},
		{"announcing a nonce brings no token while the holder stays", func(string) map[string]any {
			return map[string]any{"kind": "refresh_token_next_in_line", "nonce": "script-nonce"}
		}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fx := newFixture(t)
			fx.expiresIn = 120
			_, first, second, firstTab := aSignedInTabAndANewOne(t, fx)
			if _, err := checkAdvancing(t, fx, second); err != nil {
				t.Fatal(err)
			}
			heir := nextInLine(t, second)
			held, _ := first.refresh.Current()
			var mu sync.Mutex
			var heard []string
			ch, err := firstTab.tabHub.Join(first.s.tabKey(), func(b []byte) { mu.Lock(); heard = append(heard, string(b)); mu.Unlock() })
			if err != nil {
				t.Fatal(err)
			}
			defer ch.Close()
			data, _ := json.Marshal(tc.post(heir))
			if err := ch.Post(data); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the message to be handled", func() bool { return allIdle([]*Client{first, second}) })
			mu.Lock()
			all := strings.Join(heard, "\n")
			mu.Unlock()
			if strings.Contains(all, "rt-") {
				t.Errorf("the script heard a refresh token: %s", all)
			}
			if got := strings.Contains(all, `"renewed"`); got != tc.wantShare {
				t.Errorf("the script heard a result: %v, want %v (%s)", got, tc.wantShare, all)
			}
			if got, _ := first.refresh.Current(); got != held {
				t.Errorf("the holder holds %q, want %q", got, held)
			}
			if second.refresh.Has() {
				t.Errorf("the next in line adopted a token; logs %q", fx.logs)
			}
			if got := nextInLine(t, second); got != heir {
				t.Errorf("the next in line's nonce changed")
			}
		})
	}
}

func TestLogoutForgetsTheRefreshTokenEvenFromARequestInFlight(t *testing.T) {
	fx := newFixture(t)
	newIssuingServer(fx)
	c := fx.client(func(o *Options) { o.UseRefreshTokens = true })
	release, done := fx.heldCheckSession(c)
	waitFor(t, "the iframe", func() bool { return fx.b.frameCount() == 1 })
	if err := c.Logout(context.Background(), LogoutParams{LocalOnly: true}); err != nil {
		t.Fatal(err)
	}
	close(release)
	if err := <-done; err == nil {
		t.Error("a check that was in flight at logout succeeded")
	}
	if c.refresh.Has() {
		t.Error("a refresh token from before the logout is held")
	}
}

// TestAForgedRenewedDoesNotDropTheRefreshToken: a "renewed" that says a
// refresh token was spent makes a tab drop its copy only once its ID token
// verifies; a forgery (garbage, or a replay) leaves the token where it is.
func TestAForgedRenewedDoesNotDropTheRefreshToken(t *testing.T) {
	cases := []struct {
		name    string
		idToken func(fx *fixture) string
		drops   bool
	}{
		{"a garbage ID token", func(*fixture) string { return "garbage.garbage.garbage" }, false},
		{"a replayed old ID token", func(fx *fixture) string {
			claims := fx.iss.Claims(fx.clock.Now().Add(-time.Hour))
			claims["exp"] = fx.clock.Now().Add(time.Hour).Unix()
			return fx.iss.Sign(fx.t, claims)
		}, false},
		{"a genuine share", func(fx *fixture) string { return fx.iss.Sign(fx.t, fx.iss.Claims(fx.clock.Now())) }, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fx := newFixture(t)
			fx.expiresIn = 120
			_, first, _, tab := aSignedInTabAndANewOne(t, fx)
			if !first.refresh.Has() {
				t.Fatal("the signed-in tab holds no refresh token")
			}
			ch, err := tab.tabHub.Join(first.s.tabKey(), func([]byte) {})
			if err != nil {
				t.Fatal(err)
			}
			defer ch.Close()
			data, _ := json.Marshal(map[string]any{"kind": "renewed", "via": "refresh_token", "result": map[string]any{
				"access_token": "AT-FORGED", "id_token": tc.idToken(fx), "expires_in": 120,
				"expires_at_ms": fx.clock.Now().Add(120 * time.Second).UnixMilli(), "request_scope": defaultScope}})
			if err := ch.Post(data); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the share to be handled", func() bool { return first.idle() })
			if dropped := !first.refresh.Has(); dropped != tc.drops {
				t.Errorf("dropped the refresh token: %v, want %v; logs %q", dropped, tc.drops, fx.logs[max(0, len(fx.logs)-3):])
			}
		})
	}
}

// TestARefreshAnswerIsCheckedLikeTheIframes: a refresh grant's ID token is
// verified, and one for another user ends the session (session_ended), as
// the iframe path does; its refresh token is not kept.
func TestARefreshAnswerIsCheckedLikeTheIframes(t *testing.T) {
	cases := []struct {
		name      string
		claims    func(fx *fixture) map[string]any // the answer's ID token; nil: none
		wantEvent string
		wantSub   any // getUser().sub afterwards
		keepsRT   bool
	}{
		{"another subject ends the session", func(fx *fixture) map[string]any {
			c := fx.iss.Claims(fx.clock.Now())
			c["sub"] = "auth0|someone-else"
			return c
		}, "session_ended", nil, false},
		{"another issuer is refused and retried", func(fx *fixture) map[string]any {
			c := fx.iss.Claims(fx.clock.Now())
			c["iss"] = "https://evil.example.com/"
			return c
		}, "renew_error", "auth0|user-1", true},
		{"the same user is taken", func(fx *fixture) map[string]any { return fx.iss.Claims(fx.clock.Now()) }, "renewed", "auth0|user-1", true},
		{"no ID token keeps the session's user", nil, "renewed", "auth0|user-1", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fx := newFixture(t)
			fx.expiresIn = 120
			srv := newIssuingServer(fx)
			c := fx.client(func(o *Options) { o.UseRefreshTokens = true; o.RefreshTokensNoFallback = true })
			completeInteractiveLogin(t, fx, c)
			events := len(fx.eventList())
			srv.mu.Lock()
			srv.answer = func(url.Values) (*platform.HTTPResponse, error) {
				body := map[string]any{"access_token": "at-next", "refresh_token": "rt-next", "token_type": "Bearer", "expires_in": 120}
				if tc.claims != nil {
					body["id_token"] = fx.iss.Sign(t, tc.claims(fx))
				}
				return jsonResponse(200, body)
			}
			srv.mu.Unlock()
			advanceUntil(t, fx, 5*time.Minute, func() bool { return len(fx.eventList()) > events }, c)
			if ev := fx.eventList(); ev[events] != tc.wantEvent {
				t.Errorf("events %v, want %s after the grant", ev, tc.wantEvent)
			}
			if sub := c.GetUser()["sub"]; sub != tc.wantSub {
				t.Errorf("getUser().sub = %v, want %v", sub, tc.wantSub)
			}
			if c.refresh.Has() != tc.keepsRT {
				t.Errorf("holds a refresh token: %v, want %v", c.refresh.Has(), tc.keepsRT)
			}
		})
	}
}

// When the holder's grant, made for a tab that asked, fails with a 503 and
// Retry-After, the asker answers with that failure and its wait: it does
// not try the silent iframe, which cannot answer where cookies are blocked
// and would end the whole group's session although its refresh token is
// still good.
func TestAHoldersFailedGrantForAnAskerIsTheAskersAnswerNotTheIframe(t *testing.T) {
	fx := newFixture(t)
	fx.expiresIn = 600
	srv, first, second, _ := aSignedInTabAndANewOne(t, fx)
	// The holder's result is no longer recent enough to re-share, so the
	// ask makes it renew.
	fx.clock.Advance(shareMaxAge/2 + time.Second)
	srv.mu.Lock()
	srv.answer = func(url.Values) (*platform.HTTPResponse, error) {
		r, err := jsonResponse(503, map[string]any{"error": "temporarily_unavailable", "error_description": "busy"})
		r.Header = map[string]string{"retry-after": "20"}
		return r, err
	}
	srv.mu.Unlock()
	frames, events := fx.b.frameCount(), len(fx.eventList())

	res, err := checkAdvancing(t, fx, second, first)
	var e *Error
	if res != nil || !errors.As(err, &e) || e.Code != "temporarily_unavailable" {
		t.Fatalf("the asker got %+v, %v; want the holder's temporarily_unavailable; logs %q", res, err, fx.logs)
	}
	if e.RetryAfter < 15*time.Second || e.RetryAfter > 20*time.Second {
		t.Errorf("the asker's error says retry after %v, want the server's 20 s (less what passed)", e.RetryAfter)
	}
	if got := fx.b.frameCount() - frames; got != 0 {
		t.Errorf("the asker opened %d silent iframes after the holder's 503, want none", got)
	}
	for _, ev := range fx.eventList()[events:] {
		if ev == "session_ended" {
			t.Errorf("events after the 503 %v: the session ended", fx.eventList()[events:])
		}
	}
	if !first.refresh.Has() {
		t.Error("the holder dropped its refresh token after a 503")
	}
	if got := len(srv.presented()); got != 1 {
		t.Errorf("the server saw %d refresh grants, want the one the ask caused", got)
	}
}

// Seen in headless Chromium on a loaded machine, where the provider's
// cookie is third-party: a new tab asked its group, the holder shared its
// result, and the new tab, still fetching the keys to verify it when its
// wait ran out, tried the silent iframe, whose login_required ended the
// session in every tab.
func TestAnAskerWaitsForTheShareItIsVerifying(t *testing.T) {
	fx := newFixture(t)
	fx.expiresIn = 120
	_, _, second, _ := aSignedInTabAndANewOne(t, fx)
	keysReleased := holdKeys(fx) // the new tab's key fetch, slow
	frames, events := fx.b.frameCount(), len(fx.eventList())
	checked := checkInBackground(t, fx, second)
	verifyingWhileAsking(t, second)
	fx.clock.Advance(handoverWait) // the ask's wait runs out mid-verification
	timeout := second.s.defaultRequest().timeout
	waitFor(t, "the new tab to wait on, or try the iframe", func() bool {
		return fx.b.frameCount() > frames || slices.Contains(fx.clock.pending(), timeout)
	})
	close(keysReleased)
	if _, err := checked(); err != nil {
		t.Fatalf("the new tab got %v; want the holder's share; logs %q", err, fx.logs)
	}
	if got := fx.b.frameCount() - frames; got != 0 {
		t.Errorf("the new tab opened %d silent iframes while verifying the share, want none", got)
	}
	if ev := fx.eventList()[events:]; slices.Contains(ev, "session_ended") {
		t.Errorf("events %v: the session ended", ev)
	}
}

// A share whose verification outlasts the ask's whole wait, so that the
// asker tries the silent iframe, and that is taken before the iframe's
// login_required comes back, means the group's session goes on: the
// request's callers get that share, and no tab's session ends.
func TestAShareThatOvertakesTheIframesLoginRequiredKeepsTheSession(t *testing.T) {
	fx := newFixture(t)
	fx.expiresIn = 120
	// A short request timeout: the whole wait must stay within the share's
	// age limit (shareMaxAge), or the share is rightly refused as a replay.
	_, _, second, _ := aSignedInTabAndANewOne(t, fx, func(o *Options) { o.Timeout = 10 * time.Second })
	keysReleased := holdKeys(fx)
	iframeAnswers := make(chan struct{})
	fx.answer(func(f *fakeFrame) {
		<-iframeAnswers
		answerLoginRequired("Login required")(f)
	})
	frames, events := fx.b.frameCount(), len(fx.eventList())
	checked := checkInBackground(t, fx, second)
	verifyingWhileAsking(t, second)
	fx.clock.Advance(handoverWait)
	timeout := second.s.defaultRequest().timeout
	fx.clock.waitPending(t, timeout, "the new tab to wait on for the share")
	fx.clock.Advance(timeout)
	waitFor(t, "the new tab to try the silent iframe", func() bool { return fx.b.frameCount() > frames })
	close(keysReleased)
	waitFor(t, "the new tab to take the holder's share", func() bool { return second.tokens.usable(second.s.defaultRequest()) != nil })
	shared := second.tokens.usable(second.s.defaultRequest())
	close(iframeAnswers)
	res, err := checked()
	if err != nil || res != shared {
		t.Fatalf("the new tab got %+v, %v; want the holder's share; logs %q", res, err, fx.logs)
	}
	if ev := fx.eventList()[events:]; slices.Contains(ev, "session_ended") {
		t.Errorf("events %v: the session ended", ev)
	}
	if second.GetUser() == nil {
		t.Error("the new tab lost its user")
	}
}

// holdKeys holds every fetch of the server's keys until release is closed.
func holdKeys(fx *fixture) (release chan struct{}) {
	jwksURL := serverOrigin + "/.well-known/jwks.json"
	release = make(chan struct{})
	fx.b.mu.Lock()
	defer fx.b.mu.Unlock()
	jwks := fx.b.routes[jwksURL]
	fx.b.routes[jwksURL] = func(req platform.HTTPRequest) (*platform.HTTPResponse, error) {
		<-release
		return jwks(req)
	}
	return release
}

// verifyingWhileAsking waits until c waits for its group's answer while it
// verifies a share: the answer, unless the verification is slow.
func verifyingWhileAsking(t *testing.T, c *Client) {
	t.Helper()
	waitFor(t, "the new tab to wait for its group while it verifies the holder's share", func() bool {
		// Every goroutine blocked: the ask is parked on its armed wait.
		return c.engine.asks.asking.Load() > 0 && c.group.adopting.Load() > 0 && quiet()
	})
}

// checkInBackground starts c's checkSession and returns how to wait for its
// outcome, which fails the test after five seconds of real time.
func checkInBackground(t *testing.T, fx *fixture, c *Client) func() (*AuthResult, error) {
	type outcome struct {
		res *AuthResult
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := c.CheckSession(context.Background(), AuthorizeParams{})
		done <- outcome{res, err}
	}()
	return func() (*AuthResult, error) {
		t.Helper()
		select {
		case o := <-done:
			return o.res, o.err
		case <-time.After(5 * time.Second):
			fx.mu.Lock()
			defer fx.mu.Unlock()
			t.Fatalf("checkSession did not finish; logs %q", fx.logs)
			return nil, nil
		}
	}
}
