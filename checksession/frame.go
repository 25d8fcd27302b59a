package checksession

import (
	"context"
	"net/url"
	"time"
)

// loadGrace is how long after the authorization server's page loaded in the
// iframe a silent request waits for its message. Servers post while the page
// is parsed, before "load"; a page that loaded and stayed silent is an error
// page or a refused origin, and waiting the full timeout would only hide it.
const loadGrace = time.Second

// runFrame opens the hidden iframe and waits for the one message that is
// ours, the timeout, or the sign that none will come. The frame, its
// listeners and the timers are gone when it returns, whatever the path.
func (c *Client) runFrame(ctx context.Context, authorizeURL string, t *transaction, timeout time.Duration) (*authResponse, error) {
	au, _ := url.Parse(authorizeURL)
	serverOrigin := origin(au)
	msgs := make(chan *authResponse, 1)
	loads := make(chan struct{}, 1)
	frame, err := c.browser.OpenFrame(authorizeURL, FrameHandler{
		OnMessage: func(m Message) {
			resp, why := acceptMessage(m, serverOrigin, t.State)
			if why != "" {
				c.debug("ignored a message: " + why)
				return
			}
			select {
			case msgs <- resp:
			default:
			}
		},
		OnLoad: func() {
			select {
			case loads <- struct{}{}:
			default:
			}
		},
	})
	if err != nil {
		return nil, newError(ErrTimeout.Code, TimeoutDescription+". The iframe could not be created: "+err.Error())
	}
	defer frame.Close()
	c.debug("silent request opened: " + redactURL(authorizeURL))

	deadline := c.clock.NewTimer(timeout)
	defer deadline.Stop()
	var grace Timer
	var graceC <-chan time.Time
	defer func() {
		if grace != nil {
			grace.Stop()
		}
	}()
	for {
		select {
		case resp := <-msgs:
			return resp, nil
		case <-loads:
			// Each load (a server may pass through pages) restarts the wait.
			if grace != nil {
				grace.Stop()
			}
			grace = c.clock.NewTimer(min(loadGrace, timeout))
			graceC = grace.C()
		case <-graceC:
			c.debug("failing fast: the server's page loaded but posted nothing")
			if c.offline() {
				return nil, &Error{Code: ErrTimeout.Code, State: t.State, Description: TimeoutDescription +
					". The browser is offline: the iframe shows its network error page."}
			}
			return nil, &Error{Code: ErrTimeout.Code, State: t.State, Description: TimeoutDescription +
				". The authorization server's page loaded in the iframe but posted no answer: it is an error page, or this origin (" +
				c.browser.Origin() + ") is not allowed for web_message (Auth0: add it to the application's Allowed Web Origins), or redirect_uri " +
				quote(t.RedirectURI) + " is not registered for client " + quote(c.s.ClientID) + "."}
		case <-deadline.C():
			if c.offline() {
				return nil, &Error{Code: ErrTimeout.Code, State: t.State, Description: TimeoutDescription + ". The browser is offline."}
			}
			return nil, &Error{Code: ErrTimeout.Code, State: t.State, Description: TimeoutDescription}
		case <-ctx.Done():
			if c.ctx.Err() != nil {
				return nil, ErrDestroyed
			}
			return nil, ctx.Err()
		}
	}
}
