package e2eenv

import (
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
