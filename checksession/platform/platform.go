// Package platform is the contract between silentauth's engine and the
// page it runs in: the interfaces package checksession calls, which package
// jsbridge implements in a real browser and checksession's tests fake on
// the host, and the clock. Browser is what every engine needs; the other
// interfaces are optional, and the engine type-asserts a Browser for each
// (Connectivity, PageSignals, TabCoordinator, SecretStore, ...) and goes
// without what it lacks.
//
// It declares what the engine needs, not what the browser offers, and
// holds no behaviour but the real clock.
package platform

import (
	"context"
	"time"
)

// Browser is what every engine needs from the page it runs in. Package
// jsbridge implements it on a real browser; checksession's tests fake it.
// Everything that touches the DOM stays behind it, so that checksession
// runs on the host.
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

// HTTPRequest is a request for Browser.Fetch.
type HTTPRequest struct {
	Method string
	URL    string
	Header map[string]string
	Body   []byte
}

// IsFormPost reports whether r is a POST whose only header is the form's
// Content-Type, with a body: the shape of a code exchange the page's head
// start may have sent early (a DPoP proof or any other header means
// another request).
func (r HTTPRequest) IsFormPost() bool {
	return r.Method == "POST" && len(r.Header) == 1 &&
		r.Header["Content-Type"] == "application/x-www-form-urlencoded" && r.Body != nil
}

// ResponseHeaders are the response headers the engine reads, names in
// lower case: a Browser's Fetch fills HTTPResponse.Header with these.
// Cross-origin answers show only CORS-safelisted ones (cache-control is
// one of them) and those the server lists in Access-Control-Expose-Headers
// (a DPoP server exposes DPoP-Nonce; retry-after needs the same).
func ResponseHeaders() []string {
	return []string{"cache-control", "content-type", "expires", "dpop-nonce", "retry-after"}
}

// HTTPResponse is the answer to a Browser.Fetch.
type HTTPResponse struct {
	Status int
	// Header holds the response headers the core reads, names in lower case
	// ("cache-control"); a cross-origin answer shows only CORS-safelisted ones.
	Header map[string]string
	Body   []byte
	// Early: the page's head start sent this very request while the
	// engine booted, and this is its answer (a debug line says so). Sent
	// is when it left; zero when unknown.
	Early bool
	Sent  time.Time
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

// Storage is a string key-value store such as sessionStorage.
type Storage interface {
	Get(key string) (string, bool)
	Set(key, value string) error
	Remove(key string)
}
