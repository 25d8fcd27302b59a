// Package checksession is silentauth's engine: a Client that gets and renews
// OpenID Connect tokens silently (prompt=none in a hidden iframe, or a
// rotating refresh token), verifies them, and shares one renewal between a
// page's tabs.
//
// It is plain Go with no syscall/js import, so it runs and is tested on the
// host. What it needs from the page it declares as small interfaces
// (Browser, and the optional Connectivity, PageSignals, PageLifecycle,
// TabCoordinator and SecretStore) that package jsbridge implements in a real
// browser. Every failure is an *Error carrying one of the OAuth-style codes
// ErrorCodes lists; every event is one of EventNames.
package checksession
