//go:build js && wasm

package jsbridge

import (
	"sync"

	"github.com/hack-pad/safejs"
	"github.com/silentauth/silentauth/checksession/platform"
)

var _ platform.PageLifecycle = (*Browser)(nil)

// pageHide holds the pagehide listeners OnPageHide added, so that Close can
// remove those their owners did not.
type pageHide struct {
	mu      sync.Mutex
	next    int
	removes map[int]func()
}

// OnPageHide runs fn when the page goes away (closed, navigated, or put in
// the back-forward cache). fn runs inside the event, synchronously: the page
// may be gone once the event returns, so a hand-over must be posted there
// and then. The returned function removes the listener and releases its
// callback; Close does the same for any left.
func (b *Browser) OnPageHide(fn func()) (remove func()) {
	h := &b.hide
	cb, err := NewFunc(func(safejs.Value, []safejs.Value) any {
		fn()
		return nil
	})
	if err != nil {
		return func() {}
	}
	unlisten, err := addListener(b.window, "pagehide", cb)
	if err != nil {
		cb.Release()
		return func() {}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.removes == nil {
		h.removes = map[int]func(){}
	}
	id := h.next
	h.next++
	var once sync.Once
	undo := func() {
		once.Do(func() {
			unlisten()
			cb.Release()
		})
	}
	h.removes[id] = undo
	return func() {
		h.mu.Lock()
		delete(h.removes, id)
		h.mu.Unlock()
		undo()
	}
}

// closePageHide removes every pagehide listener still registered.
func (b *Browser) closePageHide() {
	h := &b.hide
	h.mu.Lock()
	removes := h.removes
	h.removes = nil
	h.mu.Unlock()
	for _, undo := range removes {
		undo()
	}
}
