//go:build js && wasm

// Package jsbridge is the only part of silentauth that touches the browser.
// It implements the contract of checksession/platform (platform.Browser and
// the optional interfaces) on top of github.com/hack-pad/safejs, so
// that a JS exception becomes a Go error instead of a crashed runtime, and it
// provides the small conversions (promises, values, errors) that package
// wasm needs to expose a Go client to JavaScript.
package jsbridge
