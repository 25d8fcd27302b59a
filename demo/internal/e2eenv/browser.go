package e2eenv

import (
	"strings"
	"testing"
	"time"

	"github.com/silentauth/silentauth/demo/internal/chrome"
)

// The browser's types and options as the suites use them, so that a suite
// needs this package only.
type (
	// Tab is one page with its console captured (chrome.Tab).
	Tab = chrome.Tab
	// Browser is one headless Chromium (chrome.Browser).
	Browser = chrome.Browser
)

var (
	// StartBrowser launches a Chromium that closes when the test ends.
	StartBrowser = chrome.Start
	// PopupBlocking turns Chromium's popup blocker back on.
	PopupBlocking = chrome.PopupBlocking
	// ExecPath is the Chromium binary the suites drive.
	ExecPath = chrome.ExecPath
)

// PageText is what a failing test shows of a tab: its address, the start
// of its text and its console.
func PageText(tab *chrome.Tab) string {
	var s string
	_ = tab.Eval(`location.href + "\n" + document.body.innerText.slice(0, 2000)`, &s)
	return s + "\nconsole:\n" + strings.Join(tab.Console(), "\n")
}

// MustWaitFor waits up to timeout for cond in tab, failing t with the
// page's text (PageText) when it does not come.
func MustWaitFor(t testing.TB, tab *chrome.Tab, cond string, timeout time.Duration) {
	t.Helper()
	if err := tab.WaitFor(cond, timeout); err != nil {
		t.Fatalf("%v\n%s", err, PageText(tab))
	}
}
