// Package chrome starts headless Chromium for the end-to-end tests and
// evaluates JavaScript in its pages with chromedp.
package chrome

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// ExecPath is the Chromium binary: $CHROMIUM, else Debian's.
func ExecPath() string {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	return "/usr/bin/chromium"
}

// Browser is one headless Chromium process.
type Browser struct {
	ctx    context.Context
	cancel context.CancelFunc
}

// PopupBlocking turns Chromium's popup blocker back on (chromedp's default
// flags turn it off): window.open outside a user gesture then returns null,
// as in a user's browser.
var PopupBlocking = chromedp.Flag("disable-popup-blocking", false)

// Start launches Chromium with a fresh profile and the flags that keep it
// off the network (this machine reaches none) and working as root, then
// extra. It is closed when the test ends.
func Start(t testing.TB, extra ...chromedp.ExecAllocatorOption) *Browser {
	t.Helper()
	if _, err := os.Stat(ExecPath()); err != nil {
		t.Fatalf("Chromium not found at %s (make deps installs it): %v", ExecPath(), err)
	}
	// Not t.TempDir: Chromium may still be writing its profile while the
	// test's own cleanup runs, and that would fail the test.
	profile, err := os.MkdirTemp("", "silentauth-chromium-")
	if err != nil {
		t.Fatal(err)
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
		t.Fatalf("starting Chromium: %v", err)
	}
	b := &Browser{ctx: ctx, cancel: func() {
		cancel()
		acancel()
		removeProfile(profile)
	}}
	t.Cleanup(b.cancel)
	return b
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
