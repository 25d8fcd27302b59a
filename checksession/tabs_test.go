package checksession

import (
	"context"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// tabHub plays Web Locks and BroadcastChannel for tabs of one origin.
type tabHub struct {
	mu       sync.Mutex
	holder   map[string]*tabLock
	queue    map[string][]*tabLock
	channels map[string][]*tabChannel
}

type tabLock struct {
	name   string
	onLead func()
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
	l := &tabLock{name: name, onLead: onLead}
	h.mu.Lock()
	if h.holder[name] == nil {
		h.holder[name] = l
		go onLead()
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
			go next.onLead()
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

func (h *tabHub) Join(name string, onMessage func([]byte)) (Channel, error) {
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
	c.hub.mu.Unlock()
	for _, o := range others {
		o.onMessage(append([]byte(nil), data...))
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
	hub := newTabHub()
	clients := make([]*Client, n)
	events := make([][]string, n)
	var mu sync.Mutex
	for i := range clients {
		o := fx.options()
		o.OnEvent = func(name string, _ any) { mu.Lock(); events[i] = append(events[i], name); mu.Unlock() }
		c, err := NewClient(o, tabBrowser{fx.b, hub}, fx.clock)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Destroy)
		if _, err := c.CheckSession(context.Background(), AuthorizeParams{}); err != nil {
			t.Fatal(err)
		}
		clients[i] = c
	}
	return clients, func(i int) []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), events[i]...) }
}

func TestTabsRenewOnceBetweenThem(t *testing.T) {
	for _, n := range []int{2, 5} {
		t.Run(strings.Repeat("tab ", n), func(t *testing.T) {
			fx := newFixture(t)
			fx.expiresIn = 120
			clients, _ := openTabs(t, fx, n)
			opened := fx.b.frameCount() // one per tab at load
			advanceUntil(t, fx, 2*time.Minute, func() bool { return fx.b.frameCount() > opened })
			// Let every tab pass its due time, within the follower grace.
			for range 4 {
				fx.clock.Advance(checkInterval)
				time.Sleep(5 * time.Millisecond)
			}
			if got := fx.b.frameCount() - opened; got != 1 {
				t.Fatalf("%d tabs made %d renewal requests, want 1", n, got)
			}
			want, _ := clients[0].GetTokenSilently(context.Background(), AuthorizeParams{})
			for _, c := range clients {
				waitFor(t, "the shared token", func() bool {
					tok, _ := c.GetTokenSilently(context.Background(), AuthorizeParams{})
					return tok == want
				})
			}
			if fx.b.frameCount()-opened != 1 {
				t.Fatalf("serving the shared token opened iframes")
			}
		})
	}
}

func TestAnotherTabTakesOverWhenTheRenewingTabCloses(t *testing.T) {
	fx := newFixture(t)
	fx.expiresIn = 120
	clients, events := openTabs(t, fx, 2)
	clients[0].Destroy() // the first tab leads; closing it frees the lock
	opened := fx.b.frameCount()
	advanceUntil(t, fx, 2*time.Minute, func() bool { return fx.b.frameCount() > opened })
	waitFor(t, "the second tab's renewal", func() bool { return len(events(1)) >= 2 })
	if ev := events(1); ev[len(ev)-1] != "renewed" {
		t.Fatalf("second tab events %v", ev)
	}
}

func TestSessionEndReachesEveryTab(t *testing.T) {
	fx := newFixture(t)
	fx.expiresIn = 120
	_, events := openTabs(t, fx, 3)
	fx.mu.Lock()
	fx.frameResponse = func(f *fakeFrame) {
		f.respond(map[string]any{"error": "login_required", "error_description": "Login required", "state": f.param("state")})
	}
	fx.mu.Unlock()
	opened := fx.b.frameCount()
	advanceUntil(t, fx, 2*time.Minute, func() bool { return fx.b.frameCount() > opened })
	for i := range 3 {
		waitFor(t, "session_ended in every tab", func() bool {
			ev := events(i)
			return len(ev) > 0 && ev[len(ev)-1] == "session_ended"
		})
	}
}

func TestLoginRequiredAfterInteractiveLoginPointsAtThirdPartyCookies(t *testing.T) {
	fx := newFixture(t)
	c := fx.client()
	completeInteractiveLogin(t, fx, c)
	fx.frameResponse = answerLoginRequired("Login required")
	_, err := c.CheckSession(context.Background(), AuthorizeParams{})
	if errCode(err) != "login_required" || !strings.Contains(err.Error(), "third-party cookies") || !strings.HasPrefix(err.(*Error).Description, "Login required") {
		t.Fatalf("got %v", err)
	}
	// After a silent success the cookie evidently works: no hint.
	fx.frameResponse = nil
	if _, err := c.CheckSession(context.Background(), AuthorizeParams{}); err != nil {
		t.Fatal(err)
	}
	fx.frameResponse = answerLoginRequired("Login required")
	if _, err := c.CheckSession(context.Background(), AuthorizeParams{}); strings.Contains(err.Error(), "third-party") {
		t.Fatalf("hint given after a silent success: %v", err)
	}
}

func TestMFALoginRequiredGetsNoThirdPartyCookieHint(t *testing.T) {
	fx := newFixture(t)
	c := fx.client()
	completeInteractiveLogin(t, fx, c)
	fx.frameResponse = answerLoginRequired("Multifactor authentication required")
	_, err := c.CheckSession(context.Background(), AuthorizeParams{})
	if errCode(err) != "login_required" || err.(*Error).Description != "Multifactor authentication required" {
		t.Fatalf("got %v", err)
	}
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
