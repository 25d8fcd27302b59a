package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/silentauth/silentauth/checksession"
	"github.com/silentauth/silentauth/checksession/plainjson"
	"github.com/silentauth/silentauth/checksession/platform"
	"github.com/silentauth/silentauth/jsbridge/wire"
)

// Engine is what the hub calls on one client; *checksession.Client is one.
type Engine interface {
	CheckSession(ctx context.Context, p checksession.AuthorizeParams) (*checksession.AuthResult, error)
	GetTokenSilently(ctx context.Context, p checksession.AuthorizeParams) (string, error)
	LoginWithRedirect(ctx context.Context, p checksession.AuthorizeParams) error
	LoginWithPopup(ctx context.Context, p checksession.AuthorizeParams) (*checksession.AuthResult, error)
	HandleRedirectCallback(ctx context.Context, rawURL string) (*checksession.AuthResult, error)
	Logout(ctx context.Context, p checksession.LogoutParams) error
	GetUser() map[string]any
	CheckAPIURL(rawURL string) error
	AuthHeaders(ctx context.Context, rawURL, method string) (map[string]string, error)
	NoteDPoPNonce(rawURL, nonce string)
	StartAutoRenew()
	StopAutoRenew()
	Destroy()
}

// Config is what the hub is built from.
type Config struct {
	// Base is the worker's own browser: Origin, CrossOriginIsolated and
	// Fetch (and Online, when it implements platform.Connectivity).
	// Nothing that needs a document is called on it.
	Base platform.Browser
	// NewEngine makes a client for opts on b (checksession.NewClient in
	// the worker). opts.OnEvent is already set by the hub.
	NewEngine func(opts checksession.Options, b platform.Browser) (Engine, error)
	// Debug receives a line for each decision worth knowing (a message
	// ignored, a frame moved); nil for none.
	Debug func(line string)
	// Vault is the worker's own key store (IndexedDB and WebCrypto, as a
	// page's): it keeps refresh tokens for clients with
	// refreshTokenStorage "local", and the DPoP key pairs of clients with
	// useDpop. nil: refresh tokens stay in memory, and useDpop is refused.
	Vault Vault
	// Stats adds the runtime's figures (liveFuncs, wasmMemoryBytes) to a
	// page's stats(); nil for none.
	Stats func() map[string]any
}

// Vault is what a worker keeps for its engines beyond memory.
type Vault interface {
	platform.SecretStore
	platform.DPoPKeys
}

// Hub serves every connected page from one set of clients.
type Hub struct {
	cfg Config

	mu        sync.Mutex
	pages     map[string]*page
	clients   map[string]*shared // by handle
	byKey     map[string]*shared // by the options' canonical JSON
	frames    map[int64]*remoteFrame
	popups    map[popupKey]*remotePopup
	exchanges map[int64]*pendingExchange // by xid
	nextFrame int64
	nextXID   int64
	nextID    int64
	tick      int64 // orders page activity

	// redirect serialises the redirect methods: while one runs, Navigate,
	// ReplaceLocation and SessionStorage act on its page (redirectPage).
	redirect      sync.Mutex
	redirectPage  string
	redirectStore map[string]string
}

type page struct {
	id      string
	post    func(text []byte)
	visible bool
	active  int64
	// refs counts this page's clients by handle.
	refs map[string]int
}

type shared struct {
	handle string
	key    string
	eng    Engine
	b      *clientBrowser

	// made holds the lines the engine logged while it was being made (the
	// options' warnings): no page holds it yet, so each page that takes it
	// gets them, as its own createClient would have logged them.
	madeMu sync.Mutex
	making bool
	made   []logLine
}

type logLine struct {
	level checksession.LogLevel
	line  string
}

// whileMaking keeps a line logged while the engine is being made and
// reports whether it did.
func (s *shared) whileMaking(level checksession.LogLevel, line string) bool {
	s.madeMu.Lock()
	defer s.madeMu.Unlock()
	if s.making {
		s.made = append(s.made, logLine{level, line})
	}
	return s.making
}

type remoteFrame struct {
	id   int64
	url  string
	host string // page id; "" while no page is connected
	h    platform.FrameHandler
}

// New makes a hub with no pages.
func New(cfg Config) *Hub {
	return &Hub{
		cfg:       cfg,
		pages:     map[string]*page{},
		clients:   map[string]*shared{},
		byKey:     map[string]*shared{},
		frames:    map[int64]*remoteFrame{},
		popups:    map[popupKey]*remotePopup{},
		exchanges: map[int64]*pendingExchange{},
	}
}

func (h *Hub) debug(format string, args ...any) {
	if h.cfg.Debug != nil {
		h.cfg.Debug(fmt.Sprintf(format, args...))
	}
}

// Connect adds a page; post sends it one message. Frames that waited for a
// page are opened in it.
func (h *Hub) Connect(id string, post func(text []byte)) {
	h.mu.Lock()
	h.tick++
	h.pages[id] = &page{id: id, post: post, active: h.tick, refs: map[string]int{}}
	var waiting []*remoteFrame
	for _, f := range h.frames {
		if f.host == "" {
			f.host = id
			waiting = append(waiting, f)
		}
	}
	h.mu.Unlock()
	send(post, map[string]any{"t": outWelcome})
	for _, f := range waiting {
		h.debug("frame %d waited for a page; page %s hosts it", f.id, id)
		send(post, map[string]any{"t": outOpen, "frame": f.id, "url": f.url})
	}
}

// Disconnect removes a page that said bye or whose port died: the frames it
// hosted move to another page (or wait for one, bounded by the request's
// own timeout), and the clients only it used are destroyed.
func (h *Hub) Disconnect(id string) {
	h.mu.Lock()
	p, ok := h.pages[id]
	if !ok {
		h.mu.Unlock()
		return
	}
	delete(h.pages, id)
	h.pageLeftLocked(id)
	h.exchangesLeftLocked(id)
	type move struct {
		f  *remoteFrame
		to *page
	}
	var moves []move
	for _, f := range h.frames {
		if f.host != id {
			continue
		}
		to := h.hostLocked()
		f.host = ""
		if to != nil {
			f.host = to.id
		}
		moves = append(moves, move{f, to})
	}
	var destroy []*shared
	for handle, n := range p.refs {
		if n > 0 && !h.usedLocked(handle) {
			s := h.clients[handle]
			delete(h.clients, handle)
			delete(h.byKey, s.key)
			destroy = append(destroy, s)
		}
	}
	h.mu.Unlock()
	for _, m := range moves {
		if m.to == nil {
			h.debug("page %s went away while hosting frame %d; no page is left, it waits for the next one", id, m.f.id)
			continue
		}
		h.debug("page %s went away while hosting frame %d; moved to page %s", id, m.f.id, m.to.id)
		send(m.to.post, map[string]any{"t": outOpen, "frame": m.f.id, "url": m.f.url})
	}
	for _, s := range destroy {
		s.eng.Destroy()
	}
}

// usedLocked reports whether any page still holds handle.
func (h *Hub) usedLocked(handle string) bool {
	for _, p := range h.pages {
		if p.refs[handle] > 0 {
			return true
		}
	}
	return false
}

// hostLocked picks the page for a new frame: the most recently active
// visible page, else the most recently active page, else nil.
func (h *Hub) hostLocked() *page {
	var best *page
	for _, p := range h.pages {
		switch {
		case best == nil,
			p.visible && !best.visible,
			p.visible == best.visible && p.active > best.active:
			best = p
		}
	}
	return best
}

// Pages is the number of connected pages.
func (h *Hub) Pages() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.pages)
}

// Receive handles one message from page id. What it cannot use is ignored.
func (h *Hub) Receive(id string, text []byte) {
	m, err := parse(text)
	if err != nil {
		h.debug("page %s: %v", id, err)
		return
	}
	h.mu.Lock()
	p, ok := h.pages[id]
	h.mu.Unlock()
	if !ok {
		h.debug("page %s: message from a page that is not connected", id)
		return
	}
	switch m.Type {
	case inHello, inSignal:
		h.mu.Lock()
		p.visible = m.Visible
		if m.Visible {
			h.tick++
			p.active = h.tick
		}
		h.mu.Unlock()
		if m.Wake {
			h.wake()
		}
	case inBye:
		h.Disconnect(id)
	case inCreate:
		h.create(p, m)
	case inCall:
		go h.call(p, m)
	case inRelease:
		h.release(p, m.Client)
	case inStats:
		h.stats(p, m.ID)
	case inFrame:
		h.frame(p, m)
	case inPopup:
		h.popupEvent(p, m)
	case inExchange:
		h.exchangeAnswer(p, m)
	}
}

func (h *Hub) create(p *page, m pageMessage) {
	opts, err := wire.ParseOptions(m.Options)
	if err != nil {
		h.reply(p, m.ID, nil, nil, err)
		return
	}
	// One client per configuration: the canonical JSON of what the page passed.
	keyBytes, _ := json.Marshal(m.Options)
	key := string(keyBytes)
	h.mu.Lock()
	s := h.byKey[key]
	if s == nil {
		h.nextID++
		s = &shared{handle: "c" + strconv.FormatInt(h.nextID, 10), key: key}
		s.b = &clientBrowser{h: h, base: h.cfg.Base, handle: s.handle}
		s.b.marker.note(m)
		if m.Head != nil {
			s.b.head = &headStart{page: p.id, req: *m.Head, exchanges: m.HeadExchanges}
		}
		h.mu.Unlock()
		if m.MarkerKey != "" {
			opts.MarkerKey = m.MarkerKey
		}
		// Made without the lock: the engine may ask its browser anything.
		handle := s.handle
		opts.OnEvent = func(e checksession.Event) { h.event(handle, e) }
		// Debug lines and warnings go to the pages' consoles, where the
		// application's developer looks, not only to the worker's.
		s.making = true
		opts.Logger = func(level checksession.LogLevel, line string) {
			if !s.whileMaking(level, line) {
				h.log(handle, level, line)
			}
		}
		var b platform.Browser = s.b
		if h.cfg.Vault != nil {
			b = vaultBrowser{s.b, h.cfg.Vault}
		}
		eng, err := h.cfg.NewEngine(opts, b)
		s.madeMu.Lock()
		s.making = false
		s.madeMu.Unlock()
		if err != nil {
			// Its warnings explain nothing the error does not.
			h.reply(p, m.ID, nil, nil, wire.JSError(err))
			return
		}
		s.eng = eng
		h.mu.Lock()
		if other := h.byKey[key]; other != nil {
			// Another create of this configuration got there first.
			h.mu.Unlock()
			eng.Destroy()
			h.mu.Lock()
			s = other // this page's head start is dropped below
		} else {
			h.clients[s.handle] = s
			h.byKey[key] = s
			m.Head = nil // the new engine may take it
		}
	}
	if _, still := h.pages[p.id]; !still {
		// The page left while its client was made: nobody holds it.
		orphan := !h.usedLocked(s.handle)
		if orphan {
			delete(h.clients, s.handle)
			delete(h.byKey, s.key)
		}
		h.mu.Unlock()
		if orphan {
			s.eng.Destroy()
		}
		return
	}
	p.refs[s.handle]++
	h.mu.Unlock()
	// The latest page's view of the marker (another tab may have changed it).
	s.b.marker.note(m)
	if m.Head != nil {
		// An engine that already ran makes its own requests, or needs none.
		send(p.post, map[string]any{"t": outDropHead})
	}
	s.madeMu.Lock()
	made := append([]logLine(nil), s.made...)
	s.madeMu.Unlock()
	for _, l := range made {
		send(p.post, logMessage(l.level, l.line))
	}
	// The user the engine already knows (another page signed in), so that
	// getUser answers at once, as in a page that has its result.
	var user any
	if u := s.eng.GetUser(); u != nil {
		user = u
	}
	h.reply(p, m.ID, map[string]any{"client": s.handle}, user, nil)
}

func (h *Hub) release(p *page, handle string) {
	h.mu.Lock()
	if p.refs[handle] > 0 {
		p.refs[handle]--
	}
	s := h.clients[handle]
	if s == nil || h.usedLocked(handle) {
		h.mu.Unlock()
		return
	}
	delete(h.clients, handle)
	delete(h.byKey, s.key)
	h.mu.Unlock()
	s.eng.Destroy()
}

// call runs one client method and replies; it runs on its own goroutine.
func (h *Hub) call(p *page, m pageMessage) {
	h.mu.Lock()
	s := h.clients[m.Client]
	held := p.refs[m.Client] > 0
	h.mu.Unlock()
	if s == nil || !held {
		h.reply(p, m.ID, nil, nil, checksession.ErrDestroyed)
		return
	}
	ctx := context.Background()
	var value any
	var err error
	switch m.Method {
	case "checkSession", "getTokenSilently", "loginWithRedirect", "loginWithPopup":
		var params checksession.AuthorizeParams
		if params, err = wire.ParseAuthorizeParams(orEmpty(m.Params)); err != nil {
			break
		}
		switch m.Method {
		case "checkSession":
			var r *checksession.AuthResult
			if r, err = s.eng.CheckSession(ctx, params); err == nil {
				value = wire.Result(r)
			}
		case "getTokenSilently":
			value, err = s.eng.GetTokenSilently(ctx, params)
		case "loginWithPopup":
			var r *checksession.AuthResult
			if r, err = h.loginWithPopup(ctx, p, s, m.Popup, params); err == nil {
				value = wire.Result(r)
			}
		default:
			err = h.redirecting(p, m.Storage, func() error { return s.eng.LoginWithRedirect(ctx, params) })
		}
	case "handleRedirectCallback":
		err = h.redirecting(p, m.Storage, func() error {
			r, err := s.eng.HandleRedirectCallback(ctx, m.URL)
			if err == nil {
				value = wire.Result(r)
			}
			return err
		})
	case "logout":
		var params checksession.LogoutParams
		if params, err = wire.ParseLogoutParams(orEmpty(m.Params)); err == nil {
			err = h.redirecting(p, m.Storage, func() error { return s.eng.Logout(ctx, params) })
		}
	case "checkApiUrl":
		err = s.eng.CheckAPIURL(m.URL)
	case "getAuthHeaders":
		method, _ := orEmpty(m.Params)["method"].(string)
		var headers map[string]string
		if headers, err = s.eng.AuthHeaders(ctx, m.URL, method); err == nil {
			v := make(map[string]any, len(headers))
			for k, h := range headers {
				v[k] = h
			}
			value = v
		}
	case "noteDpopNonce":
		if nonce, _ := orEmpty(m.Params)["nonce"].(string); nonce != "" {
			s.eng.NoteDPoPNonce(m.URL, nonce)
		}
	case "getUser":
	case "startAutoRenew":
		s.eng.StartAutoRenew()
	case "stopAutoRenew":
		s.eng.StopAutoRenew()
	default:
		err = &checksession.Error{Code: string(checksession.ErrInvalidConfiguration),
			Description: fmt.Sprintf("the engine has no method %q (a page of another silentauth version?)", m.Method)}
	}
	var user any
	if u := s.eng.GetUser(); u != nil {
		user = u
	}
	h.reply(p, m.ID, value, user, err)
}

func orEmpty(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

// redirecting runs fn as the one redirect call in progress, on page p with
// the page's sessionStorage entries it sent.
func (h *Hub) redirecting(p *page, storage map[string]string, fn func() error) error {
	h.redirect.Lock()
	defer h.redirect.Unlock()
	h.mu.Lock()
	h.redirectPage = p.id
	h.redirectStore = map[string]string{}
	for k, v := range storage {
		h.redirectStore[k] = v
	}
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		h.redirectPage = ""
		h.redirectStore = nil
		h.mu.Unlock()
	}()
	return fn()
}

// toRedirectPage sends msg to the page of the redirect call in progress.
func (h *Hub) toRedirectPage(msg map[string]any) error {
	h.mu.Lock()
	p := h.pages[h.redirectPage]
	h.mu.Unlock()
	if p == nil {
		return &checksession.Error{Code: string(checksession.ErrUnexpected),
			Description: fmt.Sprintf("%s: no page is in a redirect call", msg["t"])}
	}
	send(p.post, msg)
	return nil
}

func (h *Hub) reply(p *page, id int64, value, user any, err error) {
	msg := map[string]any{"t": outReply, "id": id}
	if err != nil {
		msg["error"] = errorObject(err)
	} else {
		if value != nil {
			msg["value"] = value
		}
		if user != nil {
			msg["user"] = user
		}
	}
	send(p.post, msg)
}

// event sends a client's event to every page holding the client.
func (h *Hub) event(handle string, e checksession.Event) {
	msg := map[string]any{"t": outEvent, "client": handle, "name": string(e.Name)}
	if e.Result != nil {
		msg["payload"] = wire.Result(e.Result)
	} else if e.Err != nil {
		msg["payload"] = errorObject(e.Err)
	}
	h.mu.Lock()
	var to []func([]byte)
	for _, p := range h.pages {
		if p.refs[handle] > 0 {
			to = append(to, p.post)
		}
	}
	h.mu.Unlock()
	for _, post := range to {
		send(post, msg)
	}
}

// stats answers silentauth.stats(): the runtime's figures and the frames
// the engine has open in pages.
func (h *Hub) stats(p *page, id int64) {
	v := map[string]any{"running": true}
	if h.cfg.Stats != nil {
		for k, x := range h.cfg.Stats() {
			v[k] = x
		}
	}
	h.mu.Lock()
	v["liveFrames"] = len(h.frames)
	h.mu.Unlock()
	h.reply(p, id, v, nil, nil)
}

// log sends a client's debug line or warning to every page holding it.
func (h *Hub) log(handle string, level checksession.LogLevel, line string) {
	h.mu.Lock()
	var to []func([]byte)
	for _, p := range h.pages {
		if p.refs[handle] > 0 {
			to = append(to, p.post)
		}
	}
	h.mu.Unlock()
	for _, post := range to {
		send(post, logMessage(level, line))
	}
}

func logMessage(level checksession.LogLevel, line string) map[string]any {
	lvl := "debug"
	if level == checksession.LogWarn {
		lvl = "warn"
	}
	return map[string]any{"t": outLog, "level": lvl, "line": line}
}

// errorObject is err as the page's SilentAuthError is made from.
func errorObject(err error) map[string]any {
	var code checksession.Code
	if errors.As(err, &code) { // a bare code (checksession.ErrDestroyed, say)
		return map[string]any{"error": string(code), "error_description": string(code)}
	}
	var e *checksession.Error
	if !errors.As(wire.JSError(err), &e) {
		return map[string]any{"error": string(checksession.ErrUnexpected), "error_description": err.Error()}
	}
	o := map[string]any{"error": e.Code, "error_description": e.Description}
	if e.State != "" {
		o["state"] = e.State
	}
	if secs, ok := wire.RetryAfter(e); ok { // a backoff runs: the page's error says when it ends
		o["retryAfter"] = secs
	}
	return o
}

func send(post func([]byte), msg map[string]any) {
	msg["v"] = Version
	text, ok := plainjson.Append(nil, msg)
	if !ok {
		// Only plain data is sent; anything else is a bug to see, not to send.
		text, _ = plainjson.Append(nil, map[string]any{"v": Version, "t": outReply, "id": msg["id"],
			"error": map[string]any{"error": string(checksession.ErrUnexpected), "error_description": "the engine could not encode its answer"}})
	}
	post(text)
}

// --- frames ---------------------------------------------------------------

func (h *Hub) openFrame(url string, fh platform.FrameHandler) (platform.Frame, error) {
	h.mu.Lock()
	h.nextFrame++
	f := &remoteFrame{id: h.nextFrame, url: url, h: fh}
	var post func([]byte)
	if p := h.hostLocked(); p != nil {
		f.host = p.id
		post = p.post
	}
	h.frames[f.id] = f
	h.mu.Unlock()
	if post == nil {
		h.debug("frame %d: no page is connected; it waits for one", f.id)
	} else {
		send(post, map[string]any{"t": outOpen, "frame": f.id, "url": url})
	}
	return &frameHandle{h: h, id: f.id}, nil
}

type frameHandle struct {
	h    *Hub
	id   int64
	once sync.Once
}

func (fh *frameHandle) Close() {
	fh.once.Do(func() {
		h := fh.h
		h.mu.Lock()
		f := h.frames[fh.id]
		delete(h.frames, fh.id)
		var post func([]byte)
		if f != nil && h.pages[f.host] != nil {
			post = h.pages[f.host].post
		}
		h.mu.Unlock()
		if post != nil {
			send(post, map[string]any{"t": outClose, "frame": fh.id})
		}
	})
}

// frame delivers what the hosting page saw; other pages are not listened to.
func (h *Hub) frame(p *page, m pageMessage) {
	h.mu.Lock()
	f := h.frames[m.Frame]
	h.mu.Unlock()
	if f == nil || f.host != p.id {
		h.debug("page %s: frame %d is not open there", p.id, m.Frame)
		return
	}
	switch m.Kind {
	case "load":
		if f.h.OnLoad != nil {
			f.h.OnLoad()
		}
	case "message":
		msg := platform.Message{Origin: m.Origin, FromFrame: m.FromFrame, Data: m.Data, DataProblem: m.Problem}
		if len(msg.Data) > platform.MaxMessageBytes {
			msg.Data, msg.DataProblem = nil, fmt.Sprintf("%d bytes of JSON, more than %d", len(m.Data), platform.MaxMessageBytes)
		}
		if f.h.OnMessage != nil {
			f.h.OnMessage(msg)
		}
	}
}

// --- page signals ------------------------------------------------------------

func (h *Hub) wake() {
	h.mu.Lock()
	var bs []*clientBrowser
	for _, s := range h.clients {
		bs = append(bs, s.b)
	}
	h.mu.Unlock()
	for _, b := range bs {
		b.wakeUp()
	}
}

// hidden is true when no connected page is visible.
func (h *Hub) hidden() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, p := range h.pages {
		if p.visible {
			return false
		}
	}
	return true
}

// clientBrowser is a client's platform.Browser in the worker: the
// network from the worker, the document from the pages.
type clientBrowser struct {
	h      *Hub
	base   platform.Browser
	handle string
	marker markerCopy
	// head is the creating page's head start, under h.mu; nil for none.
	head *headStart

	mu    sync.Mutex
	wakeC chan struct{}

	// popupMu serialises the client's loginWithPopup calls until the
	// engine takes the calling page's window (pending, under mu).
	popupMu sync.Mutex
	pending *remotePopup
}

// vaultBrowser is a clientBrowser with Config.Vault: a browser that has
// a SecretStore is what refreshTokenStorage "local" persists through, and
// one that has DPoPKeys is what useDpop signs with.
type vaultBrowser struct {
	*clientBrowser
	Vault
}

var (
	_ platform.SecretStore    = vaultBrowser{}
	_ platform.DPoPKeys       = vaultBrowser{}
	_ platform.PageSignals    = vaultBrowser{}
	_ platform.Connectivity   = vaultBrowser{}
	_ platform.TabCoordinator = vaultBrowser{}
	_ platform.RefreshCustody = vaultBrowser{}
	_ platform.LocalStorage   = vaultBrowser{}
	_ platform.Prestarter     = vaultBrowser{}
	_ platform.Browser        = (*clientBrowser)(nil)
	_ platform.PageSignals    = (*clientBrowser)(nil)
	_ platform.Connectivity   = (*clientBrowser)(nil)
	_ platform.TabCoordinator = (*clientBrowser)(nil)
	_ platform.RefreshCustody = (*clientBrowser)(nil)
	_ platform.LocalStorage   = (*clientBrowser)(nil)
	_ platform.Prestarter     = (*clientBrowser)(nil)
)

// Lead and Join are the worker's own Web Locks and BroadcastChannel. The
// engines of a configuration take turns by the lock named for the
// configuration, never for this worker: after a deploy the old version's
// worker and the new one's, and tabs with the in-page engine, renew once
// between them and verify each other's results.
func (b *clientBrowser) Lead(name string, onLead func()) (func(), error) {
	tc, ok := b.base.(platform.TabCoordinator)
	if !ok {
		return nil, errors.New("hub: the worker has no Web Locks")
	}
	return tc.Lead(name, onLead)
}

func (b *clientBrowser) Join(name string, onMessage func([]byte)) (platform.Channel, error) {
	tc, ok := b.base.(platform.TabCoordinator)
	if !ok {
		return nil, errors.New("hub: the worker has no BroadcastChannel")
	}
	return tc.Join(name, onMessage)
}

// KeepsRefreshToken: the refresh token never leaves the worker; pages get
// tokens only through the API, and no tab message carries it either way.
func (b *clientBrowser) KeepsRefreshToken() bool { return true }

func (b *clientBrowser) Origin() string            { return b.base.Origin() }
func (b *clientBrowser) CrossOriginIsolated() bool { return b.base.CrossOriginIsolated() }

// Fetch sends req from the worker, unless it is the code exchange the
// head start's page already sent: then that page's answer.
func (b *clientBrowser) Fetch(ctx context.Context, req platform.HTTPRequest) (*platform.HTTPResponse, error) {
	if req.IsFormPost() {
		if resp, err := b.earlyExchange(ctx, req); resp != nil || err != nil {
			return resp, err
		}
	}
	return b.base.Fetch(ctx, req)
}
func (b *clientBrowser) OpenFrame(url string, fh platform.FrameHandler) (platform.Frame, error) {
	if f := b.adoptHead(url, fh); f != nil {
		return f, nil
	}
	return b.h.openFrame(url, fh)
}

// Location is empty: the page side always sends its address with
// handleRedirectCallback.
func (b *clientBrowser) Location() string { return "" }
func (b *clientBrowser) Navigate(url string) error {
	return b.h.toRedirectPage(map[string]any{"t": outNavigate, "url": url})
}
func (b *clientBrowser) ReplaceLocation(url string) error {
	return b.h.toRedirectPage(map[string]any{"t": outReplace, "url": url})
}
func (b *clientBrowser) SessionStorage() platform.Storage { return redirectStorage{b.h} }

func (b *clientBrowser) Online() bool {
	if c, ok := b.base.(platform.Connectivity); ok {
		return c.Online()
	}
	return true
}

func (b *clientBrowser) Hidden() bool { return b.h.hidden() }

func (b *clientBrowser) Wake() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.wakeC == nil {
		b.wakeC = make(chan struct{}, 1)
	}
	return b.wakeC
}

func (b *clientBrowser) wakeUp() {
	b.mu.Lock()
	c := b.wakeC
	b.mu.Unlock()
	if c != nil {
		select {
		case c <- struct{}{}:
		default:
		}
	}
}

// redirectStorage is the sessionStorage of the page in the redirect call:
// read from what it sent, written through to it.
type redirectStorage struct{ h *Hub }

func (s redirectStorage) Get(key string) (string, bool) {
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	v, ok := s.h.redirectStore[key]
	return v, ok
}

func (s redirectStorage) Set(key, value string) error {
	s.h.mu.Lock()
	if s.h.redirectStore != nil {
		s.h.redirectStore[key] = value
	}
	s.h.mu.Unlock()
	return s.h.toRedirectPage(map[string]any{"t": outStorage, "key": key, "value": value})
}

func (s redirectStorage) Remove(key string) {
	s.h.mu.Lock()
	if s.h.redirectStore != nil {
		delete(s.h.redirectStore, key)
	}
	s.h.mu.Unlock()
	_ = s.h.toRedirectPage(map[string]any{"t": outStorage, "key": key, "value": nil})
}

// --- the signed-in marker ----------------------------------------------------

// markerCopy is the worker's copy of a client's signed-in marker: the worker
// has no localStorage, so the pages send what theirs holds when they create
// the client, and the engine's writes go to every page holding the client.
// The loader reads the marker in the page to answer an anonymous visitor's
// checkSession without the engine (assumeSignedOut); the engine reads the
// copy to explain a login_required after a sign-in.
type markerCopy struct {
	mu    sync.Mutex
	key   string
	value string
	ok    bool
}

// note takes the marker a create message reports, if it names one.
func (c *markerCopy) note(m pageMessage) {
	if m.MarkerKey == "" {
		return
	}
	c.mu.Lock()
	c.key, c.value, c.ok = m.MarkerKey, m.Marker, m.HasMarker
	c.mu.Unlock()
}

// LocalStorage is the marker's storage: only marker keys, read from the
// copy and written through to the pages.
func (b *clientBrowser) LocalStorage() platform.Storage { return markerStorage{b} }

type markerStorage struct{ b *clientBrowser }

func (s markerStorage) Get(key string) (string, bool) {
	c := &s.b.marker
	c.mu.Lock()
	defer c.mu.Unlock()
	if key != c.key {
		return "", false
	}
	return c.value, c.ok
}

func (s markerStorage) Set(key, value string) error {
	if !strings.HasPrefix(key, platform.MarkerPrefix) {
		return fmt.Errorf("hub: %q is not a signed-in marker's key", key)
	}
	s.write(key, value, true)
	return nil
}

func (s markerStorage) Remove(key string) {
	if strings.HasPrefix(key, platform.MarkerPrefix) {
		s.write(key, "", false)
	}
}

func (s markerStorage) write(key, value string, ok bool) {
	c := &s.b.marker
	c.mu.Lock()
	c.key, c.value, c.ok = key, value, ok
	c.mu.Unlock()
	msg := map[string]any{"t": outMarker, "key": key, "value": nil}
	if ok {
		msg["value"] = value
	}
	h := s.b.h
	h.mu.Lock()
	var to []func([]byte)
	for _, p := range h.pages {
		if p.refs[s.b.handle] > 0 {
			to = append(to, p.post)
		}
	}
	h.mu.Unlock()
	for _, post := range to {
		send(post, msg)
	}
}

// --- the head start ------------------------------------------------------------

// headStart is the first silent request a page started while the engine
// booted: its iframe is in that page, loading req.URL, and the page keeps
// what the iframe posts until the engine adopts it or drops it. The engine
// checks the adopted request's answer as any other (state, nonce, PKCE,
// signature); the page vouches for nothing.
type headStart struct {
	page    string
	req     platform.PrestartedRequest
	taken   bool
	adopted string // the URL whose next OpenFrame takes the page's iframe
	done    bool
	// exchanges: the page sends the code exchange early and gives it when
	// asked; asked: it was asked.
	exchanges bool
	asked     bool
}

// TakePrestarted hands the page's request over once.
func (b *clientBrowser) TakePrestarted(context.Context) *platform.PrestartedRequest {
	b.h.mu.Lock()
	defer b.h.mu.Unlock()
	hs := b.head
	if hs == nil || hs.taken || hs.done {
		return nil
	}
	hs.taken = true
	r := hs.req
	return &r
}

// SettlePrestarted keeps the page's iframe for the next OpenFrame(url), or
// has the page remove it.
func (b *clientBrowser) SettlePrestarted(adopt bool, url string) {
	h := b.h
	h.mu.Lock()
	hs := b.head
	if hs == nil || hs.done {
		h.mu.Unlock()
		return
	}
	if adopt {
		hs.adopted = url
		h.mu.Unlock()
		return
	}
	hs.done = true
	p := h.pages[hs.page]
	h.mu.Unlock()
	if p != nil {
		send(p.post, map[string]any{"t": outDropHead})
	}
}

// adoptHead makes the page's iframe the frame for url when url is the
// adopted request and its page is still here; nil otherwise.
func (b *clientBrowser) adoptHead(url string, fh platform.FrameHandler) platform.Frame {
	h := b.h
	h.mu.Lock()
	hs := b.head
	if hs == nil || hs.done || hs.adopted == "" || hs.adopted != url {
		h.mu.Unlock()
		return nil
	}
	hs.done = true
	p := h.pages[hs.page]
	if p == nil {
		// Its page left with the iframe: a frame of the engine's own.
		h.mu.Unlock()
		return nil
	}
	h.nextFrame++
	f := &remoteFrame{id: h.nextFrame, url: url, host: p.id, h: fh}
	h.frames[f.id] = f
	h.mu.Unlock()
	h.debug("frame %d: the head start's iframe in page %s", f.id, p.id)
	send(p.post, map[string]any{"t": outAdoptFrame, "frame": f.id, "url": url})
	return &frameHandle{h: h, id: f.id}
}

// --- the code exchange the head start sent early ------------------------------

// exchangeWait bounds the wait for the head start's page to give its code
// exchange: a page frozen in the background must not hold the engine.
const exchangeWait = 10 * time.Second

// pendingExchange is a takeExchange waiting for page's answer; c is closed
// when the page leaves first.
type pendingExchange struct {
	page string
	c    chan pageMessage // buffered: exchangeAnswer never blocks
}

// earlyExchange is the answer to req from the head start's page when its
// loader sent that very code exchange early; nil when the page holds none,
// has left, does not answer in time, or its request got no answer (req
// then goes to the network). The head start is asked once, and only when
// its request was adopted.
//
// A page whose request failed may not have spent the code: its CSP or its
// network may stop what the worker's let through. So the worker sends its
// own; where the page's did reach the server, the worker's earns
// invalid_grant, and the server may revoke the tokens nobody received.
func (b *clientBrowser) earlyExchange(ctx context.Context, req platform.HTTPRequest) (*platform.HTTPResponse, error) {
	h := b.h
	h.mu.Lock()
	hs := b.head
	var p *page
	if hs != nil && hs.exchanges && hs.adopted != "" && !hs.asked {
		p = h.pages[hs.page]
	}
	if p == nil {
		h.mu.Unlock()
		return nil, nil
	}
	hs.asked = true
	h.nextXID++
	xid := h.nextXID
	c := make(chan pageMessage, 1)
	h.exchanges[xid] = &pendingExchange{page: p.id, c: c}
	h.mu.Unlock()
	send(p.post, map[string]any{"t": outTakeExchange, "xid": xid, "url": req.URL, "body": string(req.Body)})
	timer := time.NewTimer(exchangeWait)
	defer timer.Stop()
	var m pageMessage
	answered := false
	select {
	case m, answered = <-c:
	case <-ctx.Done():
	case <-timer.C:
	}
	if !answered {
		h.mu.Lock()
		delete(h.exchanges, xid)
		h.mu.Unlock()
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		h.debug("page %s did not give the head start's code exchange; the engine sends its own", p.id)
		return nil, nil
	}
	if m.Problem != "" {
		h.debug("page %s: the code exchange its head start sent got no answer (%s); the engine sends its own", p.id, m.Problem)
	}
	return m.Answer, nil
}

// exchangeAnswer hands page p's answer to the takeExchange waiting for it.
func (h *Hub) exchangeAnswer(p *page, m pageMessage) {
	h.mu.Lock()
	x := h.exchanges[m.XID]
	if x != nil && x.page == p.id {
		delete(h.exchanges, m.XID)
	} else {
		x = nil
	}
	h.mu.Unlock()
	if x == nil {
		h.debug("page %s: an exchange answer nobody waits for", p.id)
		return
	}
	x.c <- m
}

// exchangesLeftLocked ends the waits on page id, which left.
func (h *Hub) exchangesLeftLocked(id string) {
	for xid, x := range h.exchanges {
		if x.page == id {
			delete(h.exchanges, xid)
			close(x.c)
		}
	}
}
