// Package checksession is silentauth's engine: a Client that gets and renews
// OpenID Connect tokens silently (prompt=none in a hidden iframe, or a
// rotating refresh token), verifies them, and shares one renewal between a
// page's tabs.
//
// It is plain Go with no syscall/js import, so it runs and is tested on the
// host. What it needs from the page is the contract of package platform
// (platform.Browser and the optional interfaces beside it), which package
// jsbridge implements in a real browser and the tests fake. Every failure is
// an *Error carrying one of the OAuth-style codes ErrorCodes lists; every
// event is one of EventNames.
package checksession
