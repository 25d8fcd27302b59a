package renewal_test

import (
	"strings"
	"testing"
	"time"

	"github.com/silentauth/silentauth/demo/devtenant"
	"github.com/silentauth/silentauth/demo/internal/e2eenv"
)

// The client's JWKS cache refetches for an unknown kid at most once every
// 30 s (checksession refetchCooldown), counted from the login's fetch. The
// two key tests below therefore renew 35+ s after logging in, through
// renewBeforeExpiryInSeconds, and run alongside the others.

// rotatedSession logs in with tokens of lifetime, renewed renewBefore
// seconds before they expire, then rotates the tenant's keys: the first
// renewal meets a kid the client has not seen.
func rotatedSession(t *testing.T, lifetime time.Duration, renewBefore int) (*harness, *e2eenv.Tab) {
	t.Helper()
	h := start(t, e2eenv.Options{TokenLifetime: lifetime})
	tab := h.session(t, `renewBeforeExpiryInSeconds: `+itoa(renewBefore))
	if err := h.Tenant.RotateKeys(false); err != nil {
		t.Fatal(err)
	}
	return h, tab
}

func TestRenewalRetriesWhileJWKSIsDownAndRecoversWhenItIsBack(t *testing.T) {
	t.Parallel()
	// Due 60 − 25 = 35 s after login: past the JWKS refetch cooldown, with
	// 25 s of validity left for retries.
	h, tab := rotatedSession(t, 60*time.Second, 25)
	h.Tenant.SetFaults(devtenant.Faults{JWKSDown: true})
	jwks0 := h.Tenant.Stats().JWKS

	errs := waitEvents(t, tab, "renew_error", 1, 60*time.Second)
	t.Logf("renew_error: %s: %s", errs[0].Error, errs[0].Description)
	if errs[0].Error != "server_error" || !strings.Contains(errs[0].Description, "503") || !strings.Contains(errs[0].Description, "jwks") {
		t.Errorf("renew_error %+v, want server_error naming the key set's HTTP 503", errs[0])
	}
	if n := len(named(events(t, tab), "renewed")); n != 0 {
		t.Errorf("%d renewed events while the keys could not be fetched", n)
	}
	h.Tenant.SetFaults(devtenant.Faults{})

	renewed := waitEvents(t, tab, "renewed", 1, 20*time.Second)
	gap := time.Duration(renewed[0].At-errs[0].At) * time.Millisecond
	t.Logf("renewed %v after the renew_error; %d JWKS fetches since the rotation", gap, h.Tenant.Stats().JWKS-jwks0)
	if gap < time.Second-300*time.Millisecond {
		t.Errorf("the retry came %v after the failure, under the backoff's shortest delay (1 s)", gap)
	}
	if h.Tenant.Stats().JWKS < jwks0+2 {
		t.Errorf("%d JWKS requests since the rotation, want the failed one and the one that found the new key", h.Tenant.Stats().JWKS-jwks0)
	}
	noRejections(t, tab)
}

func TestKeyRotationDuringASessionCostsOneJWKSRefetch(t *testing.T) {
	t.Parallel()
	// Due 56 − 18 = 38 s after login: past the refetch cooldown, which
	// counts from the login's JWKS fetch, with room for a slow machine.
	h, tab := rotatedSession(t, 56*time.Second, 18)
	jwks0 := h.Tenant.Stats().JWKS

	renewed := waitEvents(t, tab, "renewed", 1, 45*time.Second)
	if errs := named(events(t, tab), "renew_error"); len(errs) > 0 {
		t.Errorf("renew_error after a key rotation: %+v", errs)
	}
	if n := h.Tenant.Stats().JWKS - jwks0; n != 1 {
		t.Errorf("%d JWKS requests for the renewal after the rotation, want exactly 1", n)
	}
	// The next renewal verifies with the cached new key: no more fetches.
	var again struct {
		Sub string `json:"sub"`
	}
	tab.MustEval(`client.checkSession().then(r => ({ sub: r.idTokenPayload.sub }))`, &again)
	if n := h.Tenant.Stats().JWKS - jwks0; n != 1 || again.Sub == "" {
		t.Errorf("after one more checkSession: %d JWKS requests since the rotation (want 1), sub %q", n, again.Sub)
	}
	t.Logf("renewed at expiresAt %v with the rotated key", time.UnixMilli(int64(renewed[0].ExpiresAt)).Format(time.TimeOnly))
	noRejections(t, tab)
}

func TestOfflineRenewalFailsAndRecoversOnceOnline(t *testing.T) {
	t.Parallel()
	// Due 15 s into a 40 s token, leaving 25 s for the retries, which back
	// off (1–2, 2–4, 4–8 s…) while the page is offline.
	h := start(t, e2eenv.Options{TokenLifetime: 40 * time.Second})
	tab := h.session(t, `renewBeforeExpiryInSeconds: 25`)
	tab.MustEval(`(window.__onlineEvents = 0, addEventListener("online", () => __onlineEvents++), true)`, nil)
	setOffline(t, tab, true)
	var onLine bool
	tab.MustEval(`navigator.onLine`, &onLine)
	if onLine {
		t.Fatal("navigator.onLine is still true under network emulation")
	}
	before := len(h.auth.since(time.Time{}))

	errs := waitEvents(t, tab, "renew_error", 1, 30*time.Second)
	t.Logf("offline renew_error: %s: %s", errs[0].Error, errs[0].Description)
	if errs[0].Error != "timeout" && errs[0].Error != "network_error" {
		t.Errorf("offline renew_error %+v, want timeout or network_error", errs[0])
	}
	if n := len(h.auth.since(time.Time{})) - before; n != 0 {
		t.Errorf("the tenant saw %d prompt=none requests while the browser was offline", n)
	}
	onlineAt := pageNow(t, tab)
	setOffline(t, tab, false)
	renewed := waitEvents(t, tab, "renewed", 1, 15*time.Second)
	var onlineEvents int
	tab.MustEval(`__onlineEvents`, &onlineEvents)
	t.Logf("renewed %.1f s after going online (%.1f s after the renew_error); %d online events",
		(renewed[0].At-onlineAt)/1000, (renewed[0].At-errs[0].At)/1000, onlineEvents)
	if onlineEvents != 1 {
		t.Errorf("%d window online events, want 1", onlineEvents)
	}
	// Coming back online brings the backoff's next attempt forward, to
	// within 2 s (jittered), so recovery follows the network, not the
	// backoff; the bound leaves a loaded machine room.
	if d := renewed[0].At - onlineAt; d > 8000 {
		t.Errorf("renewed %.1f s after going online, want within the 2 s a comeback allows (8 s with slack)", d/1000)
	}
	noRejections(t, tab)
}

func TestSessionEndedAtTheServerStopsAutoRenew(t *testing.T) {
	t.Parallel()
	// Renewals every 3 s (half of 6 s) until the session ends.
	h := start(t, e2eenv.Options{TokenLifetime: 6 * time.Second})
	tab := h.session(t, "")
	waitEvents(t, tab, "renewed", 1, 15*time.Second)
	h.Tenant.ExpireSessions()

	ended := waitEvents(t, tab, "session_ended", 1, 15*time.Second)
	if ended[0].Error != "login_required" {
		t.Errorf("session_ended %+v, want login_required", ended[0])
	}
	// Twice the renewal period and more than one check interval: nothing.
	mark := time.Now()
	time.Sleep(7 * time.Second)
	if got := h.auth.since(mark); len(got) != 0 {
		t.Errorf("%d prompt=none requests in the 7 s after session_ended; auto-renew should have stopped", len(got))
	}
	if evs := events(t, tab); len(named(evs, "session_ended")) != 1 || len(named(evs, "renew_error")) != 0 {
		t.Errorf("events after the session ended: %+v", evs)
	}
	noRejections(t, tab)
}

// racingLine is the debug line of a silent request raced by a second iframe.
const racingLine = "racing a fresh silent request"

func TestFailedRenewalsFollowTheBackoffWhateverTheFocus(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		faults devtenant.Faults
		extra  string
	}{
		{"page posts nothing", devtenant.Faults{NoMessage: true}, ""},
		{"server slower than the timeout", devtenant.Faults{Delay: 10 * time.Second}, "timeoutInSeconds: 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// Due at 18 s of 36; retries until the token expires.
			h := start(t, e2eenv.Options{TokenLifetime: 36 * time.Second})
			tab := h.session(t, tc.extra)
			var expiresAt float64
			tab.MustEval(`loginResult.expiresAt`, &expiresAt)
			h.Tenant.SetFaults(tc.faults)
			mark := time.Now()
			// Wake-ups make the loop look at once; a focus brings no
			// attempt forward, so only the backoff stands between a failure
			// and a retry.
			tab.MustEval(`(window.focusSpam = setInterval(() => dispatchEvent(new Event("focus")), 250), true)`, nil)

			// At the expiry the wake-ups stop; then only a retry promised
			// before it may follow.
			expiry := time.UnixMilli(int64(expiresAt))
			time.Sleep(time.Until(expiry))
			tab.MustEval(`(clearInterval(focusSpam), true)`, nil)
			time.Sleep(8 * time.Second)
			starts := h.auth.since(mark)
			evs := events(t, tab)
			// The n-th delay is at least half of 2, 4, 8, 16, then 30 s; a
			// gap between two attempts' starts is that delay and more. Once
			// the token is too close to its expiry to serve, an attempt with
			// no answer after 2 s is raced by a second iframe (its debug
			// line says so): such a request starts 2 s or more after its
			// attempt's, and counts as no attempt of its own.
			races := tab.Lines(racingLine)
			shortest := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second}
			var gaps []string
			raced := 0
			for i, n := 1, 1; i < len(starts); i++ {
				gap := starts[i].Sub(starts[i-1])
				gaps = append(gaps, gap.Round(100*time.Millisecond).String())
				floor := 15 * time.Second
				if n-1 < len(shortest) {
					floor = shortest[n-1]
				}
				switch {
				case gap >= floor-200*time.Millisecond:
					n++
				case raced < races && gap >= 2*time.Second-200*time.Millisecond:
					raced++ // a racer of the attempt before it
				default:
					t.Errorf("requests %d and %d were %v apart, under the backoff's %v (%d racing lines)", i, i+1, gap, floor, races)
				}
			}
			t.Logf("%d requests while failing (%d of them racers), gaps %v; %d renew_error events", len(starts), raced, gaps, len(named(evs, "renew_error")))
			starts = starts[:len(starts)-raced]
			if len(starts) < 2 {
				t.Errorf("%d attempts in the token's last 18 s, want the renewal and at least one retry", len(starts))
			}
			// The backoff's shortest delays allow 1+6 attempts in 18 s.
			if len(starts) > 7 {
				t.Errorf("%d attempts in the token's last 18 s: the focus events brought retries forward", len(starts))
			}
			var late []string
			for _, s := range starts {
				if s.After(expiry.Add(time.Second)) {
					late = append(late, s.Format(time.TimeOnly))
				}
			}
			if len(late) > 1 {
				t.Errorf("attempts at %v after the token expired at %v: beyond the one retry promised before it, retries go on only while the token is valid",
					late, expiry.Format(time.TimeOnly))
			}
			errs := named(evs, "renew_error")
			for _, e := range errs {
				if e.Error != "timeout" {
					t.Errorf("renew_error %+v, want timeout", e)
				}
			}
			noRejections(t, tab)
		})
	}
}
