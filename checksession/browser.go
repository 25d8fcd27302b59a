package checksession

import (
	"context"
	"time"
)

// Browser is what the core needs from the page it runs in. Package jsbridge
// implements it on a real browser; tests use a fake. Everything that touches
// the DOM stays behind this interface so that checksession runs on the host.
type Browser interface {
	// Origin is the page's origin, for example "http://localhost:8080".
	Origin() string
	// CrossOriginIsolated reports window.crossOriginIsolated: such a page
	// cannot receive messages from an authorization server's iframe.
	CrossOriginIsolated() bool
	// Fetch sends an HTTP request with the browser's fetch (mode "cors",
	// credentials "omit"). An error means no HTTP answer arrived at all.
	Fetch(ctx context.Context, req HTTPRequest) (*HTTPResponse, error)
	// OpenFrame adds a hidden iframe, registers the handlers, and only then
	// navigates the iframe to url. Handlers run until Frame.Close.
	OpenFrame(url string, h FrameHandler) (Frame, error)

	// Location is location.href.
	Location() string
	// Navigate leaves the page for url (location.assign).
	Navigate(url string) error
	// ReplaceLocation rewrites the address bar without a reload
	// (history.replaceState), to take a response out of it.
	ReplaceLocation(url string) error
	// SessionStorage is window.sessionStorage: where an interactive login's
	// transaction waits for the redirect back, and nowhere else.
	SessionStorage() Storage
}

// Connectivity is optionally implemented by a Browser that can tell whether
// the device is online (navigator.onLine). Without it a request that got no
// answer is reported as a network error rather than as being offline.
type Connectivity interface {
	// Online reports navigator.onLine; true where the browser cannot tell.
	Online() bool
}

// Storage is a string key-value store such as sessionStorage.
type Storage interface {
	Get(key string) (string, bool)
	Set(key, value string) error
	Remove(key string)
}

// FrameHandler receives what happens around one hidden iframe. Handlers may
// be called from the browser's event loop: they must not block.
type FrameHandler struct {
	// OnMessage is called for every "message" event on the window while the
	// frame is open, ours or not; the core decides what to accept.
	OnMessage func(Message)
	// OnLoad is called when the frame's document has loaded. A page that
	// loaded but posted nothing soon after is a misconfiguration signal.
	OnLoad func()
}

// Frame is an open hidden iframe with its listeners.
type Frame interface {
	// Close removes the listeners, releases callbacks and takes the iframe
	// away. It is safe to call more than once.
	Close()
}

// Message is one window "message" event, reduced to what acceptance needs.
type Message struct {
	// Origin is event.origin.
	Origin string
	// FromFrame is event.source === our iframe's contentWindow.
	FromFrame bool
	// Data is event.data serialised as JSON, or nil when it could not be
	// (cyclic, not serialisable, or larger than MaxMessageBytes).
	Data []byte
	// DataProblem says why Data is nil.
	DataProblem string
}

// MaxMessageBytes bounds the JSON of a message the core will look at. Real
// responses are a few kilobytes; anything larger is not ours.
const MaxMessageBytes = 256 << 10

// HTTPRequest is a request for Browser.Fetch.
type HTTPRequest struct {
	Method string
	URL    string
	Header map[string]string
	Body   []byte
}

// HTTPResponse is the answer to a Browser.Fetch.
type HTTPResponse struct {
	Status int
	// Header holds the response headers the core reads, names in lower case
	// ("cache-control"); a cross-origin answer shows only CORS-safelisted ones.
	Header map[string]string
	Body   []byte
}

// Clock is the time source. The browser uses the real one; tests use a fake
// so that no test sleeps.
type Clock interface {
	Now() time.Time
	NewTimer(d time.Duration) Timer
}

// Timer is a one-shot timer from a Clock.
type Timer interface {
	C() <-chan time.Time
	Stop() bool
}

// SystemClock is the real clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// NewTimer starts a real timer.
func (SystemClock) NewTimer(d time.Duration) Timer { return systemTimer{time.NewTimer(d)} }

type systemTimer struct{ t *time.Timer }

func (s systemTimer) C() <-chan time.Time { return s.t.C }
func (s systemTimer) Stop() bool          { return s.t.Stop() }
