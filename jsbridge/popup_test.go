//go:build js && wasm

package jsbridge_test

import (
	"testing"
	"time"

	"github.com/silentauth/silentauth/checksession/platform"
	"github.com/silentauth/silentauth/jsbridge"
)

// popupWindow is the popup OpenPopup opened, found again by its name (the
// test page may open windows: wasmbrowsertest's browser blocks no popups).
const popupWindow = `window.open("", "` + jsbridge.PopupName + `")`

func TestPopupListensToItsWindowOnlyAndClosesOnClose(t *testing.T) {
	baseline(t)
	b := newBrowser(t)
	h, msgs, _ := messages()
	p, err := b.OpenPopup(h)
	if err != nil {
		t.Fatalf("OpenPopup: %v", err)
	}
	if p.Closed() {
		t.Fatal("the popup reads closed right after opening")
	}
	if err := p.Navigate("about:blank#navigated"); err != nil {
		t.Fatalf("Navigate: %v", err)
	}
	eventually(t, "the popup to navigate", func() bool {
		return jsString(t, popupWindow+`.location.hash`) == "#navigated"
	})

	// From the popup: FromFrame. From the page itself: not.
	// Posted by a script of the popup's own realm: event.source is the
	// window whose script called postMessage.
	js(t, popupWindow+`.eval('opener.postMessage({type: "authorization_response", response: {state: "s"}}, "*")')`)
	select {
	case m := <-msgs:
		if !m.FromFrame || m.Origin != jsString(t, "location.origin") || len(m.Data) == 0 {
			t.Errorf("the popup's message arrived as %+v", m)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the popup's message did not arrive")
	}
	js(t, `window.postMessage({type: "authorization_response"}, "*")`)
	select {
	case m := <-msgs:
		if m.FromFrame {
			t.Errorf("the page's own message counted as the popup's: %+v", m)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the page's message did not arrive")
	}

	w := js(t, popupWindow)
	p.Close()
	p.Close() // twice is fine
	eventually(t, "the window to close", func() bool { c, _ := w.Get("closed"); ok, _ := c.Truthy(); return ok })
	if !p.Closed() {
		t.Error("Closed() is false after Close")
	}
	js(t, `window.postMessage({type: "authorization_response"}, "*")`)
	quiet(t, msgs, 200*time.Millisecond, "a message reached a closed popup's handler")
}

func TestPopupClosedByItsUserReadsClosed(t *testing.T) {
	baseline(t)
	b := newBrowser(t)
	p, err := b.OpenPopup(platform.FrameHandler{OnMessage: func(platform.Message) {}})
	if err != nil {
		t.Fatalf("OpenPopup: %v", err)
	}
	defer p.Close()
	js(t, popupWindow+`.close()`)
	eventually(t, "Closed() after the window closed", p.Closed)
}
