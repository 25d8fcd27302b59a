//go:build js && wasm

package jsbridge_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/silentauth/silentauth/checksession/platform"
	"github.com/silentauth/silentauth/jsbridge"
)

// postingPage is a data: URL whose page posts an authorization response to
// its parent as soon as it runs. data: documents have the opaque origin "null".
const postingPage = `data:text/html,<script>parent.postMessage({type:"authorization_response",response:{state:"s"}},"*")</script>`

func newBrowser(t *testing.T) *jsbridge.Browser {
	t.Helper()
	b, err := jsbridge.NewBrowser()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// baseline records the live counters and checks, when the test ends, that
// they came back: every callback released and every iframe removed. Some
// releases legitimately come a moment later (a promise settling after an
// abort, a closed iframe's about:blank loading), so each is waited for.
func baseline(t *testing.T) {
	t.Helper()
	funcs, frames, iframes := jsbridge.LiveFuncs(), jsbridge.LiveFrames(), iframeCount(t)
	t.Cleanup(func() {
		eventually(t, "iframes removed", func() bool { return iframeCount(t) == iframes })
		eventually(t, "frames counted as gone", func() bool { return jsbridge.LiveFrames() == frames })
		eventually(t, fmt.Sprintf("LiveFuncs() back to %d", funcs), func() bool { return jsbridge.LiveFuncs() == funcs })
	})
}

func messages() (platform.FrameHandler, chan platform.Message, chan struct{}) {
	msgs := make(chan platform.Message, 16)
	loads := make(chan struct{}, 16)
	return platform.FrameHandler{
		OnMessage: func(m platform.Message) { msgs <- m },
		OnLoad:    func() { loads <- struct{}{} },
	}, msgs, loads
}

// quiet fails t if ch delivers within d: what the browser must not do.
func quiet[T any](t *testing.T, ch <-chan T, d time.Duration, what string) {
	t.Helper()
	select {
	case v := <-ch:
		t.Errorf("%s: %v", what, v)
	case <-time.After(d):
	}
}

func next[T any](t *testing.T, ch chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		t.Fatalf("no %s within 5s", what)
		panic("unreachable")
	}
}

func TestOpenFrameAddsExactlyOneHiddenTitledIframe(t *testing.T) {
	before := iframeCount(t)
	openFrame(t, "about:blank#x")
	if got := iframeCount(t); got != before+1 {
		t.Fatalf("iframes = %d, want %d", got, before+1)
	}
	checks := map[string]string{
		`getComputedStyle(document.querySelector("iframe")).display`:       "none",
		`document.querySelector("iframe").title`:                           jsbridge.FrameTitle,
		`String(document.querySelector("iframe").hasAttribute("sandbox"))`: "false",
		`document.querySelector("iframe").getAttribute("src")`:             "about:blank#x",
		// The server gets no Referer: the page's URL may hold a callback's code.
		`document.querySelector("iframe").referrerPolicy`: "no-referrer",
	}
	for expr, want := range checks {
		if got := jsString(t, expr); got != want {
			t.Errorf("%s = %q, want %q", expr, got, want)
		}
	}
}

func TestOpenFrameRegistersListenersBeforeSettingSrc(t *testing.T) {
	baseline(t)
	// Record the order of listener registration, insertion and navigation.
	js(t, `(() => {
		window.__order = [];
		const add = EventTarget.prototype.addEventListener;
		const append = Node.prototype.appendChild;
		const src = Object.getOwnPropertyDescriptor(HTMLIFrameElement.prototype, "src");
		window.__restore = () => {
			EventTarget.prototype.addEventListener = add;
			Node.prototype.appendChild = append;
			Object.defineProperty(HTMLIFrameElement.prototype, "src", src);
		};
		EventTarget.prototype.addEventListener = function (type, ...rest) {
			__order.push((this === window ? "window:" : this.tagName.toLowerCase() + ":") + type);
			return add.call(this, type, ...rest);
		};
		Node.prototype.appendChild = function (child) {
			__order.push("append:" + child.tagName.toLowerCase());
			return append.call(this, child);
		};
		Object.defineProperty(HTMLIFrameElement.prototype, "src", {
			configurable: true, get: src.get,
			set(v) { __order.push("src"); src.set.call(this, v); },
		});
	})()`)
	defer js(t, `__restore()`)

	b := newBrowser(t)
	h, _, _ := messages()
	f := mustOpenFrame(t, b, "about:blank", h)
	got := jsString(t, `__order.join(" ")`)
	f.Close()
	if want := "window:message iframe:load append:iframe src"; got != want {
		t.Fatalf("order = %q, want %q", got, want)
	}
}

func TestMessageFromOurFrameArrivesWithFromFrameAndOpaqueOrigin(t *testing.T) {
	msgs, loads := openFrame(t, postingPage)
	m := next(t, msgs, "message")
	if !m.FromFrame {
		t.Error("FromFrame = false for a message our iframe posted")
	}
	if m.Origin != "null" {
		t.Errorf("Origin = %q, want %q (data: URL)", m.Origin, "null")
	}
	if want := `{"type":"authorization_response","response":{"state":"s"}}`; string(m.Data) != want || m.DataProblem != "" {
		t.Errorf("Data = %s (%q), want %s", m.Data, m.DataProblem, want)
	}
	next(t, loads, "load of the data: page")
}

func TestInitialAboutBlankLoadIsNotReported(t *testing.T) {
	// One navigation must give one OnLoad, although inserting the iframe
	// fires a load of its own for the initial about:blank.
	js(t, `window.__hang = URL.createObjectURL(new Blob(["<p>x</p>"], {type: "text/html"}))`)
	_, loads := openFrame(t, jsString(t, `__hang`))
	next(t, loads, "load")
	quiet(t, loads, 300*time.Millisecond, "two loads reported for one navigation: the initial about:blank load leaked through")
}

func TestMessagePostedByThePageItselfIsNotFromFrame(t *testing.T) {
	msgs, _ := openFrame(t, "about:blank")
	js(t, `window.postMessage({type: "authorization_response"}, "*")`)
	m := next(t, msgs, "message")
	if m.FromFrame {
		t.Error("FromFrame = true for a message the page posted to itself")
	}
	if want := jsString(t, `location.origin`); m.Origin != want {
		t.Errorf("Origin = %q, want %q", m.Origin, want)
	}
}

func TestMessageDataThatCannotBeUsedArrivesAsNilWithAProblem(t *testing.T) {
	msgs, _ := openFrame(t, "about:blank")
	big := platform.MaxMessageBytes
	cases := []struct {
		name, post, problem string
	}{
		{"BigInt", `10n`, "not serialisable: "},
		{"cyclic object", `(() => { const o = {type: "authorization_response"}; o.self = o; return o })()`, "not serialisable: "},
		{"undefined", `undefined`, "not serialisable: "},
		{"string longer than the limit", fmt.Sprintf(`"x".repeat(%d)`, big), fmt.Sprintf("larger than %d bytes", big)},
		{"object whose JSON is over the limit", fmt.Sprintf(`({s: "x".repeat(%d)})`, big-5), fmt.Sprintf("larger than %d bytes", big)},
		{"multi-byte text over the limit in UTF-8 only", fmt.Sprintf(`"é".repeat(%d)`, big/2+1), fmt.Sprintf("larger than %d bytes", big)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			js(t, `window.postMessage(`+c.post+`, "*")`)
			m := next(t, msgs, "message")
			if m.Data != nil {
				t.Errorf("Data = %.40q..., want nil", m.Data)
			}
			if !strings.HasPrefix(m.DataProblem, c.problem) {
				t.Errorf("DataProblem = %q, want prefix %q", m.DataProblem, c.problem)
			}
		})
	}
	t.Run("a string at the limit is kept", func(t *testing.T) {
		js(t, fmt.Sprintf(`window.postMessage("x".repeat(%d), "*")`, big-2)) // quotes make it big bytes
		m := next(t, msgs, "message")
		if len(m.Data) != big || m.DataProblem != "" {
			t.Errorf("len(Data) = %d, problem %q; want %d and none", len(m.Data), m.DataProblem, big)
		}
	})
}

func TestCloseRemovesIframeListenersAndCallbacks(t *testing.T) {
	funcs, frames := jsbridge.LiveFuncs(), jsbridge.LiveFrames()
	b := newBrowser(t)
	h, msgs, _ := messages()
	f := mustOpenFrame(t, b, postingPage, h)
	next(t, msgs, "message")
	if jsbridge.LiveFrames() != frames+1 || jsbridge.LiveFuncs() <= funcs {
		t.Fatalf("open frame not counted: frames %d funcs %d", jsbridge.LiveFrames(), jsbridge.LiveFuncs())
	}
	f.Close()
	f.Close() // idempotent
	eventually(t, "iframe removed", func() bool { return iframeCount(t) == 0 })
	eventually(t, "LiveFrames back", func() bool { return jsbridge.LiveFrames() == frames })
	if got := jsbridge.LiveFuncs(); got != funcs {
		t.Errorf("LiveFuncs() = %d, want %d", got, funcs)
	}
	js(t, `window.postMessage("after close", "*")`)
	quiet(t, msgs, 100*time.Millisecond, "message delivered after Close")
}

func TestCloseRemovesAFrameThatIsStillLoading(t *testing.T) {
	baseline(t)
	b := newBrowser(t)
	h, _, _ := messages()
	// Port 1 is refused, so the frame never shows a page of its own.
	f := mustOpenFrame(t, b, "http://127.0.0.1:1/authorize", h)
	f.Close()
}

func TestFiftyOpenCloseCyclesLeakNothing(t *testing.T) {
	baseline(t)
	b := newBrowser(t)
	for i := 0; i < 50; i++ {
		h, msgs, _ := messages()
		f, err := b.OpenFrame(postingPage, h)
		if err != nil {
			t.Fatal(err)
		}
		if i%10 == 0 {
			// Some cycles see their message, others close before it arrives.
			next(t, msgs, "message")
		}
		f.Close()
	}
}

// openFrame opens a frame at url on a new browser for the rest of the test,
// which checks at its end that the frame left nothing behind (baseline).
func openFrame(t *testing.T, url string) (msgs chan platform.Message, loads chan struct{}) {
	t.Helper()
	baseline(t)
	h, msgs, loads := messages()
	t.Cleanup(mustOpenFrame(t, newBrowser(t), url, h).Close)
	return msgs, loads
}

// mustOpenFrame is b.OpenFrame, failing the test when the frame cannot be added.
func mustOpenFrame(t *testing.T, b platform.Browser, url string, h platform.FrameHandler) platform.Frame {
	t.Helper()
	f, err := b.OpenFrame(url, h)
	if err != nil {
		t.Fatal(err)
	}
	return f
}
