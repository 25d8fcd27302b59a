package checksession

import (
	"context"
	"slices"
	"testing"
	"time"
)

// The tests in this file pin timing and auto-renew rules that make
// mutants (internal/mutants) lists: each fails when its rule is broken.

// TestTheLoopLooksAtTheClockEvery15sWhenNothingIsDue pins the backup tick
// the docs promise: with the token far from due, the loop sleeps 15 s at a
// time, so that a timer a hidden tab's browser delayed or dropped costs at
// most 15 s, and no more often, since every look costs CPU in every tab.
func TestTheLoopLooksAtTheClockEvery15sWhenNothingIsDue(t *testing.T) {
	fx := newFixture(t)
	fx.expiresIn = 3600
	c := fx.signedIn()
	for look := range 4 {
		waitFor(t, "the loop to park", func() bool { return c.idle() && len(fx.clock.pending()) > 0 })
		if p := fx.clock.pending(); len(p) != 1 || p[0] != 15*time.Second {
			t.Fatalf("look %d: the loop's timers are %v, want one of 15s", look, p)
		}
		fx.clock.Advance(15 * time.Second)
	}
	if n := fx.b.frameCount(); n != 1 {
		t.Errorf("%d requests while nothing was due", n-1)
	}
}

// TestALoopRunThatChangedNothingWaitsASecondBeforeTheNext pins runGap: when
// a renewal the schedule called due turns out unnecessary (another tab's
// result is already cached) and the schedule stays as it was, the loop
// waits a second before it looks again instead of spinning.
func TestALoopRunThatChangedNothingWaitsASecondBeforeTheNext(t *testing.T) {
	fx := newFixture(t)
	fx.expiresIn = 3600
	c := fx.signedIn()
	waitFor(t, "the loop to park", func() bool { return c.idle() && len(fx.clock.pending()) > 0 })
	// The cached token is fresh, but the schedule says due: what a run
	// leaves behind when another tab's result made it unnecessary.
	c.renewer.mu.Lock()
	c.renewer.dueAt = fx.clock.Now().Add(-time.Second)
	c.renewer.mu.Unlock()
	c.renewer.poke()
	waitFor(t, "the run to find the renewal unnecessary", func() bool {
		return fx.logged("made it unnecessary") && c.idle() && len(fx.clock.pending()) > 0
	})
	if p := fx.clock.pending(); p[0] < time.Second {
		t.Fatalf("after a run that changed nothing the loop looks again in %v, want a second at least", p[0])
	}
	if n := fx.b.frameCount(); n != 1 {
		t.Errorf("%d requests for a renewal that was not needed", n-1)
	}
}

// TestRenewErrorIsEmittedOnlyWhileAutoRenewIsOn pins that a failed renewal
// with auto-renew off (started in the background by getTokenSilently, inside
// the renewal window) is no renew_error: that event announces a retry, and
// with auto-renew off none is scheduled.
func TestRenewErrorIsEmittedOnlyWhileAutoRenewIsOn(t *testing.T) {
	for _, autoRenew := range []bool{true, false} {
		t.Run(map[bool]string{true: "auto-renew on", false: "auto-renew off"}[autoRenew], func(t *testing.T) {
			fx := newFixture(t)
			fx.expiresIn = 120 // renewal window from 60 s
			c := fx.signedIn(func(o *Options) { o.AutoRenew = &autoRenew })
			fx.answer(answerTemporarilyUnavailable)
			waitFor(t, "the client to settle", func() bool { return c.idle() })
			fx.clock.Advance(70 * time.Second)
			if tok, err := c.GetTokenSilently(context.Background(), AuthorizeParams{}); tok == "" || err != nil {
				t.Fatalf("the still valid token was not served: %q, %v", tok, err)
			}
			waitFor(t, "the renewal to fail", func() bool { return fx.b.frameCount() >= 2 && c.idle() })
			got := slices.Contains(fx.eventList(), string(EventRenewError))
			if got != autoRenew {
				t.Errorf("events %v: renew_error %t, want %t", fx.eventList(), got, autoRenew)
			}
		})
	}
}

// TestAWakeUpWithAutoRenewOffLeavesAStalledRenewalAlone pins that a wake-up
// (visible, focus, online) brings a stalled renewal back only while
// auto-renew is on: with it off, the schedule is the application's, and a
// wake-up must not rearm it.
func TestAWakeUpWithAutoRenewOffLeavesAStalledRenewalAlone(t *testing.T) {
	for _, autoRenew := range []bool{true, false} {
		t.Run(map[bool]string{true: "auto-renew on", false: "auto-renew off"}[autoRenew], func(t *testing.T) {
			fx := newFixture(t)
			fx.expiresIn = 120
			// A session poll keeps the loop running, and so listening for
			// wake-ups, with auto-renew off; hourly, so that it never runs here.
			c, wb := fx.signedInOnWakingPage(func(o *Options) {
				o.AutoRenew = &autoRenew
				o.SessionCheckInterval = time.Hour
			})
			c.StopAutoRenew() // no renewal of its own: the call below stalls it
			fx.answer(answerTemporarilyUnavailable)
			waitFor(t, "the client to settle", func() bool { return c.idle() })
			fx.clock.Advance(3 * time.Minute) // the token has expired
			if _, err := c.GetTokenSilently(context.Background(), AuthorizeParams{}); err == nil {
				t.Fatal("a renewal against a failing server succeeded")
			}
			waitFor(t, "the failure to settle", func() bool { return c.idle() })
			if autoRenew {
				c.StartAutoRenew()
			}
			fx.clock.Advance(2 * time.Second) // past the first backoff delay (1–2 s), so a wake-up may act
			waitFor(t, "the loop to park", func() bool { return c.idle() && len(fx.clock.pending()) > 0 })
			if fx.logged("stalled -> retrying") {
				t.Fatal("the renewal left stalled before the wake-up")
			}
			wb.wake <- struct{}{}
			waitFor(t, "the loop to take the wake-up", func() bool { return len(wb.wake) == 0 && c.idle() })
			if woke := fx.logged("stalled -> retrying"); woke != autoRenew {
				t.Errorf("a wake-up with auto-renew %s: the stalled renewal came back %t, want %t; logs %q",
					map[bool]string{true: "on", false: "off"}[autoRenew], woke, autoRenew, lastLogs(fx, 6))
			}
		})
	}
}

func lastLogs(fx *fixture, n int) []string {
	fx.mu.Lock()
	defer fx.mu.Unlock()
	return slices.Clone(fx.logs[max(0, len(fx.logs)-n):])
}
