package checksession

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/silentauth/silentauth/checksession/platform"
)

// tabHub plays Web Locks and BroadcastChannel for tabs of one origin.
type tabHub struct {
	mu       sync.Mutex
	holder   map[string]*tabLock
	queue    map[string][]*tabLock
	channels map[string][]*tabChannel
	// holdWanted keeps each renewal_wanted message from the other tabs
	// until releaseHeld: a holder that is slow to answer.
	holdWanted bool
	held       []func()
}

// releaseHeld delivers the messages holdWanted kept.
func (h *tabHub) releaseHeld() {
	h.mu.Lock()
	held := h.held
	h.held, h.holdWanted = nil, false
	h.mu.Unlock()
	for _, deliver := range held {
		deliver()
	}
}

type tabLock struct {
	name   string
	onLead func()
	tab    int // the tab that asked, where the test says (tabAs); else -1
}

type tabChannel struct {
	hub       *tabHub
	name      string
	onMessage func([]byte)
}

func newTabHub() *tabHub {
	return &tabHub{holder: map[string]*tabLock{}, queue: map[string][]*tabLock{}, channels: map[string][]*tabChannel{}}
}

func (h *tabHub) Lead(name string, onLead func()) (func(), error) {
	return h.lead(name, -1, onLead)
}

func (h *tabHub) lead(name string, tab int, onLead func()) (func(), error) {
	l := &tabLock{name: name, onLead: onLead, tab: tab}
	h.mu.Lock()
	if h.holder[name] == nil {
		h.holder[name] = l
		onLead()
	} else {
		h.queue[name] = append(h.queue[name], l)
	}
	h.mu.Unlock()
	return func() { h.release(l) }, nil
}

// release is what closing the holder's tab does too: the next waiter leads.
func (h *tabHub) release(l *tabLock) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.holder[l.name] == l {
		delete(h.holder, l.name)
		if q := h.queue[l.name]; len(q) > 0 {
			next := q[0]
			h.queue[l.name] = q[1:]
			h.holder[l.name] = next
			next.onLead() // at once, as the release returns: tests see no gap
		}
		return
	}
	q := h.queue[l.name]
	for i, w := range q {
		if w == l {
			h.queue[l.name] = append(q[:i], q[i+1:]...)
		}
	}
}

// queued lists the tabs waiting for the lock name, first in line first.
func (h *tabHub) queued(name string) []int {
	h.mu.Lock()
	defer h.mu.Unlock()
	var tabs []int
	for _, l := range h.queue[name] {
		tabs = append(tabs, l.tab)
	}
	return tabs
}

// firstInLine moves tab's request for the lock name to the queue's front.
func (h *tabHub) firstInLine(name string, tab int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	q := h.queue[name]
	for i, l := range q {
		if l.tab == tab {
			h.queue[name] = append([]*tabLock{l}, append(q[:i:i], q[i+1:]...)...)
			return
		}
	}
}

func (h *tabHub) Join(name string, onMessage func([]byte)) (platform.Channel, error) {
	c := &tabChannel{hub: h, name: name, onMessage: onMessage}
	h.mu.Lock()
	h.channels[name] = append(h.channels[name], c)
	h.mu.Unlock()
	return c, nil
}

func (c *tabChannel) Post(data []byte) error {
	c.hub.mu.Lock()
	var others []*tabChannel
	for _, o := range c.hub.channels[c.name] {
		if o != c {
			others = append(others, o)
		}
	}
	hold := c.hub.holdWanted && strings.Contains(string(data), `"`+kindRenewalWanted+`"`)
	c.hub.mu.Unlock()
	for _, o := range others {
		msg := append([]byte(nil), data...)
		if hold {
			c.hub.mu.Lock()
			c.hub.held = append(c.hub.held, func() { o.onMessage(msg) })
			c.hub.mu.Unlock()
			continue
		}
		o.onMessage(msg)
	}
	return nil
}

func (c *tabChannel) Close() {
	c.hub.mu.Lock()
	defer c.hub.mu.Unlock()
	list := c.hub.channels[c.name]
	for i, o := range list {
		if o == c {
			c.hub.channels[c.name] = append(list[:i], list[i+1:]...)
			return
		}
	}
}

// tabBrowser is one tab: the shared fake page and server, plus the hub.
type tabBrowser struct {
	*fakeBrowser
	*tabHub
}

// openTabs starts n clients, one per tab, each with a session.
// The second result reads tab i's events so far.
func openTabs(t *testing.T, fx *fixture, n int) ([]*Client, func(i int) []string) {
	return openTabsOn(t, fx, n, func(_ int, hub *tabHub) platform.Browser { return tabBrowser{fx.b, hub} })
}

// openTabsOn is openTabs with tab i's browser made by browserFor.
func openTabsOn(t *testing.T, fx *fixture, n int, browserFor func(i int, hub *tabHub) platform.Browser) ([]*Client, func(i int) []string) {
	hub := newTabHub()
	clients := make([]*Client, n)
	events := make([][]string, n)
	var mu sync.Mutex
	for i := range clients {
		o := fx.options()
		o.OnEvent = func(e Event) { mu.Lock(); events[i] = append(events[i], string(e.Name)); mu.Unlock() }
		c, err := NewClient(o, browserFor(i, hub), fx.clock)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Destroy)
		if _, err := c.CheckSession(context.Background(), AuthorizeParams{}); err != nil {
			t.Fatal(err)
		}
		clients[i] = c
	}
	waitFor(t, "the tabs to take each other's results", func() bool { return allIdle(clients) })
	return clients, func(i int) []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), events[i]...) }
}

func TestTabsRenewOnceBetweenThem(t *testing.T) {
	for _, n := range []int{2, 5} {
		t.Run(strings.Repeat("tab ", n), func(t *testing.T) {
			fx := newFixture(t)
			fx.expiresIn = 120
			clients, events := openTabs(t, fx, n)
			opened := fx.b.frameCount() // one per tab at load
			before := make([]int, n)
			for i := range clients {
				before[i] = len(events(i))
			}
			// Two renewal periods: every tab's timer comes due twice.
			end := fx.clock.Now().Add(2*time.Minute + time.Second)
			advanceUntil(t, fx, 3*time.Minute, func() bool { return !fx.clock.Now().Before(end) }, clients...)
			if got := fx.b.frameCount() - opened; got != 2 {
				t.Fatalf("%d tabs made %d renewal requests in two periods, want 2; logs %q", n, got, fx.logs)
			}
			want, _ := clients[0].GetTokenSilently(context.Background(), AuthorizeParams{})
			for i, c := range clients {
				if tok, _ := c.GetTokenSilently(context.Background(), AuthorizeParams{}); tok != want {
					t.Errorf("tab %d serves %q, tab 0 %q; logs %q", i, tok, want, fx.logs)
				}
				if got := len(events(i)) - before[i]; got != 2 {
					t.Errorf("tab %d: %d events for two renewals, want 2 renewed: %v", i, got, events(i))
				}
			}
			if fx.b.frameCount()-opened != 2 {
				t.Fatalf("serving the shared token opened iframes")
			}
		})
	}
}

func TestAnotherTabRenewsWhenTheRenewingTabCloses(t *testing.T) {
	fx := newFixture(t)
	fx.expiresIn = 120
	clients, events := openTabs(t, fx, 2)
	clients[0].Destroy()
	opened := fx.b.frameCount()
	advanceUntil(t, fx, 2*time.Minute, func() bool { return fx.b.frameCount() > opened }, clients[1])
	waitFor(t, "the second tab's renewal", func() bool { ev := events(1); return ev[len(ev)-1] == "renewed" && clients[1].idle() })
}

// frozenHolder takes the group's renewal lock and never lets go, as a
// frozen tab does.
func frozenHolder(hub *tabHub, c *Client) {
	granted := make(chan struct{})
	_, _ = hub.Lead(c.s.tabKey()+":renew", func() { close(granted) })
	<-granted
}

func TestAFrozenLockHolderDelaysTheGroupByOneTimeoutAtMost(t *testing.T) {
	fx := newFixture(t)
	fx.expiresIn = 120
	clients, _ := openTabs(t, fx, 1)
	c := clients[0]
	frozenHolder(c.browser.(tabBrowser).tabHub, c)
	opened := fx.b.frameCount()
	start := fx.clock.Now()
	advanceUntil(t, fx, 3*time.Minute, func() bool { return fx.b.frameCount() > opened }, c)
	// Due at 60 s; the lock wait gives up after the 60 s request timeout.
	if at := fx.clock.Now().Sub(start); at != 2*time.Minute {
		t.Errorf("renewed %v after the result, want 60 s due + 60 s lock wait", at)
	}
	if !fx.logged("renewing without it") {
		t.Error("no debug line says why the lock was skipped")
	}
}

func TestSessionEndReachesEveryTab(t *testing.T) {
	fx := newFixture(t)
	fx.expiresIn = 120
	clients, events := openTabs(t, fx, 3)
	fx.mu.Lock()
	fx.frameResponse = answerLoginRequired("Login required")
	fx.mu.Unlock()
	opened := fx.b.frameCount()
	advanceUntil(t, fx, 2*time.Minute, func() bool { return fx.b.frameCount() > opened }, clients...)
	for i := range 3 {
		waitFor(t, "session_ended in every tab", func() bool {
			ev := events(i)
			return len(ev) > 0 && ev[len(ev)-1] == "session_ended"
		})
	}
	end := fx.clock.Now().Add(5 * time.Minute)
	advanceUntil(t, fx, 6*time.Minute, func() bool { return !fx.clock.Now().Before(end) }, clients...)
	if got := fx.b.frameCount() - opened; got != 1 {
		t.Errorf("%d requests after login_required, want the one that got it", got)
	}
	for i := range 3 {
		if n := strings.Count(strings.Join(events(i), " "), "session_ended"); n != 1 {
			t.Errorf("tab %d: %d session_ended events, want 1", i, n)
		}
	}
}

func TestLogoutEndsTheSessionInEveryTab(t *testing.T) {
	fx := newFixture(t)
	fx.expiresIn = 120
	clients, events := openTabs(t, fx, 3)
	if err := clients[0].Logout(context.Background(), LogoutParams{LocalOnly: true}); err != nil {
		t.Fatal(err)
	}
	for i, c := range clients {
		if c.GetUser() != nil {
			t.Errorf("tab %d still has the user after logout", i)
		}
		if ev := events(i); i > 0 && ev[len(ev)-1] != "session_ended" {
			t.Errorf("tab %d events %v, want session_ended last", i, ev)
		}
	}
	opened := fx.b.frameCount()
	end := fx.clock.Now().Add(5 * time.Minute)
	advanceUntil(t, fx, 6*time.Minute, func() bool { return !fx.clock.Now().Before(end) }, clients...)
	if got := fx.b.frameCount() - opened; got != 0 {
		t.Errorf("%d renewals after logout undid it", got)
	}
}

// postAsTab posts raw data on the group's channel as another page of the
// origin would.
func postAsTab(t *testing.T, c *Client, data []byte) {
	t.Helper()
	ch, err := c.browser.(tabBrowser).tabHub.Join(c.s.tabKey(), func([]byte) {})
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	if err := ch.Post(data); err != nil {
		t.Fatal(err)
	}
}

func TestSharedResultsAreVerifiedBeforeUse(t *testing.T) {
	valid := func(fx *fixture, edit func(claims map[string]any)) string {
		claims := fx.iss.Claims(fx.clock.Now())
		if edit != nil {
			edit(claims)
		}
		return fx.iss.Sign(fx.t, claims)
	}
	cases := []struct {
		name    string
		message func(fx *fixture) any
		adopted bool
	}{
		{"a verified result with claims in the message takes the claims from the token", func(fx *fixture) any {
			return map[string]any{"kind": "renewed", "result": map[string]any{
				"access_token": "AT-GOOD", "id_token": valid(fx, nil), "expires_in": 120,
				"expires_at_ms": fx.clock.Now().Add(120 * time.Second).UnixMilli(), "request_scope": defaultScope,
				"id_token_payload": map[string]any{"sub": "attacker"},
			}}
		}, true},
		{"the issue's forgery without an ID token is ignored", func(fx *fixture) any {
			return map[string]any{"kind": "renewed", "result": map[string]any{
				"access_token": "ATTACKER-TOKEN", "id_token_payload": map[string]any{"sub": "attacker"}, "request_scope": defaultScope}}
		}, false},
		{"an ID token with a bad signature is ignored", func(fx *fixture) any {
			tok := valid(fx, nil)
			return map[string]any{"kind": "renewed", "result": map[string]any{
				"access_token": "ATTACKER-TOKEN", "id_token": tok[:len(tok)-4] + "AAAA", "expires_in": 120,
				"expires_at_ms": fx.clock.Now().Add(120 * time.Second).UnixMilli(), "request_scope": defaultScope}}
		}, false},
		{"an ID token for another client is ignored", func(fx *fixture) any {
			return map[string]any{"kind": "renewed", "result": map[string]any{
				"access_token": "ATTACKER-TOKEN", "id_token": valid(fx, func(c map[string]any) { c["aud"] = "other-client" }), "expires_in": 120,
				"expires_at_ms": fx.clock.Now().Add(120 * time.Second).UnixMilli(), "request_scope": defaultScope}}
		}, false},
		{"an ID token for another user is ignored", func(fx *fixture) any {
			return map[string]any{"kind": "renewed", "result": map[string]any{
				"access_token": "ATTACKER-TOKEN", "id_token": valid(fx, func(c map[string]any) { c["sub"] = "attacker" }), "expires_in": 120,
				"expires_at_ms": fx.clock.Now().Add(120 * time.Second).UnixMilli(), "request_scope": defaultScope}}
		}, false},
		{"an old result replayed with a far expiry is ignored", func(fx *fixture) any {
			old := valid(fx, func(c map[string]any) { c["iat"] = fx.clock.Now().Add(-10 * time.Minute).Unix() })
			return map[string]any{"kind": "renewed", "result": map[string]any{
				"access_token": "ATTACKER-TOKEN", "id_token": old, "expires_in": 120,
				"expires_at_ms": fx.clock.Now().Add(time.Hour).UnixMilli(), "request_scope": defaultScope}}
		}, false},
		{"a replayed 10-minute-old ID token with expires_in of ten years is ignored", func(fx *fixture) any {
			old := valid(fx, func(c map[string]any) { c["iat"] = fx.clock.Now().Add(-10 * time.Minute).Unix() })
			tenYears := int64(10 * 365 * 24 * 3600)
			return map[string]any{"kind": "renewed", "result": map[string]any{
				"access_token": "ATTACKER-TOKEN", "id_token": old, "expires_in": tenYears,
				"expires_at_ms": fx.clock.Now().Add(time.Duration(tenYears) * time.Second).UnixMilli(), "request_scope": defaultScope}}
		}, false},
		{"a verified result that expires before this tab's is ignored", func(fx *fixture) any {
			return map[string]any{"kind": "renewed", "result": map[string]any{
				"access_token": "AT-OLDER", "id_token": valid(fx, nil), "expires_in": 120,
				"expires_at_ms": fx.clock.Now().Add(60 * time.Second).UnixMilli(), "request_scope": defaultScope}}
		}, false},
		{"an oversized message is ignored, even one carrying a valid result", func(fx *fixture) any {
			b, _ := json.Marshal(map[string]any{"kind": "renewed", "pad": strings.Repeat("x", maxTabMessageBytes), "result": map[string]any{
				"access_token": "AT-OVERSIZED", "id_token": valid(fx, nil), "expires_in": 120,
				"expires_at_ms": fx.clock.Now().Add(120 * time.Second).UnixMilli(), "request_scope": defaultScope}})
			return b
		}, false},
		{"a malformed message is ignored", func(fx *fixture) any { return []byte(`{"kind":`) }, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fx := newFixture(t)
			fx.expiresIn = 120
			clients, events := openTabs(t, fx, 1)
			c := clients[0]
			before, _ := c.GetTokenSilently(context.Background(), AuthorizeParams{})
			msg := tc.message(fx)
			data, ok := msg.([]byte)
			if !ok {
				data, _ = json.Marshal(msg)
			}
			postAsTab(t, c, data)
			waitFor(t, "the message to be handled", func() bool { return c.idle() })
			tok, _ := c.GetTokenSilently(context.Background(), AuthorizeParams{})
			if adopted := tok != before; adopted != tc.adopted {
				t.Fatalf("adopted %t (token %q), want %t; logs %q", adopted, tok, tc.adopted, fx.logs[max(0, len(fx.logs)-3):])
			}
			if sub := c.GetUser()["sub"]; sub != "auth0|user-1" {
				t.Errorf("getUser().sub = %v after the share", sub)
			}
			if want := map[bool]int{true: 2, false: 1}[tc.adopted]; len(events(0)) != want {
				t.Errorf("events %v, want %d renewed", events(0), want)
			}
		})
	}
}

// TestASharesExpiryIsCappedByWhatTheServerGave: a fresh share that claims
// a far expiry is used only as long as its ID token lives and as the longest
// lifetime this session got from the server itself.
func TestASharesExpiryIsCappedByWhatTheServerGave(t *testing.T) {
	tenYears := 10 * 365 * 24 * time.Hour
	cases := []struct {
		name      string
		expiresIn int64         // the lifetime the server gives this tab
		idExp     time.Duration // the shared ID token's exp, from now
		within    time.Duration // the adopted expiry must be at most this far away
	}{
		{"capped by the longest lifetime seen", 120, time.Hour, 120*time.Second + defaultLeeway},
		{"capped by the ID token's exp", 600, 630 * time.Second, 630 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fx := newFixture(t)
			fx.expiresIn = tc.expiresIn
			clients, _ := openTabs(t, fx, 1)
			c := clients[0]
			claims := fx.iss.Claims(fx.clock.Now())
			claims["exp"] = fx.clock.Now().Add(tc.idExp).Unix()
			data, _ := json.Marshal(map[string]any{"kind": "renewed", "result": map[string]any{
				"access_token": "AT-FAR", "id_token": fx.iss.Sign(t, claims), "expires_in": int64(tenYears / time.Second),
				"expires_at_ms": fx.clock.Now().Add(tenYears).UnixMilli(), "request_scope": defaultScope}})
			postAsTab(t, c, data)
			waitFor(t, "the share to be handled", func() bool { return c.idle() })
			res := c.tokens.latest(defaultRequest(c))
			if res == nil || res.AccessToken != "AT-FAR" {
				t.Fatalf("the share was not adopted: %+v; logs %q", res, fx.logs[max(0, len(fx.logs)-3):])
			}
			if got := res.ExpiresAt.Sub(fx.clock.Now()); got > tc.within {
				t.Errorf("the share's token is used for %v, want at most %v", got, tc.within)
			}
		})
	}
}

func TestAForgedSessionEndOnlyForgets(t *testing.T) {
	for _, kind := range []string{kindSessionEnded, kindLoggedOut} {
		t.Run(kind, func(t *testing.T) {
			fx := newFixture(t)
			clients, events := openTabs(t, fx, 1)
			c := clients[0]
			postAsTab(t, c, []byte(`{"kind":"`+kind+`","error":{"error":"attacker_code","error_description":"click evil.example"}}`))
			ev := events(0)
			if ev[len(ev)-1] != "session_ended" || c.GetUser() != nil {
				t.Fatalf("events %v, user %v", ev, c.GetUser())
			}
			if fx.logged("attacker_code") || fx.logged("evil.example") {
				t.Error("the forged text reached the log")
			}
		})
	}
}

func TestLoginRequiredAfterInteractiveLoginPointsAtThirdPartyCookies(t *testing.T) {
	fx := newFixture(t)
	c, err := loginRequiredAfterInteractiveLogin(t, fx, "Login required")
	if !strings.Contains(err.Error(), "third-party cookies") || !strings.HasPrefix(err.Description, "Login required") {
		t.Fatalf("got %v", err)
	}
	// After a silent success the cookie evidently works: no hint.
	fx.answer(nil)
	if _, err := c.CheckSession(context.Background(), AuthorizeParams{}); err != nil {
		t.Fatal(err)
	}
	fx.answer(answerLoginRequired("Login required"))
	if _, err := c.CheckSession(context.Background(), AuthorizeParams{}); strings.Contains(err.Error(), "third-party") {
		t.Fatalf("hint given after a silent success: %v", err)
	}
}

func TestMFALoginRequiredGetsNoThirdPartyCookieHint(t *testing.T) {
	_, err := loginRequiredAfterInteractiveLogin(t, newFixture(t), "Multifactor authentication required")
	if err.Description != "Multifactor authentication required" {
		t.Fatalf("got %v", err)
	}
}

// loginRequiredAfterInteractiveLogin completes a loginWithRedirect, then
// has the server answer checkSession login_required in its own words
// (description), and returns that error.
func loginRequiredAfterInteractiveLogin(t *testing.T, fx *fixture, description string) (*Client, *Error) {
	t.Helper()
	c := fx.client()
	completeInteractiveLogin(t, fx, c)
	fx.answer(answerLoginRequired(description))
	_, err := c.CheckSession(context.Background(), AuthorizeParams{})
	var e *Error
	if !errors.As(err, &e) || e.Code != "login_required" {
		t.Fatalf("got %v, want login_required", err)
	}
	return c, e
}

// completeInteractiveLogin runs loginWithRedirect and its callback.
func completeInteractiveLogin(t *testing.T, fx *fixture, c *Client) {
	t.Helper()
	resp := url.Values{}
	for k, v := range fx.loggedIn(login(t, fx, c)) {
		resp.Set(k, paramOf(v))
	}
	if _, err := c.HandleRedirectCallback(context.Background(), pageOrigin+"/?"+resp.Encode()); err != nil {
		t.Fatal(err)
	}
}

// answerLoginRequired is a server without a session, in its own words.
func answerLoginRequired(description string) func(*fakeFrame) {
	return func(f *fakeFrame) {
		f.respond(map[string]any{"error": "login_required", "error_description": description, "state": f.param("state")})
	}
}

// tabAs is one tab's view of the hub: its lock requests carry the tab's
// number, so that a test can choose which tab is granted first.
type tabAs struct {
	*tabHub
	tab int
}

func (v tabAs) Lead(name string, onLead func()) (func(), error) { return v.lead(name, v.tab, onLead) }

// goingOffline is a tab that can lose the network: navigator.onLine turns
// false and its iframes show the browser's error page, which loads and
// posts nothing.
type goingOffline struct {
	*fakeBrowser
	tabAs
	off           *atomic.Bool
	offlineFrames *counter
}

func (g goingOffline) Online() bool { return !g.off.Load() }

func (g goingOffline) OpenFrame(rawURL string, h platform.FrameHandler) (platform.Frame, error) {
	if !g.off.Load() {
		return g.fakeBrowser.OpenFrame(rawURL, h)
	}
	g.offlineFrames.Add(1)
	go h.OnLoad()
	return errorPageFrame{}, nil
}

type errorPageFrame struct{}

func (errorPageFrame) Close() {}

func TestAnOfflineTabHandsTheRenewalLockToAnOnlineOne(t *testing.T) {
	fx := newFixture(t)
	fx.expiresIn = 120
	offline, offlineFrames := new(atomic.Bool), new(counter)
	var hub *tabHub
	clients, events := openTabsOn(t, fx, 2, func(i int, h *tabHub) platform.Browser {
		hub = h
		b := goingOffline{fakeBrowser: fx.b, tabAs: tabAs{h, i}, off: new(atomic.Bool), offlineFrames: new(counter)}
		if i == 1 {
			b.off, b.offlineFrames = offline, offlineFrames
		}
		return b
	})
	offline.Store(true)

	// Both tabs' renewals come due while something else holds the lock;
	// then the offline tab (1) is first in line.
	lock := clients[0].s.tabKey() + ":renew"
	held := make(chan struct{})
	releaseHeld, _ := hub.Lead(lock, func() { close(held) })
	<-held
	advanceUntil(t, fx, 2*time.Minute, func() bool { return len(hub.queued(lock)) == 2 }, clients...)
	hub.firstInLine(lock, 1)
	opened := fx.b.frameCount()
	releaseHeld()
	waitFor(t, "a renewal's iframe", func() bool { return fx.b.frameCount() > opened || offlineFrames.Load() > 0 })
	if n := offlineFrames.Load(); n != 0 {
		t.Fatalf("the offline tab opened %d iframes while an online tab was waiting for the lock; logs %q", n, fx.logs)
	}

	want := ""
	advanceUntil(t, fx, 2*time.Minute, func() bool {
		if fx.b.frameCount() == opened {
			return false
		}
		want, _ = clients[0].GetTokenSilently(context.Background(), AuthorizeParams{})
		got, _ := clients[1].GetTokenSilently(context.Background(), AuthorizeParams{})
		return want != "" && got == want
	}, clients...)
	if n := fx.b.frameCount() - opened; n != 1 {
		t.Errorf("the online tab opened %d iframes, want 1 renewal for both", n)
	}
	if ev := events(1); slices.Contains(ev, string(EventRenewError)) {
		t.Errorf("the offline tab reported a renewal error: %v", ev)
	}
	if !fx.logged("offline; handing the renewal lock") {
		t.Error("no debug line says why the offline tab let the lock go")
	}
}

func TestAnOfflineTabAloneStillRenewsWhenDue(t *testing.T) {
	fx := newFixture(t)
	fx.expiresIn = 120
	off, frames := new(atomic.Bool), new(counter)
	openTabsOn(t, fx, 1, func(i int, h *tabHub) platform.Browser {
		return goingOffline{fakeBrowser: fx.b, tabAs: tabAs{h, i}, off: off, offlineFrames: frames}
	})
	off.Store(true)
	// Due at 60 s. With nobody else waiting the lock comes straight back, so
	// the request (failing fast, offline) starts then, not after the lock
	// wait: only the real clock moves from here on.
	fx.clock.Advance(60 * time.Second)
	waitFor(t, "the offline tab's own request", func() bool { return frames.Load() > 0 })
}

// The tab messages are written without encoding/json; a tab reading them
// with encoding/json must read what encoding/json would have written.
func TestTabMessagesAreWrittenAsEncodingJSONWritesThem(t *testing.T) {
	full := &sharedResult{AccessToken: "at", IDToken: "a.b.c", ExpiresIn: 3600, ExpiresAtMs: 1764694800123,
		TokenType: "Bearer", Scope: "openid email", Audience: "https://api/", RequestScope: "openid profile email"}
	for name, msg := range map[string]tabMessage{
		"renewing":            {Kind: kindRenewing},
		"renewed":             {Kind: kindRenewed, Result: full},
		"renewed by refresh":  {Kind: kindRenewed, Result: full, Via: viaRefreshToken},
		"next in line":        {Kind: kindNextInLine, Nonce: "n-1"},
		"only what is always": {Kind: kindRenewed, Result: &sharedResult{}},
		"escapes":             {Kind: "a\"b\\c\n<&>\u2028\xff", Result: &sharedResult{IDToken: "\x00"}},
	} {
		t.Run(name, func(t *testing.T) {
			want, err := json.Marshal(msg)
			if err != nil {
				t.Fatal(err)
			}
			got := msg.appendJSON(nil)
			var a, b tabMessage
			if err := json.Unmarshal(got, &a); err != nil {
				t.Fatalf("%s: %v", got, err)
			}
			_ = json.Unmarshal(want, &b)
			if !reflect.DeepEqual(a, b) {
				t.Errorf("%s reads as %+v, encoding/json's %s as %+v", got, a, want, b)
			}
			if name != "escapes" && string(got) != string(want) {
				t.Errorf("got  %s\nwant %s", got, want)
			}
		})
	}
	t.Run("refresh token hand-over", func(t *testing.T) {
		h := &refreshTokens{token: "rt\"1", heir: "n\"1"}
		got, ok := h.Handover()
		want, _ := json.Marshal(handoverMessage{Kind: handoverKind, To: "n\"1", RefreshToken: "rt\"1"})
		if !ok || string(got) != string(want) {
			t.Errorf("got %s, want %s", got, want)
		}
	})
}
