//go:build js && wasm

package jsbridge

import (
	"errors"
	"fmt"
	"sync"

	"github.com/hack-pad/safejs"
	"github.com/silentauth/silentauth/checksession"
	"github.com/silentauth/silentauth/checksession/platform"
	"github.com/silentauth/silentauth/internal/safego"
)

var _ platform.TabCoordinator = (*Browser)(nil)

// tabState is what Lead and Join hold for a Browser, so that Close can let
// go of the locks and channels a client forgot.
type tabState struct {
	mu       sync.Mutex
	leads    map[*lead]struct{}
	channels map[*channel]struct{}
}

// Lead asks for the Web Lock called name: navigator.locks.request(name,
// {mode: "exclusive", signal}, callback). The callback holds the lock with a
// promise that only release resolves, so the lock goes to the next tab when
// release is called or this tab goes away. release before the grant aborts
// the request. onLead runs on its own goroutine: it is called from a JS
// callback, which must not block.
func (b *Browser) Lead(name string, onLead func()) (release func(), err error) {
	locks, err := navigatorLocks(b.window)
	if err != nil {
		return nil, err
	}
	ctor, err := getGuarded(b.window, "AbortController")
	if err != nil || ctor.Type() != safejs.TypeFunction {
		return nil, errors.New("jsbridge: no AbortController, so a lock request could not be withdrawn")
	}
	ctrl, err := ctor.New()
	if err != nil {
		return nil, fmt.Errorf("jsbridge: new AbortController: %w", err)
	}
	signal, err := ctrl.Get("signal")
	if err != nil {
		return nil, err
	}
	l := &lead{b: b, ctrl: ctrl, onLead: onLead}
	if l.grant, err = NewFunc(l.granted); err != nil {
		return nil, err
	}
	if l.settle, err = NewFunc(l.settled); err != nil {
		l.grant.Release()
		return nil, err
	}
	opts, err := ToJS(map[string]any{"mode": "exclusive", "signal": signal})
	if err != nil {
		l.grant.Release()
		l.settle.Release()
		return nil, err
	}
	p, err := locks.Call("request", name, opts, l.grant.Value())
	if err != nil {
		// request threw synchronously (a name starting with "-", say), so
		// nothing will call either function.
		l.grant.Release()
		l.settle.Release()
		return nil, fmt.Errorf("jsbridge: navigator.locks.request: %w", err)
	}
	// The request settles once the lock is let go or the request aborted;
	// only then is it certain the lock callback will not be called, and
	// both functions can go. Handling the rejection also keeps an abort
	// from being reported as an unhandled rejection.
	if _, err := p.Call("then", l.settle.Value(), l.settle.Value()); err != nil {
		// Cannot happen with a real promise. Withdraw the request; the
		// functions stay, since the lock callback may still be called.
		l.release()
		return nil, fmt.Errorf("jsbridge: lock request: %w", err)
	}
	track(&b.tabs, &b.tabs.leads, l)
	return l.release, nil
}

// navigatorLocks is navigator.locks, which exists only in secure contexts
// (https, localhost) of browsers with Web Locks.
func navigatorLocks(window safejs.Value) (safejs.Value, error) {
	nav, err := getGuarded(window, "navigator")
	if err == nil && nav.Type() == safejs.TypeObject {
		locks, err := getGuarded(nav, "locks")
		if err == nil && locks.Type() == safejs.TypeObject {
			return locks, nil
		}
	}
	return safejs.Value{}, errors.New("jsbridge: navigator.locks is unavailable (Web Locks need a secure context and a browser that has them)")
}

// lead is one lock request, from Lead to release.
type lead struct {
	b              *Browser
	ctrl           safejs.Value // aborts the request while it waits
	onLead         func()
	grant, settle  *Func
	mu             sync.Mutex
	resolve        safejs.Value // lets go of the lock once it is held
	held, released bool
}

// granted is the lock callback.
func (l *lead) granted(safejs.Value, []safejs.Value) any {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.released {
		// Granted as release ran: returning a non-promise lets go at once.
		return nil
	}
	hold, resolve, err := pendingPromise()
	if err != nil {
		consoleError("silentauth: could not hold the renewal lock: " + err.Error())
		return nil
	}
	l.resolve = resolve
	l.held = true
	safego.Go("the renewal lock's holder", l.onLead, func(desc string) { consoleError(string(checksession.ErrUnexpected) + ": " + desc) })
	return hold
}

// settled runs once, when the request's promise settles either way.
func (l *lead) settled(safejs.Value, []safejs.Value) any {
	l.grant.Release()
	l.settle.Release()
	return nil
}

// release lets go of the lock, or withdraws the request while it waits.
// Calling it again does nothing.
func (l *lead) release() {
	first := once(&l.mu, &l.released, func() {
		if l.held {
			_, _ = l.resolve.Invoke()
		} else {
			_, _ = l.ctrl.Call("abort")
		}
	})
	if first {
		untrack(&l.b.tabs, &l.b.tabs.leads, l)
	}
}

// pendingPromise is a new Promise and its resolve function.
func pendingPromise() (promise, resolve safejs.Value, err error) {
	exec, err := NewFunc(func(_ safejs.Value, args []safejs.Value) any {
		resolve = Arg(args, 0)
		return nil
	})
	if err != nil {
		return safejs.Value{}, safejs.Value{}, err
	}
	// The executor runs synchronously inside new Promise.
	defer exec.Release()
	ctor, err := safejs.Global().Get("Promise")
	if err != nil {
		return safejs.Value{}, safejs.Value{}, err
	}
	if promise, err = ctor.New(exec.Value()); err != nil {
		return safejs.Value{}, safejs.Value{}, err
	}
	if resolve.Type() != safejs.TypeFunction {
		return safejs.Value{}, safejs.Value{}, errors.New("the Promise executor got no resolve function")
	}
	return promise, resolve, nil
}

// Join opens new BroadcastChannel(name). Posts are strings; other data
// (from another library using the same name) is ignored. onMessage is
// called in order on a goroutine of the channel's own, never from the JS
// event handler, and never after Close.
func (b *Browser) Join(name string, onMessage func([]byte)) (platform.Channel, error) {
	ctor, err := getGuarded(b.window, "BroadcastChannel")
	if err != nil || ctor.Type() != safejs.TypeFunction {
		return nil, errors.New("jsbridge: BroadcastChannel is unavailable")
	}
	bc, err := ctor.New(name)
	if err != nil {
		return nil, fmt.Errorf("jsbridge: new BroadcastChannel: %w", err)
	}
	c := &channel{b: b, bc: bc, onMessage: onMessage}
	c.cond = sync.NewCond(&c.mu)
	if c.fn, err = NewFunc(c.received); err != nil {
		_, _ = bc.Call("close")
		return nil, err
	}
	if c.unlisten, err = addListener(bc, "message", c.fn); err != nil {
		_, _ = bc.Call("close")
		c.fn.Release()
		return nil, fmt.Errorf("jsbridge: BroadcastChannel: %w", err)
	}
	safego.Go("the tab channel's delivery", c.deliver, func(desc string) { consoleError(string(checksession.ErrUnexpected) + ": " + desc) })
	track(&b.tabs, &b.tabs.channels, c)
	return c, nil
}

// channel is one open BroadcastChannel.
type channel struct {
	b         *Browser
	bc        safejs.Value
	fn        *Func
	unlisten  func()
	onMessage func([]byte)

	mu     sync.Mutex
	cond   *sync.Cond
	queue  [][]byte
	closed bool
}

// received is the "message" listener: it queues string data for deliver.
func (c *channel) received(_ safejs.Value, args []safejs.Value) any {
	data, err := getGuarded(Arg(args, 0), "data")
	if err != nil || data.Type() != safejs.TypeString {
		return nil
	}
	s, err := data.String()
	if err != nil {
		return nil
	}
	c.mu.Lock()
	if !c.closed {
		c.queue = append(c.queue, []byte(s))
		c.cond.Signal()
	}
	c.mu.Unlock()
	return nil
}

func (c *channel) deliver() {
	for {
		c.mu.Lock()
		for len(c.queue) == 0 && !c.closed {
			c.cond.Wait()
		}
		if c.closed {
			c.mu.Unlock()
			return
		}
		data := c.queue[0]
		c.queue = c.queue[1:]
		c.mu.Unlock()
		c.onMessage(data)
	}
}

// Post sends data to the other tabs' channels of the same name.
func (c *channel) Post(data []byte) error {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return errors.New("jsbridge: the broadcast channel is closed")
	}
	if _, err := c.bc.Call("postMessage", string(data)); err != nil {
		return fmt.Errorf("jsbridge: BroadcastChannel.postMessage: %w", err)
	}
	return nil
}

// Close removes the listener, closes the channel and releases its
// callback; messages not yet delivered are dropped. Calling it again does
// nothing.
func (c *channel) Close() {
	if !once(&c.mu, &c.closed, func() { c.queue = nil; c.cond.Broadcast() }) {
		return
	}
	// With the listener gone no event can reach fn, so it can go at once.
	c.unlisten()
	_, _ = c.bc.Call("close")
	c.fn.Release()
	untrack(&c.b.tabs, &c.b.tabs.channels, c)
}

// once sets *done and runs do under mu, unless *done is set already; it
// reports whether it ran, so that a release or Close called again does
// nothing.
func once(mu *sync.Mutex, done *bool, do func()) bool {
	mu.Lock()
	defer mu.Unlock()
	if *done {
		return false
	}
	*done = true
	do()
	return true
}

// track adds v, a lock request or channel just opened, to one of s's sets,
// so that closeTabs can let go of it should the client forget to.
func track[T comparable](s *tabState, set *map[T]struct{}, v T) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if *set == nil {
		*set = map[T]struct{}{}
	}
	(*set)[v] = struct{}{}
}

// untrack takes v out of s's set once it is let go.
func untrack[T comparable](s *tabState, set *map[T]struct{}, v T) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(*set, v)
}

// closeTabs lets go of every lock and channel Lead and Join left open.
func (b *Browser) closeTabs() {
	s := &b.tabs
	s.mu.Lock()
	leads := make([]*lead, 0, len(s.leads))
	for l := range s.leads {
		leads = append(leads, l)
	}
	channels := make([]*channel, 0, len(s.channels))
	for c := range s.channels {
		channels = append(channels, c)
	}
	s.mu.Unlock()
	for _, l := range leads {
		l.release()
	}
	for _, c := range channels {
		c.Close()
	}
}
