package checksession

import (
	"context"
	"testing"
	"time"
)

// advanceUntil moves the fake clock in check-interval steps until cond holds.
func advanceUntil(t *testing.T, fx *fixture, limit time.Duration, cond func() bool) {
	t.Helper()
	for spent := time.Duration(0); !cond(); spent += checkInterval {
		if spent > limit {
			t.Fatalf("not reached within %v of fake time; frames %d; logs %q; pending %v", limit, fx.b.frameCount(), fx.logs[max(0, len(fx.logs)-6):], fx.clock.pending())
		}
		waitFor(t, "the renewal loop to wait", func() bool { return len(fx.clock.pending()) > 0 })
		fx.clock.Advance(checkInterval)
		time.Sleep(2 * time.Millisecond) // let the loop run
	}
}

func TestAutoRenewRenewsBeforeExpiry(t *testing.T) {
	fx := newFixture(t)
	fx.expiresIn = 120
	c := fx.client()
	if _, err := c.CheckSession(context.Background(), AuthorizeParams{}); err != nil {
		t.Fatal(err)
	}
	start := fx.clock.Now()
	advanceUntil(t, fx, 2*time.Minute, func() bool { return fx.b.frameCount() == 2 })
	// Due at expiresAt - 60 s = 60 s after the first result, judged every 5 s.
	if at := fx.clock.Now().Sub(start); at < 60*time.Second || at > 65*time.Second {
		t.Errorf("renewed %v after the first result, want 60–65 s", at)
	}
	waitFor(t, "the renewed event", func() bool { return len(fx.eventList()) == 2 })
}

func TestLoginRequiredEndsTheSessionOnce(t *testing.T) {
	fx := newFixture(t)
	fx.expiresIn = 120
	c := fx.client()
	if _, err := c.CheckSession(context.Background(), AuthorizeParams{}); err != nil {
		t.Fatal(err)
	}
	fx.mu.Lock()
	fx.frameResponse = func(f *fakeFrame) {
		f.respond(map[string]any{"error": "login_required", "error_description": "Login required", "state": f.param("state")})
	}
	fx.mu.Unlock()
	advanceUntil(t, fx, 2*time.Minute, func() bool { return fx.b.frameCount() == 2 })
	waitFor(t, "session_ended", func() bool { e := fx.eventList(); return len(e) == 2 && e[1] == "session_ended" })
	// No loop: ten more minutes bring no new request.
	for range 120 {
		fx.clock.Advance(checkInterval)
	}
	time.Sleep(10 * time.Millisecond)
	if fx.b.frameCount() != 2 {
		t.Fatalf("%d requests after the session ended", fx.b.frameCount())
	}
}

func TestTimeoutsAreRetriedWithGrowingDelays(t *testing.T) {
	fx := newFixture(t)
	fx.expiresIn = 3600
	early := 50 * time.Minute // renewal starts early, so the retries stay within the token's life
	c := fx.client(func(o *Options) { o.Timeout = time.Second; o.RenewBeforeExpiry = &early })
	if _, err := c.CheckSession(context.Background(), AuthorizeParams{}); err != nil {
		t.Fatal(err)
	}
	fx.mu.Lock()
	fx.frameResponse = func(f *fakeFrame) {}
	fx.mu.Unlock()
	var times []time.Time
	for len(times) < 4 {
		n := fx.b.frameCount()
		advanceUntil(t, fx, 2*time.Hour, func() bool { return fx.b.frameCount() > n })
		times = append(times, fx.clock.Now())
	}
	for i := 2; i < len(times); i++ {
		if gap := times[i].Sub(times[i-1]); gap < retryFloor {
			t.Errorf("retry %d came %v after the last, under the %v floor", i, gap, retryFloor)
		}
	}
	if ev := fx.eventList(); len(ev) < 3 || ev[1] != "renew_error" {
		t.Errorf("events %v, want renew_error after renewed", ev)
	}
}

func TestBackoffGrowsAndStaysWithinBounds(t *testing.T) {
	for attempt := 1; attempt < 20; attempt++ {
		for range 50 {
			d := backoff(attempt)
			if d < retryFloor || d > retryCap*3/2 {
				t.Fatalf("attempt %d: %v outside [%v, %v]", attempt, d, retryFloor, retryCap*3/2)
			}
		}
	}
	if backoff(6) <= backoff(1) && backoff(6) <= backoff(1) {
		t.Error("delays do not grow")
	}
}

func TestStopAutoRenewStopsRenewals(t *testing.T) {
	fx := newFixture(t)
	fx.expiresIn = 70
	c := fx.client()
	if _, err := c.CheckSession(context.Background(), AuthorizeParams{}); err != nil {
		t.Fatal(err)
	}
	c.StopAutoRenew()
	for range 60 {
		waitFor(t, "loop", func() bool { return len(fx.clock.pending()) > 0 })
		fx.clock.Advance(checkInterval)
	}
	time.Sleep(10 * time.Millisecond)
	if fx.b.frameCount() != 1 {
		t.Fatalf("renewed %d times after stopAutoRenew", fx.b.frameCount()-1)
	}
	c.StartAutoRenew()
	advanceUntil(t, fx, time.Minute, func() bool { return fx.b.frameCount() == 2 })
}

func TestRetriesStopWhenTheTokenHasExpired(t *testing.T) {
	fx := newFixture(t)
	fx.expiresIn = 70
	c := fx.client(func(o *Options) { o.Timeout = time.Second })
	if _, err := c.CheckSession(context.Background(), AuthorizeParams{}); err != nil {
		t.Fatal(err)
	}
	fx.mu.Lock()
	fx.frameResponse = func(f *fakeFrame) {}
	fx.mu.Unlock()
	advanceUntil(t, fx, 5*time.Minute, func() bool { return fx.clock.Now().Sub(newTestClock().Now()) > 3*time.Minute })
	n := fx.b.frameCount()
	for range 100 {
		fx.clock.Advance(checkInterval)
		time.Sleep(time.Millisecond)
	}
	if fx.b.frameCount() != n {
		t.Fatalf("kept retrying after expiry: %d more requests", fx.b.frameCount()-n)
	}
}

func TestTokenShorterThanTheLeadIsRenewedHalfwayNotInALoop(t *testing.T) {
	fx := newFixture(t)
	fx.expiresIn = 40 // shorter than the 60 s renewBeforeExpiry
	c := fx.client()
	if _, err := c.CheckSession(context.Background(), AuthorizeParams{}); err != nil {
		t.Fatal(err)
	}
	start := fx.clock.Now()
	if tok, _ := c.GetTokenSilently(context.Background(), AuthorizeParams{}); tok == "" || fx.b.frameCount() != 1 {
		t.Fatalf("a fresh short-lived token was not served from the cache (%d frames)", fx.b.frameCount())
	}
	advanceUntil(t, fx, time.Minute, func() bool { return fx.b.frameCount() == 2 })
	if at := fx.clock.Now().Sub(start); at < 20*time.Second || at > 25*time.Second {
		t.Errorf("renewed %v after receipt, want 20–25 s (halfway)", at)
	}
}

// wakingBrowser is a page that can signal a wake-up.
type wakingBrowser struct {
	*fakeBrowser
	wake chan struct{}
}

func (w wakingBrowser) Wake() <-chan struct{} { return w.wake }
func (w wakingBrowser) Hidden() bool          { return false }

func TestWakeUpBringsARetryForwardButKeepsTheFloor(t *testing.T) {
	fx := newFixture(t)
	fx.expiresIn = 3600
	wb := wakingBrowser{fx.b, make(chan struct{}, 1)}
	early := 50 * time.Minute
	o := fx.options()
	o.Timeout, o.RenewBeforeExpiry = time.Second, &early
	c, err := NewClient(o, wb, fx.clock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Destroy)
	if _, err := c.CheckSession(context.Background(), AuthorizeParams{}); err != nil {
		t.Fatal(err)
	}
	fx.mu.Lock()
	fx.frameResponse = func(f *fakeFrame) {}
	fx.mu.Unlock()
	// Fail a few times so the backoff is long (attempt 4: 20–60 s).
	for fx.b.frameCount() < 5 {
		n := fx.b.frameCount()
		advanceUntil(t, fx, time.Hour, func() bool { return fx.b.frameCount() > n })
	}
	advanceUntil(t, fx, time.Minute, func() bool {
		c.renewer.mu.Lock()
		defer c.renewer.mu.Unlock()
		return c.renewer.attempt >= 4 && !c.renewer.running
	})
	if n := fx.b.frameCount(); n != 5 {
		t.Fatalf("%d frames before the wake-up", n)
	}
	fx.mu.Lock()
	fx.frameResponse = nil // back online
	fx.mu.Unlock()
	fx.clock.Advance(retryFloor) // the floor has passed since the failure
	wb.wake <- struct{}{}
	waitFor(t, "the retry on wake-up", func() bool { return fx.b.frameCount() == 6 })
}

func TestRenewalFailuresOfAnyKindBackOff(t *testing.T) {
	fx := newFixture(t)
	fx.expiresIn = 3600
	early := 50 * time.Minute
	c := fx.client(func(o *Options) { o.RenewBeforeExpiry = &early })
	if _, err := c.CheckSession(context.Background(), AuthorizeParams{}); err != nil {
		t.Fatal(err)
	}
	fx.mu.Lock()
	fx.tamper = func(c map[string]any) { c["aud"] = "someone-else" } // invalid_token from now on
	fx.mu.Unlock()
	advanceUntil(t, fx, time.Hour, func() bool { return fx.b.frameCount() == 2 })
	start := fx.clock.Now()
	for range 24 { // two minutes in check steps
		fx.clock.Advance(checkInterval)
		time.Sleep(2 * time.Millisecond)
	}
	// Backoff 5–7.5 s, 5–15 s, 10–30 s, 20–60 s: at most five tries in two minutes, not 24.
	if n := fx.b.frameCount() - 2; n > 5 {
		t.Fatalf("%d retries of invalid_token in %v", n, fx.clock.Now().Sub(start))
	}
	if ev := fx.eventList(); len(ev) < 2 || ev[1] != "renew_error" {
		t.Errorf("events %v, want renew_error", ev)
	}
}

func TestARetryPromisedBeforeExpiryHappensAfterIt(t *testing.T) {
	fx := newFixture(t)
	fx.expiresIn = 20 // renewal due halfway, at 10 s
	c := fx.client(func(o *Options) { o.Timeout = time.Second })
	if _, err := c.CheckSession(context.Background(), AuthorizeParams{}); err != nil {
		t.Fatal(err)
	}
	fx.mu.Lock()
	fx.frameResponse = func(f *fakeFrame) {}
	fx.mu.Unlock()
	advanceUntil(t, fx, time.Minute, func() bool { return fx.b.frameCount() == 2 })
	// The failure comes at ~11 s with a retry due 5–7.5 s later, so the loop
	// looks again around or after the 20 s expiry: the promised retry runs.
	advanceUntil(t, fx, time.Minute, func() bool { return len(fx.eventList()) >= 2 })
	if ev := fx.eventList(); ev[1] != "renew_error" {
		t.Fatalf("events %v", ev)
	}
	advanceUntil(t, fx, time.Minute, func() bool { return fx.b.frameCount() == 3 })
}

func TestTimerRenewalJoinsACallInFlight(t *testing.T) {
	fx := newFixture(t)
	fx.expiresIn = 20 // due halfway, at 10 s
	c := fx.client()
	if _, err := c.CheckSession(context.Background(), AuthorizeParams{}); err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	fx.mu.Lock()
	fx.frameResponse = func(f *fakeFrame) { <-release; f.respond(fx.loggedIn(f.URL.Query())) }
	fx.mu.Unlock()
	done := make(chan error, 1)
	go func() { _, err := c.CheckSession(context.Background(), AuthorizeParams{}); done <- err }()
	waitFor(t, "the call's iframe", func() bool { return fx.b.frameCount() == 2 })
	for range 4 { // 20 s: the renewal comes due while the call waits
		fx.clock.Advance(checkInterval)
		time.Sleep(5 * time.Millisecond)
	}
	waitFor(t, "the loop to start its renewal", func() bool { return fx.logged("renewal starting") })
	time.Sleep(20 * time.Millisecond) // time enough to open a third iframe, were it to
	if n := fx.b.frameCount(); n != 2 {
		t.Fatalf("%d iframes: the timer's renewal did not join the call in flight", n)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
