package checksession

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/silentauth/silentauth/checksession/platform"
)

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func TestBackoffScheduleSteps(t *testing.T) {
	timeout := &Error{Code: string(ErrTimeout)}
	busy := &Error{Code: "temporarily_unavailable", serverWait: 20 * time.Second}
	slow := &Error{Code: "temporarily_unavailable", serverWait: time.Hour}
	type step struct {
		at       time.Duration // after t0
		err      *Error        // a failure; nil: a comeback
		back     platform.Comeback
		u        float64
		wantNext time.Duration // after t0
		moved    bool          // for a comeback
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"failures double the wait up to the cap", []step{
			{at: 0, err: timeout, u: 0, wantNext: time.Second},
			{at: time.Second, err: timeout, u: 0, wantNext: 3 * time.Second},
			{at: 3 * time.Second, err: timeout, u: 0, wantNext: 7 * time.Second},
			{at: 7 * time.Second, err: timeout, u: 0, wantNext: 15 * time.Second},
			{at: 15 * time.Second, err: timeout, u: 0, wantNext: 30 * time.Second},
			{at: 30 * time.Second, err: timeout, u: 0.5, wantNext: 52500 * time.Millisecond},
		}},
		{"Retry-After sets the next attempt to the second", []step{
			{at: 0, err: busy, u: 0.5, wantNext: 20 * time.Second},
		}},
		{"Retry-After is capped at five minutes", []step{
			{at: 0, err: slow, u: 0.5, wantNext: 5 * time.Minute},
		}},
		{"a failure after a Retry-After goes back to the growing delays", []step{
			{at: 0, err: busy, u: 0.5, wantNext: 20 * time.Second},
			{at: 20 * time.Second, err: timeout, u: 0, wantNext: 22 * time.Second},
		}},
		{"a comeback brings the attempt to within 2 s, jittered", []step{
			{at: 0, err: timeout, u: 0, wantNext: time.Second},
			{at: time.Second, err: timeout, u: 0, wantNext: 3 * time.Second},
			{at: 3 * time.Second, err: timeout, u: 0, wantNext: 7 * time.Second},
			{at: 4 * time.Second, back: platform.CameOnline, u: 0.25, wantNext: 4500 * time.Millisecond, moved: true},
		}},
		{"a comeback of the same kind brings nothing more in the same backoff", []step{
			{at: 0, err: timeout, u: 0, wantNext: time.Second},
			{at: time.Second, err: timeout, u: 0, wantNext: 3 * time.Second},
			{at: 3 * time.Second, err: timeout, u: 0, wantNext: 7 * time.Second},
			{at: 4 * time.Second, back: platform.BecameVisible, u: 0, wantNext: 4 * time.Second, moved: true},
			{at: 4 * time.Second, err: timeout, u: 0, wantNext: 12 * time.Second},
			{at: 5 * time.Second, back: platform.BecameVisible, u: 0, wantNext: 12 * time.Second},
			{at: 5 * time.Second, back: platform.CameOnline, u: 0, wantNext: 5 * time.Second, moved: true},
		}},
		{"a comeback never moves an attempt later", []step{
			{at: 0, err: timeout, u: 0, wantNext: time.Second},
			{at: 0, back: platform.CameOnline, u: 0.9, wantNext: time.Second},
		}},
		{"a comeback does not cut a server's Retry-After short", []step{
			{at: 0, err: busy, u: 0, wantNext: 20 * time.Second},
			{at: time.Second, back: platform.CameOnline, u: 0, wantNext: 20 * time.Second},
		}},
		{"a comeback without a backoff does nothing", []step{
			{at: 0, back: platform.CameOnline, u: 0, wantNext: 0},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var b backoff
			for i, s := range tc.steps {
				now := t0.Add(s.at)
				if s.err != nil {
					b = b.failed(now, s.err, s.u)
				} else {
					var moved bool
					b, moved = b.comeback(now, s.back, s.u)
					if moved != s.moved {
						t.Fatalf("step %d: moved %t, want %t", i, moved, s.moved)
					}
				}
				if got := b.next.Sub(t0); b.failures > 0 && got != s.wantNext {
					t.Fatalf("step %d: next attempt at %v, want %v", i, got, s.wantNext)
				}
			}
		})
	}
}

func TestRetryAfterAsCallersSeeIt(t *testing.T) {
	b := backoff{}.failed(t0, &Error{Code: string(ErrTimeout)}, 0.5) // 1.5 s
	cases := []struct {
		name     string
		at       time.Duration
		inFlight bool
		running  bool
		want     time.Duration
	}{
		{"at the failure: the wait rounded up to whole seconds", 0, false, true, 2 * time.Second},
		{"a second on", time.Second, false, true, time.Second},
		{"once it ran out no one waits", 1500 * time.Millisecond, false, false, 0},
		{"an attempt in flight holds no caller: retry in a second", 1600 * time.Millisecond, true, true, time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			now := t0.Add(tc.at)
			if got := b.running(now, tc.inFlight); got != tc.running {
				t.Fatalf("running = %t, want %t", got, tc.running)
			}
			if !tc.running {
				return
			}
			e := b.answer(now)
			if e.RetryAfter != tc.want || e.Code != string(ErrTimeout) {
				t.Errorf("caller gets %v retryAfter %v, want timeout retryAfter %v", e, e.RetryAfter, tc.want)
			}
			if b.err.RetryAfter != 0 {
				t.Error("the remembered error was changed")
			}
		})
	}
}

func TestRetryAfterHeaderIsReadOnlyOn429And503(t *testing.T) {
	cases := []struct {
		name   string
		status int
		value  string
		want   time.Duration
	}{
		{"503 with seconds", 503, "20", 20 * time.Second},
		{"429 with seconds", 429, " 7 ", 7 * time.Second},
		{"500 is not asked to wait", 500, "20", 0},
		{"an HTTP-date", 503, "Wed, 25 Nov 2026 12:01:00 GMT", time.Minute},
		{"a date in the past", 503, "Wed, 25 Nov 2026 11:00:00 GMT", 0},
		{"capped at five minutes", 429, "999999999999", 5 * time.Minute},
		{"zero", 503, "0", 0},
		{"negative", 503, "-5", 0},
		{"garbage", 503, "soon", 0},
		{"absent", 503, "", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := serverWait(tc.status, map[string]string{"retry-after": tc.value}, t0); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestASharedBackoffIsShapeChecked(t *testing.T) {
	good := sharedBackoff{Failures: 3, NextAtMs: t0.Add(5 * time.Second).UnixMilli(), Error: "timeout", Description: "slow", Early: 1}
	cases := []struct {
		name string
		edit func(*sharedBackoff)
		why  string // "" when accepted
	}{
		{"the holder's schedule is taken", func(*sharedBackoff) {}, ""},
		{"no failures", func(s *sharedBackoff) { s.Failures = 0 }, "failures"},
		{"absurd failures", func(s *sharedBackoff) { s.Failures = 1 << 30 }, "failures"},
		{"further than any schedule", func(s *sharedBackoff) { s.NextAtMs = t0.Add(time.Hour).UnixMilli() }, "too far"},
		{"an error that ends the session", func(s *sharedBackoff) { s.Error = "login_required" }, "ends a session"},
		{"a code with spaces", func(s *sharedBackoff) { s.Error = "time out" }, "OAuth error code"},
		{"no code", func(s *sharedBackoff) { s.Error = "" }, "OAuth error code"},
		{"a long description", func(s *sharedBackoff) { s.Description = strings.Repeat("x", 5000) }, "too long"},
		{"unknown early bits", func(s *sharedBackoff) { s.Early = 9 }, "early"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := good
			tc.edit(&s)
			b, why := s.backoff(t0)
			if tc.why == "" {
				if why != "" || b.failures != 3 || !b.next.Equal(t0.Add(5*time.Second)) || b.err.Code != "timeout" || b.early != 1 {
					t.Fatalf("refused (%s) or changed: %+v", why, b)
				}
				return
			}
			if !strings.Contains(why, tc.why) {
				t.Errorf("why = %q, want it to say %q", why, tc.why)
			}
		})
	}
	t.Run("written as encoding/json writes it", func(t *testing.T) {
		for _, s := range []sharedBackoff{good, {Failures: 1, NextAtMs: 1, Error: "x", Server: true, HoldsAll: true}} {
			msg := tabMessage{Kind: kindRenewFailed, Backoff: &s}
			want, _ := json.Marshal(msg)
			if got := msg.appendJSON(nil); string(got) != string(want) {
				t.Errorf("got  %s\nwant %s", got, want)
			}
			var back tabMessage
			if err := json.Unmarshal(msg.appendJSON(nil), &back); err != nil || !reflect.DeepEqual(*back.Backoff, s) {
				t.Errorf("read back %+v (%v), want %+v", back.Backoff, err, s)
			}
		}
	})
}

// callTabs has every tab call getTokenSilently every 250 ms for d of fake
// time, and returns the errors they got.
func callTabs(t *testing.T, fx *fixture, clients []*Client, d time.Duration) (errs []*Error) {
	t.Helper()
	for end := fx.clock.Now().Add(d); fx.clock.Now().Before(end); {
		for _, c := range clients {
			_, err := c.GetTokenSilently(context.Background(), AuthorizeParams{})
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("a caller got %v during the outage", err)
			}
			errs = append(errs, e)
		}
		waitFor(t, "the tabs to settle", func() bool { return allIdle(clients) })
		fx.clock.Advance(250 * time.Millisecond)
	}
	return errs
}

func TestTheTabGroupSharesOneBackoff(t *testing.T) {
	fx := newFixture(t)
	fx.expiresIn = 60
	clients, _ := openTabs(t, fx, 3)
	for _, c := range clients {
		c.engine.backoffs.rand = func() float64 { return 0 } // the shortest delays, the most requests
	}
	opened := fx.b.frameCount()
	fx.answer(answerTemporarilyUnavailable)
	fx.clock.Advance(61 * time.Second) // the token has expired, and so has its renewal
	errs := callTabs(t, fx, clients, 2*time.Minute)
	// One tab alone, failing at once, asks at 0, 1, 3, 7, 15 s and then
	// every 15 s: 12 requests in two minutes. Three tabs that each kept
	// their own backoff would make three times that.
	if n := fx.b.frameCount() - opened; n < 6 || n > 13 {
		t.Fatalf("3 tabs calling every 250 ms for 2 minutes made %d requests, want one backoff's 12 or so", n)
	}
	waited := 0
	for _, e := range errs {
		if e.Code != "temporarily_unavailable" {
			t.Fatalf("a caller got %v", e)
		}
		if e.RetryAfter >= time.Second {
			waited++
		}
	}
	// Only the callers that made a request waited for it; all others got
	// the last error at once, with retryAfter.
	if n := fx.b.frameCount() - opened; waited < len(errs)-n {
		t.Errorf("%d of %d errors carry retryAfter, with %d requests made", waited, len(errs), n)
	}
	// The server recovers: within the cap every tab has a token again.
	fx.answer(nil)
	recovered := fx.clock.Now()
	for i, c := range clients {
		for {
			if _, err := c.GetTokenSilently(context.Background(), AuthorizeParams{}); err == nil {
				break
			}
			if fx.clock.Now().Sub(recovered) > backoffCap {
				t.Fatalf("tab %d has no token %v after the recovery", i, backoffCap)
			}
			waitFor(t, "the tabs to settle", func() bool { return allIdle(clients) })
			fx.clock.Advance(250 * time.Millisecond)
		}
	}
	for i, c := range clients {
		if b := c.engine.backoffs.get(c.renewer.defaultKey); b.failures != 0 {
			t.Errorf("tab %d still backs off after a success: %+v", i, b)
		}
	}
}

// comebackTab is a tab that also tells comebacks.
type comebackTab struct {
	tabBrowser
	back chan platform.Comeback
}

func (b comebackTab) Comebacks() <-chan platform.Comeback { return b.back }

func TestComingBackOnlineInEveryTabBringsOneAttemptForward(t *testing.T) {
	fx := newFixture(t)
	fx.expiresIn = 3600
	tabs := make([]comebackTab, 3)
	clients, _ := openTabsOn(t, fx, 3, func(i int, hub *tabHub) platform.Browser {
		tabs[i] = comebackTab{tabBrowser{fx.b, hub}, make(chan platform.Comeback)}
		return tabs[i]
	})
	for i, c := range clients {
		u := 0.2 + 0.3*float64(i) // early attempts 0.4, 1 and 1.6 s after the signal
		c.engine.backoffs.rand = func() float64 { return u }
	}
	fx.answer(answerTemporarilyUnavailable)
	fx.clock.Advance(3601 * time.Second)
	// Into the 15-30 s delays, to a moment with the next attempt 5 s away or more.
	key := clients[0].renewer.defaultKey
	for b := clients[0].engine.backoffs.get(key); b.failures < 5 || b.next.Sub(fx.clock.Now()) < 5*time.Second; b = clients[0].engine.backoffs.get(key) {
		callTabs(t, fx, clients, 250*time.Millisecond)
		if fx.clock.Now().Sub(t0) > 2*time.Hour {
			t.Fatalf("the group's backoff is %+v; the test wants the next attempt a while away", b)
		}
	}
	opened := fx.b.frameCount()
	for i, tab := range tabs {
		tab.back <- platform.CameOnline // every tab sees the online event (unbuffered: the loop took it)
		waitFor(t, "the loop to take the comeback and re-arm", func() bool { return clients[i].idle() })
	}
	waitFor(t, "the tabs to settle", func() bool { return allIdle(clients) })
	for range 10 { // 2.5 s
		fx.clock.Advance(250 * time.Millisecond)
		waitFor(t, "the tabs to settle", func() bool { return allIdle(clients) })
	}
	if n := fx.b.frameCount() - opened; n != 1 {
		t.Fatalf("coming back online in 3 tabs brought %d attempts forward, want 1; logs %q", n, fx.logs[max(0, len(fx.logs)-40):])
	}
}

func TestAnErrorThatNeedsTheUserStillEndsTheSessionDuringABackoff(t *testing.T) {
	fx := newFixture(t)
	fx.expiresIn = 60
	c := fx.signedIn(func(o *Options) { o.AutoRenew = new(bool) })
	fx.answer(answerTemporarilyUnavailable)
	fx.clock.Advance(61 * time.Second)
	for range 3 {
		_, _ = c.GetTokenSilently(context.Background(), AuthorizeParams{})
		fx.clock.Advance(backoffDelay(3, 1))
	}
	if b := c.engine.backoffs.get(c.renewer.defaultKey); b.failures != 3 {
		t.Fatalf("%d failures, want 3", b.failures)
	}
	fx.answer(answerLoginRequired("Login required"))
	_, err := c.GetTokenSilently(context.Background(), AuthorizeParams{})
	if errCode(err) != string(ErrLoginRequired) {
		t.Fatalf("got %v, want login_required", err)
	}
	waitFor(t, "session_ended", func() bool { e := fx.eventList(); return len(e) > 0 && e[len(e)-1] == "session_ended" })
	if b := c.engine.backoffs.get(c.renewer.defaultKey); b.failures != 0 {
		t.Errorf("the ended session's backoff lives on: %+v", b)
	}
	var e *Error
	if errors.As(err, &e) && e.RetryAfter != 0 {
		t.Errorf("login_required carries retryAfter %v: nothing will be retried", e.RetryAfter)
	}
}

func TestAnOfflineTabKeepsItsFailureToItself(t *testing.T) {
	for _, tc := range []struct {
		name    string
		offline bool
		want    int // the other tab's failures after the check
	}{
		{"an online tab's failure is the group's", false, 1},
		{"an offline tab's failure is its own", true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := newFixture(t)
			off, frames := new(atomic.Bool), new(counter)
			clients, _ := openTabsOn(t, fx, 2, func(i int, h *tabHub) platform.Browser {
				b := goingOffline{fakeBrowser: fx.b, tabAs: tabAs{h, i}, off: new(atomic.Bool), offlineFrames: new(counter)}
				if i == 1 {
					b.off, b.offlineFrames = off, frames
				}
				return b
			})
			fx.answer(answerTemporarilyUnavailable)
			off.Store(tc.offline)
			done := make(chan error, 1)
			go func() { _, err := clients[1].CheckSession(context.Background(), AuthorizeParams{}); done <- err }()
			// The offline iframe loads and posts nothing: the fake clock must
			// move for its load grace to run out.
			var err error
			for wait := true; wait; {
				select {
				case err = <-done:
					wait = false
				case <-time.After(time.Millisecond):
					fx.clock.Advance(100 * time.Millisecond)
				}
			}
			if err == nil {
				t.Fatal("the check did not fail")
			}
			key := clients[0].renewer.defaultKey
			if b := clients[1].engine.backoffs.get(key); b.failures != 1 {
				t.Errorf("the failing tab's own backoff has %d failures, want 1", b.failures)
			}
			if b := clients[0].engine.backoffs.get(key); b.failures != tc.want {
				t.Errorf("the other tab's backoff has %d failures, want %d", b.failures, tc.want)
			}
		})
	}
}

func TestOnlyATransientFailureHoldsThePagesOwnCheckSession(t *testing.T) {
	cases := []struct {
		name      string
		fail      func(fx *fixture)
		code      string
		checkHeld bool // a second checkSession gets the backoff's answer
	}{
		{"temporarily_unavailable holds every asker", func(fx *fixture) { fx.answer(answerTemporarilyUnavailable) },
			"temporarily_unavailable", true},
		{"an HTTP 429 from the token endpoint holds every asker", func(fx *fixture) {
			fx.b.routes[serverOrigin+"/oauth/token"] = func(platform.HTTPRequest) (*platform.HTTPResponse, error) {
				return jsonResponse(429, map[string]any{"error": "too_many_requests"})
			}
		}, "too_many_requests", true},
		{"invalid_token lets the page's checkSession ask again", func(fx *fixture) {
			fx.mu.Lock()
			fx.tamper = func(c map[string]any) { c["aud"] = "someone-else" }
			fx.mu.Unlock()
		}, string(ErrInvalidToken), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fx := newFixture(t)
			c := fx.client(func(o *Options) { o.AutoRenew = new(bool) })
			tc.fail(fx)
			if _, err := c.CheckSession(context.Background(), AuthorizeParams{}); errCode(err) != tc.code {
				t.Fatalf("first checkSession: %v, want %s", err, tc.code)
			}
			n := fx.b.frameCount()
			_, err := c.CheckSession(context.Background(), AuthorizeParams{})
			var e *Error
			held := errors.As(err, &e) && e.RetryAfter > 0
			if held != tc.checkHeld || held && fx.b.frameCount() != n || !held && fx.b.frameCount() != n+1 {
				t.Errorf("second checkSession: %v (retryAfter %v), %d new requests; want held %t", err, e.RetryAfter, fx.b.frameCount()-n, tc.checkHeld)
			}
			// getTokenSilently without a token waits for the backoff either way.
			n = fx.b.frameCount()
			if _, err := c.GetTokenSilently(context.Background(), AuthorizeParams{}); !errors.As(err, &e) || e.RetryAfter == 0 || fx.b.frameCount() != n {
				t.Errorf("getTokenSilently during the backoff: %v, %d new requests; want the last error with retryAfter and none", err, fx.b.frameCount()-n)
			}
		})
	}
}
