// Package hub is the engine side of silentauth's SharedWorker placement:
// one Go runtime in a SharedWorker serves every connected page. Pages speak
// to it over a MessagePort in JSON text messages (this file); the hub runs
// the checksession clients and hands each page only what needs a document:
// the hidden iframe, redirects and page signals. Plain Go, tested on the
// host; wasm/worker.go wires it to the worker's ports.
package hub

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/silentauth/silentauth/checksession/platform"
)

// Version is the protocol version. A page of another version is ignored
// message by message (its hello is answered with this version so that its
// loader can say why), never half understood.
const Version = 1

// maxMessageBytes bounds one page message. A frame message carries an
// authorization response of a few kilobytes, bounded again by
// platform.MaxMessageBytes; anything larger is not a page of ours.
const maxMessageBytes = 512 << 10

// The message types a page sends ("t").
const (
	// hello{visible}: the first message of a page.
	inHello = "hello"
	// create{id, options, markerKey?, marker?}: a client for these options,
	// answered by reply{value: {client}}; pages with the same options share
	// one client. markerKey is the signed-in marker's localStorage key as
	// the page's loader builds it, and marker its value there (absent: none).
	// head{url, state, nonce, codeVerifier, exchange?} is the first silent
	// request the page started while the engine booted (its iframe loads
	// url); a new engine may adopt it, as the page's engine adopts the
	// loader's. exchange: the page sends its code exchange early and gives
	// it when asked (takeExchange); a page without it is never asked.
	inCreate = "create"
	// call{id, client, method, params?, url?, storage?, popup?}: a client
	// method, answered by reply{value?, user?} or reply{error}; popup, the
	// page's number for the window it opened, comes with loginWithPopup.
	inCall = "call"
	// release{client}: the page's client was destroyed.
	inRelease = "release"
	// frame{frame, kind: "message"|"load", origin?, fromFrame?, data?, problem?}:
	// what happened around an iframe the engine asked the page to open.
	inFrame = "frame"
	// signal{visible, wake}: visibility changed; wake when the page became
	// visible, gained focus or went online.
	inSignal = "signal"
	// bye: the page goes away (pagehide); its frames move elsewhere.
	inBye = "bye"
	// stats{id}: silentauth.stats() of the engine, answered by reply{value}.
	inStats = "stats"
	// popup{popup, kind: "message"|"closed", origin?, data?, problem?}: what
	// happened to the window of the page's loginWithPopup call. The page
	// passes only messages from that window, from the server's origin, of
	// type authorization_response; the engine checks them again.
	inPopup = "popup"
	// exchange{xid, status, headers, body, sentAt?} | exchange{xid, none: true} |
	// exchange{xid, problem}: the answer to takeExchange: the response to
	// the code exchange the page's head start sent early (headers only
	// platform.ResponseHeaders, the body as text), none when it holds no such
	// exchange, or problem when its request got no answer.
	inExchange = "exchange"
)

// The message types the engine sends.
const (
	outWelcome  = "welcome" // {v}
	outReply    = "reply"   // {id, value?, user?, error?}
	outEvent    = "event"   // {client, name, payload, user}
	outOpen     = "openFrame"
	outClose    = "closeFrame"
	outNavigate = "navigate"
	outReplace  = "replaceLocation"
	outStorage  = "storage" // {key, value|null}
	outLog      = "log"     // {level: "debug"|"warn", line}
	// {key, value|null}: write the signed-in marker to the page's
	// localStorage (null removes it); the worker has no localStorage.
	outMarker = "marker"
	// {}: remove the head start's iframe, nothing takes it.
	outDropHead = "dropHead"
	// {frame, url}: the head start's iframe is now frame (its events are
	// sent as that frame's); a page whose iframe is gone opens url instead.
	outAdoptFrame = "adoptFrame"
	// {popup, url}: send the calling page's popup to the authorize URL.
	outNavigatePopup = "navigatePopup"
	// {popup}: close it and stop listening to it.
	outClosePopup = "closePopup"
	// {xid, url, body}: the head start's page is asked for the code
	// exchange it sent early, if it is this POST; answered by exchange.
	outTakeExchange = "takeExchange"
)

// pageMessage is one page message, checked for shape: every field a type
// needs is present with its JSON type, or parse refuses the message.
type pageMessage struct {
	Type    string
	ID      int64
	Client  string
	Method  string
	Options map[string]any
	Params  map[string]any
	URL     string
	Storage map[string]string
	Popup   int64
	// The signed-in marker as the page sees it (create).
	MarkerKey string
	Marker    string
	HasMarker bool
	// The page's head start (create); nil for none. HeadExchanges: the
	// page holds the code exchange it sends early for takeExchange.
	Head          *platform.PrestartedRequest
	HeadExchanges bool

	Frame     int64
	Kind      string
	Origin    string
	FromFrame bool
	Data      []byte // the message's data as JSON, nil when Problem says why
	Problem   string

	Visible bool
	Wake    bool

	// The page's answer to takeExchange: Answer, or None, or Problem.
	XID    int64
	None   bool
	Answer *platform.HTTPResponse
}

// errIgnored is a message the engine does not act on: another version, an
// unknown type, or a shape that does not fit. The hub logs it under debug.
type errIgnored struct{ why string }

func (e errIgnored) Error() string { return "ignored page message: " + e.why }

// parse reads one page message. Unknown types and other versions are
// errIgnored, as is any message whose fields do not have their types.
func parse(text []byte) (pageMessage, error) {
	var m pageMessage
	if len(text) > maxMessageBytes {
		return m, errIgnored{fmt.Sprintf("%d bytes, more than %d", len(text), maxMessageBytes)}
	}
	var raw map[string]any
	if err := json.Unmarshal(text, &raw); err != nil {
		return m, errIgnored{"not a JSON object"}
	}
	r := fields{raw: raw}
	if v, ok := raw["v"].(float64); !ok || v != Version {
		return m, errIgnored{fmt.Sprintf("protocol version %v, expected %d", raw["v"], Version)}
	}
	m.Type = r.str("t", true)
	switch m.Type {
	case inHello:
		m.Visible = r.boolean("visible", true)
	case inCreate:
		m.ID = r.id("id")
		m.Options = r.object("options", true)
		m.MarkerKey = r.str("markerKey", false)
		if m.MarkerKey != "" && !strings.HasPrefix(m.MarkerKey, platform.MarkerPrefix) {
			r.bad("markerKey")
		}
		_, m.HasMarker = raw["marker"]
		m.Marker = r.str("marker", false)
		if head := r.object("head", false); head != nil {
			hr := fields{raw: head}
			m.Head = &platform.PrestartedRequest{URL: hr.str("url", true), State: hr.str("state", true),
				Nonce: hr.str("nonce", true), CodeVerifier: hr.str("codeVerifier", false)}
			m.HeadExchanges = hr.boolean("exchange", false)
			if hr.problem != "" {
				r.bad("head")
			}
		}
	case inCall:
		m.ID = r.id("id")
		m.Client = r.str("client", true)
		m.Method = r.str("method", true)
		m.Params = r.object("params", false)
		m.URL = r.str("url", false)
		for k, v := range r.object("storage", false) {
			s, ok := v.(string)
			if !ok {
				r.bad("storage." + k)
				continue
			}
			if m.Storage == nil {
				m.Storage = map[string]string{}
			}
			m.Storage[k] = s
		}
		if _, present := raw["popup"]; present || m.Method == "loginWithPopup" {
			m.Popup = r.id("popup")
		}
	case inRelease:
		m.Client = r.str("client", true)
	case inFrame:
		m.Frame = r.id("frame")
		m.Kind = r.str("kind", true)
		switch m.Kind {
		case "load":
		case "message":
			m.FromFrame = r.boolean("fromFrame", true)
			r.message(&m)
		default:
			r.bad("kind")
		}
	case inPopup:
		m.Popup = r.id("popup")
		m.Kind = r.str("kind", true)
		switch m.Kind {
		case "closed":
		case "message":
			r.message(&m)
		default:
			r.bad("kind")
		}
	case inSignal:
		m.Visible = r.boolean("visible", true)
		m.Wake = r.boolean("wake", false)
	case inBye:
	case inStats:
		m.ID = r.id("id")
	case inExchange:
		m.XID = r.id("xid")
		m.None = r.boolean("none", false)
		m.Problem = r.str("problem", false)
		if !m.None && m.Problem == "" {
			m.Answer = r.response()
		}
	default:
		return m, errIgnored{fmt.Sprintf("unknown type %q", m.Type)}
	}
	if r.problem != "" {
		return m, errIgnored{fmt.Sprintf("%s message: %s", m.Type, r.problem)}
	}
	return m, nil
}

// message reads a window message's origin and its data (JSON text) or the
// problem that kept the page from serialising it.
func (f *fields) message(m *pageMessage) {
	m.Origin = f.str("origin", true)
	if d := f.str("data", false); d != "" {
		m.Data = []byte(d)
	}
	m.Problem = f.str("problem", false)
	if m.Data == nil && m.Problem == "" {
		f.bad("data")
	}
}

// response reads an HTTP answer: a status, the headers the engine reads
// (any other is refused) and the body as text.
func (f *fields) response() *platform.HTTPResponse {
	status, ok := f.raw["status"].(float64)
	if !ok || status < 100 || status > 599 || status != float64(int(status)) {
		f.bad("status")
	}
	body, ok := f.raw["body"].(string)
	if !ok {
		f.bad("body")
	}
	header := map[string]string{}
	for k, v := range f.object("headers", true) {
		s, ok := v.(string)
		if !ok || !slices.Contains(platform.ResponseHeaders(), k) {
			f.bad("headers." + k)
			continue
		}
		header[k] = s
	}
	r := &platform.HTTPResponse{Status: int(status), Header: header, Body: []byte(body), Early: true}
	// When the page's request left (ms since the epoch): the tokens'
	// lifetime counts from then. Absent or malformed, the engine counts
	// from its own request's time, as for any answer.
	if ms, ok := f.raw["sentAt"].(float64); ok && ms > 0 && ms == float64(int64(ms)) {
		r.Sent = time.UnixMilli(int64(ms))
	}
	return r
}

// fields reads typed fields of a decoded message, keeping the first problem.
type fields struct {
	raw     map[string]any
	problem string
}

func (f *fields) bad(key string) {
	if f.problem == "" {
		f.problem = fmt.Sprintf("field %q is missing or of the wrong type", key)
	}
}

func (f *fields) str(key string, required bool) string {
	v, present := f.raw[key]
	s, ok := v.(string)
	if (present && !ok) || (required && (!ok || s == "")) {
		f.bad(key)
	}
	return s
}

func (f *fields) boolean(key string, required bool) bool {
	v, present := f.raw[key]
	b, ok := v.(bool)
	if (present && !ok) || (required && !ok) {
		f.bad(key)
	}
	return b
}

// id is a positive integer that fits a JS number exactly.
func (f *fields) id(key string) int64 {
	v, ok := f.raw[key].(float64)
	if !ok || v < 1 || v > 1<<53 || v != float64(int64(v)) {
		f.bad(key)
		return 0
	}
	return int64(v)
}

func (f *fields) object(key string, required bool) map[string]any {
	v, present := f.raw[key]
	if !present || v == nil {
		if required {
			f.bad(key)
		}
		return nil
	}
	o, ok := v.(map[string]any)
	if !ok {
		f.bad(key)
	}
	return o
}
