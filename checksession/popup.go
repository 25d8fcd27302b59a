package checksession

import (
	"context"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/silentauth/silentauth/checksession/platform"
)

// defaultPopupTimeout bounds an interactive login in a popup when the call
// gives no timeoutInSeconds. The client's timeoutInSeconds is for silent
// requests, which a server answers at once; a person typing a password and
// a second factor needs longer.
const defaultPopupTimeout = 5 * time.Minute

// popupPoll is how often LoginWithPopup looks at popup.closed: the only way
// to notice that the user closed the window, since a closed window fires
// no event in its opener.
const popupPoll = 500 * time.Millisecond

// popupClosedGrace is how long a window seen closed may still deliver the
// answer it posted just before closing, before the login ends as
// popup_closed.
const popupClosedGrace = 500 * time.Millisecond

// coopHint is what a popup that seems closed, or never answers, may really
// be: cut off from this page by Cross-Origin-Opener-Policy.
const coopHint = "If the window is still open, Cross-Origin-Opener-Policy cut it off from this page: " +
	"serve the application with Cross-Origin-Opener-Policy: same-origin-allow-popups (or none), " +
	"and the authorization server's login pages without Cross-Origin-Opener-Policy: same-origin."

// LoginWithPopup runs an interactive login (without prompt=none) in a popup
// window that answers with response_mode=web_message to this page, and
// validates the answer as CheckSession does: the message must come from the
// server's origin and from that popup, carry type authorization_response
// and this request's state; then state, nonce, the ID token and the code
// exchange are checked. The result is cached and shared as a login is.
//
// The popup opens before LoginWithPopup waits for anything, so it must be
// called from a user gesture's handler (a click), directly, or the browser
// blocks the window (ErrPopupBlocked). ErrPopupClosed: the user closed it.
// ErrTimeout after p.Timeout, or 5 minutes.
func (c *Client) LoginWithPopup(ctx context.Context, p AuthorizeParams) (*AuthResult, error) {
	if c.ctx.Err() != nil {
		return nil, errDestroyed()
	}
	r, err := c.s.resolve(p)
	if err != nil {
		return nil, err
	}
	if r.extra["prompt"] == "none" {
		return nil, configError("prompt", "loginWithPopup is the interactive login; use checkSession for prompt=none")
	}
	r.timeout = defaultPopupTimeout
	if p.Timeout > 0 {
		r.timeout = p.Timeout
	}
	opener, ok := c.browser.(platform.PopupOpener)
	if !ok {
		return nil, configError("loginWithPopup", "this browser bridge cannot open popup windows")
	}
	// The expected answer is known only after discovery: until then no
	// message is ours.
	var (
		mu     sync.Mutex
		expect func(platform.Message) (*authResponse, string)
	)
	msgs := make(chan *authResponse, 1)
	popup, err := opener.OpenPopup(platform.FrameHandler{OnMessage: func(m platform.Message) {
		mu.Lock()
		accept := expect
		mu.Unlock()
		if accept == nil {
			return
		}
		resp, why := accept(m)
		if why != "" {
			c.log.debug("popup: ignored a message: " + why)
			return
		}
		select {
		case msgs <- resp:
		default:
		}
	}})
	if err != nil {
		return nil, err
	}
	defer popup.Close()

	m, err := c.disc.metadata(ctx)
	if err != nil {
		return nil, err
	}
	if !m.supportsWebMessage() {
		return nil, invalidOption("Domain", "the server's discovery lists response_modes_supported "+
			quote(strings.Join(m.ResponseModesSupported, " "))+" without web_message, so the popup cannot answer")
	}
	if err := c.tokenEndpoint.bindAuthorize(ctx, &r); err != nil { // dpop_jkt, as every authorization request
		return nil, err
	}
	t := newTransaction(r, c.s.RedirectURI)
	u, err := authorizeURL(m.AuthorizationEndpoint, c.s.ClientID, t, r, c.s.requestScope(t.Scope), "web_message")
	if err != nil {
		return nil, err
	}
	au, _ := url.Parse(u)
	serverOrigin := origin(au)
	mu.Lock()
	expect = func(msg platform.Message) (*authResponse, string) { return acceptMessage(msg, serverOrigin, t.State) }
	mu.Unlock()
	gen := c.refresh.Generation()
	if err := popup.Navigate(u); err != nil {
		return nil, &Error{Code: string(ErrPopupClosed), State: t.State, Description: "the popup could not be sent to the authorization server: " + err.Error()}
	}
	c.log.debug("popup login opened: " + redactURL(u))

	resp, err := c.frames.awaitPopup(ctx, popup, msgs, t, r.timeout)
	if err != nil {
		return nil, err
	}
	popup.Close() // before the exchange: the user is done with it
	res, refreshToken, err := c.flow.complete(ctx, m, t, resp)
	if err != nil {
		return nil, err
	}
	c.engine.accept(request{audience: t.Audience, scope: t.Scope}, res)
	c.refreshToken.keep(ctx, gen, refreshToken)
	dropPrestarted(c.browser)
	return res, nil
}

// dropPrestarted discards the loader's head-start request if nothing took
// it yet: it left before this login, so its answer (login_required, most
// likely) says nothing about the session the login just made, and a later
// checkSession must ask afresh. Taking it with a context already ended
// drops it (Prestarter.TakePrestarted).
func dropPrestarted(b platform.Browser) {
	p, ok := b.(platform.Prestarter)
	if !ok {
		return
	}
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	if pre := p.TakePrestarted(ended); pre != nil {
		p.SettlePrestarted(false, "")
	}
}

// awaitPopup waits for the popup's answer, its closing, the timeout or ctx.
func (fr *framer) awaitPopup(ctx context.Context, popup platform.Popup, msgs <-chan *authResponse, t *transaction, timeout time.Duration) (*authResponse, error) {
	deadline := fr.clock.NewTimer(timeout)
	defer deadline.Stop()
	poll := fr.clock.NewTimer(popupPoll)
	defer func() { poll.Stop() }()
	for {
		select {
		case resp := <-msgs:
			return resp, nil
		case <-poll.C():
			if popup.Closed() {
				// The server's page posts its answer and closes the window at
				// once. The opener can see the window closed before the
				// message's event has run (a busy page), so the answer gets
				// popupClosedGrace to arrive.
				grace := fr.clock.NewTimer(popupClosedGrace)
				select {
				case resp := <-msgs:
					grace.Stop()
					return resp, nil
				case <-grace.C():
				case <-fr.destroyed.Done():
					grace.Stop()
					return nil, errDestroyed()
				case <-ctx.Done():
					grace.Stop()
					return nil, ctx.Err()
				}
				return nil, &Error{Code: string(ErrPopupClosed), State: t.State,
					Description: "the popup window was closed before the authorization server answered. " + coopHint}
			}
			poll = fr.clock.NewTimer(popupPoll)
		case <-deadline.C():
			return nil, &Error{Code: string(ErrTimeout), State: t.State, Description: timeoutDescription +
				". The popup got no answer from the authorization server within " + strconv.Itoa(int(timeout/time.Second)) +
				" s (timeoutInSeconds of this call; " + strconv.Itoa(int(defaultPopupTimeout/time.Second)) +
				" s by default). " + coopHint + " Otherwise the origin " + fr.browser.Origin() +
				" may be missing from the application's Allowed Web Origins."}
		case <-fr.destroyed.Done():
			return nil, errDestroyed()
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}
