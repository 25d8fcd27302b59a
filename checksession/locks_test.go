package checksession

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/silentauth/silentauth/checksession/platform"
)

// engineLocks are a client's own mutexes, by name.
func engineLocks(c *Client) map[string]*sync.Mutex {
	return map[string]*sync.Mutex{
		"renewer.mu": &c.renewer.mu, "group.mu": &c.group.mu, "tokens.mu": &c.tokens.mu,
		"backoffs.mu": &c.engine.backoffs.mu, "inflight.mu": &c.engine.inflight.mu, "renewals.mu": &c.engine.renewals.mu,
		"refresh.mu": &c.refresh.mu, "handover.mu": &c.handover.mu, "disc.mu": &c.disc.mu,
	}
}

// heldHere reports whether mu stays locked for as long as a moment of real
// time: from inside a call out, that is the calling goroutine holding it
// (another goroutine holds one of these only for a few statements).
func heldHere(mu *sync.Mutex) bool {
	deadline := time.Now().Add(200 * time.Millisecond)
	for !mu.TryLock() {
		if time.Now().After(deadline) {
			return true
		}
		runtime.Gosched()
	}
	mu.Unlock()
	return false
}

// lockProbe is called at every call the engine makes out of itself, to
// the application (logger, events) or to the page (the browser's
// interfaces), and records each one made with a lock of a client held.
type lockProbe struct {
	mu      sync.Mutex
	clients []*Client
	calls   map[string]int
	held    []string
}

func newLockProbe() *lockProbe { return &lockProbe{calls: map[string]int{}} }

func (p *lockProbe) add(c *Client) {
	p.mu.Lock()
	p.clients = append(p.clients, c)
	p.mu.Unlock()
}

func (p *lockProbe) check(call string) {
	p.mu.Lock()
	p.calls[call]++
	clients := slices.Clone(p.clients)
	p.mu.Unlock()
	for i, c := range clients {
		for name, m := range engineLocks(c) {
			if heldHere(m) {
				p.mu.Lock()
				p.held = append(p.held, fmt.Sprintf("%s under client %d's %s", call, i, name))
				p.mu.Unlock()
			}
		}
	}
}

// report fails t for every call made under a lock, and for a call the
// scenario should have made that never came (the probe would prove nothing).
func (p *lockProbe) report(t *testing.T, want ...string) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, h := range p.held {
		t.Errorf("called out with a lock held: %s", h)
	}
	for _, call := range want {
		if p.calls[call] == 0 {
			t.Errorf("the scenario never made the call %q (calls %v)", call, p.calls)
		}
	}
}

// options are the fixture's, with the logger and events going through p.
func (p *lockProbe) options(fx *fixture) Options {
	o := fx.options()
	logger, onEvent := o.Logger, o.OnEvent
	o.Logger = func(l LogLevel, s string) { p.check("Logger"); logger(l, s) }
	o.OnEvent = func(e Event) { p.check("OnEvent"); onEvent(e) }
	return o
}

// probedTab is a tab whose every call into the page goes through p.
type probedTab struct {
	*fakeBrowser
	p     *lockProbe
	hub   *tabHub
	local *memStorage
	store *memSecretStore
}

func (b probedTab) Origin() string { b.p.check("Origin"); return b.fakeBrowser.Origin() }
func (b probedTab) Fetch(ctx context.Context, req platform.HTTPRequest) (*platform.HTTPResponse, error) {
	b.p.check("Fetch")
	return b.fakeBrowser.Fetch(ctx, req)
}
func (b probedTab) OpenFrame(u string, h platform.FrameHandler) (platform.Frame, error) {
	b.p.check("OpenFrame")
	return b.fakeBrowser.OpenFrame(u, h)
}
func (b probedTab) Online() bool          { b.p.check("Online"); return true }
func (b probedTab) Wake() <-chan struct{} { return nil }
func (b probedTab) Hidden() bool          { b.p.check("Hidden"); return false }
func (b probedTab) LocalStorage() platform.Storage {
	b.p.check("LocalStorage")
	return probedStorage{b.local, b.p}
}
func (b probedTab) Lead(name string, onLead func()) (func(), error) {
	b.p.check("Lead")
	release, err := b.hub.Lead(name, onLead)
	return func() { b.p.check("release"); release() }, err
}
func (b probedTab) Join(name string, onMessage func([]byte)) (platform.Channel, error) {
	b.p.check("Join")
	ch, err := b.hub.Join(name, onMessage)
	return probedChannel{ch, b.p}, err
}
func (b probedTab) OnPageHide(fn func()) func() {
	b.p.check("OnPageHide")
	return func() { b.p.check("remove pagehide") }
}
func (b probedTab) Load(ctx context.Context, k string) (string, bool, error) {
	b.p.check("SecretStore.Load")
	return b.store.Load(ctx, k)
}
func (b probedTab) Save(ctx context.Context, k, v string) error {
	b.p.check("SecretStore.Save")
	return b.store.Save(ctx, k, v)
}
func (b probedTab) Delete(ctx context.Context, k string) error {
	b.p.check("SecretStore.Delete")
	return b.store.Delete(ctx, k)
}

type probedChannel struct {
	platform.Channel
	p *lockProbe
}

func (c probedChannel) Post(data []byte) error { c.p.check("Post"); return c.Channel.Post(data) }
func (c probedChannel) Close()                 { c.p.check("Close"); c.Channel.Close() }

type probedStorage struct {
	*memStorage
	p *lockProbe
}

func (s probedStorage) Get(k string) (string, bool) {
	s.p.check("Storage.Get")
	return s.memStorage.Get(k)
}
func (s probedStorage) Set(k, v string) error {
	s.p.check("Storage.Set")
	return s.memStorage.Set(k, v)
}
func (s probedStorage) Remove(k string) { s.p.check("Storage.Remove"); s.memStorage.Remove(k) }

// No user callback and no call into the page runs under one of the engine's
// locks: a logger or an event handler may call the client back, and a call
// into the page may run page code that does, or wait on the event loop.
func TestTheEngineCallsOutWithNoLockHeld(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, fx *fixture, p *lockProbe, tab func(edit ...func(*Options)) *Client)
		want []string // calls the scenario must make
	}{
		{"tabs that renew, share, fail and leave", func(t *testing.T, fx *fixture, p *lockProbe, tab func(edit ...func(*Options)) *Client) {
			fx.expiresIn = 120
			clients := []*Client{tab(), tab()}
			for _, c := range clients {
				if _, err := c.CheckSession(context.Background(), AuthorizeParams{}); err != nil {
					t.Fatal(err)
				}
			}
			frames := fx.b.frameCount()
			advanceUntil(t, fx, 5*time.Minute, func() bool { return fx.b.frameCount() > frames }, clients...)
			// A new page of this browser, which signed in here before, is
			// told why its first login_required is likely a cookie problem.
			fx.answer(answerLoginRequired("Login required"))
			if _, err := tab().CheckSession(context.Background(), AuthorizeParams{}); err == nil {
				t.Fatal("checkSession succeeded without a session")
			}
			advanceUntil(t, fx, 5*time.Minute, func() bool { return slices.Contains(fx.eventList(), "session_ended") }, clients...)
			for _, c := range clients {
				c.Destroy()
			}
		}, []string{"Logger", "OnEvent", "Origin", "Fetch", "OpenFrame", "Online", "Hidden", "LocalStorage",
			"Storage.Set", "Storage.Get", "Lead", "release", "Join", "Post", "Close"}},
		{"a refresh token kept in the page's store, renewed and forgotten", func(t *testing.T, fx *fixture, p *lockProbe, tab func(edit ...func(*Options)) *Client) {
			fx.expiresIn = 120
			srv := newIssuingServer(fx)
			c := tab(func(o *Options) { o.UseRefreshTokens, o.RefreshTokenStorage = true, RefreshTokenStorageLocal })
			if _, err := checkAdvancing(t, fx, c); err != nil { // it asks its group first
				t.Fatal(err)
			}
			advanceUntil(t, fx, 5*time.Minute, func() bool { return len(srv.presented()) == 2 }, c)
			if err := c.Logout(context.Background(), LogoutParams{LocalOnly: true}); err != nil {
				t.Fatal(err)
			}
			c.Destroy()
		}, []string{"Logger", "OnEvent", "SecretStore.Load", "SecretStore.Save", "SecretStore.Delete", "OnPageHide"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := newFixture(t)
			p := newLockProbe()
			hub, local, store := newTabHub(), newLocal(), &memSecretStore{m: map[string]string{}}
			tab := func(edit ...func(*Options)) *Client {
				o := p.options(fx)
				for _, e := range edit {
					e(&o)
				}
				c, err := NewClient(o, probedTab{fx.b, p, hub, local, store}, fx.clock)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(c.Destroy)
				p.add(c)
				return c
			}
			tc.run(t, fx, p, tab)
			p.report(t, tc.want...)
		})
	}
}

// A store whose write calls the holder back (page code run by the write
// may reach the engine) finds it answering: no lock of the holder's is held
// across the write.
func TestAStoreWriteCanCallTheHolderBack(t *testing.T) {
	s, err := Options{Domain: "d", ClientID: "spa", UseRefreshTokens: true, RefreshTokenStorage: RefreshTokenStorageLocal}.validate(pageOrigin)
	if err != nil {
		t.Fatal(err)
	}
	st := &callbackStore{memSecretStore: &memSecretStore{m: map[string]string{}}}
	h := newRefreshTokens(s, storeBrowser{newFakeBrowser(), st.memSecretStore})
	h.store = st
	st.onSave = func() {
		_ = h.Has()
		_ = h.Reload(context.Background())
	}
	done := make(chan error, 1)
	go func() { done <- h.Adopt(context.Background(), "a") }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the write waited on itself: the holder kept a lock across the store's Save")
	}
	if got, _ := h.Current(); got != "a" {
		t.Errorf("holding %q, want a", got)
	}
	if got, _, _ := st.memSecretStore.Load(context.Background(), h.key); got != "a" {
		t.Errorf("stored %q, want a", got)
	}
}

// callbackStore is memSecretStore that runs onSave inside each Save.
type callbackStore struct {
	*memSecretStore
	onSave func()
}

func (s *callbackStore) Save(ctx context.Context, k, v string) error {
	if s.onSave != nil {
		s.onSave()
	}
	return s.memSecretStore.Save(ctx, k, v)
}
