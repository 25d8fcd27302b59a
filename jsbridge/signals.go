//go:build js && wasm

package jsbridge

import (
	"sync"

	"github.com/hack-pad/safejs"
	"github.com/silentauth/silentauth/checksession/platform"
)

var (
	_ platform.PageSignals  = (*Browser)(nil)
	_ platform.Connectivity = (*Browser)(nil)
	_ platform.Comebacks    = (*Browser)(nil)
)

// pageSignals holds the listeners behind Browser.Wake and
// Browser.Comebacks, added on first use.
type pageSignals struct {
	mu       sync.Mutex
	wake     chan struct{}
	fn       *Func
	back     chan platform.Comeback
	backFns  []*Func
	unlisten []func()
}

// Comebacks returns a channel that receives when the device came back
// online (the online event) or the page became visible after being hidden
// (visibilitychange): the moments a failure is likely to have passed. The
// listeners stay until Close.
func (b *Browser) Comebacks() <-chan platform.Comeback {
	s := &b.signals
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.back != nil {
		return s.back
	}
	// One pending signal of each kind is enough: each counts once per backoff.
	s.back = make(chan platform.Comeback, 2)
	back := s.back
	send := func(k platform.Comeback) {
		select {
		case back <- k:
		default:
		}
	}
	for _, l := range []struct {
		target safejs.Value
		kind   string
		signal func()
	}{
		{b.window, "online", func() { send(platform.CameOnline) }},
		{b.document, "visibilitychange", func() {
			if !b.Hidden() {
				send(platform.BecameVisible)
			}
		}},
	} {
		fn, err := NewFunc(func(safejs.Value, []safejs.Value) any { l.signal(); return nil })
		if err != nil {
			continue
		}
		s.backFns = append(s.backFns, fn)
		if un, err := addListener(l.target, l.kind, fn); err == nil {
			s.unlisten = append(s.unlisten, un)
		}
	}
	return s.back
}

// Wake returns a channel that receives when the page may have slept or been
// throttled and is back: it became visible, gained focus or went online.
// The listeners stay until Close.
func (b *Browser) Wake() <-chan struct{} {
	s := &b.signals
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.wake != nil {
		return s.wake
	}
	// One pending wake-up is enough: the renewal loop re-checks everything.
	s.wake = make(chan struct{}, 1)
	wake := s.wake
	fn, err := NewFunc(func(safejs.Value, []safejs.Value) any {
		if !b.Hidden() {
			select {
			case wake <- struct{}{}:
			default:
			}
		}
		return nil
	})
	if err != nil {
		return s.wake
	}
	s.fn = fn
	for _, l := range []struct {
		target safejs.Value
		kind   string
	}{{b.document, "visibilitychange"}, {b.window, "focus"}, {b.window, "online"}, {b.window, "pageshow"}} {
		if un, err := addListener(l.target, l.kind, fn); err == nil {
			s.unlisten = append(s.unlisten, un)
		}
	}
	return s.wake
}

// Hidden reports document.visibilityState == "hidden".
func (b *Browser) Hidden() bool {
	s, err := getString(b.document, "visibilityState")
	return err == nil && s == "hidden"
}

// Online reports navigator.onLine; true where the browser cannot tell.
func (b *Browser) Online() bool {
	nav, err := getGuarded(b.window, "navigator")
	if err != nil || nav.Type() != safejs.TypeObject {
		return true
	}
	on, err := getGuarded(nav, "onLine")
	if err != nil || on.Type() != safejs.TypeBoolean {
		return true
	}
	v, err := on.Bool()
	return err != nil || v
}

// Close removes the page listeners Wake and OnPageHide added and releases
// their callbacks,
// and lets go of the locks and channels Lead and Join left open. Frames
// opened through b are closed by their own Close.
func (b *Browser) Close() {
	b.closeTabs()
	b.closePageHide()
	s := &b.signals
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, un := range s.unlisten {
		un()
	}
	s.unlisten = nil
	s.fn.Release()
	s.fn = nil
	for _, fn := range s.backFns {
		fn.Release()
	}
	s.backFns = nil
}
