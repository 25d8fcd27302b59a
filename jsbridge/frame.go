//go:build js && wasm

package jsbridge

import (
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/hack-pad/safejs"
	"github.com/silentauth/silentauth/checksession/platform"
)

// FrameTitle is the hidden iframe's title: screen readers announce frames by
// title, even hidden ones in some modes.
const FrameTitle = "silentauth session check"

// frameRemoveFallback bounds how long a closed iframe waits for its
// about:blank page before it is removed anyway.
const frameRemoveFallback = time.Second

// frame is one hidden iframe opened by OpenFrame.
type frame struct {
	window, iframe    safejs.Value
	handler           platform.FrameHandler
	onMessage, onLoad *Func
	unlisten          []func()
	navigated, closed atomic.Bool
	inDocument        atomic.Bool
}

// OpenFrame adds a hidden iframe to the page and navigates it to url. The
// window "message" and iframe "load" listeners are registered before src is
// set, so that a server answering at once cannot be missed.
func (b *Browser) OpenFrame(url string, h platform.FrameHandler) (platform.Frame, error) {
	iframe, err := b.document.Call("createElement", "iframe")
	if err != nil {
		return nil, fmt.Errorf("jsbridge: createElement: %w", err)
	}
	f := &frame{window: b.window, iframe: iframe, handler: h}
	if err := f.open(b.document, url); err != nil {
		f.Close()
		return nil, fmt.Errorf("jsbridge: open frame: %w", err)
	}
	return f, nil
}

func (f *frame) open(document safejs.Value, url string) error {
	attrs := [][2]string{
		{"title", FrameTitle},
		{"aria-hidden", "true"},
		{"tabindex", "-1"},
		{"width", "0"},
		{"height", "0"},
		// The authorization server learns the app's origin from redirect_uri
		// and the message's targetOrigin; the page's full URL (path, query,
		// fragment: possibly a callback's code or tokens) is none of its business.
		{"referrerpolicy", "no-referrer"},
	}
	for _, a := range attrs {
		if _, err := f.iframe.Call("setAttribute", a[0], a[1]); err != nil {
			return err
		}
	}
	// display:none alone hides it; the rest keeps it out of layout even if a
	// page stylesheet overrides display on iframes. Set through the CSSOM, not
	// a style attribute, which a CSP of style-src 'self' blocks.
	style, err := f.iframe.Get("style")
	if err != nil {
		return err
	}
	if err := style.Set("cssText", "display:none;width:0;height:0;border:0;position:absolute"); err != nil {
		return err
	}

	if f.onMessage, err = NewFunc(func(_ safejs.Value, args []safejs.Value) any {
		if !f.closed.Load() && f.handler.OnMessage != nil {
			f.handler.OnMessage(f.message(Arg(args, 0)))
		}
		return nil
	}); err != nil {
		return err
	}
	if f.onLoad, err = NewFunc(func(safejs.Value, []safejs.Value) any {
		// Inserting an iframe fires "load" for its initial about:blank; only
		// loads after src was set are the requested page.
		if f.navigated.Load() && !f.closed.Load() && f.handler.OnLoad != nil {
			f.handler.OnLoad()
		}
		return nil
	}); err != nil {
		return err
	}
	un, err := addListener(f.window, "message", f.onMessage)
	if err != nil {
		return err
	}
	f.unlisten = append(f.unlisten, un)
	if un, err = addListener(f.iframe, "load", f.onLoad); err != nil {
		return err
	}
	f.unlisten = append(f.unlisten, un)

	parent, err := document.Get("body")
	if err != nil || parent.Type() != safejs.TypeObject {
		// A script in <head> may run before <body> exists.
		if parent, err = document.Get("documentElement"); err != nil {
			return err
		}
	}
	if _, err := parent.Call("appendChild", f.iframe); err != nil {
		return err
	}
	f.inDocument.Store(true)
	liveFrames.Add(1)

	f.navigated.Store(true)
	return f.iframe.Set("src", url)
}

// message reduces a MessageEvent to what acceptance needs.
func (f *frame) message(ev safejs.Value) platform.Message {
	var m platform.Message
	m.Origin, _ = getString(ev, "origin")
	if src, err := ev.Get("source"); err == nil && src.Type() == safejs.TypeObject {
		cw, err := f.iframe.Get("contentWindow")
		m.FromFrame = err == nil && cw.Type() == safejs.TypeObject && src.Equal(cw)
	}
	data, err := getGuarded(ev, "data")
	if err != nil {
		m.DataProblem = "not readable: " + err.Error()
		return m
	}
	m.Data, m.DataProblem = messageJSON(data)
	return m
}

// messageJSON serialises event.data as JSON, bounded by MaxMessageBytes.
// Messages can be anything another script posts: a cycle, a BigInt, a
// throwing toJSON or megabytes of text, none of which may hurt the SDK.
func messageJSON(data safejs.Value) ([]byte, string) {
	j, err := safejs.Global().Get("JSON")
	if err != nil {
		return nil, "not serialisable: " + err.Error()
	}
	s, err := j.Call("stringify", data)
	if err != nil {
		return nil, "not serialisable: " + err.Error()
	}
	if s.Type() != safejs.TypeString {
		return nil, "not serialisable: JSON has no text for a " + data.Type().String()
	}
	// UTF-8 never takes fewer bytes than UTF-16 code units, so a long JS
	// string is rejected before it is copied into Go.
	if n, err := jsLength(s); err != nil || n > platform.MaxMessageBytes {
		return nil, tooLarge()
	}
	str, err := s.String()
	if err != nil {
		return nil, "not serialisable: " + err.Error()
	}
	if len(str) > platform.MaxMessageBytes {
		return nil, tooLarge()
	}
	return []byte(str), ""
}

// Close removes the listeners and releases the callbacks at once, then
// navigates the iframe to about:blank and removes it when that page has
// loaded. Removing a frame that is still loading can leave Chrome's tab
// spinner turning, so it waits, but never longer than frameRemoveFallback.
func (f *frame) Close() {
	if !f.closed.CompareAndSwap(false, true) {
		return
	}
	for _, un := range f.unlisten {
		un()
	}
	f.unlisten = nil
	f.onMessage.Release()
	f.onLoad.Release()
	if f.inDocument.Load() {
		f.dispose()
	}
}

// dispose blanks the iframe and removes it from the document. The blanking
// waits for the current task to end: a navigation and, once it loads, a
// removal cost the main thread a few milliseconds, which the answer that
// ended the request (and whatever the page does with it) must not wait for.
func (f *frame) dispose() {
	var (
		cleanup, blankLater *Func
		timerID, blankID    safejs.Value
		unlisten            func()
		removed             atomic.Bool
	)
	remove := func() {
		if !removed.CompareAndSwap(false, true) {
			return
		}
		if unlisten != nil {
			unlisten()
		}
		for _, id := range []safejs.Value{timerID, blankID} {
			if id.Type() == safejs.TypeNumber {
				_, _ = f.window.Call("clearTimeout", id)
			}
		}
		cleanup.Release()
		blankLater.Release()
		f.removeNow()
	}
	var err error
	cleanup, err = NewFunc(func(safejs.Value, []safejs.Value) any {
		remove()
		return nil
	})
	if err != nil {
		f.removeNow()
		return
	}
	// The timer is armed before navigating so that a synchronous load
	// (possible for about:blank) finds it and clears it.
	if timerID, err = f.window.Call("setTimeout", cleanup.Value(), frameRemoveFallback.Milliseconds()); err != nil {
		remove()
		return
	}
	if unlisten, err = addListener(f.iframe, "load", cleanup); err != nil {
		remove()
		return
	}
	blankLater, err = NewFunc(func(safejs.Value, []safejs.Value) any {
		if err := f.blank(); err != nil {
			remove()
		}
		return nil
	})
	if err != nil {
		remove()
		return
	}
	if blankID, err = f.window.Call("setTimeout", blankLater.Value(), 0); err != nil {
		remove()
	}
}

// blank navigates the iframe to about:blank with location.replace, which is
// allowed cross-origin and, unlike setting src, adds no history entry that
// the user's Back button would have to step through.
func (f *frame) blank() error {
	cw, err := f.iframe.Get("contentWindow")
	if err == nil && cw.Type() == safejs.TypeObject {
		if loc, err := getGuarded(cw, "location"); err == nil && loc.Type() == safejs.TypeObject {
			if _, err := loc.Call("replace", "about:blank"); err == nil {
				return nil
			}
		}
	}
	if err := f.iframe.Set("src", "about:blank"); err != nil {
		return errors.Join(errors.New("jsbridge: cannot blank iframe"), err)
	}
	return nil
}

func (f *frame) removeNow() {
	if !f.inDocument.CompareAndSwap(true, false) {
		return
	}
	_, _ = f.iframe.Call("remove")
	liveFrames.Add(-1)
	// The JS objects a Go js.Value refers to (this iframe, its window, each
	// message event and its source) stay alive in JS until Go's collector
	// finalises those values, and Go's heap grows too slowly to collect
	// often: without a nudge a removed iframe's window lingers for hundreds
	// of renewals. A collection every few frames bounds that to a few.
	if removedFrames.Add(1)%framesPerGC == 0 {
		go runtime.GC()
	}
}

// framesPerGC is how many removed frames may wait for a Go collection.
const framesPerGC = 4

var removedFrames atomic.Int64

// jsLength is s.length for a JS string; Get and Length only accept objects,
// so the string is boxed with Object(s), which copies nothing.
func jsLength(s safejs.Value) (int, error) {
	boxed, err := safejs.Global().Call("Object", s)
	if err != nil {
		return 0, err
	}
	l, err := boxed.Get("length")
	if err != nil {
		return 0, err
	}
	return l.Int()
}

// tooLarge is why a message over platform.MaxMessageBytes is dropped;
// made only then, so accepted messages pay for no formatting.
func tooLarge() string {
	return fmt.Sprintf("larger than %d bytes", platform.MaxMessageBytes)
}
