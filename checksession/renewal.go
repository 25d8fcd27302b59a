package checksession

import (
	"context"
	"fmt"
	"net/url"

	"github.com/silentauth/silentauth/checksession/platform"
)

// This file holds one renewal from start to bookkeeping: the group's lock,
// the re-read of what the group already shared, the one request, and what
// happens once where that request completes.

// engine is the renewal core: it runs or joins the one renewal of a
// request's tokens and does its bookkeeping, takes interactive logins' and
// other tabs' results, and ends the session. The state lives in its parts,
// each behind its own lock: the results, the user and the epoch in tokens,
// the failures in backoffs, the schedule in renewer; the renewer and the
// tab group reach the engine through renewalEngine and groupEngine only.
type engine struct {
	s       *settings
	clock   platform.Clock
	log     logger
	browser platform.Browser
	ctx     context.Context // the client's: cancelled by Destroy

	tokens   *tokenCache // the results, the user and the epoch
	backoffs *backoffs   // by request cache key, the wait after failures that may pass
	renewer  *renewer    // the default tokens' schedule
	group    *group
	marker   signedInMarker
	events   eventSink

	refresh       *refreshTokens   // this tab's refresh token (useRefreshTokens)
	refreshToken  *tabRefreshToken // loads, keeps, forgets and renews with refresh
	asks          *groupAsks       // renewals by the group's refresh-token holder
	flow          *authFlow        // gets tokens: silent requests, refresh grants, shares
	tokenEndpoint *tokenEndpoint   // revokes the group's refresh token at a logout elsewhere

	inflight *flights // request key → the silent request in flight
	renewals *flights // request key → the renewal in flight (lock, re-read, request)
}

// renew runs or joins the one renewal of r's tokens. A renewal of the
// default tokens takes the tab group's lock first and renews only if no
// other tab's result made that unnecessary meanwhile. job says who asks:
// forPoll, a session poll, is needed only when no result arrived within the
// poll interval.
func (eng *engine) renew(ctx context.Context, r request, job renewalJob) (*AuthResult, error) {
	if eng.ctx.Err() != nil {
		return nil, errDestroyed()
	}
	return eng.startRenewal(r, job).wait(ctx)
}

// renewalJob says who asked for a renewal.
type renewalJob int

const (
	forCaller renewalJob = iota // getTokenSilently (or fetch) needs a token
	forCheck                    // checkSession with refresh tokens: ask the server whatever the cache holds
	forTimer                    // the renewal loop: the token is due
	forPoll                     // the renewal loop: a session poll is due
)

// String names the loop's jobs as its debug lines do.
func (j renewalJob) String() string {
	switch j {
	case forTimer:
		return "renewal"
	case forPoll:
		return "session poll"
	case forCheck:
		return "checkSession"
	}
	return "getTokenSilently"
}

// startRenewal joins the renewal of r's tokens in flight, or starts one.
func (eng *engine) startRenewal(r request, job renewalJob) *flight[*AuthResult] {
	key := r.key()
	f, _ := eng.renewals.join(key, func(f *flight[*AuthResult]) {
		go func() {
			var res *AuthResult
			var err error
			defer eng.renewals.land(eng.log, f, key, "a renewal", &res, &err)
			res, err = eng.renewUnderLock(r, job)
		}()
	})
	return f
}

func (eng *engine) renewUnderLock(r request, job renewalJob) (*AuthResult, error) {
	grouped := r.cacheKey() == eng.renewer.defaultKey
	needed := func() bool { return eng.tokens.fresh(r) == nil }
	switch job {
	case forPoll:
		needed = eng.renewer.pollDue
	case forCheck:
		needed = func() bool { return true }
	}
	epoch := eng.tokens.currentEpoch()
	if grouped {
		release := eng.group.lock(eng.ctx, r.timeout, needed)
		defer release()
	}
	ended := eng.tokens.currentEpoch() != epoch
	if ended || (job == forTimer || job == forPoll) && !eng.renewer.hasSession() {
		return nil, &Error{Code: string(ErrLoginRequired), Description: "the session ended (logout or another tab) while this renewal waited"}
	}
	if !needed() {
		eng.log.debug("renewal: another tab's result made it unnecessary")
		if res := eng.tokens.latest(r); res != nil {
			return res, nil
		}
	}
	// The group's schedule, as the lock holder before this one left it.
	if e := eng.backoffs.gate(r.cacheKey(), eng.clock.Now(), false, job == forCheck); e != nil {
		eng.log.debug("renewal: backing off after " + e.Code + "; the next attempt in " + e.RetryAfter.String())
		return nil, e
	}
	// A tab presents only a refresh token it holds, under the group's
	// lock. One that holds none asks the tabs that do for a renewal,
	// before it says it renews: the holder's share ends the others' wait.
	if grouped && eng.s.UseRefreshTokens {
		eng.refreshToken.load(eng.ctx)
		if !eng.refresh.Has() {
			if res, err := eng.asks.ask(eng.ctx, r, job == forCheck); res != nil || err != nil {
				return res, err
			}
		}
	}
	if grouped {
		eng.renewer.begin()
		eng.group.post(tabMessage{Kind: kindRenewing})
	}
	return eng.shared(eng.ctx, r, grouped && eng.s.UseRefreshTokens)
}

// shared joins the request in flight with the same key, or starts one. The
// request runs on the client's context so that one caller giving up does not
// cancel it for the others, and its bookkeeping runs once, where it
// completes, whoever is waiting.
func (eng *engine) shared(ctx context.Context, r request, viaRefresh bool) (*AuthResult, error) {
	if eng.ctx.Err() != nil {
		return nil, errDestroyed()
	}
	key := r.key()
	f, joined := eng.inflight.join(key, func(f *flight[*AuthResult]) {
		epoch, before := eng.tokens.currentEpoch(), eng.tokens.latest(r)
		go func() {
			var res *AuthResult
			var err error
			defer eng.inflight.land(eng.log, f, key, "a silent request", &res, &err)
			res, rt, err := eng.obtain(eng.ctx, r, viaRefresh)
			res, err = eng.settle(r, epoch, before, res, rt, err)
		}()
	})
	if joined {
		eng.log.debug("joining the silent request already in flight")
	}
	return f.wait(ctx)
}

// obtain gets r's tokens from the server: by the refresh-token grant when
// viaRefresh (this tab holds the group's lock and useRefreshTokens is on),
// falling back to the silent iframe where the options allow; otherwise by
// the silent iframe. refreshToken is a code exchange's new refresh token.
func (eng *engine) obtain(ctx context.Context, r request, viaRefresh bool) (res *AuthResult, refreshToken string, err error) {
	if viaRefresh {
		res, err := eng.refreshToken.renew(ctx, r)
		if err == nil {
			eng.log.debug("renewal via refresh token")
			return res, "", nil
		}
		if !fallsBackToIframe(err) || !eng.s.refreshFallback() {
			return nil, "", err
		}
		eng.log.debug("renewal via the silent iframe: " + err.Error())
	}
	return eng.flow.silent(ctx, r)
}

// settle is a silent request's bookkeeping: cache, schedule, events and the
// tab group, once per request. It returns what the callers get. A refresh
// token from the request is kept only if the session did not end meanwhile.
// before is what the cache held for r when the request started.
func (eng *engine) settle(r request, epoch int, before, res *AuthResult, refreshToken string, err error) (*AuthResult, error) {
	grouped := r.cacheKey() == eng.renewer.defaultKey
	if grouped && EndsSession(err) {
		if newer := eng.tokens.overtook(r, epoch, before); newer != nil {
			eng.log.debug("the silent request failed (" + err.Error() + "), but a newer result from the tab group arrived meanwhile; the session goes on with it")
			return newer, nil
		}
	}
	if err != nil {
		err = eng.backoffs.noteFailure(r.cacheKey(), err, eng.clock.Now(), eng.log)
		if grouped {
			err = eng.renewer.failed(err)
			if !EndsSession(err) {
				msg := tabMessage{Kind: kindRenewFailed}
				// An offline tab's failure is its own: the group may be online.
				if b := eng.backoffs.get(r.cacheKey()); b.failures > 0 && !offline(eng.browser) {
					msg.Backoff = shareBackoff(b)
				}
				eng.group.post(msg)
			}
		}
		return nil, err
	}
	var refreshGen uint64
	refused := eng.tokens.storeOwn(epoch, grouped, r.audience, r.scope, res, func() {
		eng.backoffs.succeeded(r.cacheKey())
		// Read with the store, in this epoch: a logout after this point
		// forgets the refresh token after reading the generation, so
		// AdoptSince refuses.
		refreshGen = eng.refresh.Generation()
	})
	switch {
	case refused.ended:
		eng.log.debug("dropped a result: the session ended while its request was in flight")
		return nil, &Error{Code: string(ErrLoginRequired), State: res.State,
			Description: "the session ended (logout or another tab) while this request was in flight"}
	case refused.who != "":
		e := &Error{Code: string(ErrLoginRequired), State: res.State,
			Description: "the renewal came back for another user (" + refused.who + "); log in again"}
		eng.renewer.signOut()
		eng.endSession(e, true)
		return nil, e
	}
	eng.marker.mark()
	eng.refreshToken.keep(eng.ctx, refreshGen, refreshToken)
	if grouped {
		eng.renewer.got(res, false)
		eng.group.share(res, r)
	}
	eng.events.emit(EventRenewed, res)
	return res, nil
}

// accept takes an interactive login's result: cached, scheduled and shared
// with the tab group, without a renewed event.
func (eng *engine) accept(r request, res *AuthResult) {
	eng.tokens.accept(r.audience, r.scope, res)
	eng.marker.mark()
	if r.cacheKey() == eng.renewer.defaultKey {
		eng.renewer.got(res, true)
		eng.group.share(res, r)
	}
}

// otherUser names the change when claims come from another issuer or
// subject than the session's current user, and is empty otherwise.
func otherUser(current, claims map[string]any) string {
	if current == nil || claims == nil {
		return ""
	}
	for _, name := range []string{"iss", "sub"} {
		was, _ := current[name].(string)
		now, _ := claims[name].(string)
		if was != now {
			return fmt.Sprintf("%s was %q, now %q", name, was, now)
		}
	}
	return ""
}

// endSession forgets the tokens and tells the application, and the other
// tabs when tellGroup, that the user must log in.
func (eng *engine) endSession(e *Error, tellGroup bool) {
	eng.tokens.forget()
	eng.marker.clear()
	eng.refreshToken.forget()
	if tellGroup {
		eng.group.post(tabMessage{Kind: kindSessionEnded})
	}
	eng.log.debug("session ended: " + e.Error())
	eng.events.emit(EventSessionEnded, e)
}

// backoffGate is the error a caller of r gets instead of a request while
// r's backoff runs: the last failure, with RetryAfter. explicit marks the
// page's own checkSession (see transient). This tab's attempt
// in flight counts as running, so that callers without a token are
// answered at once, never held. (Another tab's attempt does not: a caller
// here then waits on the group's lock, once per attempt, which a tab that
// died mid-request cannot turn into a wait for ever.)
func (eng *engine) backoffGate(r request, explicit bool) error {
	if e := eng.backoffs.gate(r.cacheKey(), eng.clock.Now(), eng.renewals.has(r.key()), explicit); e != nil {
		return e
	}
	return nil
}

// cookieHint explains a login_required that follows a sign-in (why), for a
// page at pageOrigin and the authorization server at server.
// Two loopback host names (localhost and 127.0.0.1) are different sites
// too, which is what a developer meets first.
func cookieHint(pageOrigin string, server *url.URL, why string) string {
	page, _ := url.Parse(pageOrigin)
	if page != nil && isLoopback(page.Hostname()) && isLoopback(server.Hostname()) && page.Hostname() != server.Hostname() {
		return " (silentauth: " + why + ", so the server's session cookie did not reach " +
			"the hidden iframe: the app (" + page.Hostname() + ") and the authorization server (" + server.Hostname() +
			") are on different sites, and this browser blocks third-party cookies. Serve both from the same host name, " +
			"or renew with refresh tokens.)"
	}
	return thirdPartyCookieHint(why)
}
