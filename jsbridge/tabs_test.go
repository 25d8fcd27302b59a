//go:build js && wasm

package jsbridge_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/silentauth/silentauth/checksession/platform"
	"github.com/silentauth/silentauth/jsbridge"
)

// funcsComeBack checks, when the test ends, that every callback was
// released. Lock callbacks go when the request's promise settles, a moment
// after release, hence eventually.
func funcsComeBack(t *testing.T) {
	t.Helper()
	funcs := jsbridge.LiveFuncs()
	t.Cleanup(func() {
		eventually(t, fmt.Sprintf("LiveFuncs() back to %d (now %d)", funcs, jsbridge.LiveFuncs()),
			func() bool { return jsbridge.LiveFuncs() == funcs })
	})
}

// lockName is a lock and channel name of the test's own.
func lockName(t *testing.T) string { return "silentauth-test:" + t.Name() }

// locksOf is what navigator.locks.query() says about name: how many hold it
// and how many wait for it.
func locksOf(t *testing.T, name string) (held, pending int) {
	t.Helper()
	p := js(t, fmt.Sprintf(`navigator.locks.query().then(s => JSON.stringify({
		held: s.held.filter(l => l.name === %[1]q).length,
		pending: s.pending.filter(l => l.name === %[1]q).length }))`, name))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	v, err := jsbridge.Await(ctx, p)
	if err != nil {
		t.Fatalf("navigator.locks.query: %v", err)
	}
	s, _ := v.String()
	var q struct{ Held, Pending int }
	if err := json.Unmarshal([]byte(s), &q); err != nil {
		t.Fatal(err)
	}
	return q.Held, q.Pending
}

// flag records that a callback ran.
type flag struct {
	mu  sync.Mutex
	set bool
}

func (f *flag) Set()        { f.mu.Lock(); f.set = true; f.mu.Unlock() }
func (f *flag) IsSet() bool { f.mu.Lock(); defer f.mu.Unlock(); return f.set }

// lockTest is a lock test's browser and lock name; the browser closes and
// every callback must be back when the test ends.
func lockTest(t *testing.T) (*jsbridge.Browser, string) {
	t.Helper()
	funcsComeBack(t)
	b := newBrowser(t)
	t.Cleanup(b.Close)
	return b, lockName(t)
}

// mustLead is b.Lead, failing the test when the request cannot be made.
func mustLead(t *testing.T, b *jsbridge.Browser, name string, onLead func()) func() {
	t.Helper()
	release, err := b.Lead(name, onLead)
	if err != nil {
		t.Fatal(err)
	}
	return release
}

// mustJoin is b.Join, failing the test when the channel cannot be opened.
func mustJoin(t *testing.T, b *jsbridge.Browser, name string, onMessage func([]byte)) platform.Channel {
	t.Helper()
	ch, err := b.Join(name, onMessage)
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// settle gives the browser time to do what it should not do.
func settle() { time.Sleep(300 * time.Millisecond) }

// contendedLock is a lock test's lock that a first request holds and a
// second waits for.
type contendedLock struct {
	name                        string
	releaseFirst, releaseSecond func()
	secondLed                   flag
}

func newContendedLock(t *testing.T) *contendedLock {
	t.Helper()
	b, name := lockTest(t)
	l := &contendedLock{name: name}
	var firstLed flag
	l.releaseFirst = mustLead(t, b, name, firstLed.Set)
	eventually(t, "the first request to lead", firstLed.IsSet)
	l.releaseSecond = mustLead(t, b, name, l.secondLed.Set)
	return l
}

func TestSecondLeadOnTheSameNameLeadsOnlyAfterTheFirstReleases(t *testing.T) {
	l := newContendedLock(t)
	settle()
	if l.secondLed.IsSet() {
		t.Fatal("the second request led while the first held the lock")
	}
	if held, pending := locksOf(t, l.name); held != 1 || pending != 1 {
		t.Fatalf("locks: %d held, %d pending; want 1 and 1", held, pending)
	}
	l.releaseFirst()
	eventually(t, "the second request to lead after the first released", l.secondLed.IsSet)
	l.releaseSecond()
	eventually(t, "the lock to be free", func() bool { h, p := locksOf(t, l.name); return h == 0 && p == 0 })
}

func TestLockIsHeldUntilRelease(t *testing.T) {
	b, name := lockTest(t)
	var led flag
	release := mustLead(t, b, name, led.Set)
	eventually(t, "the request to lead", led.IsSet)
	settle()
	if held, _ := locksOf(t, name); held != 1 {
		t.Fatalf("%d holders of the lock after the grant, want 1: the callback's promise let it go", held)
	}
	release()
	release() // a second call does nothing
	eventually(t, "the lock to be free", func() bool { h, _ := locksOf(t, name); return h == 0 })
}

func TestReleaseBeforeTheGrantWithdrawsTheRequest(t *testing.T) {
	l := newContendedLock(t)
	l.releaseSecond()
	eventually(t, "the waiting request to be withdrawn", func() bool { _, p := locksOf(t, l.name); return p == 0 })
	l.releaseFirst()
	settle()
	if l.secondLed.IsSet() {
		t.Error("a request released while it waited led anyway")
	}
	if held, pending := locksOf(t, l.name); held != 0 || pending != 0 {
		t.Errorf("locks: %d held, %d pending after both released; want none", held, pending)
	}
}

func TestBrowserCloseReleasesLocksAndClosesChannels(t *testing.T) {
	funcsComeBack(t)
	name := lockName(t)
	b := newBrowser(t)
	var led flag
	if _, err := b.Lead(name, led.Set); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the request to lead", led.IsSet)
	var waiter flag
	if _, err := b.Lead(name, waiter.Set); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 4)
	if _, err := b.Join(name, func(d []byte) { got <- string(d) }); err != nil {
		t.Fatal(err)
	}
	b.Close()
	eventually(t, "the lock to be free", func() bool { h, p := locksOf(t, name); return h == 0 && p == 0 })
	js(t, fmt.Sprintf(`(() => { const c = new BroadcastChannel(%q); c.postMessage("after close"); c.close() })()`, name))
	settle()
	select {
	case m := <-got:
		t.Errorf("a channel closed by Browser.Close delivered %q", m)
	default:
	}
	if waiter.IsSet() {
		t.Error("a request waiting when Browser.Close ran led anyway")
	}
}

// collector gathers what a channel delivers.
type collector struct {
	mu  sync.Mutex
	got []string
}

func (c *collector) add(d []byte) { c.mu.Lock(); c.got = append(c.got, string(d)); c.mu.Unlock() }
func (c *collector) all() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.got...)
}

func TestChannelsOfOneNameDeliverToEachOtherButNotToThemselves(t *testing.T) {
	b, name := lockTest(t)
	var a, c collector
	chA := mustJoin(t, b, name, a.add)
	defer chA.Close()
	chC := mustJoin(t, b, name, c.add)
	defer chC.Close()
	var other collector
	chOther := mustJoin(t, b, name+"-other", other.add)
	defer chOther.Close()

	for _, m := range []string{"one", "two", `{"kind":"renewed"}`} {
		if err := chA.Post([]byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	if err := chC.Post([]byte("back")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "both channels to receive", func() bool { return len(c.all()) == 3 && len(a.all()) == 1 })
	settle()
	if got, want := strings.Join(c.all(), "|"), `one|two|{"kind":"renewed"}`; got != want {
		t.Errorf("second channel got %q, want %q in order", got, want)
	}
	if got := strings.Join(a.all(), "|"); got != "back" {
		t.Errorf("first channel got %q, want only the second's post (never its own)", got)
	}
	if got := other.all(); len(got) != 0 {
		t.Errorf("a channel of another name got %q", got)
	}
}

func TestChannelIgnoresDataThatIsNotAString(t *testing.T) {
	b, name := lockTest(t)
	var got collector
	ch := mustJoin(t, b, name, got.add)
	defer ch.Close()
	js(t, fmt.Sprintf(`(() => { const c = new BroadcastChannel(%q);
		c.postMessage({kind: "renewed"}); c.postMessage(42); c.postMessage(null); c.postMessage(new Uint8Array([1]));
		c.postMessage("a string"); c.close() })()`, name))
	eventually(t, "the string to arrive", func() bool { return len(got.all()) > 0 })
	settle()
	if g := got.all(); len(g) != 1 || g[0] != "a string" {
		t.Errorf("delivered %q, want only the string", g)
	}
}

func TestClosedChannelNeitherDeliversNorPosts(t *testing.T) {
	b, name := lockTest(t)
	var got collector
	ch := mustJoin(t, b, name, got.add)
	ch.Close()
	ch.Close() // a second call does nothing
	js(t, fmt.Sprintf(`(() => { const c = new BroadcastChannel(%q); c.postMessage("late"); c.close() })()`, name))
	settle()
	if g := got.all(); len(g) != 0 {
		t.Errorf("a closed channel delivered %q", g)
	}
	if err := ch.Post([]byte("x")); err == nil {
		t.Error("Post on a closed channel succeeded")
	}
}

func TestWithoutWebLocksOrBroadcastChannelTheTabRenewsAlone(t *testing.T) {
	b, name := lockTest(t)

	js(t, `Object.defineProperty(navigator, "locks", { configurable: true, value: undefined })`)
	release, err := b.Lead(name, func() {})
	js(t, `delete navigator.locks`)
	if err == nil {
		release()
		t.Error("Lead succeeded without navigator.locks")
	}

	js(t, `window.__bc = BroadcastChannel; delete window.BroadcastChannel`)
	ch, err := b.Join(name, func([]byte) {})
	js(t, `window.BroadcastChannel = window.__bc; delete window.__bc`)
	if err == nil {
		ch.Close()
		t.Error("Join succeeded without BroadcastChannel")
	}
	if jsString(t, `typeof navigator.locks.request`) != "function" || jsString(t, `typeof BroadcastChannel`) != "function" {
		t.Fatal("the test did not restore the page")
	}
}

func TestRejectedLockRequestNeverLeadsAndReleasesItsCallbacks(t *testing.T) {
	funcsComeBack(t)
	b := newBrowser(t)
	defer b.Close()
	// Names starting with "-" are reserved: request rejects with NotSupportedError.
	var led flag
	release := mustLead(t, b, "-reserved", led.Set)
	defer release()
	settle()
	if led.IsSet() {
		t.Error("a rejected lock request led")
	}
}
