package checksession

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/silentauth/silentauth/checksession/platform"
)

// testClock is a Clock whose time moves only when a test says so.
type testClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	c       *testClock
	at      time.Time
	ch      chan time.Time
	stopped bool
	fired   bool
}

func newTestClock() *testClock {
	return &testClock{now: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) NewTimer(d time.Duration) platform.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: c, at: c.now.Add(d), ch: make(chan time.Time, 1)}
	c.timers = append(c.timers, t)
	return t
}

func (t *fakeTimer) C() <-chan time.Time { return t.ch }
func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := !t.stopped && !t.fired
	t.stopped = true
	return was
}

// Advance moves time on and fires the timers that came due.
func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var live []*fakeTimer
	for _, t := range c.timers {
		switch {
		case t.stopped || t.fired:
		case !t.at.After(c.now):
			t.fired = true
			t.ch <- c.now
		default:
			live = append(live, t)
		}
	}
	c.timers = live
	c.mu.Unlock()
}

// pending lists the live timers' durations from now, shortest first.
func (c *testClock) pending() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ds []time.Duration
	for _, t := range c.timers {
		if !t.stopped && !t.fired {
			ds = append(ds, t.at.Sub(c.now))
		}
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds
}

// waitFor waits until cond holds, yielding to the goroutines under test
// instead of sleeping: it waits on them, never on the fake clock, and gives
// up after five seconds of real time.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		runtime.Gosched()
	}
}

// waitArmed waits until at least n timers are armed: the code under test has
// reached the point where only the fake clock can move it on.
func (c *testClock) waitArmed(t *testing.T, n int, what string) {
	t.Helper()
	waitFor(t, what, func() bool { return len(c.pending()) >= n })
}

// quiet reports whether every goroutine of this package but the caller is
// blocked on a channel (or a WaitGroup, waiting on the others): a snapshot
// of the whole program, taken with the world stopped, in which nothing can
// move on until the fake clock or the test does. A goroutine that is
// runnable, running, sleeping on the real clock or waiting for a mutex is
// still at work. The engine keeps no record of its own for this.
func quiet() bool {
	buf := make([]byte, 64<<10)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	goroutines := strings.Split(string(buf), "\n\n")
	for _, g := range goroutines[1:] { // the first is the caller
		if !strings.Contains(g, "silentauth/checksession.") {
			continue
		}
		header, _, _ := strings.Cut(g, "\n") // goroutine 7 [select, 2 minutes]:
		_, state, _ := strings.Cut(header, "[")
		state, _, _ = strings.Cut(state, "]")
		state, _, _ = strings.Cut(state, ",")
		switch state {
		case "select", "select (no cases)", "chan receive", "chan send", "chan receive (nil chan)",
			"chan send (nil chan)", "sync.WaitGroup.Wait", "sync.Cond.Wait":
		default:
			return false
		}
	}
	return true
}

// size is how many pieces of work are in flight.
func (fs *flights) size() int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return len(fs.m)
}

// settled reports whether c has nothing in the works that a blocked
// goroutine could hide: no request and no shared result's verification,
// and no poke the renewal loop has not taken. A tab that asks its group
// while it holds no refresh token and verifies nothing is parked until
// the group answers or the clock moves.
func (c *Client) settled() bool {
	if c.engine.asks.asking.Load() > 0 && !c.refresh.Has() && c.group.adopting.Load() == 0 {
		return true
	}
	if c.engine.inflight.size() > 0 || c.group.adopting.Load() > 0 {
		return false
	}
	r := c.renewer
	r.mu.Lock()
	looping := r.stopLoop != nil
	r.mu.Unlock()
	return !looping || len(r.poked) == 0 // without a loop, a poke waits for none
}

// idle reports whether the client has nothing to do until the fake clock or
// the test moves: it is settled and no goroutine can run.
func (c *Client) idle() bool { return c.settled() && quiet() }

// allIdle reports whether every client is idle, on one snapshot of the
// goroutines.
func allIdle(clients []*Client) bool {
	for _, c := range clients {
		if !c.settled() {
			return false
		}
	}
	return quiet()
}

// inParallel runs call(0) … call(n-1), each on a goroutine of its own, and
// returns the function that waits for them all.
func inParallel(n int, call func(i int)) (wait func()) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			call(i)
		}()
	}
	return wg.Wait
}

// advanceUntil moves the fake clock from one armed timer to the next,
// waiting each time until every client is idle, until cond holds.
func advanceUntil(t *testing.T, fx *fixture, limit time.Duration, cond func() bool, clients ...*Client) {
	t.Helper()
	start := fx.clock.Now()
	for {
		waitFor(t, "the clients to settle", func() bool { return allIdle(clients) })
		if cond() {
			return
		}
		next := fx.clock.pending()
		if len(next) == 0 {
			fx.mu.Lock()
			logs := fx.logs[max(0, len(fx.logs)-8):]
			fx.mu.Unlock()
			t.Fatalf("nothing left to wait for after %v of fake time; frames %d; logs %q", fx.clock.Now().Sub(start), fx.b.frameCount(), logs)
		}
		if fx.clock.Now().Add(next[0]).Sub(start) > limit {
			fx.mu.Lock()
			logs := fx.logs[max(0, len(fx.logs)-6):]
			fx.mu.Unlock()
			t.Fatalf("not reached within %v of fake time; frames %d; logs %q; pending %v", limit, fx.b.frameCount(), logs, next)
		}
		fx.clock.Advance(next[0])
	}
}

// fakeFrame is one iframe the fake browser opened.
type fakeFrame struct {
	URL     *url.URL
	handler platform.FrameHandler
	b       *fakeBrowser

	mu     sync.Mutex
	closed bool
}

func (f *fakeFrame) Close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.closed {
		f.closed = true
		f.b.open.Add(-1)
	}
}

func (f *fakeFrame) isClosed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.closed
}

// post delivers a message as the window would, unless the frame is closed
// (its listener is gone then).
func (f *fakeFrame) post(origin string, fromFrame bool, data any) {
	if f.isClosed() {
		return
	}
	m := platform.Message{Origin: origin, FromFrame: fromFrame}
	if raw, ok := data.([]byte); ok {
		m.Data = raw
	} else if b, err := json.Marshal(data); err == nil {
		m.Data = b
	}
	f.handler.OnMessage(m)
}

// respond posts an authorization response as the server's page would.
func (f *fakeFrame) respond(response map[string]any) {
	f.post(serverOrigin, true, map[string]any{"type": "authorization_response", "response": response})
}

func (f *fakeFrame) param(name string) string { return f.URL.Query().Get(name) }

type counter struct {
	mu sync.Mutex
	n  int
}

func (c *counter) Add(d int) { c.mu.Lock(); c.n += d; c.mu.Unlock() }
func (c *counter) Load() int { c.mu.Lock(); defer c.mu.Unlock(); return c.n }

// fakeBrowser plays the page and, through onFrame and routes, the server.
type fakeBrowser struct {
	origin   string
	isolated bool
	// onFrame runs in its own goroutine for every frame opened.
	onFrame func(f *fakeFrame)
	// routes answer Fetch by URL; a missing route is a network error.
	routes map[string]func(req platform.HTTPRequest) (*platform.HTTPResponse, error)

	mu       sync.Mutex
	frames   []*fakeFrame
	fetches  []platform.HTTPRequest
	open     counter
	location string
	replaced string
	storage  *memStorage
}

const (
	pageOrigin   = "https://app.example.com"
	serverOrigin = "https://login.example.com"
)

func newFakeBrowser() *fakeBrowser {
	return &fakeBrowser{origin: pageOrigin, routes: map[string]func(platform.HTTPRequest) (*platform.HTTPResponse, error){}, storage: &memStorage{m: map[string]string{}}}
}

func (b *fakeBrowser) Origin() string            { return b.origin }
func (b *fakeBrowser) CrossOriginIsolated() bool { return b.isolated }

func (b *fakeBrowser) Fetch(ctx context.Context, req platform.HTTPRequest) (*platform.HTTPResponse, error) {
	b.mu.Lock()
	b.fetches = append(b.fetches, req)
	route := b.routes[req.URL]
	b.mu.Unlock()
	if route == nil {
		u, _ := url.Parse(req.URL)
		if u != nil {
			u.RawQuery = ""
			b.mu.Lock()
			route = b.routes[u.String()]
			b.mu.Unlock()
		}
	}
	if route == nil {
		return nil, errors.New("TypeError: Failed to fetch")
	}
	return route(req)
}

func (b *fakeBrowser) OpenFrame(rawURL string, h platform.FrameHandler) (platform.Frame, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	f := &fakeFrame{URL: u, handler: h, b: b}
	b.mu.Lock()
	b.frames = append(b.frames, f)
	b.mu.Unlock()
	b.open.Add(1)
	if b.onFrame != nil {
		go b.onFrame(f)
	}
	return f, nil
}

func (b *fakeBrowser) Location() string { b.mu.Lock(); defer b.mu.Unlock(); return b.location }
func (b *fakeBrowser) Navigate(u string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.location = u
	return nil
}
func (b *fakeBrowser) ReplaceLocation(u string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.replaced = u
	return nil
}
func (b *fakeBrowser) SessionStorage() platform.Storage { return b.storage }

func (b *fakeBrowser) frameCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.frames)
}

func (b *fakeBrowser) frame(i int) *fakeFrame {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.frames[i]
}

func (b *fakeBrowser) fetchCount(u string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, r := range b.fetches {
		if r.URL == u {
			n++
		}
	}
	return n
}

type memStorage struct {
	mu sync.Mutex
	m  map[string]string
}

func (s *memStorage) Get(k string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[k]
	return v, ok
}
func (s *memStorage) Set(k, v string) error { s.mu.Lock(); defer s.mu.Unlock(); s.m[k] = v; return nil }
func (s *memStorage) Remove(k string)       { s.mu.Lock(); defer s.mu.Unlock(); delete(s.m, k) }

func jsonResponse(status int, v any) (*platform.HTTPResponse, error) {
	b, _ := json.Marshal(v)
	return &platform.HTTPResponse{Status: status, Body: b}, nil
}
