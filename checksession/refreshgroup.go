package checksession

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/silentauth/silentauth/checksession/platform"
)

// This file is the refresh token's life in the tab group (API.md, "Refresh
// tokens"): one tab holds the group's refresh token and presents it; the
// token never moves on request. A tab without one queues for the group's
// custody lock (tabKey+":rt"); the tab granted it is the next in line, and
// announces itself with a fresh nonce. When the holder leaves (pagehide) or
// is destroyed, and only then, it hands the token to that nonce; the tab
// next in line adopts a hand-over only when it is addressed to its own
// nonce, once. A tab that needs tokens and holds no refresh token asks the
// group for a renewal: a holder renews (or re-shares a result it has just
// had) and shares the result, which the asker verifies as any share.
//
// A script on the origin can still queue for the custody lock, or announce
// a nonce of its own, and so be handed the token when the holder leaves;
// useDpop makes a token taken that way worthless outside this browser.

// handoverWait bounds how long a tab without a refresh token waits for one
// from its group before falling back: a live tab answers in milliseconds, a
// busy one (a long task, a loaded machine) can take a second or more, and a
// frozen one never does. Giving up early costs more than waiting: the
// fallback iframe fails where cookies are blocked, and the new tab is
// signed out though its group holds a refresh token.
const handoverWait = 2 * time.Second

// fallsBackToIframe reports the refresh-token failures the silent iframe may
// still cure (useRefreshTokensFallback): no token, or one the server refused.
func fallsBackToIframe(err error) bool {
	var e *Error
	return errors.As(err, &e) && (e.Code == string(ErrMissingRefreshToken) || e.Code == string(ErrInvalidGrant))
}

// groupAsks is this tab's side of the renewals the group's refresh-token
// holder makes: it asks the holders for a renewal while it holds no token
// (ask), answers another tab's ask while it holds one (answer), and queues
// for the token (queue).
type groupAsks struct {
	s       *settings
	clock   platform.Clock
	log     logger
	group   askChannel
	tokens  *tokenCache
	refresh *refreshTokens
	// destroyed is the client's context: cancelled by Destroy.
	destroyed context.Context
	// hasSession is the renewer's: this tab has a session to renew.
	hasSession func() bool
	// verifyingShare: a result another tab shared is being verified here.
	verifyingShare func() bool
	// shared is the client's silent request, or refresh grant (viaRefresh).
	shared func(ctx context.Context, r request, viaRefresh bool) (*AuthResult, error)

	// asking counts this tab's asks for a renewal by a tab holding the
	// group's refresh token.
	asking atomic.Int32
}

// askChannel is what groupAsks needs of the tab group: its channel, and
// what the group's messages told about the holder's renewals.
type askChannel interface {
	// join opens the group's channel, once.
	join()
	// post sends msg to the other tabs; false when it could not be sent.
	post(msg tabMessage) bool
	// failed is the count of failures other tabs told, and the schedule
	// the last one shared.
	failed() (uint64, *sharedBackoff)
	// peerIsRenewing: another tab announced a request and has not told
	// its outcome yet.
	peerIsRenewing() bool
	// share tells the other tabs about this tab's result for r.
	share(res *AuthResult, r request)
}

// ask asks the tabs of the group that hold a refresh token
// for a renewal, for this tab, which holds none, and waits, at most
// handoverWait (longer while a holder says it is renewing), until a result
// arrives and is verified. It returns that result; or the group's failure
// when the holder's grant failed and left the group a backoff (a 503, a
// network error): the refresh token is still good, and the silent iframe,
// which the caller tries on nil, would end the session where cookies are
// blocked; or nil when no holder answered. It never asks for the token
// itself. explicit marks a checkSession the page made (backoffs.gate).
func (ga *groupAsks) ask(ctx context.Context, r request, explicit bool) (*AuthResult, error) {
	ga.group.join()
	asked := ga.tokens.latest(r) // the result the ask names: the answer must be another
	ga.asking.Add(1)
	defer ga.asking.Add(-1)
	// A failure told after the ask, with a schedule that holds this
	// request, is the ask's answer. A tab without a session has not
	// followed that schedule (renewer.followBackoff), so it is read here.
	// The count is read before the ask goes out: the holder's failure may
	// come back before post returns.
	toldBefore, _ := ga.group.failed()
	if !ga.group.post(tabMessage{Kind: kindRenewalWanted, Have: tokenTag(asked)}) {
		return nil, nil // alone: nobody to ask
	}
	groupFailed := func() error {
		told, shared := ga.group.failed()
		if told == toldBefore || shared == nil {
			return nil
		}
		now := ga.clock.Now()
		b, why := shared.backoff(now)
		if why != "" || !b.running(now, false) || explicit && !b.holdsAll {
			return nil
		}
		e := b.answer(now)
		ga.log.debug("tabs: the renewal a refresh-token holder made for this tab failed (" + e.Code + "); waiting as it was told, not trying the silent iframe")
		return e
	}
	var bound platform.Timer
	arm := func(d time.Duration) {
		if bound != nil {
			bound.Stop()
		}
		bound = ga.clock.NewTimer(d)
	}
	arm(handoverWait)
	defer func() { bound.Stop() }()
	extended, verifying, again := false, false, false
	for {
		changed := ga.tokens.changes() // before the check, so no wake-up is lost
		if res := ga.tokens.latest(r); res != nil && res != asked {
			if ga.tokens.fresh(r) != nil {
				ga.log.debug("tabs: took the renewal a tab holding the refresh token made")
				return res, nil
			}
			// Due here already: the holder's renewal point can come a moment
			// after this tab's. Ask once more, naming it, and the holder renews.
			if !again && ga.group.post(tabMessage{Kind: kindRenewalWanted, Have: tokenTag(res)}) {
				again, extended, verifying, asked = true, false, false, res
				arm(handoverWait)
				continue
			}
			if ga.tokens.usable(r) != nil {
				return res, nil
			}
		}
		if err := groupFailed(); err != nil {
			return nil, err
		}
		select {
		case <-changed:
		case <-bound.C():
			if !extended && ga.group.peerIsRenewing() {
				// A holder is on it: its grant has the request's time.
				extended = true
				arm(r.timeout)
				continue
			}
			if !verifying && ga.verifyingShare() {
				// A share arrived and its ID token is being verified (a
				// new tab fetches the keys first, slow on a busy
				// machine): it is most likely the answer. Giving up now
				// would try the iframe, which ends the session where
				// cookies are blocked.
				verifying = true
				ga.log.debug("tabs: a result from the group is being verified; waiting for it")
				arm(r.timeout)
				continue
			}
			if err := groupFailed(); err != nil {
				return nil, err
			}
			ga.log.debug("tabs: no tab of the group renewed with a refresh token")
			return nil, nil
		case <-ctx.Done():
			return nil, nil
		}
	}
}

// answer answers another tab's renewal_wanted when this tab holds a
// refresh token: with the result it has when that is fresh, not the one the
// asker has (have), and its ID token recent enough for the asker to take
// (shareMaxAge); else with a renewal by refresh token. Either way the
// answer is a share, never the token, and one grant at a time.
func (ga *groupAsks) answer(have string) {
	if !ga.s.UseRefreshTokens || !ga.refresh.Has() || !ga.hasSession() {
		return
	}
	if ga.refresh.InUse() {
		ga.log.debug("tabs: another tab asked for a renewal; the one on the network answers")
		return // the grant on the network shares its result
	}
	r := ga.s.defaultRequest()
	if res := ga.tokens.fresh(r); res != nil && recent(res, ga.clock.Now()) && tokenTag(res) != have {
		ga.log.debug("tabs: another tab asked for a renewal; sharing this tab's recent result")
		ga.group.share(res, r)
		return
	}
	ga.log.debug("tabs: another tab asked for a renewal; renewing for the group")
	ga.group.post(tabMessage{Kind: kindRenewing})
	go func() {
		defer ga.log.recoverTo("a renewal for another tab")
		if _, err := ga.shared(ga.destroyed, r, true); err != nil {
			ga.log.debug("tabs: the renewal another tab asked for failed: " + err.Error())
		}
	}()
}

// recent reports whether res's ID token was issued less than half of
// shareMaxAge before now, so that another tab still takes it when re-shared.
func recent(res *AuthResult, now time.Time) bool {
	iat, ok := numberClaim(res.IDTokenPayload, "iat")
	return ok && res.IDToken != "" && now.Sub(time.Unix(iat, 0)) < shareMaxAge/2
}

// queue queues this tab for the group's refresh token while it holds
// none: it asks for the custody lock, and once granted (it is the next in
// line) announces a fresh nonce, the one address of a hand-over it adopts.
// It lets the lock go as soon as it holds a token, whether handed over or
// from its own login, so that the next tab steps up. It runs on its own
// goroutine from the group's join until the client is destroyed.
func (ga *groupAsks) queue(coord platform.TabCoordinator, name string) {
	defer ga.log.recoverTo("the queue for the refresh token")
	for ga.destroyed.Err() == nil {
		if !ga.refresh.waitFor(ga.destroyed, false) {
			return
		}
		changed := ga.refresh.Changed() // a token of its own takes this tab out of the queue
		granted := make(chan struct{})
		var once sync.Once
		release, err := coord.Lead(name, func() { once.Do(func() { close(granted) }) })
		if err != nil {
			ga.log.debug("tabs: cannot queue for the group's refresh token: " + err.Error())
			return
		}
		select {
		case <-granted:
			nonce := randomString()
			ga.refresh.Await(nonce)
			ga.group.post(tabMessage{Kind: kindNextInLine, Nonce: nonce})
			ga.log.debug("tabs: next in line for the group's refresh token")
			ga.refresh.waitFor(ga.destroyed, true)
			ga.refresh.Await("")
		case <-changed:
		case <-ga.destroyed.Done():
		}
		release()
	}
}

// pageHandover hands this tab's refresh token to the tab that announced
// itself next in line, when the page goes away (pagehide) or the client is
// destroyed.
type pageHandover struct {
	enabled   bool // useRefreshTokens, and the engine is not in custody
	browser   platform.Browser
	destroyed context.Context // the client's: cancelled by Destroy
	refresh   *refreshTokens
	group     handoverChannel
	log       logger

	once     sync.Once
	mu       sync.Mutex
	unlisten func() // removes the pagehide listener
}

// handoverChannel is what pageHandover needs of the tab group: whether its
// channel is open, and a way to post the sealed hand-over on it.
type handoverChannel interface {
	joined() bool
	postRaw(b []byte) bool
}

// listen adds, once, the pagehide listener that hands the refresh token to
// the group.
func (p *pageHandover) listen() {
	p.once.Do(func() {
		pl, ok := p.browser.(platform.PageLifecycle)
		if !ok || p.destroyed.Err() != nil {
			return
		}
		remove := pl.OnPageHide(p.handOver)
		p.mu.Lock()
		if p.destroyed.Err() != nil {
			p.mu.Unlock()
			remove()
			return
		}
		p.unlisten = remove
		p.mu.Unlock()
	})
}

// handOver gives this tab's refresh token to the tab that announced itself
// next in line, if one did. It never waits: it runs in the pagehide event,
// and at destroy.
func (p *pageHandover) handOver() {
	if !p.enabled || !p.group.joined() {
		return // with nobody to hand it to, the token stays
	}
	if msg, ok := p.refresh.Handover(); ok {
		if p.group.postRaw(msg) {
			p.log.debug("tabs: handed the refresh token to the tab next in line")
		}
	}
}

// stop removes the pagehide listener, once the client is destroyed.
func (p *pageHandover) stop() {
	p.mu.Lock()
	unlisten := p.unlisten
	p.unlisten = nil
	p.mu.Unlock()
	if unlisten != nil {
		unlisten()
	}
}

// tabRefreshToken is this tab's part in the refresh token's life: it
// loads, keeps and forgets the token, and renews with it, logging what the
// storage refuses.
type tabRefreshToken struct {
	use       bool // useRefreshTokens
	refresh   *refreshTokens
	flow      *authFlow     // the refresh grant
	handover  *pageHandover // armed once a token is kept
	log       logger
	destroyed context.Context // the client's: cancelled by Destroy
}

// renew renews r's tokens with this tab's refresh token.
func (t *tabRefreshToken) renew(ctx context.Context, r request) (*AuthResult, error) {
	// The group's lock is held here (unless its holder was stuck): the
	// stored token is the one the last holder left, whichever engine that
	// was, and the copy read earlier may be spent.
	if err := t.refresh.Reload(ctx); err != nil {
		t.log.debug("the stored refresh token could not be read: " + err.Error())
	}
	res, err := t.flow.refreshWith(ctx, t.refresh, r)
	if err != nil {
		return nil, err
	}
	res.viaRefresh = true
	return res, nil
}

// load reads the stored refresh token, the first time only.
func (t *tabRefreshToken) load(ctx context.Context) {
	if err := t.refresh.Load(ctx); err != nil {
		t.log.debug("the stored refresh token could not be read, so it was deleted: " + err.Error())
	}
}

// keep holds a refresh token from a code exchange, unless
// useRefreshTokens is off or the holder changed since gen (a logout), and
// arranges its hand-over when the page goes away.
func (t *tabRefreshToken) keep(ctx context.Context, gen uint64, token string) {
	if token == "" || !t.use {
		return
	}
	if err := t.refresh.AdoptSince(ctx, gen, token); err != nil {
		t.log.debug("the refresh token could not be stored: " + err.Error())
	}
	t.handover.listen()
}

// forget drops the refresh token here and in its store: the
// session ended.
func (t *tabRefreshToken) forget() {
	if err := t.refresh.Forget(t.destroyed); err != nil {
		t.log.debug("could not delete the stored refresh token: " + err.Error())
	}
}
