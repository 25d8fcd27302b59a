//go:build js && wasm

package jsbridge

import (
	"errors"
	"fmt"

	"github.com/hack-pad/safejs"
	"github.com/silentauth/silentauth/checksession/platform"
)

// Browser is platform.Browser (and platform.PageSignals) on the
// page's window. Close it when its client is destroyed.
type Browser struct {
	window   safejs.Value
	document safejs.Value
	signals  pageSignals
	tabs     tabState
	hide     pageHide
}

var _ platform.Browser = (*Browser)(nil)

// NewBrowser binds to the global window. It fails outside a page (a worker
// has no document to put an iframe in).
func NewBrowser() (*Browser, error) {
	g := safejs.Global()
	window, err := g.Get("window")
	if err != nil || window.Type() != safejs.TypeObject {
		return nil, errors.New("jsbridge: no window: silentauth must run in a page, not a worker")
	}
	document, err := window.Get("document")
	if err != nil || document.Type() != safejs.TypeObject {
		return nil, errors.New("jsbridge: no document")
	}
	return &Browser{window: window, document: document}, nil
}

// Origin is location.origin.
func (b *Browser) Origin() string {
	s, _ := b.locationString("origin")
	return s
}

// CrossOriginIsolated is window.crossOriginIsolated.
func (b *Browser) CrossOriginIsolated() bool {
	v, err := b.window.Get("crossOriginIsolated")
	if err != nil {
		return false
	}
	t, _ := v.Truthy()
	return t
}

// Location is location.href.
func (b *Browser) Location() string {
	s, _ := b.locationString("href")
	return s
}

// Navigate is location.assign(url): the page is left, with a history entry
// so Back returns to it.
func (b *Browser) Navigate(url string) error {
	loc, err := b.window.Get("location")
	if err != nil {
		return err
	}
	if _, err := loc.Call("assign", url); err != nil {
		return fmt.Errorf("jsbridge: navigate: %w", err)
	}
	return nil
}

// ReplaceLocation is history.replaceState(history.state, "", url), which
// keeps whatever state the application's router stored.
func (b *Browser) ReplaceLocation(url string) error {
	h, err := b.window.Get("history")
	if err != nil {
		return err
	}
	state, err := h.Get("state")
	if err != nil {
		state = safejs.Null()
	}
	if _, err := h.Call("replaceState", state, "", url); err != nil {
		return fmt.Errorf("jsbridge: replaceState: %w", err)
	}
	return nil
}

// SessionStorage is window.sessionStorage.
func (b *Browser) SessionStorage() platform.Storage {
	return sessionStorage{window: b.window, area: "sessionStorage"}
}

// LocalStorage is window.localStorage: where the signed-in marker lives.
func (b *Browser) LocalStorage() platform.Storage {
	return sessionStorage{window: b.window, area: "localStorage"}
}

func (b *Browser) locationString(prop string) (string, error) {
	loc, err := b.window.Get("location")
	if err != nil {
		return "", err
	}
	return getString(loc, prop)
}

// sessionStorage looks the storage (window[area], sessionStorage or
// localStorage) up on every call: merely reading it throws in sandboxed
// frames and with storage blocked, and that must read as "nothing stored",
// not as a crash.
type sessionStorage struct {
	window safejs.Value
	area   string
}

func (s sessionStorage) store() (safejs.Value, error) {
	st, err := getGuarded(s.window, s.area)
	if err != nil {
		return safejs.Value{}, err
	}
	if st.Type() != safejs.TypeObject {
		return safejs.Value{}, errors.New("jsbridge: " + s.area + " is unavailable")
	}
	return st, nil
}

func (s sessionStorage) Get(key string) (string, bool) {
	st, err := s.store()
	if err != nil {
		return "", false
	}
	v, err := st.Call("getItem", key)
	if err != nil || v.Type() != safejs.TypeString {
		return "", false
	}
	out, err := v.String()
	return out, err == nil
}

func (s sessionStorage) Set(key, value string) error {
	st, err := s.store()
	if err != nil {
		return fmt.Errorf("jsbridge: %s: %w", s.area, err)
	}
	// setItem throws QuotaExceededError when full (and always in some
	// private modes).
	if _, err := st.Call("setItem", key, value); err != nil {
		return fmt.Errorf("jsbridge: %s.setItem: %w", s.area, err)
	}
	return nil
}

func (s sessionStorage) Remove(key string) {
	if st, err := s.store(); err == nil {
		_, _ = st.Call("removeItem", key)
	}
}
