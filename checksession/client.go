package checksession

import (
	"context"

	"github.com/silentauth/silentauth/checksession/platform"
)

// Client runs silent authentication for one application.
type Client struct {
	s       *settings
	log     logger
	browser platform.Browser
	clock   platform.Clock
	disc    *discoverer
	renewer *renewer
	group   *group
	refresh *refreshTokens // this tab's refresh token (useRefreshTokens)
	// refreshToken loads, keeps, forgets and renews with c.refresh.
	refreshToken *tabRefreshToken

	// tokenEndpoint redeems codes and refresh tokens, with DPoP under
	// useDpop, and revokes refresh tokens.
	tokenEndpoint *tokenEndpoint
	frames        *framer   // the silent requests' iframes, the popup's wait
	flow          *authFlow // gets tokens: silent requests, responses, refresh grants, shares

	handover *pageHandover // the refresh token's hand-over when the page goes

	ctx    context.Context // cancelled by Destroy
	cancel context.CancelFunc

	tokens *tokenCache // the results, the user and the epoch
	marker signedInMarker

	engine *engine // the renewal core
}

// NewClient validates the options and builds a client. It does not touch the
// network: discovery happens on the first request.
func NewClient(opts Options, b platform.Browser, clock platform.Clock) (*Client, error) {
	if clock == nil {
		clock = platform.SystemClock{}
	}
	s, err := opts.validate(b.Origin())
	if err != nil {
		return nil, err
	}
	dp, err := newDPoPState(s, b)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	log := newLogger(s)
	if s.SessionCheckInterval > 0 && s.SessionCheckInterval < minSessionPoll {
		log.warn("sessionCheckIntervalInSeconds under 60 s polls /authorize often; servers rate-limit it")
	}
	// custody: the browser keeps this engine's refresh token to itself
	// (RefreshCustody): no hand-over is asked for, given or taken.
	custody := false
	if k, ok := b.(platform.RefreshCustody); ok && k.KeepsRefreshToken() {
		custody = true
	}
	// backoffs holds, by request cache key, the wait after failures that
	// may pass; the default tokens' is the tab group's.
	backoffs := newBackoffs()
	tokens := newTokenCache(s, clock, backoffs)
	events := eventSink(s.OnEvent)
	c := &Client{s: s, log: log, browser: b, clock: clock, ctx: ctx, cancel: cancel, tokens: tokens,
		frames:  &framer{browser: b, clock: clock, log: log, clientID: s.ClientID, tokens: tokens, destroyed: ctx},
		marker:  signedInMarker{browser: b, key: s.markerKey(), clock: clock, log: log},
		disc:    &discoverer{s: s, browser: b, log: log.debug},
		refresh: newRefreshTokens(s, b),
	}
	c.tokenEndpoint = &tokenEndpoint{s: s, browser: b, clock: clock, log: log, dpop: dp, refresh: c.refresh, disc: c.disc}
	c.flow = &authFlow{s: s, clock: clock, browser: b, log: log, disc: c.disc, frames: c.frames,
		tokenEndpoint: c.tokenEndpoint, verifier: &lazyVerifier{s: s, browser: b, clock: clock}}

	// The renewal core and the parts around it, which reach it through
	// renewalEngine and groupEngine.
	eng := &engine{s: s, clock: clock, log: log, browser: b, ctx: ctx, tokens: tokens, backoffs: backoffs,
		marker: c.marker, events: events, refresh: c.refresh, flow: c.flow, tokenEndpoint: c.tokenEndpoint,
		inflight: newFlights(), renewals: newFlights()}
	coord, _ := b.(platform.TabCoordinator)
	g := &group{s: s, clock: clock, log: log, browser: b, destroyed: ctx, custody: custody,
		tokens: tokens, refresh: c.refresh, engine: eng, coord: coord, name: s.tabKey()}
	r := &renewer{s: s, clock: clock, log: log, browser: b, backoffs: backoffs, marker: c.marker,
		events: events, destroyed: ctx, engine: eng, joinGroup: g.join,
		enabled: s.autoRenew, poked: make(chan struct{}, 1),
		defaultKey: request{audience: s.Audience, scope: s.Scope}.cacheKey()}
	g.followBackoff = r.followBackoff
	c.handover = &pageHandover{enabled: s.UseRefreshTokens && !custody, browser: b, destroyed: ctx,
		refresh: c.refresh, group: g, log: log}
	asks := &groupAsks{s: s, clock: clock, log: log, group: g, tokens: tokens, refresh: c.refresh,
		destroyed: ctx, hasSession: r.hasSession, shared: eng.shared,
		verifyingShare: func() bool { return g.adopting.Load() > 0 }}
	g.asks, g.handover = asks, c.handover
	c.refreshToken = &tabRefreshToken{use: s.UseRefreshTokens, refresh: c.refresh, flow: c.flow, handover: c.handover,
		log: log, destroyed: ctx}
	eng.renewer, eng.group, eng.asks, eng.refreshToken = r, g, asks, c.refreshToken
	c.renewer, c.group, c.engine = r, g, eng
	return c, nil
}

// offline reports navigator.onLine == false, where the browser can tell.
func offline(b platform.Browser) bool {
	o, ok := b.(platform.Connectivity)
	return ok && !o.Online()
}

// defaultRequest is the request auto-renew keeps fresh: the options as given.
func (s *settings) defaultRequest() request {
	r, _ := s.resolve(AuthorizeParams{}) // the options were validated already
	return r
}

// CheckSession asks the authorization server for fresh tokens through a
// hidden iframe with prompt=none and response_mode=web_message. Concurrent
// calls with the same parameters share one iframe and one result.
func (c *Client) CheckSession(ctx context.Context, p AuthorizeParams) (*AuthResult, error) {
	r, err := c.s.resolve(p)
	if err != nil {
		return nil, err
	}
	if prompt, ok := r.extra["prompt"]; ok && prompt != "none" {
		return nil, configError("prompt", "checkSession always sends prompt=none; use loginWithRedirect to show the login page")
	}
	if c.s.UseRefreshTokens && r.cacheKey() == c.renewer.defaultKey && onlyPrompt(r.extra) {
		// With refresh tokens the server is asked the way renewals ask it:
		// the group's refresh token first, under the group's lock.
		return c.engine.renew(ctx, r, forCheck)
	}
	if err := c.engine.backoffGate(r, true); err != nil {
		return nil, err
	}
	return c.engine.shared(ctx, r, false)
}

// onlyPrompt reports whether extra carries no parameter but prompt.
func onlyPrompt(extra map[string]string) bool {
	for k := range extra {
		if k != "prompt" {
			return false
		}
	}
	return true
}

// GetTokenSilently answers from the cache while the access token stays
// valid for MinValidity, starting the one shared renewal in the background
// once the token is inside its renewal window. Only without such a token
// does it wait, joining the renewal in flight in this tab or another.
func (c *Client) GetTokenSilently(ctx context.Context, p AuthorizeParams) (string, error) {
	if c.ctx.Err() != nil {
		return "", errDestroyed()
	}
	r, err := c.s.resolve(p)
	if err != nil {
		return "", err
	}
	if r.responseType == "id_token" {
		return "", configError("responseType", `"id_token" produces no access token for getTokenSilently`)
	}
	if res := c.tokens.usable(r); res != nil {
		if c.engine.dueInBackground(r) {
			c.engine.startRenewal(r, forCaller)
		}
		return res.AccessToken, nil
	}
	if err := c.engine.backoffGate(r, false); err != nil {
		return "", err
	}
	res, err := c.engine.renew(ctx, r, forCaller)
	if err != nil {
		return "", err
	}
	return res.AccessToken, nil
}

// dueInBackground reports whether a caller served from the cache should
// start r's renewal: the default tokens follow the renewer's schedule and
// backoff; other audiences renew in their window unless they just failed.
func (eng *engine) dueInBackground(r request) bool {
	if eng.renewals.has(r.key()) { // a renewal of r's tokens is running
		return false
	}
	if r.cacheKey() == eng.renewer.defaultKey {
		return eng.renewer.backgroundDue()
	}
	return eng.tokens.fresh(r) == nil && eng.backoffGate(r, false) == nil
}

// GetUser returns the claims of the last validated ID token, or nil.
func (c *Client) GetUser() map[string]any { return c.tokens.currentUser() }

// Destroy stops renewal, leaves the tab group, cancels requests in flight
// (their iframes and listeners go with them) and makes every later call
// fail with ErrDestroyed.
func (c *Client) Destroy() {
	c.renewer.stop()
	c.handover.handOver() // a destroyed client's tab may live on: the group keeps the token
	c.group.leave()
	c.cancel()
	c.tokens.forget()
	c.refresh.Drop()
	c.handover.stop()
}
