//go:build js && wasm

package jsbridge

import (
	"fmt"
	"strconv"
	"sync/atomic"

	"github.com/hack-pad/safejs"
	"github.com/silentauth/silentauth/checksession"
	"github.com/silentauth/silentauth/checksession/platform"
)

// PopupName is the window name of loginWithPopup's window: a second call
// while one is open reuses that window instead of stacking another.
const PopupName = "silentauth-login"

// Popup size, centred over the opener: room for a typical login page.
const (
	popupWidth  = 500
	popupHeight = 640
)

var _ platform.PopupOpener = (*Browser)(nil)

// popup is a window opened by OpenPopup, with the opener's listener.
type popup struct {
	window, popup safejs.Value
	onMessage     *Func
	unlisten      func()
	closed        atomic.Bool
}

// OpenPopup calls window.open at once, so it must run inside a user
// gesture's handler (Go runs the goroutines a JS call readies before it
// returns to JS, so a goroutine that reaches it without blocking counts).
// It opens about:blank: the authorize URL needs discovery, and the window
// cannot wait for it. The "message" listener is in place before it returns.
func (b *Browser) OpenPopup(h platform.FrameHandler) (platform.Popup, error) {
	w, err := b.window.Call("open", "", PopupName, b.popupFeatures())
	if err != nil {
		return nil, &checksession.Error{Code: string(checksession.ErrPopupBlocked), Description: "window.open failed: " + err.Error()}
	}
	if w.Type() != safejs.TypeObject {
		return nil, &checksession.Error{Code: string(checksession.ErrPopupBlocked), Description: "the browser blocked the login popup: " +
			"call loginWithPopup directly from a click or key handler, before any await, or allow popups for this site"}
	}
	p := &popup{window: b.window, popup: w}
	if p.onMessage, err = NewFunc(func(_ safejs.Value, args []safejs.Value) any {
		if !p.closed.Load() && h.OnMessage != nil {
			h.OnMessage(p.message(Arg(args, 0)))
		}
		return nil
	}); err != nil {
		p.Close()
		return nil, err
	}
	if p.unlisten, err = addListener(b.window, "message", p.onMessage); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

// popupFeatures centres the popup over the opener's window.
func (b *Browser) popupFeatures() string {
	num := func(name string) int {
		v, err := b.window.Get(name)
		if err != nil || v.Type() != safejs.TypeNumber {
			return 0
		}
		f, _ := v.Float()
		return int(f)
	}
	left := num("screenX") + max(0, (num("outerWidth")-popupWidth)/2)
	top := num("screenY") + max(0, (num("outerHeight")-popupHeight)/2)
	return fmt.Sprintf("popup,width=%d,height=%d,left=%s,top=%s", popupWidth, popupHeight, strconv.Itoa(left), strconv.Itoa(top))
}

func (p *popup) message(ev safejs.Value) platform.Message {
	var m platform.Message
	m.Origin, _ = getString(ev, "origin")
	if src, err := ev.Get("source"); err == nil && src.Type() == safejs.TypeObject {
		m.FromFrame = src.Equal(p.popup)
	}
	data, err := getGuarded(ev, "data")
	if err != nil {
		m.DataProblem = "not readable: " + err.Error()
		return m
	}
	m.Data, m.DataProblem = messageJSON(data)
	return m
}

// Navigate sends the popup to url with location.replace, which works
// across origins and leaves no about:blank entry in its history.
func (p *popup) Navigate(url string) error {
	loc, err := getGuarded(p.popup, "location")
	if err != nil || loc.Type() != safejs.TypeObject {
		return fmt.Errorf("the popup has no location (closed?)")
	}
	_, err = loc.Call("replace", url)
	return err
}

// Closed is popup.closed. Cross-Origin-Opener-Policy that separates the
// popup from this page also makes it read true.
func (p *popup) Closed() bool {
	v, err := getGuarded(p.popup, "closed")
	if err != nil {
		return true
	}
	c, _ := v.Truthy()
	return c
}

// Close removes the listener, releases the callback and closes the window.
func (p *popup) Close() {
	if !p.closed.CompareAndSwap(false, true) {
		return
	}
	if p.unlisten != nil {
		p.unlisten()
	}
	p.onMessage.Release()
	_, _ = p.popup.Call("close")
}
