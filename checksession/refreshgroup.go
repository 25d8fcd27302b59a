package checksession

import (
	"context"
	"errors"
	"time"
)

// This file is the refresh token's life in the tab group (API.md, "Refresh
// tokens"): one refresh token per group, presented only by the tab that
// holds the group's lock. The token follows the lock: a tab that must renew
// and holds none asks the group, and whoever holds it hands it over; a tab
// that goes away (pagehide, destroy) hands it to the group unasked. Tabs that
// receive a hand-over they did not ask for keep it on stand-by and drop it
// when another tab reports a rotation.

// PageLifecycle is optionally implemented by a Browser that can tell when
// the page goes away (pagehide: closed, navigated, or put in the
// back-forward cache). fn runs inside the browser's event and must not wait.
type PageLifecycle interface {
	OnPageHide(fn func()) (remove func())
}

// RefreshCustody is optionally implemented by a Browser whose engine keeps
// its refresh token to itself: the engine in a SharedWorker, which every
// tab of the origin reaches through the API, never through a channel. Such
// an engine still takes turns with the other engines of its configuration
// (another version's worker after a deploy, a tab with the in-page engine)
// and shares verified results with them, but it never asks for the
// group's refresh token, never hands its own over, and ignores the
// hand-overs other tabs post. Its token is then its own family, which no
// other engine presents; with refreshTokenStorage "local" the stored token
// is shared, and it is re-read under the group's lock (Reload) before each
// grant.
type RefreshCustody interface {
	KeepsRefreshToken() bool
}

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

// renewWithRefreshToken renews r's tokens with the group's refresh token,
// asking the group for it first when this tab holds none.
func (c *Client) renewWithRefreshToken(ctx context.Context, r request) (*AuthResult, error) {
	// The group's lock is held here (unless its holder was stuck): the
	// stored token is the one the last holder left, whichever engine that
	// was, and the copy read earlier may be spent.
	if err := c.refresh.Reload(ctx); err != nil {
		c.debug("the stored refresh token could not be read: " + err.Error())
	}
	if !c.refresh.Has() && !c.custody {
		c.askGroupForRefreshToken(ctx)
	}
	res, err := c.refreshWith(ctx, c.refresh, r)
	if err != nil {
		return nil, err
	}
	res.viaRefresh = true
	return res, nil
}

// askGroupForRefreshToken posts the request for the group's refresh token
// and waits, at most handoverWait, until a hand-over arrives.
func (c *Client) askGroupForRefreshToken(ctx context.Context) {
	c.group.join()
	if !c.group.post(tabMessage{Kind: kindRefreshWanted}) {
		return // alone: nobody to ask
	}
	bound := c.clock.NewTimer(handoverWait)
	c.mu.Lock()
	c.askTimer = bound
	c.mu.Unlock()
	defer func() {
		bound.Stop()
		c.mu.Lock()
		c.askTimer = nil
		c.mu.Unlock()
	}()
	for {
		changed := c.cacheChanged() // before the check, so no wake-up is lost
		if c.refresh.Has() {
			c.debug("tabs: received the group's refresh token")
			return
		}
		select {
		case <-changed:
		case <-bound.C():
			c.debug("tabs: no tab of the group holds a refresh token")
			return
		case <-ctx.Done():
			return
		}
	}
}

// keepRefreshToken holds a refresh token from a code exchange, unless
// useRefreshTokens is off or the holder changed since gen (a logout), and
// arranges its hand-over when the page goes away.
func (c *Client) keepRefreshToken(ctx context.Context, gen uint64, token string) {
	if token == "" || !c.s.UseRefreshTokens {
		return
	}
	if err := c.refresh.AdoptSince(ctx, gen, token); err != nil {
		c.debug("the refresh token could not be stored: " + err.Error())
	}
	c.listenForPageHide()
}

// listenForPageHide adds, once, the pagehide listener that hands the
// refresh token to the group.
func (c *Client) listenForPageHide() {
	c.pageHideOnce.Do(func() {
		pl, ok := c.browser.(PageLifecycle)
		if !ok || c.ctx.Err() != nil {
			return
		}
		remove := pl.OnPageHide(c.handOverRefreshToken)
		c.mu.Lock()
		if c.ctx.Err() != nil {
			c.mu.Unlock()
			remove()
			return
		}
		c.unlistenHide = remove
		c.mu.Unlock()
	})
}

// handOverRefreshToken gives this tab's refresh token to the group. It
// never waits: it runs in the pagehide event.
func (c *Client) handOverRefreshToken() {
	if !c.s.UseRefreshTokens || c.custody || !c.group.joined() {
		return // with nobody to hand it to, the token stays
	}
	if msg, ok := c.refresh.Handover(); ok {
		if c.group.postRaw(msg) {
			c.debug("tabs: handed the refresh token to the group")
		}
	}
}

// answerLateAsk hands the refresh token over when a tab asked for it while
// this tab's grant had it out, which Handover had to refuse. It runs after
// the grant's outcome was posted to the group, so the asker reads that
// "renewed" before the hand-over, never after (a "renewed" by refresh token
// makes a tab drop the copy it holds). A tab asks without holding the
// group's lock when its wait for the lock ran out (a holder frozen or very
// slow); before this, such an ask went unanswered and the tab fell back to
// the iframe, which fails where cookies are blocked.
func (c *Client) answerLateAsk() {
	if c.refresh.TakeLateAsk() {
		c.debug("tabs: answering the request for the refresh token that came during the grant")
		c.handOverRefreshToken()
	}
}

// forgetRefreshToken drops the refresh token here and in its store: the
// session ended.
func (c *Client) forgetRefreshToken() {
	if err := c.refresh.Forget(c.ctx); err != nil {
		c.debug("could not delete the stored refresh token: " + err.Error())
	}
}
