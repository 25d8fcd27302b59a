package checksession

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/silentauth/silentauth/checksession/platform"
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

func TestFailuresAreRetriedOnTheBackoffSchedule(t *testing.T) {
	fx := newFixture(t)
	fx.expiresIn = 3600
	early := 50 * time.Minute // renewal starts early, so the retries stay within the token's life
	c := fx.signedIn(func(o *Options) { o.RenewBeforeExpiry = &early })
	c.engine.backoffs.rand = func() float64 { return 0.5 } // the middle of each step
	fx.answer(answerTemporarilyUnavailable)
	var times []time.Time
	for len(times) < 8 {
		n := fx.b.frameCount()
		advanceUntil(t, fx, 2*time.Hour, func() bool { return fx.b.frameCount() > n }, c)
		times = append(times, fx.clock.Now())
	}
	// The fake server fails at once, so the gaps are the delays: 3/4 of
	// 2, 4, 8, 16, then of the 30 s cap.
	want := []time.Duration{1500 * time.Millisecond, 3 * time.Second, 6 * time.Second, 12 * time.Second,
		22500 * time.Millisecond, 22500 * time.Millisecond, 22500 * time.Millisecond}
	for i, w := range want {
		if gap := times[i+1].Sub(times[i]); gap != w {
			t.Errorf("retry %d came %v after the last, want %v", i+1, gap, w)
		}
	}
	waitFor(t, "the renew_error events", func() bool { return len(fx.eventList()) >= 5 })
	if ev := fx.eventList(); ev[1] != "renew_error" {
		t.Errorf("events %v, want renew_error after renewed", ev)
	}
}

func TestBackoffDelaysGrowToTheCapWithinTheirJitterBounds(t *testing.T) {
	cases := []struct {
		name     string
		failures int
		lo, hi   time.Duration // [lo, hi)
	}{
		{"first failure: 1 to 2 s", 1, time.Second, 2 * time.Second},
		{"second: 2 to 4 s", 2, 2 * time.Second, 4 * time.Second},
		{"third: 4 to 8 s", 3, 4 * time.Second, 8 * time.Second},
		{"fourth: 8 to 16 s", 4, 8 * time.Second, 16 * time.Second},
		{"fifth reaches the cap: 15 to 30 s", 5, 15 * time.Second, 30 * time.Second},
		{"the cap holds", 6, 15 * time.Second, 30 * time.Second},
		{"the cap holds for ever", 1000, 15 * time.Second, 30 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if d := backoffDelay(tc.failures, 0); d != tc.lo {
				t.Errorf("lowest draw %v, want %v", d, tc.lo)
			}
			if d := backoffDelay(tc.failures, math.Nextafter(1, 0)); d >= tc.hi || d < tc.hi-time.Millisecond {
				t.Errorf("highest draw %v, want just under %v", d, tc.hi)
			}
			for range 100 {
				if d := backoffDelay(tc.failures, rand.Float64()); d < tc.lo || d >= tc.hi {
					t.Fatalf("%v outside [%v, %v)", d, tc.lo, tc.hi)
				}
			}
		})
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

func TestAFocusBringsNoAttemptForward(t *testing.T) {
	fx := newFixture(t)
	fx.expiresIn = 3600
	early := 50 * time.Minute
	c, wb := fx.signedInOnWakingPage(func(o *Options) { o.RenewBeforeExpiry = &early })
	c.engine.backoffs.rand = func() float64 { return 0.5 }
	fx.answer(answerTemporarilyUnavailable)
	// Five failures: the next attempt is 22.5 s away.
	advanceUntil(t, fx, time.Hour, func() bool { return fx.b.frameCount() == 6 }, c)
	advanceUntil(t, fx, time.Minute, func() bool { return c.engine.backoffs.get(c.renewer.defaultKey).failures == 5 }, c)
	fx.answer(nil) // the server is back

	wb.wake <- struct{}{} // focus, pageshow: a wake-up, not a comeback
	waitFor(t, "the loop to take the wake-up and re-arm", func() bool { return len(wb.wake) == 0 && c.idle() })
	if n := fx.b.frameCount(); n != 6 {
		t.Fatalf("a focus renewed (%d frames)", n)
	}
	from := fx.clock.Now()
	advanceUntil(t, fx, time.Minute, func() bool { return fx.b.frameCount() == 7 }, c)
	if at := fx.clock.Now().Sub(from); at != 22500*time.Millisecond {
		t.Fatalf("after a focus the next attempt came %v later, want the backoff's 22.5 s", at)
	}
}

// comebackBrowser is a waking page that also tells comebacks.
type comebackBrowser struct {
	wakingBrowser
	back chan platform.Comeback
}

func (b comebackBrowser) Comebacks() <-chan platform.Comeback { return b.back }

func TestAComebackBringsOneAttemptForwardOncePerKind(t *testing.T) {
	cases := []struct {
		name string
		// signals, in order, each after the loop took the one before
		signals []platform.Comeback
		want    int // attempts brought forward
	}{
		{"back online brings one attempt forward", []platform.Comeback{platform.CameOnline}, 1},
		{"visible after hidden brings one attempt forward", []platform.Comeback{platform.BecameVisible}, 1},
		{"online twice brings one", []platform.Comeback{platform.CameOnline, platform.CameOnline}, 1},
		{"online, then visible: one each", []platform.Comeback{platform.CameOnline, platform.BecameVisible}, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fx := newFixture(t)
			fx.expiresIn = 3600
			early := 50 * time.Minute
			cb := comebackBrowser{newWakingBrowser(fx.b), make(chan platform.Comeback)}
			c := fx.clientOn(cb, func(o *Options) { o.RenewBeforeExpiry = &early })
			if _, err := c.CheckSession(context.Background(), AuthorizeParams{}); err != nil {
				t.Fatal(err)
			}
			c.engine.backoffs.rand = func() float64 { return 0.5 } // an early attempt 1 s after its signal
			fx.answer(answerTemporarilyUnavailable)
			advanceUntil(t, fx, time.Hour, func() bool { return fx.b.frameCount() == 6 }, c)
			advanceUntil(t, fx, time.Minute, func() bool { return c.engine.backoffs.get(c.renewer.defaultKey).failures == 5 }, c)
			// The next attempt is 22.5 s away; each comeback that counts
			// brings one 1 s after it.
			brought := 0
			for _, k := range tc.signals {
				n := fx.b.frameCount()
				cb.back <- k // unbuffered: the loop took it
				waitFor(t, "the loop to take the comeback and re-arm", func() bool { return c.idle() })
				fx.clock.Advance(time.Second)
				waitFor(t, "the loop to settle", func() bool { return c.idle() })
				if fx.b.frameCount() > n {
					brought++
				}
			}
			if brought != tc.want {
				t.Errorf("%d attempts brought forward, want %d", brought, tc.want)
			}
		})
	}
}

func TestRetryAfterSetsTheNextAttemptAndNoComebackOverridesIt(t *testing.T) {
	cases := []struct {
		name   string
		header string
		want   time.Duration
	}{
		{"delay-seconds", "20", 20 * time.Second},
		{"an HTTP-date", "Wed, 25 Nov 2026 12:00:42 GMT", 42 * time.Second},
		{"capped at five minutes", "86400", 5 * time.Minute},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fx := newFixture(t)
			fx.b.routes[serverOrigin+"/oauth/token"] = func(platform.HTTPRequest) (*platform.HTTPResponse, error) {
				r, err := jsonResponse(503, map[string]any{"error": "temporarily_unavailable"})
				r.Header = map[string]string{"retry-after": tc.header}
				return r, err
			}
			c := fx.client(func(o *Options) { o.AutoRenew = new(bool) })
			// The code's exchange fails; the date is read against the clock
			// at 12:00:00.
			_, err := c.CheckSession(context.Background(), AuthorizeParams{})
			var e *Error
			if !errors.As(err, &e) || e.Code != "temporarily_unavailable" {
				t.Fatalf("got %#v, want temporarily_unavailable", err)
			}
			if _, err := c.CheckSession(context.Background(), AuthorizeParams{}); !errors.As(err, &e) || e.RetryAfter != tc.want {
				t.Fatalf("the next call got %#v, want the error with RetryAfter %v", err, tc.want)
			}
			key := c.renewer.defaultKey
			if b := c.engine.backoffs.get(key); !b.server || b.next.Sub(fx.clock.Now()) != tc.want {
				t.Fatalf("schedule %+v, want the server's %v", b, tc.want)
			}
			if _, moved := c.engine.backoffs.comeback(key, fx.clock.Now(), platform.CameOnline); moved {
				t.Error("coming back online brought the attempt before the server's Retry-After")
			}
			if !fx.logged("Retry-After") {
				t.Error("debug does not say the server's Retry-After set the next attempt")
			}
			fx.clock.Advance(tc.want - time.Second)
			if _, err := c.CheckSession(context.Background(), AuthorizeParams{}); !errors.As(err, &e) || e.RetryAfter != time.Second {
				t.Fatalf("a second before the Retry-After: %v (retry after %v), want the last error, retry after 1 s", err, e.RetryAfter)
			}
			if n := fx.b.fetchCount(serverOrigin + "/oauth/token"); n != 1 {
				t.Fatalf("%d token requests before the Retry-After ran out, want 1", n)
			}
			fx.clock.Advance(time.Second)
			_, _ = c.CheckSession(context.Background(), AuthorizeParams{})
			if n := fx.b.fetchCount(serverOrigin + "/oauth/token"); n != 2 {
				t.Fatalf("%d token requests once the Retry-After ran out, want 2", n)
			}
		})
	}
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
	// Backoff at least 1, 2, 4, 8, then 15 s: at most eleven tries in two minutes.
	if n := fx.b.frameCount() - 2; n > 11 {
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
	// The call's request is in flight, so the client is not idle; every
	// goroutine blocked means the loop (started by the sign-in) is parked.
	waitFor(t, "the call's iframe and the loop's timer", func() bool { return fx.b.frameCount() == 2 && quiet() })
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
				return c.engine.inflight.size() == 1 && fx.b.frameCount() == 2
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
	waitFor(t, "the background renewal", func() bool { return c.idle() && len(fx.eventList()) == 2 })
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
	c.engine.backoffs.rand = func() float64 { return 0 } // the shortest delays: 1, 2, 4 s
	fx.answer(answerTemporarilyUnavailable)
	fx.clock.Advance(59 * time.Second)
	var retryAfter []time.Duration
	for range 20 { // a caller every 250 ms for 5 s
		_, err := c.GetTokenSilently(context.Background(), AuthorizeParams{})
		var e *Error
		if !errors.As(err, &e) || e.Code != "temporarily_unavailable" {
			t.Fatalf("got %v", err)
		}
		retryAfter = append(retryAfter, e.RetryAfter)
		fx.clock.Advance(250 * time.Millisecond)
	}
	// Requests at 0, 1 and 3 s; the next is due at 7 s. Every other caller
	// got the last error at once, saying when the next attempt comes (the
	// callers that made a request got its own error, without retryAfter).
	if n := fx.b.frameCount() - 1; n != 3 {
		t.Fatalf("%d requests in 5 s for 20 callers; the backoff's 1, 2, 4 s make 3", n)
	}
	want := []time.Duration{0, 1, 1, 1, 0, 2, 2, 2, 1, 1, 1, 1, 0, 4, 4, 4, 3, 3, 3, 3}
	for i, w := range want {
		if retryAfter[i] != w*time.Second {
			t.Fatalf("retryAfter of the callers: %v, want %v seconds", retryAfter, want)
		}
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
