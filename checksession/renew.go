package checksession

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/silentauth/silentauth/checksession/platform"
)

// Renewal timing. A timer is armed for the next due moment; due-ness is
// judged on the wall clock whenever the loop wakes (timer, wake-up signal,
// backup tick), so a tab that slept or was throttled renews as soon as it
// runs again instead of trusting one long timer.
const (
	// backupTick bounds how long the loop sleeps without looking at the
	// clock: timers in hidden tabs can be delayed or dropped.
	backupTick = 15 * time.Second
	// runGap keeps a loop whose renewal changed nothing (another tab's
	// result arrived meanwhile, say) from starting the next one at once.
	runGap = time.Second
)

// renewState is where the renewal of the client's default tokens stands.
// transition is the only place that moves it.
type renewState int

const (
	signedOut renewState = iota // no session known: nothing to renew
	scheduled                   // a token is held; the next renewal is due at dueAt
	renewing                    // a renewal is in flight
	retrying                    // the last renewal failed but may pass; the next try is at dueAt
	stalled                     // a renewal failed after the token expired; a call or a wake-up tries again
	stopped                     // the client was destroyed
)

var stateNames = [...]string{"signed out", "scheduled", "renewing", "retrying", "stalled", "stopped"}

func (s renewState) String() string { return stateNames[s] }

// input is what moves the state machine.
type input int

const (
	gotToken      input = iota // a result: this tab's, another tab's, or an interactive login
	started                    // a renewal request began
	failedMayPass              // it failed with an error that may pass: timeout, network, server
	failedForGood              // it failed with an error that needs the user: login_required & co
	loggedOut                  // logout here or in another tab, or a renewal for another user
	wokeUp                     // the page became visible, gained focus or came online
	destroyed                  // Destroy
)

// transition is the whole state machine: the state that in leads to from
// st. tokenValid says whether the current token is still unexpired, which
// decides between retrying and stalled.
func transition(st renewState, in input, tokenValid bool) renewState {
	switch {
	case st == stopped:
		return stopped
	case in == destroyed:
		return stopped
	case in == gotToken:
		return scheduled
	case in == failedForGood || in == loggedOut:
		return signedOut
	case st == signedOut:
		// Without a session only a result starts one: a first
		// checkSession that fails leaves nothing to retry.
		return signedOut
	case in == started:
		return renewing
	case in == failedMayPass && st == renewing:
		if tokenValid {
			return retrying
		}
		return stalled
	case in == wokeUp && st == stalled:
		return retrying
	}
	// A failure of a request that was not a renewal (an explicit
	// checkSession while a token is held) leaves the schedule alone.
	return st
}

// thirdPartyCookieHint is added to a login_required that follows a sign-in
// (why says which) with no silent success in between: the server knew the
// user, so its cookie did not reach the iframe.
func thirdPartyCookieHint(why string) string {
	return " (silentauth: " + why + ", so the browser most likely " +
		"did not send the authorization server's session cookie to the hidden iframe: third-party cookies are blocked " +
		"(Safari, Brave, Firefox or Chrome tracking protection). Serve the authorization server from a custom domain on " +
		"the app's site, e.g. login.example.com for app.example.com, so its cookie is first-party, or renew with " +
		"refresh tokens.)"
}

// The reasons cookieHint gives for expecting a session.
const afterInteractiveLogin = "this follows a successful interactive login"

// afterMarker is the reason when the signed-in marker is all there is: a
// sign-in in an earlier page, with no logout or end of session since.
func afterMarker(at time.Time) string {
	if at.IsZero() {
		return "this browser signed in here and has not signed out since"
	}
	return "this browser signed in here (last at " + at.Format("2006-01-02 15:04 UTC") + ") and has not signed out since"
}

// explainsItself reports a login_required whose description names another
// cause than a missing session, such as Auth0's "Multifactor authentication
// required": then the cookie did arrive and the hint would mislead.
func explainsItself(description string) bool {
	d := strings.ToLower(description)
	return strings.Contains(d, "multifactor") || strings.Contains(d, "mfa") || strings.Contains(d, "max_age")
}

// renewer keeps the default request's tokens fresh: it renews at
// expiresAt - renewBeforeExpiry, retries failures that may pass with growing
// jittered delays, and stops when the server says the user must log in.
type renewer struct {
	s         *settings
	clock     platform.Clock
	log       logger
	browser   platform.Browser // its page signals, comebacks and origin
	backoffs  *backoffs
	marker    signedInMarker
	events    eventSink
	destroyed context.Context // the client's: cancelled by Destroy
	// engine runs the loop's renewals and ends the session.
	engine renewalEngine
	// joinGroup opens the tab group's channel once a session is known.
	joinGroup func()

	// defaultKey is the cache key of the client's default request, the one
	// auto-renew keeps fresh and the tab group shares.
	defaultKey string

	mu          sync.Mutex
	state       renewState
	moves       []string  // changes of state made under mu, for unlock to log
	enabled     bool      // autoRenew is on (option, or startAutoRenew)
	dueAt       time.Time // next renewal on the wall clock; a failure's time while retrying (the backoff says when)
	expires     time.Time // current token's expiry
	lastPoll    time.Time
	lastRun     time.Time
	interactive bool // an interactive login succeeded and no silent request since
	silentOK    bool // a silent request succeeded here (or in the tab group): the cookie reaches the iframe
	stopLoop    context.CancelFunc
	poked       chan struct{}
}

// renewalEngine is what the renewer asks of the renewal core (engine),
// which runs the requests and their bookkeeping.
type renewalEngine interface {
	// renew runs or joins the one renewal of r's tokens for job.
	renew(ctx context.Context, r request, job renewalJob) (*AuthResult, error)
	// endSession forgets the tokens and tells the application, and the
	// other tabs when tellGroup, that the user must log in.
	endSession(e *Error, tellGroup bool)
}

// moveLocked applies in under r.mu and notes the change of state for
// unlock to log.
func (r *renewer) moveLocked(in input) {
	now := r.clock.Now()
	from := r.state
	r.state = transition(from, in, now.Before(r.expires))
	if r.state != from && r.log.debugging() {
		r.moves = append(r.moves, "renewal: "+from.String()+" -> "+r.state.String())
	}
	if r.state == signedOut {
		r.dueAt, r.expires, r.interactive = time.Time{}, time.Time{}, false
	}
}

// unlock releases r.mu, then logs the changes of state made under it: the
// user's logger never runs under the lock.
func (r *renewer) unlock() {
	moves := r.moves
	r.moves = nil
	r.mu.Unlock()
	for _, line := range moves {
		r.log.debug(line)
	}
}

// got takes a result for the default request: its timing sets the next
// renewal. interactive marks a login through the redirect.
func (r *renewer) got(res *AuthResult, interactive bool) {
	r.mu.Lock()
	r.moveLocked(gotToken)
	r.backoffs.succeeded(r.defaultKey)
	r.expires = res.ExpiresAt
	r.lastPoll = r.clock.Now()
	r.dueAt = res.renewAt(r.s.renewBeforeExpiry)
	r.interactive = interactive
	if !interactive {
		r.silentOK = true
	}
	due := r.dueAt
	r.unlock()
	if !due.IsZero() && r.log.debugging() {
		r.log.debug("next renewal due at " + due.Format(time.RFC3339))
	}
	r.joinGroup()
	r.ensureLoop()
	r.poke()
}

// begin records that a renewal request is starting.
func (r *renewer) begin() {
	r.mu.Lock()
	r.moveLocked(started)
	r.unlock()
}

// failed is a failed request for the default tokens. It returns the error
// the callers get, with what the SDK knows added to a copy (the original
// is never changed), and decides between session_ended, a retry or nothing.
func (r *renewer) failed(err error) error {
	e, ok := err.(*Error)
	if !ok || e.Code == string(ErrDestroyed) {
		return err
	}
	hintable := e.Code == string(ErrLoginRequired) && !explainsItself(e.Description)
	var markedAt time.Time
	marked, origin := false, ""
	if hintable {
		// Read before r.mu: they are calls into the page.
		markedAt, marked = r.marker.signedInAt()
		origin = r.browser.Origin()
	}
	r.mu.Lock()
	why := ""
	switch {
	case !hintable:
	case r.interactive:
		why = afterInteractiveLogin
	case marked && !r.silentOK:
		why = afterMarker(markedAt)
	}
	if why != "" {
		decorated := *e
		decorated.Description += cookieHint(origin, r.s.domain, why)
		e = &decorated
	}
	hadSession := r.state != signedOut && r.state != stopped
	if EndsSession(e) {
		r.moveLocked(failedForGood)
		r.unlock()
		if hadSession {
			r.engine.endSession(e, true)
		}
		return e
	}
	if r.state != renewing {
		r.unlock()
		return e
	}
	// Anything else may pass: a timeout or a network error, but also a key
	// rotation or a clock that is being corrected. The backoff (settle
	// recorded it) says when the next attempt may go, so no failure can turn
	// into a tight loop.
	r.moveLocked(failedMayPass)
	r.dueAt = r.clock.Now()
	retry := r.state == retrying && r.enabled
	r.unlock()
	if retry {
		// The event says when the next attempt comes, as the backoff's answers do.
		ev := e
		if b := r.backoffs.get(r.defaultKey); b.failures > 0 {
			ev = b.answer(r.clock.Now())
			ev.Description = e.Description // with the hint, if one was added
		}
		r.log.debug("renewal failed (" + e.Error() + "); retrying in " + ev.RetryAfter.String())
		r.events.emit(EventRenewError, ev)
	}
	r.poke()
	return e
}

// holdLocked is when the backoff lets the next request go, or zero when
// none runs; r.mu must be held (the backoffs' lock is taken inside it).
func (r *renewer) holdLocked() time.Time {
	if b := r.backoffs.get(r.defaultKey); b.failures > 0 {
		return b.next
	}
	return time.Time{}
}

// dueLocked is the next renewal: on schedule, and not before the backoff.
func (r *renewer) dueLocked() time.Time {
	return maxTime(r.dueAt, r.holdLocked())
}

// signOut forgets the session's schedule: logout, or the end of the
// session in another tab. It reports whether a session was known.
func (r *renewer) signOut() bool {
	r.mu.Lock()
	defer r.unlock()
	had := r.state != signedOut && r.state != stopped
	r.moveLocked(loggedOut)
	return had
}

// backgroundDue reports whether a caller that was served from the cache
// should start the renewal: the token is inside its renewal window (or a
// retry is due) and no renewal is running.
func (r *renewer) backgroundDue() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return (r.state == scheduled || r.state == retrying) && !r.clock.Now().Before(r.dueLocked())
}

// start turns auto-renew on (startAutoRenew).
func (r *renewer) start() {
	r.mu.Lock()
	r.enabled = true
	r.mu.Unlock()
	r.ensureLoop()
	r.poke()
}

// pause turns auto-renew off (stopAutoRenew); the session stays known.
func (r *renewer) pause() {
	r.mu.Lock()
	r.enabled = false
	r.mu.Unlock()
}

// stop ends the loop for good (destroy).
func (r *renewer) stop() {
	r.mu.Lock()
	defer r.unlock()
	r.moveLocked(destroyed)
	r.enabled = false
	if r.stopLoop != nil {
		r.stopLoop()
		r.stopLoop = nil
	}
}

// poke makes the loop look at the clock now.
func (r *renewer) poke() {
	select {
	case r.poked <- struct{}{}:
	default:
	}
}

// ensureLoop starts the loop once something needs it.
func (r *renewer) ensureLoop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopLoop != nil || r.state == stopped || r.destroyed.Err() != nil {
		return
	}
	if !r.enabled && r.s.SessionCheckInterval == 0 {
		return
	}
	ctx, cancel := context.WithCancel(r.destroyed)
	r.stopLoop = cancel
	go r.loop(ctx)
}

func (r *renewer) loop(ctx context.Context) {
	defer r.log.recoverTo("the renewal loop")
	var wake <-chan struct{}
	signals, _ := r.browser.(platform.PageSignals)
	if signals != nil {
		wake = signals.Wake()
	}
	var back <-chan platform.Comeback
	if cb, ok := r.browser.(platform.Comebacks); ok {
		back = cb.Comebacks()
	}
	for {
		t := r.clock.NewTimer(r.sleep(signals))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C():
		case <-wake:
			t.Stop()
			r.woke()
		case k := <-back:
			t.Stop()
			r.cameBack(k)
		case <-r.poked:
			t.Stop()
		}
		if job, ok := r.due(signals); ok {
			_, _ = r.engine.renew(ctx, r.s.defaultRequest(), job)
		}
	}
}

// sleep is how long the loop may wait before something can be due. A
// session poll counts only while the page is visible: a hidden page's poll
// waits for the wake-up, and counting it would make the loop spin.
func (r *renewer) sleep(signals platform.PageSignals) time.Duration {
	hidden := signals != nil && signals.Hidden()
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.clock.Now()
	next := now.Add(backupTick)
	if r.enabled && (r.state == scheduled || r.state == retrying) && !r.dueAt.IsZero() {
		next = minTime(next, r.dueLocked())
	}
	if poll := r.s.SessionCheckInterval; poll > 0 && r.state == scheduled && !hidden {
		next = minTime(next, maxTime(r.lastPoll.Add(poll), r.holdLocked()))
	}
	next = maxTime(next, r.lastRun.Add(runGap))
	return max(next.Sub(now), 0)
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// woke is a wake-up (visible, focus, online, pageshow): the loop looks at
// the wall clock again, and a renewal that stalled after the token expired
// is retried, at the backoff's next attempt. It brings nothing forward:
// focus comes far too often for that (cameBack does, once).
func (r *renewer) woke() {
	r.mu.Lock()
	defer r.unlock()
	if !r.enabled || r.state != stalled {
		return
	}
	r.moveLocked(wokeUp)
	r.dueAt = r.clock.Now()
}

// cameBack is the device back online or the page visible after being
// hidden: a failure is likely to have passed, so the backoff's next attempt
// may come forward, jittered, once per kind per backoff. The group's
// schedule carries what was used, so that tabs that all saw the signal
// bring one attempt forward between them, not one each.
func (r *renewer) cameBack(k platform.Comeback) {
	now := r.clock.Now()
	next, moved := r.backoffs.comeback(r.defaultKey, now, k)
	if !moved {
		return
	}
	r.log.debug("renewal: back " + k.String() + "; the next attempt comes forward to " + next.Sub(now).Round(time.Millisecond).String() + " from now")
	r.woke()
}

// due says what, if anything, the loop should start now: a renewal
// (forTimer) or a session poll (forPoll). The page's visibility is read,
// and the line logged, outside r.mu.
func (r *renewer) due(signals platform.PageSignals) (job renewalJob, ok bool) {
	hidden := signals != nil && signals.Hidden()
	r.mu.Lock()
	now := r.clock.Now()
	if now.Before(r.lastRun.Add(runGap)) || now.Before(r.holdLocked()) {
		r.mu.Unlock()
		return job, false
	}
	switch {
	case r.enabled && (r.state == scheduled || r.state == retrying) && !r.dueAt.IsZero() && !now.Before(r.dueLocked()):
		job, ok = forTimer, true
	case r.state == scheduled && r.s.SessionCheckInterval > 0 && !now.Before(r.lastPoll.Add(r.s.SessionCheckInterval)) && !hidden:
		job, ok = forPoll, true
	}
	if ok {
		r.lastRun = now
	}
	r.mu.Unlock()
	if ok {
		r.log.debug(job.String() + " starting")
	}
	return job, ok
}

// pollDue reports whether a session poll is still needed: no result, from
// this tab or another, arrived within the poll interval.
func (r *renewer) pollDue() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return !r.clock.Now().Before(r.lastPoll.Add(r.s.SessionCheckInterval))
}

// StartAutoRenew turns renewal before expiry on.
func (c *Client) StartAutoRenew() { c.renewer.start() }

// StopAutoRenew turns it off; tokens and the session stay.
func (c *Client) StopAutoRenew() { c.renewer.pause() }

// hasSession reports whether a session is known in this tab.
func (r *renewer) hasSession() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.state != signedOut && r.state != stopped
}
