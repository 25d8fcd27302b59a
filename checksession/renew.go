package checksession

import (
	"context"
	"math/rand/v2"
	"strings"
	"sync"
	"time"
)

// Renewal timing. Due-ness is judged on the wall clock every checkInterval
// (and at once on a wake-up), so a tab that slept or was throttled renews as
// soon as it runs again instead of trusting one long timer.
const (
	checkInterval = 5 * time.Second
	retryFloor    = 5 * time.Second
	retryCap      = 2 * time.Minute
)

// thirdPartyCookieHint is added to a login_required that follows an
// interactive login with no silent success in between: the server knows the
// user, so its cookie did not reach the iframe.
const thirdPartyCookieHint = " (silentauth: this follows a successful interactive login, so the browser most likely " +
	"did not send the authorization server's session cookie to the hidden iframe: third-party cookies are blocked " +
	"(Safari, Brave, Firefox or Chrome tracking protection). Serve the authorization server from a custom domain on " +
	"the app's site, e.g. login.example.com for app.example.com, so its cookie is first-party.)"

// explainsItself reports a login_required whose description names another
// cause than a missing session, such as Auth0's "Multifactor authentication
// required": then the cookie did arrive and the hint would mislead.
func explainsItself(description string) bool {
	d := strings.ToLower(description)
	return strings.Contains(d, "multifactor") || strings.Contains(d, "mfa") || strings.Contains(d, "max_age")
}

// PageSignals is optionally implemented by a Browser that can tell when the
// page may have slept or come back (visibilitychange, focus, online) and
// whether it is visible. Without it renewal relies on the check interval.
type PageSignals interface {
	// Wake returns a channel that receives when the page becomes visible,
	// gains focus or goes online.
	Wake() <-chan struct{}
	// Hidden reports document.visibilityState == "hidden".
	Hidden() bool
}

// renewer keeps the default request's tokens fresh: it renews at
// expiresAt - renewBeforeExpiry, retries failures that may pass with growing
// jittered delays, and stops when the server says the user must log in.
type renewer struct {
	c *Client
	// defaultKey is the cache key of the client's default request, the one
	// auto-renew keeps fresh.
	defaultKey string

	mu          sync.Mutex
	enabled     bool      // autoRenew is on (option, or startAutoRenew)
	session     bool      // a session is known: a result arrived and none ended it
	dueAt       time.Time // next renewal on the wall clock
	expires     time.Time // current token's expiry
	attempt     int       // consecutive failures
	lastFailure time.Time
	// retryAllowed is false once a failure came after the token expired:
	// then only a call or a wake-up tries again.
	retryAllowed bool
	lastPoll     time.Time
	running      bool
	interactive  bool // an interactive login succeeded and no silent request since
	stopLoop     context.CancelFunc
	poked        chan struct{}
	tabs         *tabs
	leader       bool
}

func newRenewer(c *Client) *renewer {
	return &renewer{
		c: c, enabled: c.s.autoRenew, poked: make(chan struct{}, 1),
		defaultKey: request{audience: c.s.Audience, scope: c.s.Scope}.cacheKey(),
	}
}

// record takes a result's timing without side effects.
func (r *renewer) record(res *AuthResult) {
	r.mu.Lock()
	r.session = true
	r.attempt = 0
	r.expires = res.ExpiresAt
	r.lastPoll = r.c.clock.Now()
	r.dueAt = res.renewAt(r.c.s.renewBeforeExpiry)
	r.mu.Unlock()
}

// succeeded handles a result from a silent request or a redirect callback.
func (r *renewer) succeeded(req request, res *AuthResult, interactive bool) {
	if req.cacheKey() == r.defaultKey {
		r.record(res)
		r.mu.Lock()
		r.interactive = interactive
		due := r.dueAt
		r.mu.Unlock()
		r.c.debug("next renewal due at " + due.Format(time.RFC3339))
		r.share(shareResult(res, req.audience, req.scope))
		r.ensureLoop()
	}
	if !interactive {
		r.c.emit("renewed", res)
	}
}

// failed handles a failed silent request, adding what the SDK knows to the
// description, and decides between session_ended, a retry, or nothing.
func (r *renewer) failed(req request, err error) {
	e, ok := err.(*Error)
	if !ok || e == ErrDestroyed || req.cacheKey() != r.defaultKey {
		return
	}
	r.mu.Lock()
	if e.Code == ErrLoginRequired.Code && r.interactive && !explainsItself(e.Description) {
		e.Description += thirdPartyCookieHint
	}
	hadSession := r.session
	if EndsSession(err) {
		r.session = false
		r.dueAt = time.Time{}
		r.mu.Unlock()
		if hadSession {
			r.c.debug("session ended: " + e.Error())
			r.share(tabMessage{Kind: "session_ended", Error: &sharedError{Code: e.Code, Description: e.Description}})
			r.c.emit("session_ended", e)
		}
		return
	}
	if !hadSession {
		r.mu.Unlock()
		return
	}
	// Anything else may pass: a timeout or a network error, but also a key
	// rotation or a clock that is being corrected. Every one waits its
	// backoff, so no failure can turn into a tight loop.
	r.attempt++
	now := r.c.clock.Now()
	delay := backoff(r.attempt)
	r.lastFailure = now
	r.dueAt = now.Add(delay)
	willRetry := r.enabled && now.Before(r.expires)
	r.retryAllowed = willRetry
	r.mu.Unlock()
	if willRetry {
		r.c.debug("renewal failed (" + e.Error() + "); retrying in " + delay.Round(time.Second).String())
		r.c.emit("renew_error", e)
	}
}

// backoff grows from retryFloor to retryCap with ±50 % jitter, never under
// the floor, so many tabs or clients do not retry in step.
func backoff(attempt int) time.Duration {
	d := retryFloor << min(attempt-1, 8)
	if d > retryCap {
		d = retryCap
	}
	j := time.Duration(float64(d) * (0.5 + rand.Float64()))
	return max(j, retryFloor)
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

// stop ends the loop and leaves the tab group for good (destroy).
func (r *renewer) stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.enabled = false
	if r.stopLoop != nil {
		r.stopLoop()
		r.stopLoop = nil
	}
	r.leaveTabsLocked()
}

// ended forgets the session without an event: the user logged out here.
func (r *renewer) ended() {
	r.mu.Lock()
	r.session = false
	r.interactive = false
	r.dueAt = time.Time{}
	r.mu.Unlock()
}

// poke makes the loop look at the clock now.
func (r *renewer) poke() {
	select {
	case r.poked <- struct{}{}:
	default:
	}
}

// ensureLoop starts the checking goroutine, and joins the tab group, once
// something needs them.
func (r *renewer) ensureLoop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopLoop != nil || r.c.ctx.Err() != nil {
		return
	}
	if !r.enabled && r.c.s.SessionCheckInterval == 0 {
		return
	}
	r.joinTabsLocked()
	ctx, cancel := context.WithCancel(r.c.ctx)
	r.stopLoop = cancel
	go r.loop(ctx)
}

func (r *renewer) loop(ctx context.Context) {
	var wake <-chan struct{}
	signals, _ := r.c.browser.(PageSignals)
	if signals != nil {
		wake = signals.Wake()
	}
	for {
		t := r.c.clock.NewTimer(checkInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C():
		case <-wake:
			t.Stop()
			r.woke()
		case <-r.poked:
			t.Stop()
		}
		if job := r.due(signals); job != "" {
			r.c.debug(job + " starting")
			r.run(ctx)
		}
	}
}

// woke brings a pending retry forward: the page came back online, became
// visible or gained focus, which is when a failure is most likely to have
// passed. The retry floor still holds.
func (r *renewer) woke() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.attempt == 0 || !r.enabled {
		return
	}
	r.dueAt = r.c.clock.Now()
	if floor := r.lastFailure.Add(retryFloor); r.dueAt.Before(floor) {
		r.dueAt = floor
	}
	r.retryAllowed = true
}

// due says what, if anything, should run now: a renewal or a session poll.
// In a tab group only the leader does either, unless the leader is late.
func (r *renewer) due(signals PageSignals) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.session || r.running {
		return ""
	}
	now := r.c.clock.Now()
	follower := r.tabs != nil && !r.leader
	if r.enabled && !r.dueAt.IsZero() && !now.Before(r.dueAt) {
		if r.attempt > 0 && !r.retryAllowed {
			// The token is gone and retries stopped; only a call or a
			// wake-up tries again.
			return ""
		}
		if follower && now.Before(r.dueAt.Add(followerGrace)) {
			return ""
		}
		return "renewal"
	}
	poll := r.c.s.SessionCheckInterval
	if poll > 0 && !follower && !now.Before(r.lastPoll.Add(poll)) && (signals == nil || !signals.Hidden()) {
		r.lastPoll = now
		return "session poll"
	}
	return ""
}

func (r *renewer) run(ctx context.Context) {
	r.mu.Lock()
	r.running = true
	r.mu.Unlock()
	// CheckSession reports to succeeded/failed itself; errors here are
	// already events and never reach the page as a rejection.
	_, _ = r.c.CheckSession(ctx, AuthorizeParams{})
	r.mu.Lock()
	r.running = false
	r.mu.Unlock()
}

// StartAutoRenew turns renewal before expiry on.
func (c *Client) StartAutoRenew() { c.renewer.start() }

// StopAutoRenew turns it off; tokens and the session stay.
func (c *Client) StopAutoRenew() { c.renewer.pause() }
