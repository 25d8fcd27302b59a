package checksession

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/silentauth/silentauth/checksession/platform"
)

// index is f's place among the frames the fake browser opened.
func (b *fakeBrowser) index(f *fakeFrame) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Index(b.frames, f)
}

// answerOnly makes the server answer the frames that answers picks (by
// index) and hold every other one.
func (fx *fixture) answerOnly(answers func(i int) bool) {
	fx.mu.Lock()
	defer fx.mu.Unlock()
	fx.frameResponse = func(f *fakeFrame) {
		if answers(fx.b.index(f)) {
			f.respond(fx.loggedIn(f.URL.Query()))
		}
	}
}

// waitPending waits until a timer is armed to fire d from now.
func (c *testClock) waitPending(t *testing.T, d time.Duration, what string) {
	t.Helper()
	waitFor(t, what, func() bool { return slices.Contains(c.pending(), d) })
}

// expiredSession signs c in with 60 s tokens and lets them expire.
func expiredSession(t *testing.T, fx *fixture, c *Client) {
	t.Helper()
	if _, err := c.CheckSession(context.Background(), AuthorizeParams{}); err != nil {
		t.Fatal(err)
	}
	fx.clock.Advance(61 * time.Second)
}

func TestAHeldRequestIsRacedAndTheRacerAnswersTheCaller(t *testing.T) {
	fx := newFixture(t)
	fx.expiresIn = 60
	c := fx.client(func(o *Options) { o.AutoRenew = new(bool); o.Timeout = 5 * time.Second })
	expiredSession(t, fx, c)
	fx.answerOnly(func(i int) bool { return i != 1 }) // the server holds the renewal's first iframe
	got := make(chan error, 1)
	go func() { _, err := c.GetTokenSilently(context.Background(), AuthorizeParams{}); got <- err }()
	waitFor(t, "the renewal's iframe", func() bool { return fx.b.frameCount() == 2 })
	fx.clock.waitArmed(t, 2, "the deadline and the race")
	fx.clock.Advance(raceAfter)
	if err := <-got; err != nil {
		t.Fatalf("the caller got %v, want the racer's token", err)
	}
	if n := fx.b.frameCount(); n != 3 || !fx.b.frame(1).isClosed() || !fx.b.frame(2).isClosed() {
		t.Errorf("%d frames, held one closed %t, racer closed %t; want 3, both closed", n, fx.b.frame(1).isClosed(), fx.b.frame(2).isClosed())
	}
	if ev := fx.eventList(); len(ev) != 2 || ev[1] != "renewed" {
		t.Errorf("events %v, want one renewed for the renewal", ev)
	}
	if len(fx.clock.pending()) != 0 {
		t.Errorf("timers left: %v", fx.clock.pending())
	}
}

func TestTheFirstIframesLateAnswerStillWins(t *testing.T) {
	fx := newFixture(t)
	fx.answerOnly(func(int) bool { return false })
	c := fx.client(func(o *Options) { o.Timeout = 10 * time.Second })
	got := make(chan error, 1)
	go func() { _, err := c.CheckSession(context.Background(), AuthorizeParams{}); got <- err }()
	fx.clock.waitArmed(t, 2, "the deadline and the race")
	fx.clock.Advance(raceAfter)
	waitFor(t, "the racer", func() bool { return fx.b.frameCount() == 2 })
	first := fx.b.frame(0)
	first.respond(fx.loggedIn(first.URL.Query())) // its nonce verifies only against its own transaction
	if err := <-got; err != nil {
		t.Fatalf("got %v, want the first iframe's answer", err)
	}
	if !first.isClosed() || !fx.b.frame(1).isClosed() {
		t.Error("an iframe was left open")
	}
}

func TestRacersReplaceEachOtherAndTheFirstStaysOpen(t *testing.T) {
	fx := newFixture(t)
	fx.answerOnly(func(int) bool { return false }) // a server that holds everything
	c := fx.client(func(o *Options) { o.Timeout = 20 * time.Second })
	got := make(chan error, 1)
	go func() { _, err := c.CheckSession(context.Background(), AuthorizeParams{}); got <- err }()
	fx.clock.waitArmed(t, 2, "the deadline and the race")
	age := time.Duration(0)
	for i, raceAt := range []time.Duration{2, 4, 8, 16} {
		fx.clock.Advance(raceAt*time.Second - age)
		age = raceAt * time.Second
		waitFor(t, "racer", func() bool { return fx.b.frameCount() == i+2 })
		if raceAt < 16 {
			fx.clock.waitPending(t, age, "the next race")
		}
		if open := fx.b.open.Load(); open != 2 || fx.b.frame(0).isClosed() {
			t.Fatalf("at %v: %d iframes open, first closed %t; want the first and the latest", age, open, fx.b.frame(0).isClosed())
		}
	}
	fx.clock.waitPending(t, 4*time.Second, "the deadline")
	fx.clock.Advance(4 * time.Second)
	if err := <-got; errCode(err) != string(ErrTimeout) {
		t.Fatalf("got %v, want timeout at the first iframe's deadline", err)
	}
	if open := fx.b.open.Load(); open != 0 {
		t.Errorf("%d iframes left open", open)
	}
}

func TestNoRaceWhileTheCachedTokenIsValid(t *testing.T) {
	fx := newFixture(t)
	c := fx.client(func(o *Options) { o.AutoRenew = new(bool) })
	if _, err := c.CheckSession(context.Background(), AuthorizeParams{}); err != nil {
		t.Fatal(err)
	}
	fx.answerOnly(func(i int) bool { return i == 0 })
	fx.clock.Advance(time.Hour - 30*time.Second) // inside the renewal window, 30 s left
	if _, err := c.GetTokenSilently(context.Background(), AuthorizeParams{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the background renewal's iframe", func() bool { return fx.b.frameCount() == 2 })
	fx.clock.waitArmed(t, 2, "the deadline and the race")
	// Race ages 2, 4, 8 and 16 s pass; with minValidityInSeconds 5 the
	// token is usable until 25 s.
	age := time.Duration(0)
	for _, raceAt := range []time.Duration{2, 4, 8, 16} {
		fx.clock.Advance(raceAt*time.Second - age)
		age = raceAt * time.Second
		fx.clock.waitPending(t, age, "the next race")
	}
	if n := fx.b.frameCount(); n != 2 {
		t.Errorf("%d frames: a renewal raced although the cached token was valid", n)
	}
}

func TestAfterATimeoutTheNextCallerGetsItUntilTheBackoffEnds(t *testing.T) {
	fx := newFixture(t)
	fx.expiresIn = 60
	c := fx.client(func(o *Options) { o.AutoRenew = new(bool); o.Timeout = 5 * time.Second })
	expiredSession(t, fx, c)
	fx.answerOnly(func(i int) bool { return i == 0 || i > 3 }) // held: the renewal and its two racers
	got := make(chan error, 1)
	go func() { _, err := c.GetTokenSilently(context.Background(), AuthorizeParams{}); got <- err }()
	fx.clock.waitArmed(t, 2, "the deadline and the race")
	fx.clock.Advance(2 * time.Second)
	fx.clock.waitPending(t, 2*time.Second, "the race at 4 s")
	fx.clock.Advance(2 * time.Second)
	waitFor(t, "the second racer", func() bool { return fx.b.frameCount() == 4 })
	fx.clock.waitPending(t, time.Second, "the deadline") // no race at 8 s: past the timeout
	fx.clock.Advance(time.Second)
	if err := <-got; errCode(err) != string(ErrTimeout) {
		t.Fatalf("got %v, want timeout", err)
	}
	// A caller now gets the timeout at once, with the backoff's wait...
	var e *Error
	if _, err := c.GetTokenSilently(context.Background(), AuthorizeParams{}); !errors.As(err, &e) || e.Code != string(ErrTimeout) ||
		e.RetryAfter < time.Second || e.RetryAfter > 2*time.Second {
		t.Fatalf("got %v, want the timeout with retryAfter 1 or 2 s", err)
	}
	// ...and once it ends, a new request.
	fx.clock.Advance(backoffDelay(1, 1))
	if _, err := c.GetTokenSilently(context.Background(), AuthorizeParams{}); err != nil {
		t.Fatalf("got %v, want a token from a new request", err)
	}
	if n := fx.b.frameCount(); n != 5 {
		t.Errorf("%d frames, want the first login, the renewal, two racers and the new request", n)
	}
}

func TestTheAnsweringIframeGoesAfterTheCodeExchangeNotBefore(t *testing.T) {
	fx := newFixture(t)
	openAtExchange := make(chan bool, 1)
	fx.b.routes[serverOrigin+"/oauth/token"] = func(req platform.HTTPRequest) (*platform.HTTPResponse, error) {
		openAtExchange <- !fx.b.frame(0).isClosed()
		return fx.token(req)
	}
	c := fx.client(func(o *Options) { o.AutoRenew = new(bool); o.ResponseType = "code" })
	if _, err := c.CheckSession(context.Background(), AuthorizeParams{}); err != nil {
		t.Fatal(err)
	}
	// Taking the iframe away costs the page a navigation and a removal; it
	// must not land while the token request is in flight.
	if !<-openAtExchange {
		t.Error("the iframe was taken away before the token request")
	}
	if !fx.b.frame(0).isClosed() {
		t.Error("the iframe is still open after checkSession returned")
	}
}
