package checksession

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestRenewalStateMachine(t *testing.T) {
	cases := []struct {
		name       string
		from       renewState
		in         input
		tokenValid bool
		want       renewState
	}{
		{"a result starts a session", signedOut, gotToken, false, scheduled},
		{"a failed first check leaves nothing to retry", signedOut, failedMayPass, false, signedOut},
		{"a renewal with no session does not start one", signedOut, started, false, signedOut},
		{"a due renewal starts", scheduled, started, true, renewing},
		{"a failure that may pass is retried while the token is valid", renewing, failedMayPass, true, retrying},
		{"a failure after expiry stalls", renewing, failedMayPass, false, stalled},
		{"a failure outside a renewal leaves the schedule", scheduled, failedMayPass, true, scheduled},
		{"login_required ends the session", renewing, failedForGood, true, signedOut},
		{"logout ends the session from any state", retrying, loggedOut, true, signedOut},
		{"a wake-up brings a stalled renewal back", stalled, wokeUp, false, retrying},
		{"a wake-up changes nothing on schedule", scheduled, wokeUp, true, scheduled},
		{"another tab's result ends a retry", retrying, gotToken, true, scheduled},
		{"destroy stops for good", renewing, destroyed, true, stopped},
		{"nothing restarts a stopped client", stopped, gotToken, true, stopped},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := transition(tc.from, tc.in, tc.tokenValid); got != tc.want {
				t.Errorf("%v + input %d = %v, want %v", tc.from, tc.in, got, tc.want)
			}
		})
	}
}

func TestAutoRenewRenewsOnTimeBeforeExpiry(t *testing.T) {
	fx := newFixture(t)
	fx.expiresIn = 120
	c := fx.signedIn()
	start := fx.clock.Now()
	advanceUntil(t, fx, 2*time.Minute, func() bool { return fx.b.frameCount() == 2 }, c)
	// Due at expiresAt - 60 s, on a timer armed for that moment.
	if at := fx.clock.Now().Sub(start); at != 60*time.Second {
		t.Errorf("renewed %v after the first result, want 60 s", at)
	}
	waitFor(t, "the renewed event", func() bool { return len(fx.eventList()) == 2 })
}

func TestLoginRequiredEndsTheSessionOnce(t *testing.T) {
	fx := newFixture(t)
	fx.expiresIn = 120
	c := fx.signedIn()
	fx.answer(answerLoginRequired("Login required"))
	advanceUntil(t, fx, 2*time.Minute, func() bool { return fx.b.frameCount() == 2 }, c)
	waitFor(t, "session_ended", func() bool { e := fx.eventList(); return len(e) == 2 && e[1] == "session_ended" })
	// No loop: ten more minutes bring no new request.
	end := fx.clock.Now().Add(10 * time.Minute)
	advanceUntil(t, fx, 11*time.Minute, func() bool { return !fx.clock.Now().Before(end) }, c)
	if fx.b.frameCount() != 2 || c.GetUser() != nil {
		t.Fatalf("%d requests after the session ended; user %v", fx.b.frameCount(), c.GetUser())
	}
}

// answerTemporarilyUnavailable is a server error that may pass.
func answerTemporarilyUnavailable(f *fakeFrame) {
	f.respond(map[string]any{"error": "temporarily_unavailable", "error_description": "try later", "state": f.param("state")})
}

func TestFailuresAreRetriedWithGrowingDelaysNeverUnderTheFloor(t *testing.T) {
	fx := newFixture(t)
	fx.expiresIn = 3600
	early := 50 * time.Minute // renewal starts early, so the retries stay within the token's life
	c := fx.signedIn(func(o *Options) { o.RenewBeforeExpiry = &early })
	fx.answer(answerTemporarilyUnavailable)
	var times []time.Time
	for len(times) < 5 {
		n := fx.b.frameCount()
		advanceUntil(t, fx, 2*time.Hour, func() bool { return fx.b.frameCount() > n }, c)
		times = append(times, fx.clock.Now())
	}
	for i := 2; i < len(times); i++ {
		if gap := times[i].Sub(times[i-1]); gap < retryFloor {
			t.Errorf("retry %d came %v after the last, under the %v floor", i, gap, retryFloor)
		}
	}
	if first, last := times[2].Sub(times[1]), times[4].Sub(times[3]); last < first {
		t.Errorf("delays shrank: %v then %v", first, last)
	}
	waitFor(t, "the renew_error events", func() bool { return len(fx.eventList()) >= 5 })
	if ev := fx.eventList(); ev[1] != "renew_error" {
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
	// With ±50 % jitter the sixth delay (60–180 s) is always longer than the first (5–7.5 s).
	for range 50 {
		if a, b := backoff(1), backoff(6); b <= a {
			t.Fatalf("backoff(6) = %v is not longer than backoff(1) = %v", b, a)
		}
	}
}

func TestStopAutoRenewStopsRenewals(t *testing.T) {
	fx := newFixture(t)
	fx.expiresIn = 70
	c := fx.signedIn()
	c.StopAutoRenew()
	end := fx.clock.Now().Add(5 * time.Minute)
	advanceUntil(t, fx, 6*time.Minute, func() bool { return !fx.clock.Now().Before(end) }, c)
	if fx.b.frameCount() != 1 {
		t.Fatalf("renewed %d times after stopAutoRenew", fx.b.frameCount()-1)
	}
	c.StartAutoRenew()
	advanceUntil(t, fx, time.Minute, func() bool { return fx.b.frameCount() == 2 }, c)
}

func TestRetriesStopWhenTheTokenHasExpired(t *testing.T) {
	fx := newFixture(t)
	fx.expiresIn = 70
	c := fx.signedIn()
	fx.answer(answerTemporarilyUnavailable)
	expiry := fx.clock.Now().Add(70 * time.Second)
	advanceUntil(t, fx, 5*time.Minute, func() bool {
		c.renewer.mu.Lock()
		defer c.renewer.mu.Unlock()
		return c.renewer.state == stalled
	}, c)
	if fx.clock.Now().Before(expiry) {
		t.Fatalf("stalled at %v, before the token expired", fx.clock.Now().Sub(expiry))
	}
	n := fx.b.frameCount()
	end := fx.clock.Now().Add(10 * time.Minute)
	advanceUntil(t, fx, 11*time.Minute, func() bool { return !fx.clock.Now().Before(end) }, c)
	if fx.b.frameCount() != n {
		t.Fatalf("kept retrying after expiry: %d more requests", fx.b.frameCount()-n)
	}
}

func TestTokenShorterThanTheLeadIsRenewedHalfwayNotInALoop(t *testing.T) {
	fx := newFixture(t)
	fx.expiresIn = 40 // shorter than the 60 s renewBeforeExpiry
	c := fx.signedIn()
	start := fx.clock.Now()
	if tok, _ := c.GetTokenSilently(context.Background(), AuthorizeParams{}); tok == "" || fx.b.frameCount() != 1 {
		t.Fatalf("a fresh short-lived token was not served from the cache (%d frames)", fx.b.frameCount())
	}
	advanceUntil(t, fx, time.Minute, func() bool { return fx.b.frameCount() == 2 }, c)
	if at := fx.clock.Now().Sub(start); at != 20*time.Second {
		t.Errorf("renewed %v after receipt, want 20 s (halfway)", at)
	}
	advanceUntil(t, fx, time.Minute, func() bool { return fx.b.frameCount() == 3 }, c)
	if at := fx.clock.Now().Sub(start); at != 40*time.Second {
		t.Errorf("second renewal %v after the first receipt, want 40 s", at)
	}
}

// wakingBrowser is a page that can signal a wake-up and be hidden.
type wakingBrowser struct {
	*fakeBrowser
	wake   chan struct{}
	hidden *atomic.Bool
}

func newWakingBrowser(b *fakeBrowser) wakingBrowser {
	return wakingBrowser{b, make(chan struct{}, 1), new(atomic.Bool)}
}

func (w wakingBrowser) Wake() <-chan struct{} { return w.wake }
func (w wakingBrowser) Hidden() bool          { return w.hidden.Load() }

// heldCheckSession starts a checkSession whose iframe answers (signed in)
// only once release is closed; done gets the call's error.
func (fx *fixture) heldCheckSession(c *Client) (release chan struct{}, done chan error) {
	release = fx.holdAnswers()
	done = make(chan error, 1)
	go func() { _, err := c.CheckSession(context.Background(), AuthorizeParams{}); done <- err }()
	return release, done
}

// signedInOnWakingPage is a client on a wakingBrowser, with edit applied to
// the fixture's options, after one successful checkSession.
func (fx *fixture) signedInOnWakingPage(edit func(*Options)) (*Client, wakingBrowser) {
	fx.t.Helper()
	wb := newWakingBrowser(fx.b)
	c := fx.clientOn(wb, edit)
	if _, err := c.CheckSession(context.Background(), AuthorizeParams{}); err != nil {
		fx.t.Fatal(err)
	}
	return c, wb
}

// A hidden page skips its session polls. The loop must then sleep until a
// wake-up or its backup tick, not spin on the poll that is overdue.
func TestHiddenPageSkipsPollsWithoutSpinning(t *testing.T) {
	fx := newFixture(t)
	fx.expiresIn = 3600
	c, wb := fx.signedInOnWakingPage(func(o *Options) { o.SessionCheckInterval = 10 * time.Second })
	advanceUntil(t, fx, time.Minute, func() bool { return fx.b.frameCount() == 2 }, c)
	wb.hidden.Store(true)
	hiddenAt := fx.clock.Now()
	advanceUntil(t, fx, time.Minute, func() bool { return fx.clock.Now().Sub(hiddenAt) >= 10*time.Second }, c)
	if n := fx.b.frameCount(); n != 2 {
		t.Fatalf("%d frames: a hidden page polled", n)
	}
	if p := fx.clock.pending(); len(p) == 0 || p[0] <= 0 {
		t.Fatalf("a hidden page's loop is armed for %v: it spins on the overdue poll", p)
	}
	wb.hidden.Store(false)
	wb.wake <- struct{}{}
	waitFor(t, "the poll on becoming visible", func() bool { return fx.b.frameCount() == 3 })
}

func TestWakeUpBringsARetryForwardButKeepsTheFloor(t *testing.T) {
	fx := newFixture(t)
	fx.expiresIn = 3600
	early := 50 * time.Minute
	c, wb := fx.signedInOnWakingPage(func(o *Options) { o.RenewBeforeExpiry = &early })
	fx.answer(answerTemporarilyUnavailable)
	// Fail a few times so the backoff is long (attempt 4: 20–60 s).
	advanceUntil(t, fx, time.Hour, func() bool { return fx.b.frameCount() == 5 }, c)
	advanceUntil(t, fx, time.Minute, func() bool {
		c.renewer.mu.Lock()
		defer c.renewer.mu.Unlock()
		return c.renewer.attempt >= 4 && c.renewer.state == retrying
	}, c)
	fx.answer(nil) // the server is back
	// A wake-up within the floor waits for the floor...
	c.renewer.mu.Lock()
	old := c.renewer.timer
	c.renewer.mu.Unlock()
	wb.wake <- struct{}{}
	waitFor(t, "the loop to take the wake-up and re-arm", func() bool {
		c.renewer.mu.Lock()
		defer c.renewer.mu.Unlock()
		return c.renewer.timer != old && fx.clock.live(c.renewer.timer)
	})
	if n := fx.b.frameCount(); n != 5 {
		t.Fatalf("a wake-up inside the retry floor renewed at once (%d frames)", n)
	}
	if p := fx.clock.pending(); len(p) == 0 || p[0] > retryFloor {
		t.Fatalf("after the wake-up the next look is in %v, want within the %v floor", p, retryFloor)
	}
	// ...and then renews, well before the backoff's 20–60 s.
	advanceUntil(t, fx, retryFloor, func() bool { return fx.b.frameCount() == 6 }, c)
}

func TestRenewalFailuresOfAnyKindBackOff(t *testing.T) {
	fx := newFixture(t)
	fx.expiresIn = 3600
	early := 50 * time.Minute
	c := fx.signedIn(func(o *Options) { o.RenewBeforeExpiry = &early })
	fx.mu.Lock()
	fx.tamper = func(c map[string]any) { c["aud"] = "someone-else" } // invalid_token from now on
	fx.mu.Unlock()
	advanceUntil(t, fx, time.Hour, func() bool { return fx.b.frameCount() == 2 }, c)
	start := fx.clock.Now()
	end := start.Add(2 * time.Minute)
	advanceUntil(t, fx, 3*time.Minute, func() bool { return !fx.clock.Now().Before(end) }, c)
	// Backoff 5–7.5 s, 5–15 s, 10–30 s, 20–60 s: at most five tries in two minutes.
	if n := fx.b.frameCount() - 2; n > 5 {
		t.Fatalf("%d retries of invalid_token in %v", n, fx.clock.Now().Sub(start))
	}
	if ev := fx.eventList(); len(ev) < 2 || ev[1] != "renew_error" {
		t.Errorf("events %v, want renew_error", ev)
	}
}

func TestARetryDueAfterExpiryStillHappens(t *testing.T) {
	fx := newFixture(t)
	fx.expiresIn = 20 // renewal due halfway, at 10 s
	c := fx.signedIn()
	fx.answer(answerTemporarilyUnavailable)
	// Fails at 10 s while the token is valid, so a retry is promised for
	// 15–17.5 s; that one fails too and promises one after the 20 s expiry.
	advanceUntil(t, fx, time.Minute, func() bool { return fx.b.frameCount() == 3 }, c)
	advanceUntil(t, fx, time.Minute, func() bool { return fx.b.frameCount() == 4 }, c)
	if ev := fx.eventList(); len(ev) < 3 || ev[1] != "renew_error" {
		t.Fatalf("events %v", ev)
	}
}

func TestTimerRenewalJoinsACallInFlight(t *testing.T) {
	fx := newFixture(t)
	fx.expiresIn = 20 // due halfway, at 10 s
	c := fx.signedIn()
	release, done := fx.heldCheckSession(c)
	waitFor(t, "the call's iframe and the loop's timer", func() bool {
		c.renewer.mu.Lock()
		timer := c.renewer.timer
		c.renewer.mu.Unlock()
		return fx.b.frameCount() == 2 && timer != nil && fx.clock.live(timer)
	})
	fx.clock.Advance(10 * time.Second) // the renewal comes due while the call waits
	waitFor(t, "the loop's renewal to join the call", func() bool { return fx.logged("joining the silent request already in flight") })
	if n := fx.b.frameCount(); n != 2 {
		t.Fatalf("%d iframes: the timer's renewal did not join the call in flight", n)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	waitFor(t, "one renewed event for the joined request", func() bool { return len(fx.eventList()) == 2 })
}

func TestOneRenewalBringsOneEventWhateverTheNumberOfCallers(t *testing.T) {
	for _, n := range []int{1, 3, 10} {
		t.Run(strings.Repeat("caller ", n), func(t *testing.T) {
			fx := newFixture(t)
			fx.expiresIn = 60
			c := fx.signedIn(func(o *Options) { o.AutoRenew = new(bool) })
			fx.clock.Advance(58 * time.Second) // 2 s left: under the 5 s minimum validity
			release := fx.holdAnswers()
			tokens := make([]string, n)
			wait := inParallel(n, func(i int) { tokens[i], _ = c.GetTokenSilently(context.Background(), AuthorizeParams{}) })
			waitFor(t, "every caller to join", func() bool {
				c.mu.Lock()
				defer c.mu.Unlock()
				return len(c.inflight) == 1 && fx.b.frameCount() == 2
			})
			close(release)
			wait()
			if fx.b.frameCount() != 2 {
				t.Fatalf("%d callers opened %d iframes", n, fx.b.frameCount()-1)
			}
			for i, tok := range tokens {
				if tok == "" || tok != tokens[0] {
					t.Errorf("caller %d got %q, want the one renewed token", i, tok)
				}
			}
			if ev := fx.eventList(); len(ev) != 2 {
				t.Errorf("events %v: want one renewed for the first result and one for the renewal", ev)
			}
		})
	}
}

func TestGetTokenSilentlyAnswersFromTheCacheInsideTheWindowAndRenewsInTheBackground(t *testing.T) {
	fx := newFixture(t)
	fx.expiresIn = 120
	c := fx.client(func(o *Options) { o.AutoRenew = new(bool) })
	first, err := c.GetTokenSilently(context.Background(), AuthorizeParams{})
	if err != nil {
		t.Fatal(err)
	}
	release := fx.holdAnswers()
	fx.clock.Advance(90 * time.Second) // inside the 60 s window, 30 s of validity left
	for range 5 {
		tok, err := c.GetTokenSilently(context.Background(), AuthorizeParams{})
		if err != nil || tok != first {
			t.Fatalf("inside the window got %q, %v; want the cached token at once", tok, err)
		}
	}
	waitFor(t, "the background renewal's iframe", func() bool { return fx.b.frameCount() == 2 })
	close(release)
	waitFor(t, "the background renewal", func() bool { return c.idle(fx.clock) && len(fx.eventList()) == 2 })
	if n := fx.b.frameCount(); n != 2 {
		t.Fatalf("%d renewals started for five calls inside the window, want 1", n-1)
	}
	if tok, _ := c.GetTokenSilently(context.Background(), AuthorizeParams{}); tok == first {
		t.Fatal("the renewed token is not served after the background renewal")
	}
}

func TestCallersWithoutATokenDoNotHammerAFailingServer(t *testing.T) {
	fx := newFixture(t)
	fx.expiresIn = 60
	c := fx.signedIn(func(o *Options) { o.AutoRenew = new(bool) })
	fx.answer(answerTemporarilyUnavailable)
	fx.clock.Advance(59 * time.Second)
	for range 20 { // a caller every 250 ms for 5 s
		if _, err := c.GetTokenSilently(context.Background(), AuthorizeParams{}); errCode(err) != "temporarily_unavailable" {
			t.Fatalf("got %v", err)
		}
		fx.clock.Advance(250 * time.Millisecond)
	}
	// One request per callerGap (2 s) from the start of the failed one:
	// at 0, 2 and 4 s.
	if n := fx.b.frameCount() - 1; n != 3 {
		t.Fatalf("%d requests in 5 s for 20 callers; one per %v from the last one's start makes 3", n, callerGap)
	}
}

func TestLoginRequiredHintIsAddedOnceAndTheServersErrorIsNotChanged(t *testing.T) {
	fx := newFixture(t)
	c := fx.client()
	completeInteractiveLogin(t, fx, c)
	serverErr := map[string]any{"error": "login_required", "error_description": "Login required"}
	release := make(chan struct{})
	fx.frameResponse = func(f *fakeFrame) {
		<-release
		resp := map[string]any{"state": f.param("state")}
		for k, v := range serverErr {
			resp[k] = v
		}
		f.respond(resp)
	}
	errs := make([]error, 3)
	wait := inParallel(len(errs), func(i int) { _, errs[i] = c.CheckSession(context.Background(), AuthorizeParams{}) })
	waitFor(t, "three joined callers", func() bool {
		fx.mu.Lock()
		defer fx.mu.Unlock()
		return fx.b.frameCount() == 1 && strings.Count(strings.Join(fx.logs, "\n"), "joining the silent request") == 2
	})
	close(release)
	wait()
	for i, err := range errs {
		if n := strings.Count(err.Error(), "silentauth:"); n != 1 || errs[0] != err {
			t.Errorf("caller %d: hint appears %d times, shared %t: %v", i, n, errs[0] == err, err)
		}
	}
	if ev := fx.eventList(); len(ev) != 1 || ev[0] != "session_ended" {
		t.Errorf("events %v, want one session_ended", ev)
	}
}

func TestRenewalForAnotherUserEndsTheSession(t *testing.T) {
	fx := newFixture(t)
	fx.expiresIn = 120
	c := fx.signedIn()
	fx.mu.Lock()
	fx.tamper = func(claims map[string]any) { claims["sub"] = "auth0|someone-else" }
	fx.mu.Unlock()
	_, err := c.CheckSession(context.Background(), AuthorizeParams{})
	if errCode(err) != "login_required" || !strings.Contains(err.Error(), `sub was "auth0|user-1", now "auth0|someone-else"`) {
		t.Fatalf("got %v", err)
	}
	if ev := fx.eventList(); len(ev) != 2 || ev[1] != "session_ended" {
		t.Errorf("events %v, want renewed then session_ended", ev)
	}
	if c.GetUser() != nil {
		t.Errorf("the old user's claims are still served: %v", c.GetUser())
	}
	if tok, err := c.GetTokenSilently(context.Background(), AuthorizeParams{}); err == nil && tok != "" {
		// A new silent request may start a new session; it must be the new user's.
		if sub := c.GetUser()["sub"]; sub != "auth0|someone-else" {
			t.Errorf("token served for %v", sub)
		}
	}
}

func TestDestroyedClientServesNothing(t *testing.T) {
	fx := newFixture(t)
	c := fx.client()
	if _, err := c.GetTokenSilently(context.Background(), AuthorizeParams{}); err != nil {
		t.Fatal(err)
	}
	c.Destroy()
	if _, err := c.GetTokenSilently(context.Background(), AuthorizeParams{}); errCode(err) != string(ErrDestroyed) {
		t.Errorf("GetTokenSilently after Destroy: %v", err)
	}
	if err := c.Logout(context.Background(), LogoutParams{}); errCode(err) != string(ErrDestroyed) || fx.b.Location() != "" {
		t.Errorf("Logout after Destroy: %v, navigated to %q", err, fx.b.Location())
	}
	if c.GetUser() != nil {
		t.Error("GetUser after Destroy still has the user")
	}
}
