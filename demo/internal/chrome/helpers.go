package chrome

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/domdebugger"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"
)

// MustEvalT is MustEval failing t, which may be a subtest of the test that
// opened the tab.
func (tab *Tab) MustEvalT(t testing.TB, js string, out any) {
	t.Helper()
	if err := tab.Eval(js, out); err != nil {
		t.Fatalf("%v\nconsole:\n%s", err, strings.Join(tab.Console(), "\n"))
	}
}

// Close closes the tab and waits until it is gone.
func (tab *Tab) Close() error { return chromedp.Cancel(tab.Ctx) }

// MustClose is Close failing the test.
func (tab *Tab) MustClose(t testing.TB) {
	t.Helper()
	if err := tab.Close(); err != nil {
		t.Fatalf("closing a tab: %v", err)
	}
}

// ConsoleHas reports whether a console line from the since'th on contains
// every one of parts.
func (tab *Tab) ConsoleHas(since int, parts ...string) bool {
	lines := tab.Console()
	for _, line := range lines[min(since, len(lines)):] {
		all := true
		for _, p := range parts {
			if !strings.Contains(line, p) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

// WaitConsole waits until a console line from the since'th on contains
// every one of parts.
func (tab *Tab) WaitConsole(t testing.TB, since int, timeout time.Duration, parts ...string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !tab.ConsoleHas(since, parts...) {
		if time.Now().After(deadline) {
			lines := tab.Console()
			t.Fatalf("no console line with %q within %v; console:\n%s", parts, timeout, strings.Join(lines[min(since, len(lines)):], "\n"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Lines counts the console lines that contain s.
func (tab *Tab) Lines(s string) int {
	n := 0
	for _, l := range tab.Console() {
		if strings.Contains(l, s) {
			n++
		}
	}
	return n
}

// SharedWorkers is the SharedWorker targets of the tab's browser (its
// browser context: not another test's).
func (tab *Tab) SharedWorkers(t testing.TB) []*target.Info {
	t.Helper()
	infos, err := chromedp.Targets(tab.Ctx)
	if err != nil {
		t.Fatal(err)
	}
	own := chromedp.FromContext(tab.Ctx).BrowserContextID
	var out []*target.Info
	for _, i := range infos {
		if i.Type == "shared_worker" && (own == "" || i.BrowserContextID == own) {
			out = append(out, i)
		}
	}
	return out
}

// WaitForSharedWorkers waits until the browser runs n SharedWorkers.
func (tab *Tab) WaitForSharedWorkers(t testing.TB, n int, timeout time.Duration) error {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := tab.SharedWorkers(t)
		if len(got) == n {
			return nil
		}
		if time.Now().After(deadline) {
			urls := make([]string, len(got))
			for i, w := range got {
				urls[i] = w.URL
			}
			return fmt.Errorf("%d shared_worker targets after %v (%s), want %d", len(got), timeout, strings.Join(urls, ", "), n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ID is the tab's target: what the popups it opens name as their opener.
func (tab *Tab) ID() target.ID { return chromedp.FromContext(tab.Ctx).Target.TargetID }

// CloseTarget ends another target of the browser (a SharedWorker, say),
// as the browser itself would.
func (tab *Tab) CloseTarget(id target.ID) error {
	c := chromedp.FromContext(tab.Ctx)
	return target.CloseTarget(id).Do(cdp.WithExecutor(tab.Ctx, c.Browser))
}

// Listeners counts the listeners for events of type typ on the object the
// expression target evaluates to in the page ("window", "document"), as
// DevTools sees them (DOMDebugger.getEventListeners).
func (tab *Tab) Listeners(t testing.TB, target, typ string) int {
	t.Helper()
	n := 0
	err := chromedp.Run(tab.Ctx, chromedp.ActionFunc(func(ctx context.Context) error {
		obj, exc, err := runtime.Evaluate(target).Do(ctx)
		if err != nil {
			return err
		}
		if exc != nil {
			return exc
		}
		defer func() { _ = runtime.ReleaseObject(obj.ObjectID).Do(ctx) }()
		ls, err := domdebugger.GetEventListeners(obj.ObjectID).Do(ctx)
		if err != nil {
			return err
		}
		for _, l := range ls {
			if l.Type == typ {
				n++
			}
		}
		return nil
	}))
	if err != nil {
		t.Fatalf("%s listeners on %s: %v", typ, target, err)
	}
	return n
}
