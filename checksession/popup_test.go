package checksession

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/silentauth/silentauth/checksession/platform"
)

// popupBrowser is a fakeBrowser that can open popups; block makes
// OpenPopup refuse as a browser's popup blocker does.
type popupBrowser struct {
	*fakeBrowser
	block bool

	mu     sync.Mutex
	popups []*fakePopup
}

type fakePopup struct {
	handler platform.FrameHandler

	mu        sync.Mutex
	url       *url.URL
	userGone  bool // the user closed the window
	closedByC bool // Close was called
}

func (b *popupBrowser) OpenPopup(h platform.FrameHandler) (platform.Popup, error) {
	if b.block {
		return nil, &Error{Code: string(ErrPopupBlocked), Description: "blocked"}
	}
	p := &fakePopup{handler: h}
	b.mu.Lock()
	b.popups = append(b.popups, p)
	b.mu.Unlock()
	return p, nil
}

func (b *popupBrowser) popup(t *testing.T) *fakePopup {
	t.Helper()
	var p *fakePopup
	waitFor(t, "the popup to be navigated", func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		if len(b.popups) == 0 {
			return false
		}
		p = b.popups[len(b.popups)-1]
		return p.navigated() != nil
	})
	return p
}

func (p *fakePopup) Navigate(raw string) error {
	u, err := url.Parse(raw)
	p.mu.Lock()
	p.url = u
	p.mu.Unlock()
	return err
}

func (p *fakePopup) navigated() *url.URL { p.mu.Lock(); defer p.mu.Unlock(); return p.url }

func (p *fakePopup) Closed() bool { p.mu.Lock(); defer p.mu.Unlock(); return p.userGone || p.closedByC }

func (p *fakePopup) Close() { p.mu.Lock(); p.closedByC = true; p.mu.Unlock() }

func (p *fakePopup) isClosed() bool { p.mu.Lock(); defer p.mu.Unlock(); return p.closedByC }

// post delivers a message to the opener's listener, unless it was removed.
func (p *fakePopup) post(origin string, fromPopup bool, data any) {
	if p.isClosed() {
		return
	}
	raw, _ := json.Marshal(data)
	p.handler.OnMessage(platform.Message{Origin: origin, FromFrame: fromPopup, Data: raw})
}

func answer(resp map[string]any) map[string]any {
	return map[string]any{"type": "authorization_response", "response": resp}
}

type popupOutcome struct {
	res *AuthResult
	err error
}

func startPopupLogin(c *Client, p AuthorizeParams) <-chan popupOutcome {
	out := make(chan popupOutcome, 1)
	go func() {
		res, err := c.LoginWithPopup(context.Background(), p)
		out <- popupOutcome{res, err}
	}()
	return out
}

func TestPopupLoginAcceptsOnlyItsOwnAnswerAndSignsIn(t *testing.T) {
	fx := newFixture(t)
	b := &popupBrowser{fakeBrowser: fx.b}
	c := fx.clientOn(b)
	done := startPopupLogin(c, AuthorizeParams{Extra: map[string]string{"login_hint": "a@example.com"}})
	p := b.popup(t)
	q := p.navigated().Query()
	for name, want := range map[string]string{"response_mode": "web_message", "response_type": "code",
		"code_challenge_method": "S256", "prompt": "", "login_hint": "a@example.com"} {
		if got := q.Get(name); got != want {
			t.Errorf("authorize %s = %q, want %q", name, got, want)
		}
	}
	good := fx.loggedIn(q)
	// Each of the four checks on its own: none of these is ours.
	p.post("https://evil.example.com", true, answer(good))
	p.post(serverOrigin, false, answer(good))
	p.post(serverOrigin, true, map[string]any{"type": "something_else", "response": good})
	p.post(serverOrigin, true, answer(map[string]any{"code": good["code"], "state": "not-ours"}))
	select {
	case o := <-done:
		t.Fatalf("a message that is not ours ended the login: %+v %v", o.res, o.err)
	case <-time.After(50 * time.Millisecond):
	}
	p.post(serverOrigin, true, answer(good))
	o := <-done
	if o.err != nil {
		t.Fatalf("login: %v", o.err)
	}
	if o.res.AccessToken == "" || o.res.IDTokenPayload["sub"] == nil {
		t.Errorf("result lacks tokens: %+v", o.res)
	}
	if !p.isClosed() {
		t.Error("the popup was left open")
	}
	// The login feeds the cache as a redirect login does: no request now.
	tok, err := c.GetTokenSilently(context.Background(), AuthorizeParams{})
	if err != nil || tok != o.res.AccessToken {
		t.Errorf("getTokenSilently after the popup: %q, %v; want the popup's token", tok, err)
	}
	if fx.b.frameCount() != 0 {
		t.Errorf("%d iframes opened; the popup's token should have been cached", fx.b.frameCount())
	}
	if c.GetUser()["sub"] != o.res.IDTokenPayload["sub"] {
		t.Errorf("getUser %v", c.GetUser())
	}
}

func TestPopupLoginFailures(t *testing.T) {
	cases := []struct {
		name    string
		block   bool
		params  AuthorizeParams
		act     func(fx *fixture, p *fakePopup)
		code    string
		desc    string
		noPopup bool
	}{
		{name: "blocked by the browser", block: true, code: "popup_blocked", noPopup: true},
		{name: "prompt=none is refused before a window opens", params: AuthorizeParams{Extra: map[string]string{"prompt": "none"}},
			code: "invalid_configuration", desc: "checkSession", noPopup: true},
		{name: "closed by the user", act: func(fx *fixture, p *fakePopup) {
			p.mu.Lock()
			p.userGone = true
			p.mu.Unlock()
			fx.clock.Advance(popupPoll)
			fx.clock.waitArmed(t, 2, "the closed window's grace")
			fx.clock.Advance(popupClosedGrace)
		}, code: "popup_closed", desc: "same-origin-allow-popups"},
		{name: "default timeout is the popup's, not the silent one", act: func(fx *fixture, p *fakePopup) {
			fx.clock.Advance(time.Minute) // the client's timeoutInSeconds
			fx.clock.Advance(defaultPopupTimeout - time.Minute)
		}, code: "timeout", desc: "within 300 s"},
		{name: "timeoutInSeconds of the call", params: AuthorizeParams{Timeout: 10 * time.Second}, act: func(fx *fixture, p *fakePopup) {
			fx.clock.Advance(10 * time.Second)
		}, code: "timeout", desc: "within 10 s"},
		{name: "the server's error passes through", act: func(fx *fixture, p *fakePopup) {
			p.post(serverOrigin, true, answer(map[string]any{"error": "access_denied",
				"error_description": "User did not authorize the request", "state": p.navigated().Query().Get("state")}))
		}, code: "access_denied", desc: "User did not authorize"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fx := newFixture(t)
			b := &popupBrowser{fakeBrowser: fx.b, block: tc.block}
			c := fx.clientOn(b)
			done := startPopupLogin(c, tc.params)
			var p *fakePopup
			if !tc.noPopup {
				p = b.popup(t)
				fx.clock.waitArmed(t, 2, "the popup's timers")
				tc.act(fx, p)
			}
			o := <-done
			if errCode(o.err) != tc.code {
				t.Fatalf("got %v, want %s", o.err, tc.code)
			}
			if !strings.Contains(o.err.Error(), tc.desc) {
				t.Errorf("description %q lacks %q", o.err, tc.desc)
			}
			if p != nil && !p.isClosed() {
				t.Error("the popup was left open")
			}
			if tc.noPopup && len(b.popups) != 0 {
				t.Errorf("%d popups opened", len(b.popups))
			}
			waitFor(t, "the popup's timers to stop", func() bool { return len(fx.clock.pending()) == 0 })
			if c.GetUser() != nil {
				t.Errorf("a failed popup login left a user: %v", c.GetUser())
			}
		})
	}
}

// The server's page posts its answer and closes its window at once, and a
// busy opener may see the window closed before the message's event runs:
// an answer within popupClosedGrace of that still signs the user in.
func TestPopupAnswerPostedAsTheWindowClosesIsTaken(t *testing.T) {
	fx := newFixture(t)
	b := &popupBrowser{fakeBrowser: fx.b}
	c := fx.clientOn(b)
	done := startPopupLogin(c, AuthorizeParams{})
	p := b.popup(t)
	good := fx.loggedIn(p.navigated().Query())
	fx.clock.waitArmed(t, 2, "the popup's timers")
	p.mu.Lock()
	p.userGone = true
	p.mu.Unlock()
	fx.clock.Advance(popupPoll)
	fx.clock.waitArmed(t, 2, "the closed window's grace")
	p.post(serverOrigin, true, answer(good))
	o := <-done
	if o.err != nil {
		t.Fatalf("an answer posted as the window closed was lost: %v", o.err)
	}
	if o.res.AccessToken == "" {
		t.Errorf("result lacks tokens: %+v", o.res)
	}
	if !p.isClosed() {
		t.Error("the popup was left open")
	}
}

func TestPopupLoginEndsWithDestroy(t *testing.T) {
	fx := newFixture(t)
	b := &popupBrowser{fakeBrowser: fx.b}
	c := fx.clientOn(b)
	done := startPopupLogin(c, AuthorizeParams{})
	p := b.popup(t)
	c.Destroy()
	if o := <-done; errCode(o.err) != "destroyed" {
		t.Fatalf("got %v, want destroyed", o.err)
	}
	if !p.isClosed() {
		t.Error("the popup was left open")
	}
}

func TestPopupLoginNeedsAPopupOpener(t *testing.T) {
	fx := newFixture(t)
	c := fx.client()
	if _, err := c.LoginWithPopup(context.Background(), AuthorizeParams{}); errCode(err) != "invalid_configuration" {
		t.Fatalf("got %v, want invalid_configuration", err)
	}
}
