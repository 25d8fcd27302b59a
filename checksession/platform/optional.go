package platform

import "context"

// The optional interfaces: the engine type-asserts its Browser for each
// and does without what the browser lacks.

// Connectivity is optionally implemented by a Browser that can tell whether
// the device is online (navigator.onLine). Without it a request that got no
// answer is reported as a network error rather than as being offline.
type Connectivity interface {
	// Online reports navigator.onLine; true where the browser cannot tell.
	Online() bool
}

// PageSignals is optionally implemented by a Browser that can tell when the
// page may have slept or come back (visibilitychange, focus, online) and
// whether it is visible. Without it renewal relies on its timers.
type PageSignals interface {
	// Wake returns a channel that receives when the page becomes visible,
	// gains focus or goes online.
	Wake() <-chan struct{}
	// Hidden reports document.visibilityState == "hidden".
	Hidden() bool
}

// Comebacks is optionally implemented by a Browser that tells when the
// device came back online (the online event) or the page became visible
// after being hidden (visibilitychange). Focus is not one: it comes too
// often to be worth a request.
type Comebacks interface {
	Comebacks() <-chan Comeback
}

// Comeback is a moment when a failure is likely to have passed: the
// device came back online, or the page became visible after being hidden.
// Each may bring one attempt of a backoff forward, once per backoff.
type Comeback int

// The comebacks.
const (
	CameOnline    Comeback = iota // the online event
	BecameVisible                 // visibilitychange to visible
)

// String is the comeback's name in log lines: "online" or "visible".
func (k Comeback) String() string {
	if k == CameOnline {
		return "online"
	}
	return "visible"
}

// PageLifecycle is optionally implemented by a Browser that can tell when
// the page goes away (pagehide: closed, navigated, or put in the
// back-forward cache). fn runs inside the browser's event and must not wait.
type PageLifecycle interface {
	OnPageHide(fn func()) (remove func())
}

// LocalStorage is optionally implemented by a Browser whose page has a
// storage shared by its origin's tabs that outlives the page
// (window.localStorage). Without it there is no signed-in marker.
type LocalStorage interface {
	LocalStorage() Storage
}

// TabCoordinator is optionally implemented by a Browser whose tabs of one
// origin can take turns (Web Locks) and share what they get
// (BroadcastChannel). Without it every tab renews on its own.
type TabCoordinator interface {
	// Lead asks for the exclusive lock called name and calls onLead once
	// this tab holds it. The lock is held until release is called or the
	// tab goes away; release before the grant withdraws the request.
	Lead(name string, onLead func()) (release func(), err error)
	// Join opens the broadcast channel called name; onMessage receives what
	// other tabs post (never this tab's own posts).
	Join(name string, onMessage func([]byte)) (Channel, error)
}

// Channel is an open broadcast channel.
type Channel interface {
	Post(data []byte) error
	Close()
}

// RefreshCustody is optionally implemented by a Browser whose engine keeps
// its refresh token to itself: the engine in a SharedWorker, which every
// tab of the origin reaches through the API, never through a channel. Such
// an engine still takes turns with the other engines of its configuration
// (another version's worker after a deploy, a tab with the in-page engine)
// and shares verified results with them, but it never asks for the
// group's refresh token, never hands its own over, and ignores the
// hand-overs other tabs post. Its token is then its own family, which no
// other engine presents; with refreshTokenStorage "local" the stored token
// is shared, and it is re-read under the group's lock (Reload) before each
// grant.
type RefreshCustody interface {
	KeepsRefreshToken() bool
}

// SecretStore keeps one secret per key across page loads. A Browser may
// implement it (jsbridge keeps the secret AES-GCM-encrypted in localStorage
// under a non-extractable key in IndexedDB); the engine type-asserts the
// Browser for it when refreshTokenStorage is "local". Its methods may wait
// on the browser: call them from a goroutine, never from a JS callback.
type SecretStore interface {
	// Load returns the secret saved under key; ok is false when there is
	// none. A secret that cannot be decrypted is an error, not a miss.
	Load(ctx context.Context, key string) (secret string, ok bool, err error)
	Save(ctx context.Context, key, secret string) error
	Delete(ctx context.Context, key string) error
}

// DPoPKeys is what a Browser offers to keep DPoP keys: jsbridge makes an
// ES256 key pair with WebCrypto, its private key non-extractable, and keeps
// it in IndexedDB. The engine type-asserts the Browser for it when
// checksession's Options.UseDPoP is set. Its methods may wait on the
// browser: call them from a goroutine.
type DPoPKeys interface {
	// DPoPKey returns the key pair stored as name, making and storing one
	// when there is none; made reports that a new one was made.
	DPoPKey(ctx context.Context, name string) (key DPoPKey, made bool, err error)
	// DeleteDPoPKey removes the key pair stored as name, if any.
	DeleteDPoPKey(ctx context.Context, name string) error
}

// DPoPKey is one P-256 key pair whose private half stays in the browser.
type DPoPKey interface {
	// PublicJWK returns the public key's coordinates, base64url without
	// padding, as an EC JWK's x and y members.
	PublicJWK() (x, y string)
	// Sign signs data with ECDSA P-256 and SHA-256 and returns the
	// signature as r‖s, 64 bytes (WebCrypto's format, and JWS's).
	Sign(ctx context.Context, data []byte) ([]byte, error)
}

// PopupOpener is implemented by a Browser that can open popup windows
// (jsbridge's does); LoginWithPopup needs it.
type PopupOpener interface {
	// OpenPopup opens an empty popup window at once (browsers allow
	// window.open only while a user gesture's handler runs) and registers h
	// for the opener's "message" events; Message.FromFrame means
	// event.source is that popup. A browser that refuses to open it
	// returns an error with checksession.ErrPopupBlocked's code.
	OpenPopup(h FrameHandler) (Popup, error)
}

// Popup is an open popup window with the opener's message listener.
type Popup interface {
	// Navigate sends the popup to url.
	Navigate(url string) error
	// Closed reports popup.closed.
	Closed() bool
	// Close removes the listener, releases callbacks and closes the
	// window. It is safe to call more than once.
	Close()
}

// Prestarter is what a Browser offers when its page prestarted the first
// silent request.
type Prestarter interface {
	// TakePrestarted hands the prestarted request over once; nil when there
	// is none, it was taken, or ctx ended first.
	TakePrestarted(ctx context.Context) *PrestartedRequest
	// SettlePrestarted says what became of the request TakePrestarted
	// handed over: adopted, the next OpenFrame(url) attaches to its iframe
	// (delivering first what arrived before); otherwise its iframe and
	// listeners are removed.
	SettlePrestarted(adopt bool, url string)
}

// PrestartedRequest is the first silent request as the page started it while
// the runtime was still booting: its iframe already loads URL. The loader
// knows only the options, so Go adopts it only when the request it would
// have made itself is the same one with these secrets.
type PrestartedRequest struct {
	URL          string // the authorize URL the iframe was navigated to
	State        string
	Nonce        string
	CodeVerifier string // "" unless response_type is code
}

// MarkerPrefix starts the localStorage key of every signed-in marker, the
// only keys the engine writes through LocalStorage. The JS loader
// (wasm/loader/prestart.js, markerKey) builds the same keys, and a page
// side that keeps the marker for an engine in a worker accepts no others.
const MarkerPrefix = "silentauth.signedin:"
