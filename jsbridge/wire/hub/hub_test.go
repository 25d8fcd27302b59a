package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/silentauth/silentauth/checksession"
	"github.com/silentauth/silentauth/checksession/platform"
)

func TestParseChecksShapeAndIgnoresWhatItDoesNotKnow(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		wantErr string // "" when the message is accepted
	}{
		{"hello", `{"v":1,"t":"hello","visible":true}`, ""},
		{"create", `{"v":1,"t":"create","id":1,"options":{"domain":"x"}}`, ""},
		{"call with params and storage", `{"v":1,"t":"call","id":2,"client":"c1","method":"checkSession","params":{},"storage":{"k":"v"}}`, ""},
		{"frame message", `{"v":1,"t":"frame","frame":3,"kind":"message","origin":"https://op","fromFrame":true,"data":"{}"}`, ""},
		{"frame message that could not be serialised", `{"v":1,"t":"frame","frame":3,"kind":"message","origin":"https://op","fromFrame":false,"problem":"cyclic"}`, ""},
		{"frame load", `{"v":1,"t":"frame","frame":3,"kind":"load"}`, ""},
		{"bye", `{"v":1,"t":"bye"}`, ""},
		{"create with the signed-in marker", `{"v":1,"t":"create","id":1,"options":{},"markerKey":"silentauth.signedin:spa@https://op","marker":"1"}`, ""},
		{"create with a marker key that is not one", `{"v":1,"t":"create","id":1,"options":{},"markerKey":"silentauth.tx.x"}`, `field "markerKey"`},
		{"create with a head start", `{"v":1,"t":"create","id":1,"options":{},"head":{"url":"https://op/a","state":"s","nonce":"n","codeVerifier":"v"}}`, ""},
		{"create with a head start that exchanges early", `{"v":1,"t":"create","id":1,"options":{},"head":{"url":"https://op/a","state":"s","nonce":"n","exchange":true}}`, ""},
		{"create with a head start whose exchange is not a boolean", `{"v":1,"t":"create","id":1,"options":{},"head":{"url":"https://op/a","state":"s","nonce":"n","exchange":"yes"}}`, `field "head"`},
		{"create with a head start without its state", `{"v":1,"t":"create","id":1,"options":{},"head":{"url":"https://op/a","nonce":"n"}}`, `field "head"`},
		{"create with a marker that is not text", `{"v":1,"t":"create","id":1,"options":{},"markerKey":"silentauth.signedin:x","marker":1}`, `field "marker"`},
		{"stats", `{"v":1,"t":"stats","id":4}`, ""},
		{"stats without an id", `{"v":1,"t":"stats"}`, `field "id"`},
		{"another version", `{"v":2,"t":"hello","visible":true}`, "protocol version 2, expected 1"},
		{"no version", `{"t":"hello","visible":true}`, "protocol version"},
		{"unknown type", `{"v":1,"t":"teleport"}`, `unknown type "teleport"`},
		{"not an object", `[1,2]`, "not a JSON object"},
		{"id as a string", `{"v":1,"t":"create","id":"1","options":{}}`, `field "id"`},
		{"fractional id", `{"v":1,"t":"create","id":1.5,"options":{}}`, `field "id"`},
		{"options not an object", `{"v":1,"t":"create","id":1,"options":"x"}`, `field "options"`},
		{"call without a method", `{"v":1,"t":"call","id":2,"client":"c1"}`, `field "method"`},
		{"storage value not a string", `{"v":1,"t":"call","id":2,"client":"c1","method":"logout","storage":{"k":1}}`, `field "storage.k"`},
		{"frame message without data or problem", `{"v":1,"t":"frame","frame":3,"kind":"message","origin":"https://op","fromFrame":true}`, `field "data"`},
		{"frame of an unknown kind", `{"v":1,"t":"frame","frame":3,"kind":"resize"}`, `field "kind"`},
		{"fromFrame as a string", `{"v":1,"t":"frame","frame":3,"kind":"message","origin":"o","fromFrame":"true","data":"{}"}`, `field "fromFrame"`},
		{"call of loginWithPopup with its window", `{"v":1,"t":"call","id":2,"client":"c1","method":"loginWithPopup","popup":1}`, ""},
		{"loginWithPopup without its window", `{"v":1,"t":"call","id":2,"client":"c1","method":"loginWithPopup"}`, `field "popup"`},
		{"popup number as a string", `{"v":1,"t":"call","id":2,"client":"c1","method":"loginWithPopup","popup":"1"}`, `field "popup"`},
		{"popup message", `{"v":1,"t":"popup","popup":1,"kind":"message","origin":"https://op","data":"{}"}`, ""},
		{"popup message that could not be serialised", `{"v":1,"t":"popup","popup":1,"kind":"message","origin":"https://op","problem":"cyclic"}`, ""},
		{"popup closed", `{"v":1,"t":"popup","popup":1,"kind":"closed"}`, ""},
		{"popup event without its number", `{"v":1,"t":"popup","kind":"closed"}`, `field "popup"`},
		{"popup of an unknown kind", `{"v":1,"t":"popup","popup":1,"kind":"moved"}`, `field "kind"`},
		{"popup message without an origin", `{"v":1,"t":"popup","popup":1,"kind":"message","data":"{}"}`, `field "origin"`},
		{"popup message without data or problem", `{"v":1,"t":"popup","popup":1,"kind":"message","origin":"https://op"}`, `field "data"`},
		{"popup message with data not text", `{"v":1,"t":"popup","popup":1,"kind":"message","origin":"https://op","data":{}}`, `field "data"`},
		{"exchange answer", `{"v":1,"t":"exchange","xid":1,"status":200,"headers":{"content-type":"application/json","cache-control":"no-store"},"body":"{}"}`, ""},
		{"exchange answer with an empty body", `{"v":1,"t":"exchange","xid":1,"status":400,"headers":{},"body":""}`, ""},
		{"exchange none", `{"v":1,"t":"exchange","xid":1,"none":true}`, ""},
		{"exchange that got no answer", `{"v":1,"t":"exchange","xid":1,"problem":"Failed to fetch"}`, ""},
		{"exchange without its xid", `{"v":1,"t":"exchange","none":true}`, `field "xid"`},
		{"exchange without a status", `{"v":1,"t":"exchange","xid":1,"headers":{},"body":"{}"}`, `field "status"`},
		{"exchange with a status out of range", `{"v":1,"t":"exchange","xid":1,"status":42,"headers":{},"body":"{}"}`, `field "status"`},
		{"exchange without a body", `{"v":1,"t":"exchange","xid":1,"status":200,"headers":{}}`, `field "body"`},
		{"exchange with a body not text", `{"v":1,"t":"exchange","xid":1,"status":200,"headers":{},"body":{}}`, `field "body"`},
		{"exchange without headers", `{"v":1,"t":"exchange","xid":1,"status":200,"body":"{}"}`, `field "headers"`},
		{"exchange with a header the engine does not read", `{"v":1,"t":"exchange","xid":1,"status":200,"headers":{"set-cookie":"a=b"},"body":"{}"}`, `field "headers.set-cookie"`},
		{"exchange with a header not text", `{"v":1,"t":"exchange","xid":1,"status":200,"headers":{"content-type":1},"body":"{}"}`, `field "headers.content-type"`},
		{"exchange with none not a boolean", `{"v":1,"t":"exchange","xid":1,"none":"yes"}`, `field "none"`},
		{"too large", `{"v":1,"t":"bye","pad":"` + strings.Repeat("x", maxMessageBytes) + `"}`, "more than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse([]byte(tt.text))
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.wantErr != "" && err == nil:
				t.Fatalf("accepted; want it ignored with %q", tt.wantErr)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Fatalf("ignored with %q; want %q", err, tt.wantErr)
			}
			var ig errIgnored
			if err != nil && !errors.As(err, &ig) {
				t.Fatalf("%v is not errIgnored", err)
			}
		})
	}
}

// fakePage records what the hub posts to it.
type fakePage struct {
	mu   sync.Mutex
	got  []map[string]any
	more chan struct{}
}

func newFakePage() *fakePage { return &fakePage{more: make(chan struct{}, 100)} }

func (p *fakePage) post(text []byte) {
	var m map[string]any
	if err := json.Unmarshal(text, &m); err != nil {
		panic("hub posted invalid JSON: " + string(text))
	}
	p.mu.Lock()
	p.got = append(p.got, m)
	p.mu.Unlock()
	p.more <- struct{}{}
}

// wait returns the first message of type typ that satisfies ok, waiting
// for it up to a few seconds (the hub answers calls on goroutines).
func (p *fakePage) wait(t *testing.T, typ string, ok func(map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		p.mu.Lock()
		for _, m := range p.got {
			if m["t"] == typ && (ok == nil || ok(m)) {
				p.mu.Unlock()
				if m["v"] != float64(Version) {
					t.Fatalf("message without version %d: %v", Version, m)
				}
				return m
			}
		}
		p.mu.Unlock()
		select {
		case <-p.more:
		case <-deadline:
			t.Fatalf("no %q message; got %v", typ, p.all())
		}
	}
}

func (p *fakePage) count(typ string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, m := range p.got {
		if m["t"] == typ {
			n++
		}
	}
	return n
}

func (p *fakePage) all() []map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]map[string]any(nil), p.got...)
}

// fakeEngine opens a frame for getTokenSilently and answers with the data
// of the first message from the frame, as the core does in essence.
type fakeEngine struct {
	b         platform.Browser
	markerKey string // Options.MarkerKey as the hub made it
	onEvent   func(checksession.Event)
	destroyed chan struct{}
}

func (e *fakeEngine) GetTokenSilently(ctx context.Context, _ checksession.AuthorizeParams) (string, error) {
	got := make(chan platform.Message, 1)
	f, err := e.b.OpenFrame("https://op.example/authorize?state=s1", platform.FrameHandler{
		OnMessage: func(m platform.Message) {
			select {
			case got <- m:
			default:
			}
		},
	})
	if err != nil {
		return "", err
	}
	defer f.Close()
	select {
	case m := <-got:
		var data struct{ Token string }
		if err := json.Unmarshal(m.Data, &data); err != nil {
			return "", err
		}
		return data.Token, nil
	case <-time.After(5 * time.Second):
		return "", checksession.ErrTimeout
	}
}

// LoginWithPopup refuses prompt=none before it opens anything, as the core
// does; otherwise it takes the page's window, sends it to the server and
// answers with the first message's token, or popup_closed once the window
// reads closed.
func (e *fakeEngine) LoginWithPopup(ctx context.Context, p checksession.AuthorizeParams) (*checksession.AuthResult, error) {
	if p.Extra["prompt"] == "none" {
		return nil, checksession.ErrInvalidConfiguration
	}
	got := make(chan platform.Message, 1)
	popup, err := e.b.(platform.PopupOpener).OpenPopup(platform.FrameHandler{
		OnMessage: func(m platform.Message) {
			if !m.FromFrame || m.Origin != "https://op.example" {
				return
			}
			select {
			case got <- m:
			default:
			}
		},
	})
	if err != nil {
		return nil, err
	}
	defer popup.Close()
	if err := popup.Navigate("https://op.example/authorize?state=" + p.Extra["login_hint"]); err != nil {
		return nil, checksession.ErrPopupClosed
	}
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case m := <-got:
			var data struct{ Token string }
			if err := json.Unmarshal(m.Data, &data); err != nil {
				return nil, err
			}
			return &checksession.AuthResult{AccessToken: data.Token}, nil
		case <-tick.C:
			if popup.Closed() {
				return nil, checksession.ErrPopupClosed
			}
		case <-deadline:
			return nil, checksession.ErrTimeout
		}
	}
}

func (e *fakeEngine) CheckSession(context.Context, checksession.AuthorizeParams) (*checksession.AuthResult, error) {
	return nil, checksession.ErrLoginRequired
}
func (e *fakeEngine) LoginWithRedirect(context.Context, checksession.AuthorizeParams) error {
	if err := e.b.SessionStorage().Set("silentauth.tx.spa.s2", "tx"); err != nil {
		return err
	}
	return e.b.Navigate("https://op.example/authorize?state=s2")
}
func (e *fakeEngine) HandleRedirectCallback(context.Context, string) (*checksession.AuthResult, error) {
	if _, ok := e.b.SessionStorage().Get("silentauth.tx.spa.s2"); !ok {
		return nil, checksession.ErrInvalidState
	}
	e.b.SessionStorage().Remove("silentauth.tx.spa.s2")
	return &checksession.AuthResult{AccessToken: "at"}, nil
}
func (e *fakeEngine) Logout(context.Context, checksession.LogoutParams) error { return nil }
func (e *fakeEngine) GetUser() map[string]any                                 { return nil }
func (e *fakeEngine) CheckAPIURL(string) error                                { return nil }
func (e *fakeEngine) AuthHeaders(context.Context, string, string) (map[string]string, error) {
	return map[string]string{"Authorization": "Bearer at"}, nil
}
func (e *fakeEngine) NoteDPoPNonce(string, string) {}
func (e *fakeEngine) StartAutoRenew()              {}
func (e *fakeEngine) StopAutoRenew()               {}
func (e *fakeEngine) Destroy()                     { close(e.destroyed) }

type fakeBase struct{ platform.Browser }

func (fakeBase) Origin() string { return "https://app.example" }

// newTestHub is a hub whose engines are fakeEngines, returned in the order made.
func newTestHub(t *testing.T) (*Hub, *[]*fakeEngine) {
	var mu sync.Mutex
	engines := &[]*fakeEngine{}
	h := New(Config{
		Base: fakeBase{},
		NewEngine: func(opts checksession.Options, b platform.Browser) (Engine, error) {
			mu.Lock()
			defer mu.Unlock()
			e := &fakeEngine{b: b, onEvent: opts.OnEvent, markerKey: opts.MarkerKey, destroyed: make(chan struct{})}
			*engines = append(*engines, e)
			return e, nil
		},
		Debug: func(line string) { t.Log(line) },
	})
	return h, engines
}

const testOptions = `{"domain":"https://op.example","clientId":"spa"}`

func connect(h *Hub, id string, visible bool) *fakePage {
	p := newFakePage()
	h.Connect(id, p.post)
	h.Receive(id, []byte(`{"v":1,"t":"hello","visible":`+map[bool]string{true: "true", false: "false"}[visible]+`}`))
	return p
}

func create(t *testing.T, h *Hub, id string, p *fakePage) string {
	t.Helper()
	h.Receive(id, []byte(`{"v":1,"t":"create","id":1,"options":`+testOptions+`}`))
	r := p.wait(t, outReply, func(m map[string]any) bool { return m["id"] == float64(1) })
	v, _ := r["value"].(map[string]any)
	handle, _ := v["client"].(string)
	if handle == "" {
		t.Fatalf("create answered %v", r)
	}
	return handle
}

func TestPagesWithTheSameOptionsShareOneClient(t *testing.T) {
	h, engines := newTestHub(t)
	a, b := connect(h, "a", true), connect(h, "b", true)
	ha, hb := create(t, h, "a", a), create(t, h, "b", b)
	if ha != hb || len(*engines) != 1 {
		t.Fatalf("handles %q and %q, %d engines; want one client for both pages", ha, hb, len(*engines))
	}
	// An event reaches both pages.
	(*engines)[0].onEvent(checksession.Event{Name: checksession.EventRenewed, Result: &checksession.AuthResult{AccessToken: "at2"}})
	for name, p := range map[string]*fakePage{"a": a, "b": b} {
		ev := p.wait(t, outEvent, nil)
		if payload, _ := ev["payload"].(map[string]any); ev["name"] != "renewed" || payload["accessToken"] != "at2" {
			t.Fatalf("page %s got event %v", name, ev)
		}
	}
	// The client lives while a page holds it; the last release destroys it.
	h.Receive("a", []byte(`{"v":1,"t":"release","client":"`+ha+`"}`))
	select {
	case <-(*engines)[0].destroyed:
		t.Fatal("destroyed while page b still holds the client")
	default:
	}
	h.Disconnect("b")
	select {
	case <-(*engines)[0].destroyed:
	case <-time.After(5 * time.Second):
		t.Fatal("not destroyed once no page holds the client")
	}
}

func TestTheFrameGoesToAVisiblePageAndMovesWhenThatPageLeaves(t *testing.T) {
	h, _ := newTestHub(t)
	hidden := connect(h, "hidden", false)
	visible := connect(h, "visible", true)
	handle := create(t, h, "hidden", hidden)
	h.Receive("hidden", []byte(`{"v":1,"t":"call","id":7,"client":"`+handle+`","method":"getTokenSilently"}`))

	open := visible.wait(t, outOpen, nil)
	if hidden.count(outOpen) != 0 {
		t.Fatal("the hidden page was asked to host the frame while a visible one is connected")
	}
	frame := int64(open["frame"].(float64))

	// The visible page closes mid-request: the frame moves to the other page.
	h.Receive("visible", []byte(`{"v":1,"t":"bye"}`))
	moved := hidden.wait(t, outOpen, nil)
	if moved["url"] != open["url"] || int64(moved["frame"].(float64)) != frame {
		t.Fatalf("moved frame %v; want %v", moved, open)
	}
	// A message for the frame from a page that does not host it is not heard.
	h.Receive("visible", []byte(`{"v":1,"t":"frame","frame":1,"kind":"message","origin":"https://op.example","fromFrame":true,"data":"{\"Token\":\"forged\"}"}`))
	h.Receive("hidden", []byte(`{"v":1,"t":"frame","frame":1,"kind":"message","origin":"https://op.example","fromFrame":true,"data":"{\"Token\":\"at1\"}"}`))
	r := hidden.wait(t, outReply, func(m map[string]any) bool { return m["id"] == float64(7) })
	if r["value"] != "at1" {
		t.Fatalf("reply %v; want the token from the hosting page's frame", r)
	}
	hidden.wait(t, outClose, func(m map[string]any) bool { return m["frame"] == float64(frame) })
}

func TestAFrameWithNoPageWaitsForTheNextPage(t *testing.T) {
	h, engines := newTestHub(t)
	a := connect(h, "a", true)
	handle := create(t, h, "a", a)
	h.Receive("a", []byte(`{"v":1,"t":"call","id":2,"client":"`+handle+`","method":"getTokenSilently"}`))
	a.wait(t, outOpen, nil)
	// A second page holds the client, so it outlives a's departure.
	b := newFakePage()
	h.Connect("b", b.post)
	create(t, h, "b", b)
	h.Disconnect("b")
	h.Disconnect("a")
	if h.Pages() != 0 || len(*engines) != 1 {
		t.Fatalf("%d pages, %d engines", h.Pages(), len(*engines))
	}
	c := newFakePage()
	h.Connect("c", c.post)
	if open := c.wait(t, outOpen, nil); open["url"] != "https://op.example/authorize?state=s1" {
		t.Fatalf("the next page was asked to open %v", open)
	}
}

func TestRedirectCallsActOnTheCallingPage(t *testing.T) {
	h, _ := newTestHub(t)
	a, b := connect(h, "a", true), connect(h, "b", true)
	handle := create(t, h, "a", a)
	create(t, h, "b", b)

	h.Receive("b", []byte(`{"v":1,"t":"call","id":3,"client":"`+handle+`","method":"loginWithRedirect"}`))
	set := b.wait(t, outStorage, nil)
	nav := b.wait(t, outNavigate, nil)
	if set["key"] != "silentauth.tx.spa.s2" || set["value"] != "tx" || nav["url"] != "https://op.example/authorize?state=s2" {
		t.Fatalf("storage %v, navigate %v", set, nav)
	}
	if a.count(outNavigate)+a.count(outStorage) != 0 {
		t.Fatal("the page that did not call was navigated or written to")
	}

	// The callback page sends its sessionStorage; the transaction is removed there.
	h.Receive("a", []byte(`{"v":1,"t":"call","id":4,"client":"`+handle+`","method":"handleRedirectCallback","url":"https://app.example/?code=c&state=s2","storage":{"silentauth.tx.spa.s2":"tx"}}`))
	r := a.wait(t, outReply, func(m map[string]any) bool { return m["id"] == float64(4) })
	if v, _ := r["value"].(map[string]any); v["accessToken"] != "at" {
		t.Fatalf("callback answered %v", r)
	}
	rm := a.wait(t, outStorage, nil)
	if rm["key"] != "silentauth.tx.spa.s2" || rm["value"] != nil {
		t.Fatalf("storage message %v; want the transaction removed", rm)
	}

	// Without the page's storage the transaction is unknown: invalid_state.
	h.Receive("a", []byte(`{"v":1,"t":"call","id":5,"client":"`+handle+`","method":"handleRedirectCallback","url":"https://app.example/?code=c&state=s2"}`))
	r = a.wait(t, outReply, func(m map[string]any) bool { return m["id"] == float64(5) })
	if e, _ := r["error"].(map[string]any); e["error"] != "invalid_state" {
		t.Fatalf("answered %v; want invalid_state", r)
	}
}

func TestCallsOnAClientThePageDoesNotHoldAreRefused(t *testing.T) {
	h, _ := newTestHub(t)
	a, b := connect(h, "a", true), connect(h, "b", true)
	handle := create(t, h, "a", a)
	h.Receive("b", []byte(`{"v":1,"t":"call","id":9,"client":"`+handle+`","method":"getTokenSilently"}`))
	r := b.wait(t, outReply, func(m map[string]any) bool { return m["id"] == float64(9) })
	if e, _ := r["error"].(map[string]any); e["error"] != "destroyed" {
		t.Fatalf("answered %v; want destroyed", r)
	}
	if a.count(outOpen)+b.count(outOpen) != 0 {
		t.Fatal("a frame was opened for a page that holds no client")
	}
}

func TestInvalidOptionsAreAnsweredWithTheJSOptionName(t *testing.T) {
	h, engines := newTestHub(t)
	a := connect(h, "a", true)
	h.Receive("a", []byte(`{"v":1,"t":"create","id":1,"options":{"domain":"https://op.example","clientId":"spa","timeoutInSeconds":"x"}}`))
	r := a.wait(t, outReply, nil)
	e, _ := r["error"].(map[string]any)
	if e["error"] != "invalid_configuration" || !strings.Contains(e["error_description"].(string), "timeoutInSeconds") || len(*engines) != 0 {
		t.Fatalf("answered %v with %d engines", r, len(*engines))
	}
}

func TestLogLinesGoToThePagesHoldingTheClient(t *testing.T) {
	var logger func(checksession.LogLevel, string)
	h := New(Config{
		Base: fakeBase{},
		NewEngine: func(opts checksession.Options, b platform.Browser) (Engine, error) {
			logger = opts.Logger
			return &fakeEngine{b: b, destroyed: make(chan struct{})}, nil
		},
	})
	a, other := connect(h, "a", true), connect(h, "other", true)
	create(t, h, "a", a)
	logger(checksession.LogWarn, "a warning")
	if m := a.wait(t, outLog, nil); m["level"] != "warn" || m["line"] != "a warning" {
		t.Fatalf("log message %v", m)
	}
	if other.count(outLog) != 0 {
		t.Fatal("a page without the client got its log line")
	}
}

// A warning the engine logs while it is made (an option's, say) reaches
// the page that created the client, and each page that takes the client
// later, as each page's own createClient logs it in the page placement.
func TestWarningsLoggedWhileTheClientIsMadeReachEveryPageThatTakesIt(t *testing.T) {
	h := New(Config{
		Base: fakeBase{},
		NewEngine: func(opts checksession.Options, b platform.Browser) (Engine, error) {
			opts.Logger(checksession.LogWarn, "an option's warning")
			return &fakeEngine{b: b, destroyed: make(chan struct{})}, nil
		},
	})
	a, b, other := connect(h, "a", true), connect(h, "b", true), connect(h, "other", true)
	create(t, h, "a", a)
	create(t, h, "b", b)
	for name, p := range map[string]*fakePage{"a": a, "b": b} {
		if m := p.wait(t, outLog, nil); m["level"] != "warn" || m["line"] != "an option's warning" {
			t.Fatalf("page %s: log message %v", name, m)
		}
		if n := p.count(outLog); n != 1 {
			t.Errorf("page %s got the warning %d times, want once", name, n)
		}
	}
	if other.count(outLog) != 0 {
		t.Fatal("a page without the client got its warning")
	}
}

// An error crosses to the page with what the page's SilentAuthError is made
// from: its code, description and state, and retryAfter while a backoff runs.
func TestErrorsCrossToThePageWithRetryAfter(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want map[string]any
	}{
		{"a backoff's answer carries retryAfter in whole seconds",
			&checksession.Error{Code: "timeout", Description: "d", RetryAfter: 1500 * time.Millisecond},
			map[string]any{"error": "timeout", "error_description": "d", "retryAfter": int64(2)}},
		{"no backoff: no retryAfter",
			&checksession.Error{Code: "login_required", Description: "d", State: "s"},
			map[string]any{"error": "login_required", "error_description": "d", "state": "s"}},
		{"a bare code is itself", checksession.ErrDestroyed,
			map[string]any{"error": "destroyed", "error_description": "destroyed"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := errorObject(tc.err); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("errorObject = %#v, want %#v", got, tc.want)
			}
		})
	}
}

func popupCall(id int, handle, hint string, popup int) []byte {
	return []byte(fmt.Sprintf(`{"v":1,"t":"call","id":%d,"client":%q,"method":"loginWithPopup","params":{"login_hint":%q},"popup":%d}`, id, handle, hint, popup))
}

func popupMessage(popup int, token string) []byte {
	return []byte(fmt.Sprintf(`{"v":1,"t":"popup","popup":%d,"kind":"message","origin":"https://op.example","data":"{\"Token\":\"%s\"}"}`, popup, token))
}

func isReply(id int) func(map[string]any) bool {
	return func(m map[string]any) bool { return m["id"] == float64(id) }
}

func isPopup(id int) func(map[string]any) bool {
	return func(m map[string]any) bool { return m["popup"] == float64(id) }
}

func TestPopupLoginDrivesTheCallingPagesWindowOnly(t *testing.T) {
	h, _ := newTestHub(t)
	a, b := connect(h, "a", true), connect(h, "b", true)
	handle := create(t, h, "a", a)
	create(t, h, "b", b)

	h.Receive("b", popupCall(3, handle, "s1", 5))
	nav := b.wait(t, outNavigatePopup, nil)
	if nav["popup"] != float64(5) || nav["url"] != "https://op.example/authorize?state=s1" {
		t.Fatalf("navigatePopup %v", nav)
	}
	// Page a cannot answer for page b's window, even with b's number.
	h.Receive("a", popupMessage(5, "forged"))
	h.Receive("a", []byte(`{"v":1,"t":"popup","popup":5,"kind":"closed"}`))
	h.Receive("b", popupMessage(5, "at1"))
	r := b.wait(t, outReply, isReply(3))
	if v, _ := r["value"].(map[string]any); v["accessToken"] != "at1" {
		t.Fatalf("reply %v; want the token from page b's popup", r)
	}
	b.wait(t, outClosePopup, isPopup(5))
	if n := a.count(outNavigatePopup) + a.count(outClosePopup); n != 0 {
		t.Fatalf("page a got %d popup messages for page b's window", n)
	}
	h.mu.Lock()
	left := len(h.popups)
	h.mu.Unlock()
	if left != 0 {
		t.Fatalf("%d popups still registered after the call", left)
	}
}

func TestPopupLoginEndsWhenTheWindowClosesOrThePageLeaves(t *testing.T) {
	for _, tc := range []struct {
		name string
		end  func(h *Hub)
	}{
		{"the page says the window is closed", func(h *Hub) { h.Receive("a", []byte(`{"v":1,"t":"popup","popup":1,"kind":"closed"}`)) }},
		{"the page leaves", func(h *Hub) { h.Receive("a", []byte(`{"v":1,"t":"bye"}`)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := newTestHub(t)
			a, other := connect(h, "a", true), connect(h, "other", true)
			handle := create(t, h, "a", a)
			create(t, h, "other", other) // keeps the client alive after a leaves
			h.Receive("a", popupCall(2, handle, "s1", 1))
			a.wait(t, outNavigatePopup, nil)
			tc.end(h)
			r := a.wait(t, outReply, isReply(2))
			if e, _ := r["error"].(map[string]any); e["error"] != "popup_closed" {
				t.Fatalf("answered %v; want popup_closed", r)
			}
		})
	}
}

func TestConcurrentPopupLoginsOnOneClientTakeTheirOwnWindows(t *testing.T) {
	h, _ := newTestHub(t)
	a, b := connect(h, "a", true), connect(h, "b", true)
	handle := create(t, h, "a", a)
	create(t, h, "b", b)
	// The first call fails before it opens anything: its window is closed
	// and the next call still gets the window its page opened.
	h.Receive("a", []byte(`{"v":1,"t":"call","id":2,"client":"`+handle+`","method":"loginWithPopup","params":{"prompt":"none"},"popup":1}`))
	if e, _ := a.wait(t, outReply, isReply(2))["error"].(map[string]any); e["error"] != "invalid_configuration" {
		t.Fatalf("prompt=none answered %v", e)
	}
	a.wait(t, outClosePopup, isPopup(1))

	h.Receive("a", popupCall(3, handle, "sa", 2))
	h.Receive("b", popupCall(3, handle, "sb", 7))
	navA := a.wait(t, outNavigatePopup, nil)
	navB := b.wait(t, outNavigatePopup, nil)
	if navA["popup"] != float64(2) || navA["url"] != "https://op.example/authorize?state=sa" ||
		navB["popup"] != float64(7) || navB["url"] != "https://op.example/authorize?state=sb" {
		t.Fatalf("navigatePopup to a: %v, to b: %v; want each page's call in its own window", navA, navB)
	}
	h.Receive("b", popupMessage(7, "tb"))
	h.Receive("a", popupMessage(2, "ta"))
	for name, tc := range map[string]struct {
		p    *fakePage
		want string
	}{"a": {a, "ta"}, "b": {b, "tb"}} {
		r := tc.p.wait(t, outReply, isReply(3))
		if v, _ := r["value"].(map[string]any); v["accessToken"] != tc.want {
			t.Errorf("page %s got %v; want %s", name, r, tc.want)
		}
	}
}

func TestAPopupNumberInUseIsRefused(t *testing.T) {
	h, _ := newTestHub(t)
	a := connect(h, "a", true)
	handle := create(t, h, "a", a)
	h.Receive("a", popupCall(2, handle, "s1", 4))
	a.wait(t, outNavigatePopup, nil)
	h.Receive("a", popupCall(3, handle, "s2", 4))
	if e, _ := a.wait(t, outReply, isReply(3))["error"].(map[string]any); e["error"] != "invalid_configuration" {
		t.Fatalf("a second call with popup 4 answered %v", e)
	}
	// The first call still owns its window and completes from it.
	h.Receive("a", popupMessage(4, "at"))
	if v, _ := a.wait(t, outReply, isReply(2))["value"].(map[string]any); v["accessToken"] != "at" {
		t.Fatalf("first call answered %v", v)
	}
}

// memVault is a Vault in memory: secrets in a map, and DPoP keys that
// cannot be made (the hub only passes them on).
type memVault struct{ m map[string]string }

func (s memVault) Load(_ context.Context, key string) (string, bool, error) {
	v, ok := s.m[key]
	return v, ok, nil
}
func (s memVault) Save(_ context.Context, key, secret string) error { s.m[key] = secret; return nil }
func (s memVault) Delete(_ context.Context, key string) error       { delete(s.m, key); return nil }
func (s memVault) DPoPKey(_ context.Context, name string) (platform.DPoPKey, bool, error) {
	return nil, false, errors.New("memVault makes no key: " + name)
}
func (s memVault) DeleteDPoPKey(context.Context, string) error { return nil }

// refreshTokenStorage "local" persists, and useDpop signs, through the
// browser's SecretStore and DPoPKeys: the engines get them exactly when
// the hub has a Vault, and they are its.
func TestEnginesKeepSecretsAndKeysInTheHubsVault(t *testing.T) {
	for _, tt := range []struct {
		name  string
		vault Vault
	}{
		{"with a vault", memVault{m: map[string]string{"k": "rt"}}},
		{"without one", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var got platform.Browser
			h := New(Config{
				Base:  fakeBase{},
				Vault: tt.vault,
				NewEngine: func(_ checksession.Options, b platform.Browser) (Engine, error) {
					got = b
					return &fakeEngine{b: b, destroyed: make(chan struct{})}, nil
				},
			})
			create(t, h, "a", connect(h, "a", true))
			store, ok := got.(platform.SecretStore)
			keys, signs := got.(platform.DPoPKeys)
			if ok != (tt.vault != nil) || signs != (tt.vault != nil) {
				t.Fatalf("the engine's browser is a SecretStore: %v, has DPoPKeys: %v; want %v", ok, signs, tt.vault != nil)
			}
			if !ok {
				return
			}
			if v, found, _ := store.Load(context.Background(), "k"); !found || v != "rt" {
				t.Errorf("Load through the engine's browser gave %q, %v; want the hub's secret", v, found)
			}
			if _, _, err := keys.DPoPKey(context.Background(), "dpop:x"); err == nil || !strings.Contains(err.Error(), "memVault") {
				t.Errorf("DPoPKey through the engine's browser: %v, want the vault's answer", err)
			}
			// The page-facing parts stay: it is still the hub's browser.
			if _, ok := got.(platform.PageSignals); !ok {
				t.Error("the engine's browser lost PageSignals")
			}
		})
	}
}

// The worker has no localStorage: the engine reads the signed-in marker
// the creating page reported under the key the page's loader built, and
// its writes go to every page holding the client, which keep it where the
// loader looks for it.
func TestTheSignedInMarkerIsThePagesAndTheEnginesWritesReachThem(t *testing.T) {
	const key = "silentauth.signedin:spa@https://op.example"
	h, engines := newTestHub(t)
	a, b := connect(h, "a", true), connect(h, "b", false)
	other := connect(h, "other", true) // holds no client
	h.Receive("a", []byte(`{"v":1,"t":"create","id":1,"options":`+testOptions+`,"markerKey":"`+key+`","marker":"1700000000000"}`))
	a.wait(t, outReply, nil)
	h.Receive("b", []byte(`{"v":1,"t":"create","id":1,"options":`+testOptions+`,"markerKey":"`+key+`"}`))
	b.wait(t, outReply, nil)
	e := (*engines)[0]
	if e.markerKey != key {
		t.Fatalf("Options.MarkerKey %q, want the page's %q", e.markerKey, key)
	}
	ls, ok := e.b.(platform.LocalStorage)
	if !ok {
		t.Fatal("the engine's browser has no LocalStorage: no marker in the worker")
	}
	st := ls.LocalStorage()
	// Page b created last and saw no marker: the copy is its view.
	if v, ok := st.Get(key); ok {
		t.Fatalf("Get = %q, true; want no marker after page b reported none", v)
	}
	if err := st.Set(key, "1700000001000"); err != nil {
		t.Fatalf("Set: %v", err)
	}
	if v, ok := st.Get(key); !ok || v != "1700000001000" {
		t.Fatalf("Get after Set = %q, %v", v, ok)
	}
	for name, p := range map[string]*fakePage{"a": a, "b": b} {
		m := p.wait(t, outMarker, nil)
		if m["key"] != key || m["value"] != "1700000001000" {
			t.Fatalf("page %s got %v", name, m)
		}
	}
	st.Remove(key)
	a.wait(t, outMarker, func(m map[string]any) bool { return m["value"] == nil })
	if _, ok := st.Get(key); ok {
		t.Fatal("Get after Remove still finds the marker")
	}
	if err := st.Set("silentauth.tx.spa.s1", "x"); err == nil {
		t.Fatal("Set of a key that is not a marker's was accepted")
	}
	if n := other.count(outMarker); n != 0 {
		t.Fatalf("a page holding no client got %d marker writes", n)
	}
}

// A page's head start: the new engine takes the request once and, adopted,
// its frame is the page's iframe (adoptFrame, never a second openFrame),
// whose events reach the engine as any frame's. A page whose create finds
// the engine already made is told to drop its head start, as is the page
// of a request the engine does not adopt.
func TestTheHeadStartIsAdoptedOnceOrDropped(t *testing.T) {
	const head = `{"url":"https://op.example/authorize?state=s","state":"s","nonce":"n","codeVerifier":"v"}`
	createWithHead := func(h *Hub, id string, p *fakePage) {
		h.Receive(id, []byte(`{"v":1,"t":"create","id":1,"options":`+testOptions+`,"head":`+head+`}`))
		p.wait(t, outReply, nil)
	}
	t.Run("adopted", func(t *testing.T) {
		h, engines := newTestHub(t)
		a := connect(h, "a", false)
		b := connect(h, "b", true) // visible: a frame of the engine's own would go here
		createWithHead(h, "a", a)
		pre, ok := (*engines)[0].b.(platform.Prestarter)
		if !ok {
			t.Fatal("the engine's browser is no Prestarter: the head start is lost in the worker")
		}
		r := pre.TakePrestarted(context.Background())
		if r == nil || r.URL != "https://op.example/authorize?state=s" || r.State != "s" || r.Nonce != "n" || r.CodeVerifier != "v" {
			t.Fatalf("TakePrestarted = %+v", r)
		}
		if again := pre.TakePrestarted(context.Background()); again != nil {
			t.Fatal("the head start was handed over twice")
		}
		pre.SettlePrestarted(true, r.URL)
		got := make(chan platform.Message, 1)
		f, err := (*engines)[0].b.OpenFrame(r.URL, platform.FrameHandler{OnMessage: func(m platform.Message) { got <- m }})
		if err != nil {
			t.Fatal(err)
		}
		adopt := a.wait(t, outAdoptFrame, nil)
		if adopt["url"] != r.URL || b.count(outOpen) != 0 || a.count(outOpen) != 0 {
			t.Fatalf("adoptFrame %v; openFrame sent to a %d, b %d times", adopt, a.count(outOpen), b.count(outOpen))
		}
		id := fmt.Sprint(adopt["frame"])
		h.Receive("a", []byte(`{"v":1,"t":"frame","frame":`+id+`,"kind":"message","origin":"https://op.example","fromFrame":true,"data":"{\"type\":\"authorization_response\"}"}`))
		select {
		case m := <-got:
			if !m.FromFrame || m.Origin != "https://op.example" {
				t.Fatalf("message %+v", m)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the adopted frame's message did not reach the engine")
		}
		// The next frame is the engine's own.
		f.Close()
		a.wait(t, outClose, nil)
		if _, err := (*engines)[0].b.OpenFrame(r.URL, platform.FrameHandler{}); err != nil {
			t.Fatal(err)
		}
		b.wait(t, outOpen, nil)
	})
	t.Run("not adopted", func(t *testing.T) {
		h, engines := newTestHub(t)
		a := connect(h, "a", true)
		createWithHead(h, "a", a)
		pre := (*engines)[0].b.(platform.Prestarter)
		if pre.TakePrestarted(context.Background()) == nil {
			t.Fatal("no head start to take")
		}
		pre.SettlePrestarted(false, "")
		a.wait(t, outDropHead, nil)
	})
	t.Run("the engine was already made", func(t *testing.T) {
		h, engines := newTestHub(t)
		a, b := connect(h, "a", true), connect(h, "b", true)
		create(t, h, "a", a)
		createWithHead(h, "b", b)
		b.wait(t, outDropHead, nil)
		if r := (*engines)[0].b.(platform.Prestarter).TakePrestarted(context.Background()); r != nil {
			t.Fatalf("an engine made without a head start took page b's: %+v", r)
		}
	})
}

// netBase is a worker browser whose network answers every fetch "network".
type netBase struct {
	fakeBase
	mu      sync.Mutex
	fetched []platform.HTTPRequest
}

func (b *netBase) Fetch(_ context.Context, req platform.HTTPRequest) (*platform.HTTPResponse, error) {
	b.mu.Lock()
	b.fetched = append(b.fetched, req)
	b.mu.Unlock()
	return &platform.HTTPResponse{Status: 200, Header: map[string]string{}, Body: []byte(`"network"`)}, nil
}

func (b *netBase) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.fetched)
}

// The code exchange a page's head start sent early: the engine's identical
// POST takes that page's answer once, and goes to the network when the
// page holds none, has left, the request was not adopted, or the POST is
// of another shape, or the page's request got no answer (the page's CSP or
// network may have stopped it before the code was spent).
func TestTheHeadStartsEarlyCodeExchangeIsTakenFromItsPageOnce(t *testing.T) {
	const head = `{"url":"https://op.example/authorize?state=s","state":"s","nonce":"n","codeVerifier":"v","exchange":true}`
	var setupHead func(t *testing.T, adopt bool, head string) (*Hub, *netBase, *fakePage, platform.Browser)
	exchange := platform.HTTPRequest{Method: "POST", URL: "https://op.example/oauth/token",
		Header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
		Body:   []byte("grant_type=authorization_code&code=c")}
	// setup makes page a's engine with a head start, adopted or not.
	setup := func(t *testing.T, adopt bool) (*Hub, *netBase, *fakePage, platform.Browser) {
		return setupHead(t, adopt, head)
	}
	setupHead = func(t *testing.T, adopt bool, head string) (*Hub, *netBase, *fakePage, platform.Browser) {
		base := &netBase{}
		h := New(Config{
			Base: base,
			NewEngine: func(_ checksession.Options, b platform.Browser) (Engine, error) {
				return &fakeEngine{b: b, destroyed: make(chan struct{})}, nil
			},
			Debug: func(line string) { t.Log(line) },
		})
		a := connect(h, "a", true)
		h.Receive("a", []byte(`{"v":1,"t":"create","id":1,"options":`+testOptions+`,"head":`+head+`}`))
		a.wait(t, outReply, nil)
		var eb platform.Browser
		h.mu.Lock()
		for _, s := range h.clients {
			eb = s.b
		}
		h.mu.Unlock()
		pre := eb.(platform.Prestarter)
		r := pre.TakePrestarted(context.Background())
		pre.SettlePrestarted(adopt, r.URL)
		return h, base, a, eb
	}
	type result struct {
		resp *platform.HTTPResponse
		err  error
	}
	fetch := func(b platform.Browser, req platform.HTTPRequest) chan result {
		c := make(chan result, 1)
		go func() {
			resp, err := b.Fetch(context.Background(), req)
			c <- result{resp, err}
		}()
		return c
	}
	get := func(t *testing.T, c chan result) result {
		t.Helper()
		select {
		case r := <-c:
			return r
		case <-time.After(5 * time.Second):
			t.Fatal("Fetch did not return")
		}
		return result{}
	}
	// asked waits for page a's takeExchange and checks it names the request.
	asked := func(t *testing.T, a *fakePage) string {
		t.Helper()
		m := a.wait(t, outTakeExchange, nil)
		if m["url"] != exchange.URL || m["body"] != string(exchange.Body) {
			t.Fatalf("takeExchange %v", m)
		}
		return fmt.Sprint(m["xid"])
	}

	t.Run("the page's answer, once", func(t *testing.T) {
		h, base, a, b := setup(t, true)
		c := fetch(b, exchange)
		xid := asked(t, a)
		h.Receive("a", []byte(`{"v":1,"t":"exchange","xid":`+xid+`,"status":200,"headers":{"content-type":"application/json"},"body":"{\"access_token\":\"early\"}","sentAt":1700000000000}`))
		r := get(t, c)
		if r.err != nil || r.resp == nil || r.resp.Status != 200 || string(r.resp.Body) != `{"access_token":"early"}` ||
			r.resp.Header["content-type"] != "application/json" || !r.resp.Early {
			t.Fatalf("Fetch = %+v, %v; want the page's answer, marked early", r.resp, r.err)
		}
		if !r.resp.Sent.Equal(time.UnixMilli(1700000000000)) {
			t.Errorf("Sent = %v, want when the page's request left (sentAt)", r.resp.Sent)
		}
		if base.count() != 0 {
			t.Fatal("the exchange went to the network too")
		}
		r = get(t, fetch(b, exchange))
		if r.err != nil || string(r.resp.Body) != `"network"` || r.resp.Early || a.count(outTakeExchange) != 1 {
			t.Fatalf("second Fetch = %+v, %v after %d asks; want the network's answer", r.resp, r.err, a.count(outTakeExchange))
		}
	})
	t.Run("none: the network", func(t *testing.T) {
		h, base, a, b := setup(t, true)
		c := fetch(b, exchange)
		h.Receive("a", []byte(`{"v":1,"t":"exchange","xid":`+asked(t, a)+`,"none":true}`))
		if r := get(t, c); r.err != nil || string(r.resp.Body) != `"network"` || base.count() != 1 {
			t.Fatalf("Fetch = %+v, %v; want the network's answer", r.resp, r.err)
		}
	})
	t.Run("a problem: the network", func(t *testing.T) {
		h, base, a, b := setup(t, true)
		c := fetch(b, exchange)
		h.Receive("a", []byte(`{"v":1,"t":"exchange","xid":`+asked(t, a)+`,"problem":"Failed to fetch"}`))
		if r := get(t, c); r.err != nil || string(r.resp.Body) != `"network"` || base.count() != 1 {
			t.Fatalf("Fetch = %+v, %v; want the network's answer", r.resp, r.err)
		}
	})
	t.Run("the page leaves: the network", func(t *testing.T) {
		h, base, a, b := setup(t, true)
		c := fetch(b, exchange)
		asked(t, a)
		h.Disconnect("a")
		if r := get(t, c); r.err != nil || string(r.resp.Body) != `"network"` || base.count() != 1 {
			t.Fatalf("Fetch = %+v, %v; want the network's answer", r.resp, r.err)
		}
	})
	t.Run("an answer for another xid or from another page is not taken", func(t *testing.T) {
		h, base, a, b := setup(t, true)
		connect(h, "b", true)
		c := fetch(b, exchange)
		xid := asked(t, a)
		h.Receive("b", []byte(`{"v":1,"t":"exchange","xid":`+xid+`,"status":200,"headers":{},"body":"forged"}`))
		h.Receive("a", []byte(`{"v":1,"t":"exchange","xid":999,"status":200,"headers":{},"body":"forged"}`))
		h.Receive("a", []byte(`{"v":1,"t":"exchange","xid":`+xid+`,"none":true}`))
		if r := get(t, c); r.err != nil || string(r.resp.Body) != `"network"` || base.count() != 1 {
			t.Fatalf("Fetch = %+v, %v; want the network's answer", r.resp, r.err)
		}
	})
	t.Run("not adopted, or another shape: the network, nothing asked", func(t *testing.T) {
		_, base, a, b := setup(t, false)
		if r := get(t, fetch(b, exchange)); r.err != nil || string(r.resp.Body) != `"network"` {
			t.Fatalf("Fetch = %+v, %v", r.resp, r.err)
		}
		_, base2, a2, b2 := setup(t, true)
		dpop := exchange
		dpop.Header = map[string]string{"Content-Type": exchange.Header["Content-Type"], "DPoP": "proof"}
		get2 := exchange
		get2.Method = "GET"
		for _, req := range []platform.HTTPRequest{dpop, get2} {
			if r := get(t, fetch(b2, req)); r.err != nil || string(r.resp.Body) != `"network"` {
				t.Fatalf("Fetch(%s %v) = %+v, %v", req.Method, req.Header, r.resp, r.err)
			}
		}
		if a.count(outTakeExchange)+a2.count(outTakeExchange) != 0 || base.count() != 1 || base2.count() != 2 {
			t.Fatalf("asked the page %d times; network %d and %d", a.count(outTakeExchange)+a2.count(outTakeExchange), base.count(), base2.count())
		}
	})
	t.Run("a page that does not say it exchanges early is not asked", func(t *testing.T) {
		_, base, a, b := setupHead(t, true, strings.Replace(head, `,"exchange":true`, "", 1))
		if r := get(t, fetch(b, exchange)); r.err != nil || string(r.resp.Body) != `"network"` || base.count() != 1 || a.count(outTakeExchange) != 0 {
			t.Fatalf("Fetch = %+v, %v; asked the page %d times", r.resp, r.err, a.count(outTakeExchange))
		}
	})
}
