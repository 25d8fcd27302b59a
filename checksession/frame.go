package checksession

import (
	"context"
	"net/url"
	"time"

	"github.com/silentauth/silentauth/checksession/platform"
)

// loadGrace is how long after the authorization server's page loaded in the
// iframe a silent request waits for its message. Servers post while the page
// is parsed, before "load"; a page that loaded and stayed silent is an error
// page or a refused origin, and waiting the full timeout would only hide it.
const loadGrace = time.Second

// raceAfter is the age at which a silent request with no answer yet is
// raced by a fresh iframe, while no cached token is valid so callers wait.
// A server that held one request (a restart, a dropped connection, a slow
// moment) usually answers the next at once; waiting out timeoutInSeconds
// would keep every caller waiting that long after the server recovered.
// Later races come at doubling ages (2, 4, 8… s), so a server that stays
// slow gets a handful of requests per timeout, not a stream.
const raceAfter = 2 * time.Second

// silentFrame is one hidden iframe of a silent request, with what it has
// told so far. A nil *silentFrame's channels are nil, so a select on an
// empty slot never fires.
type silentFrame struct {
	t     *transaction
	url   string
	frame platform.Frame
	msgs  chan *authResponse
	loads chan struct{}
	grace platform.Timer
}

func (f *silentFrame) messages() <-chan *authResponse {
	if f == nil {
		return nil
	}
	return f.msgs
}

func (f *silentFrame) loaded() <-chan struct{} {
	if f == nil {
		return nil
	}
	return f.loads
}

func (f *silentFrame) graceOver() <-chan time.Time {
	if f == nil || f.grace == nil {
		return nil
	}
	return f.grace.C()
}

// close takes the iframe, its listeners and its grace timer away.
func (f *silentFrame) close() {
	if f == nil {
		return
	}
	if f.grace != nil {
		f.grace.Stop()
	}
	f.frame.Close()
}

// framer opens and runs the hidden iframes of silent requests, and waits
// for a login popup's answer.
type framer struct {
	browser   platform.Browser
	clock     platform.Clock
	log       logger
	clientID  string
	tokens    *tokenCache     // a valid cached token stops the races
	destroyed context.Context // the client's: cancelled by Destroy
}

// openFrame opens a hidden iframe on authorizeURL that accepts only the
// message answering t, from the server's origin and that iframe.
func (fr *framer) openFrame(authorizeURL string, t *transaction) (*silentFrame, error) {
	au, _ := url.Parse(authorizeURL)
	serverOrigin := origin(au)
	f := &silentFrame{t: t, url: authorizeURL, msgs: make(chan *authResponse, 1), loads: make(chan struct{}, 1)}
	frame, err := fr.browser.OpenFrame(authorizeURL, platform.FrameHandler{
		OnMessage: func(m platform.Message) {
			resp, why := acceptMessage(m, serverOrigin, t.State)
			if why != "" {
				fr.log.debug("ignored a message: " + why)
				return
			}
			select {
			case f.msgs <- resp:
			default:
			}
		},
		OnLoad: func() {
			select {
			case f.loads <- struct{}{}:
			default:
			}
		},
	})
	if err != nil {
		return nil, newError(string(ErrTimeout), timeoutDescription+". The iframe could not be created: "+err.Error())
	}
	f.frame = frame
	fr.log.debug("silent request opened: " + redactURL(authorizeURL))
	return f, nil
}

// runFrames runs a silent request's iframes and waits for the one message
// that is ours, the timeout, or the sign that none will come. It opens t at
// authorizeURL first, then, while no cached token for r is valid and
// nothing has answered, a fresh attempt from next (new state, nonce and
// verifier) at each race age. At most two iframes are open: the first,
// which may only be slow, and the latest, which replaces the one before it.
// The first answer wins, response or failure, and comes back with its
// transaction; all attempts share the first one's deadline. When runFrames
// returns, every iframe, listener and timer is gone, whatever the path,
// except the iframe whose answer is returned: the caller closes that one
// once the answer is used (see silent).
func (fr *framer) runFrames(ctx context.Context, r request, t *transaction, authorizeURL string,
	next func() (*transaction, string, error)) (*authResponse, *transaction, *silentFrame, error) {
	first, err := fr.openFrame(authorizeURL, t)
	if err != nil {
		return nil, t, nil, err
	}
	var latest, winner *silentFrame
	defer func() {
		for _, f := range []*silentFrame{first, latest} {
			if f != winner {
				f.close()
			}
		}
	}()
	start := fr.clock.Now()
	deadline := fr.clock.NewTimer(r.timeout)
	defer deadline.Stop()
	// race fires at each race age under the deadline; nil after the last.
	raceAt := raceAfter
	var race platform.Timer
	var raceC <-chan time.Time
	armRace := func(now time.Time) {
		for !start.Add(raceAt).After(now) {
			raceAt *= 2
		}
		race, raceC = nil, nil
		if raceAt < r.timeout {
			race = fr.clock.NewTimer(start.Add(raceAt).Sub(now))
			raceC = race.C()
		}
	}
	armRace(start)
	defer func() {
		if race != nil {
			race.Stop()
		}
	}()

	// restartGrace (re)arms f's wait after a load: a server may pass
	// through pages, and each load restarts it.
	restartGrace := func(f *silentFrame) {
		if f.grace != nil {
			f.grace.Stop()
		}
		f.grace = fr.clock.NewTimer(min(loadGrace, r.timeout))
	}
	for {
		select {
		case resp := <-first.messages():
			winner = first
			return resp, first.t, first, nil
		case resp := <-latest.messages():
			winner = latest
			return resp, latest.t, latest, nil
		case <-first.loaded():
			restartGrace(first)
		case <-latest.loaded():
			restartGrace(latest)
		case <-first.graceOver():
			return nil, first.t, nil, fr.silentPage(first.t)
		case <-latest.graceOver():
			return nil, latest.t, nil, fr.silentPage(latest.t)
		case <-raceC:
			now := fr.clock.Now()
			if fr.tokens.usable(r) == nil && now.Sub(start) < r.timeout {
				fr.log.debug("no answer after " + now.Sub(start).Round(100*time.Millisecond).String() +
					" and no valid token: racing a fresh silent request")
				latest.close()
				latest, _ = fr.openRacer(next)
			}
			armRace(now)
		case <-deadline.C():
			if offline(fr.browser) {
				return nil, first.t, nil, &Error{Code: string(ErrTimeout), State: first.t.State, Description: timeoutDescription + ". The browser is offline."}
			}
			return nil, first.t, nil, &Error{Code: string(ErrTimeout), State: first.t.State, Description: timeoutDescription}
		case <-ctx.Done():
			if fr.destroyed.Err() != nil {
				return nil, first.t, nil, errDestroyed()
			}
			return nil, first.t, nil, ctx.Err()
		}
	}
}

// openRacer opens the iframe of a fresh attempt.
func (fr *framer) openRacer(next func() (*transaction, string, error)) (*silentFrame, error) {
	t, u, err := next()
	if err == nil {
		var f *silentFrame
		if f, err = fr.openFrame(u, t); err == nil {
			return f, nil
		}
	}
	fr.log.debug("no fresh silent request: " + err.Error())
	return nil, err
}

// silentPage is the error for a server page that loaded in the iframe and
// posted nothing within loadGrace.
func (fr *framer) silentPage(t *transaction) error {
	fr.log.debug("failing fast: the server's page loaded but posted nothing")
	if offline(fr.browser) {
		return &Error{Code: string(ErrTimeout), State: t.State, Description: timeoutDescription +
			". The browser is offline: the iframe shows its network error page."}
	}
	return &Error{Code: string(ErrTimeout), State: t.State, Description: timeoutDescription +
		". The authorization server's page loaded in the iframe but posted no answer: it is an error page, or this origin (" +
		fr.browser.Origin() + ") is not allowed for web_message (Auth0: add it to the application's Allowed Web Origins), or redirect_uri " +
		quote(t.RedirectURI) + " is not registered for client " + quote(fr.clientID) + "."}
}
