//go:build js && wasm

package jsbridge_test

import (
	"testing"
	"time"

	"github.com/silentauth/silentauth/checksession/platform"
	"github.com/silentauth/silentauth/jsbridge"
)

func TestBrowserReadsTheWindowsLocation(t *testing.T) {
	b := newBrowser(t)
	if got, want := b.Origin(), jsString(t, `location.origin`); got != want {
		t.Errorf("Origin() = %q, want %q", got, want)
	}
	if got, want := b.Location(), jsString(t, `location.href`); got != want {
		t.Errorf("Location() = %q, want %q", got, want)
	}
	if b.CrossOriginIsolated() {
		t.Error("CrossOriginIsolated() = true on a page served without COOP/COEP")
	}
}

func TestReplaceLocationRewritesTheAddressBarWithoutLeaving(t *testing.T) {
	b := newBrowser(t)
	before := b.Location()
	length := jsInt(t, `history.length`)
	js(t, `window.__marker = "still here"`)
	defer func() { _ = b.ReplaceLocation(before) }()
	if err := b.ReplaceLocation("/callback?done=1"); err != nil {
		t.Fatal(err)
	}
	if got, want := b.Location(), b.Origin()+"/callback?done=1"; got != want {
		t.Errorf("Location() = %q, want %q", got, want)
	}
	if jsString(t, `window.__marker`) != "still here" || jsInt(t, `history.length`) != length {
		t.Error("ReplaceLocation reloaded the page or added a history entry")
	}
}

func TestReplaceLocationToAnotherOriginIsAnError(t *testing.T) {
	b := newBrowser(t)
	if err := b.ReplaceLocation("https://elsewhere.example/"); err == nil {
		t.Fatal("ReplaceLocation to another origin succeeded")
	}
}

func TestSessionStorage(t *testing.T) {
	s := newBrowser(t).SessionStorage()
	const key = "silentauth.test"
	s.Remove(key)
	if _, ok := s.Get(key); ok {
		t.Fatal("Get found a key that was removed")
	}
	if err := s.Set(key, `{"state":"s"}`); err != nil {
		t.Fatal(err)
	}
	if got, ok := s.Get(key); !ok || got != `{"state":"s"}` {
		t.Errorf("Get = %q, %v; want the stored value", got, ok)
	}
	if got := jsString(t, `sessionStorage.getItem("silentauth.test")`); got != `{"state":"s"}` {
		t.Errorf("window.sessionStorage holds %q", got)
	}
	s.Remove(key)
	if _, ok := s.Get(key); ok {
		t.Error("Get found the key after Remove")
	}
}

func TestSessionStorageThatThrowsReadsAsEmpty(t *testing.T) {
	js(t, `(() => {
		const d = Object.getOwnPropertyDescriptor(window, "sessionStorage");
		window.__restoreStorage = () => Object.defineProperty(window, "sessionStorage", d);
		Object.defineProperty(window, "sessionStorage", { configurable: true, get() { throw new DOMException("denied", "SecurityError"); } });
	})()`)
	defer js(t, `__restoreStorage()`)
	s := newBrowser(t).SessionStorage()
	if _, ok := s.Get("k"); ok {
		t.Error("Get reported a value from a storage that throws")
	}
	if err := s.Set("k", "v"); err == nil {
		t.Error("Set reported success on a storage that throws")
	}
	s.Remove("k") // must not panic
}

func TestWakeFiresOnFocusAndOnlineAndCloseReleasesItsListeners(t *testing.T) {
	funcs := jsbridge.LiveFuncs()
	b := newBrowser(t)
	wake := b.Wake()
	if b.Wake() != wake {
		t.Fatal("Wake returned a second channel")
	}
	for _, ev := range []string{`window.dispatchEvent(new Event("focus"))`, `window.dispatchEvent(new Event("online"))`} {
		js(t, ev)
		select {
		case <-wake:
		case <-time.After(time.Second):
			t.Fatalf("no wake-up after %s", ev)
		}
	}
	b.Close()
	if got := jsbridge.LiveFuncs(); got != funcs {
		t.Errorf("LiveFuncs() = %d after Close, want %d", got, funcs)
	}
	js(t, `window.dispatchEvent(new Event("focus"))`)
	quiet(t, wake, 50*time.Millisecond, "wake-up after Close")
}

func TestComebacksAreOnlineAndVisibleNotFocusAndCloseReleasesThem(t *testing.T) {
	funcs := jsbridge.LiveFuncs()
	b := newBrowser(t)
	back := b.Comebacks()
	if b.Comebacks() != back {
		t.Fatal("Comebacks returned a second channel")
	}
	for _, tc := range []struct {
		event string
		want  platform.Comeback
	}{
		{`window.dispatchEvent(new Event("online"))`, platform.CameOnline},
		{`document.dispatchEvent(new Event("visibilitychange"))`, platform.BecameVisible}, // the test page is visible
	} {
		js(t, tc.event)
		select {
		case k := <-back:
			if k != tc.want {
				t.Fatalf("%s: got %v, want %v", tc.event, k, tc.want)
			}
		case <-time.After(time.Second):
			t.Fatalf("no comeback after %s", tc.event)
		}
	}
	js(t, `window.dispatchEvent(new Event("focus"))`)
	select {
	case k := <-back:
		t.Fatalf("a focus is a comeback (%v)", k)
	case <-time.After(50 * time.Millisecond):
	}
	b.Close()
	if got := jsbridge.LiveFuncs(); got != funcs {
		t.Errorf("LiveFuncs() = %d after Close, want %d", got, funcs)
	}
	js(t, `window.dispatchEvent(new Event("online"))`)
	select {
	case k := <-back:
		t.Fatalf("a comeback after Close (%v)", k)
	case <-time.After(50 * time.Millisecond):
	}
}

func TestOnPageHideRunsInTheEventAndRemovesItsListener(t *testing.T) {
	for _, tc := range []struct {
		name     string
		undo     func(b *jsbridge.Browser, remove func())
		firesAll int // calls after undo and a second pagehide
	}{
		{"remove stops the calls", func(_ *jsbridge.Browser, remove func()) { remove() }, 1},
		{"Close removes what was left", func(b *jsbridge.Browser, _ func()) { b.Close() }, 1},
		{"remove after Close is harmless", func(b *jsbridge.Browser, remove func()) { b.Close(); remove() }, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			funcs := jsbridge.LiveFuncs()
			b := newBrowser(t)
			calls := 0
			remove := b.OnPageHide(func() { calls++ })
			// dispatchEvent runs listeners synchronously: the count moves
			// before it returns, as it must for a page that is going away.
			js(t, `window.dispatchEvent(new Event("pagehide"))`)
			if calls != 1 {
				t.Fatalf("%d calls after pagehide, want 1, inside the event", calls)
			}
			tc.undo(b, remove)
			js(t, `window.dispatchEvent(new Event("pagehide"))`)
			if calls != tc.firesAll {
				t.Errorf("%d calls after the listener was removed, want %d", calls, tc.firesAll)
			}
			b.Close()
			if got := jsbridge.LiveFuncs(); got != funcs {
				t.Errorf("LiveFuncs() = %d, want %d: a callback was not released", got, funcs)
			}
		})
	}
}
