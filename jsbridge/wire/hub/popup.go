package hub

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/silentauth/silentauth/checksession"
	"github.com/silentauth/silentauth/checksession/platform"
)

// loginWithPopup's window belongs to the page that called it: only that
// page had the click whose activation lets window.open through, and a
// round trip to the worker would use it up. So the page opens the window
// blank before it sends the call, and the engine drives it from here:
// navigatePopup once the authorize URL is built, closePopup when done. The
// page passes on only messages from that window, from the server's origin,
// of type authorization_response, and says when the window is closed; the
// engine checks origin, state, nonce and signature again, as for an iframe.

// popupKey names a popup: pages number their own.
type popupKey struct {
	page string
	id   int64
}

// remotePopup is a page's popup as the engine's platform.Popup.
type remotePopup struct {
	h   *Hub
	key popupKey

	mu      sync.Mutex
	handler platform.FrameHandler // set when the engine takes the window
	taken   func()                // called once the engine has it

	closed atomic.Bool // the page saw window.closed, or the page left
	close  sync.Once
}

var (
	_ platform.PopupOpener = (*clientBrowser)(nil)
	_ platform.Popup       = (*remotePopup)(nil)
)

// loginWithPopup runs the engine's LoginWithPopup with the window page p
// opened as popup id. The engine takes the window in OpenPopup; a second
// call on the same client waits until the first has taken its own, so that
// each takes the one its page opened.
func (h *Hub) loginWithPopup(ctx context.Context, p *page, s *shared, id int64, params checksession.AuthorizeParams) (*checksession.AuthResult, error) {
	rp := &remotePopup{h: h, key: popupKey{p.id, id}}
	h.mu.Lock()
	if h.popups[rp.key] != nil {
		h.mu.Unlock()
		return nil, &checksession.Error{Code: string(checksession.ErrInvalidConfiguration),
			Description: fmt.Sprintf("loginWithPopup: popup %d of this page is in another call already", id)}
	}
	h.popups[rp.key] = rp
	if _, still := h.pages[p.id]; !still {
		rp.closed.Store(true)
	}
	h.mu.Unlock()
	// Whatever the outcome, the page closes the window and stops listening.
	defer rp.Close()

	b := s.b
	b.popupMu.Lock()
	var once sync.Once
	handOver := func() { once.Do(b.popupMu.Unlock) }
	defer handOver()
	rp.taken = handOver
	b.mu.Lock()
	b.pending = rp
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		if b.pending == rp {
			b.pending = nil
		}
		b.mu.Unlock()
	}()
	return s.eng.LoginWithPopup(ctx, params)
}

// OpenPopup hands the engine the window the calling page opened already.
func (b *clientBrowser) OpenPopup(fh platform.FrameHandler) (platform.Popup, error) {
	b.mu.Lock()
	rp := b.pending
	b.pending = nil
	b.mu.Unlock()
	if rp == nil {
		return nil, &checksession.Error{Code: string(checksession.ErrPopupBlocked),
			Description: "no page opened a popup window for this call: in the shared worker, loginWithPopup opens only through a page's client"}
	}
	rp.mu.Lock()
	rp.handler = fh
	rp.mu.Unlock()
	rp.taken()
	return rp, nil
}

// postTo is the post function of page id, nil once it left.
func (h *Hub) postTo(id string) func([]byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if p := h.pages[id]; p != nil {
		return p.post
	}
	return nil
}

// Navigate asks the page to send its popup to url.
func (rp *remotePopup) Navigate(url string) error {
	post := rp.h.postTo(rp.key.page)
	if post == nil || rp.closed.Load() {
		return errors.New("the page that opened it went away, or the window is closed")
	}
	send(post, map[string]any{"t": outNavigatePopup, "popup": rp.key.id, "url": url})
	return nil
}

// Closed is what the page last said: the window is closed (or cut off by
// Cross-Origin-Opener-Policy, which reads the same), or the page is gone.
func (rp *remotePopup) Closed() bool { return rp.closed.Load() }

// Close stops delivering the page's messages and asks the page to close
// the window and remove its listener and timer.
func (rp *remotePopup) Close() {
	rp.close.Do(func() {
		rp.mu.Lock()
		rp.handler = platform.FrameHandler{}
		rp.mu.Unlock()
		h := rp.h
		h.mu.Lock()
		if h.popups[rp.key] == rp {
			delete(h.popups, rp.key)
		}
		var post func([]byte)
		if p := h.pages[rp.key.page]; p != nil {
			post = p.post
		}
		h.mu.Unlock()
		if post != nil {
			send(post, map[string]any{"t": outClosePopup, "popup": rp.key.id})
		}
	})
}

// popupEvent delivers what page p saw of its own popup; a page cannot
// speak for another page's window.
func (h *Hub) popupEvent(p *page, m pageMessage) {
	h.mu.Lock()
	rp := h.popups[popupKey{p.id, m.Popup}]
	h.mu.Unlock()
	if rp == nil {
		h.debug("page %s: popup %d is not in a call", p.id, m.Popup)
		return
	}
	switch m.Kind {
	case "closed":
		rp.closed.Store(true)
	case "message":
		// FromFrame: the page passes on only messages whose source is the popup.
		msg := platform.Message{Origin: m.Origin, FromFrame: true, Data: m.Data, DataProblem: m.Problem}
		if len(msg.Data) > platform.MaxMessageBytes {
			msg.Data, msg.DataProblem = nil, fmt.Sprintf("%d bytes of JSON, more than %d", len(m.Data), platform.MaxMessageBytes)
		}
		rp.mu.Lock()
		on := rp.handler.OnMessage
		rp.mu.Unlock()
		if on != nil {
			on(msg)
		}
	}
}

// pageLeftLocked marks the popups of page id closed: nobody can answer
// through them now. h.mu is held.
func (h *Hub) pageLeftLocked(id string) {
	for k, rp := range h.popups {
		if k.page == id {
			rp.closed.Store(true)
		}
	}
}
