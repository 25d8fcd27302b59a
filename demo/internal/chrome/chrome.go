// Package chrome starts headless Chromium for the end-to-end tests and
// evaluates JavaScript in its pages with chromedp.
package chrome

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"
)

// ExecPath is the Chromium binary: $CHROMIUM, else Debian's.
func ExecPath() string {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	return "/usr/bin/chromium"
}

// Browser is a test's browser: a browser context of the shared headless
// Chromium, or a Chromium process of the test's own.
type Browser struct {
	ctx    context.Context
	cancel context.CancelFunc
}

// PopupBlocking turns Chromium's popup blocker back on (chromedp's default
// flags turn it off): window.open outside a user gesture then returns null,
// as in a user's browser.
var PopupBlocking = chromedp.Flag("disable-popup-blocking", false)

// Start gives the test a browser of its own: a fresh browser context
// (cookies, storage, caches, workers, locks and channels of its own, as a
// fresh profile has) in the test binary's shared Chromium, which starts on
// first use. A test that needs other flags (extra) gets a Chromium process
// of its own. Either is closed when the test ends.
//
// One process per test binary, not per test: starting and ending a
// Chromium takes about 4 s and 1.5 to 2 CPU-seconds, and the suites open
// a browser in almost every test.
// SILENTAUTH_BROWSER_PER_TEST=1 gives every test its own process again.
func Start(t testing.TB, extra ...chromedp.ExecAllocatorOption) *Browser {
	t.Helper()
	if len(extra) > 0 || processPerBrowser.Load() || os.Getenv("SILENTAUTH_BROWSER_PER_TEST") == "1" {
		return startProcess(t, extra...)
	}
	root, err := sharedRoot()
	if err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	ctx, cancel, err := newBrowserContext(root)
	if err != nil {
		t.Fatalf("opening a browser context: %v", err)
	}
	b := &Browser{ctx: ctx, cancel: cancel}
	t.Cleanup(b.cancel)
	return b
}

// newBrowserContext makes a browser context in the browser of root with
// a first tab, in a window of its own: headless Chromium opens no tab in
// a context that has no window ("no browser is open"), which is why not
// chromedp.WithNewBrowserContext. The tabs of the returned context open
// in the same browser context, and cancel closes them and disposes of it.
func newBrowserContext(root context.Context) (context.Context, context.CancelFunc, error) {
	browser := cdp.WithExecutor(root, chromedp.FromContext(root).Browser)
	id, err := target.CreateBrowserContext().WithDisposeOnDetach(true).Do(browser)
	if err != nil {
		return nil, nil, err
	}
	dispose := func() { _ = target.DisposeBrowserContext(id).Do(browser) }
	if _, err := target.CreateTarget("about:blank").WithBrowserContextID(id).WithNewWindow(true).Do(browser); err != nil {
		dispose()
		return nil, nil, err
	}
	// The parent of the context's tabs, which opens none itself; the first
	// tab closes when the context is disposed of.
	ctx, cancel := chromedp.NewContext(root, chromedp.WithExistingBrowserContext(id))
	return ctx, func() { cancel(); dispose() }, nil
}

// processPerBrowser is set by ProcessPerBrowser.
var processPerBrowser atomic.Bool

// ProcessPerBrowser makes every later Start launch a Chromium process of
// its own, as the benchmarks need: they measure a browser's processes.
func ProcessPerBrowser() { processPerBrowser.Store(true) }

// shared is the test binary's Chromium, which Start's browser contexts
// live in. It runs until the binary exits; the kernel then ends it
// (chromedp starts Chromium with a parent-death signal), and the next
// binary's sweepProfiles removes its profile.
var shared struct {
	mu  sync.Mutex
	ctx context.Context // the browser's first tab; nil before the first Start
}

// sharedRoot returns the shared browser's context, starting the browser
// when there is none or the last one has gone (crashed).
func sharedRoot() (context.Context, error) {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.ctx != nil && shared.ctx.Err() == nil {
		return shared.ctx, nil
	}
	ctx, _, err := launch()
	if err != nil {
		return nil, err
	}
	shared.ctx = ctx
	return ctx, nil
}

// startProcess launches a Chromium of the test's own, with extra flags.
func startProcess(t testing.TB, extra ...chromedp.ExecAllocatorOption) *Browser {
	t.Helper()
	ctx, cancel, err := launch(extra...)
	if err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	b := &Browser{ctx: ctx, cancel: cancel}
	t.Cleanup(b.cancel)
	return b
}

// launch starts Chromium with a fresh profile and the flags that keep it
// off the network (this machine reaches none) and working as root, then
// extra. It returns the context of the browser's first tab and the
// function that ends the browser and removes its profile.
func launch(extra ...chromedp.ExecAllocatorOption) (context.Context, context.CancelFunc, error) {
	if _, err := os.Stat(ExecPath()); err != nil {
		return nil, nil, fmt.Errorf("chromium not found at %s (make deps installs it): %w", ExecPath(), err)
	}
	sweepProfiles()
	// Not t.TempDir: Chromium may still be writing its profile while the
	// test's own cleanup runs, and that would fail the test. The owner's
	// process ID in the name lets sweepProfiles tell a live browser's
	// profile from a dead one's.
	profile, err := os.MkdirTemp("", fmt.Sprintf("%s%d-", profilePrefix, os.Getpid()))
	if err != nil {
		return nil, nil, err
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(ExecPath()),
		chromedp.UserDataDir(profile),
		// Chromium's own temporary files (its singleton socket's
		// directory, which a killed browser leaves behind) go inside the
		// profile, so that removing the profile removes them.
		chromedp.Env("TMPDIR="+profile),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("headless", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		// Tests drive several tabs at once; none of them may be throttled
		// unless a test asks for it.
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		// Site isolation on, as in a real Chrome: chromedp's defaults turn
		// site-per-process off, and the cross-origin iframes the SDK renews
		// in would then share the page's renderer process.
		chromedp.Flag("disable-features", "Translate,BlinkGenPropertyTrees"),
		chromedp.Flag("site-per-process", true),
		chromedp.WindowSize(1280, 900),
	)
	opts = append(opts, extra...)
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	if err := chromedp.Run(ctx); err != nil {
		cancel()
		acancel()
		removeProfile(profile)
		return nil, nil, err
	}
	return ctx, func() {
		cancel()
		acancel()
		removeProfile(profile)
	}, nil
}

// profilePrefix starts the name of every profile directory Start makes,
// followed by the owning test binary's process ID.
const profilePrefix = "silentauth-chromium-"

// sweepProfiles removes the profiles that browsers of test binaries that
// have exited left behind.
func sweepProfiles() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), profilePrefix+"*-*"))
	for _, d := range dirs {
		pid, err := strconv.Atoi(strings.SplitN(strings.TrimPrefix(filepath.Base(d), profilePrefix), "-", 2)[0])
		if err != nil || pid == os.Getpid() || processAlive(pid) {
			continue
		}
		removeProfile(d)
	}
}

// processAlive reports whether a process with this ID exists.
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// Tab is one page, with its console captured.
type Tab struct {
	Ctx context.Context
	t   testing.TB

	mu      sync.Mutex
	console []string
}

// NewTab opens a tab that closes when the test ends. Console lines and
// uncaught exceptions go to the test log.
func (b *Browser) NewTab(t testing.TB) *Tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx)
	tab := &Tab{Ctx: ctx, t: t}
	chromedp.ListenTarget(ctx, func(ev any) {
		switch e := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			var parts []string
			for _, a := range e.Args {
				s := string(a.Value)
				if s == "" {
					s = a.Description
				}
				parts = append(parts, s)
			}
			tab.record(string(e.Type) + ": " + strings.Join(parts, " "))
		case *runtime.EventExceptionThrown:
			tab.record("exception: " + e.ExceptionDetails.Error())
		}
	})
	if err := chromedp.Run(ctx); err != nil {
		t.Fatalf("opening a tab: %v", err)
	}
	t.Cleanup(cancel)
	return tab
}

func (tab *Tab) record(line string) {
	tab.mu.Lock()
	tab.console = append(tab.console, line)
	tab.mu.Unlock()
	if testing.Verbose() {
		tab.t.Log("console " + line)
	}
}

// Console returns the console lines so far.
func (tab *Tab) Console() []string {
	tab.mu.Lock()
	defer tab.mu.Unlock()
	return append([]string(nil), tab.console...)
}

// Navigate loads url and waits for the document to be ready.
func (tab *Tab) Navigate(url string) error {
	return chromedp.Run(tab.Ctx, chromedp.Navigate(url))
}

// Eval runs a JS expression, awaiting it when it is a Promise, and decodes
// the JSON value into out (when out is not nil). A rejected Promise or a
// thrown exception is an error carrying its message.
func (tab *Tab) Eval(js string, out any) error {
	ctx, cancel := context.WithTimeout(tab.Ctx, 90*time.Second)
	defer cancel()
	var raw json.RawMessage
	err := chromedp.Run(ctx, chromedp.Evaluate(js, &raw, func(p *runtime.EvaluateParams) *runtime.EvaluateParams {
		return p.WithAwaitPromise(true)
	}))
	if err != nil {
		return fmt.Errorf("eval %.80q: %w", js, err)
	}
	if out != nil && len(raw) > 0 {
		return json.Unmarshal(raw, out)
	}
	return nil
}

// MustEval is Eval that fails the test.
func (tab *Tab) MustEval(js string, out any) {
	tab.t.Helper()
	if err := tab.Eval(js, out); err != nil {
		tab.t.Fatalf("%v\nconsole:\n%s", err, strings.Join(tab.Console(), "\n"))
	}
}

// WaitFor polls a JS condition until it is true.
func (tab *Tab) WaitFor(cond string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		var ok bool
		if err := tab.Eval("!!("+cond+")", &ok); err == nil && ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %v waiting for %s", timeout, cond)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// removeProfile deletes a browser's profile directory. The browser's
// helper processes can still be writing into it for a moment after the
// browser exits, which makes one RemoveAll leave files behind, so it
// tries again for up to two seconds.
func removeProfile(dir string) {
	for range 40 {
		if err := os.RemoveAll(dir); err == nil {
			if _, err := os.Stat(dir); os.IsNotExist(err) {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
}
