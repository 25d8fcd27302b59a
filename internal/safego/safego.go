// Package safego starts goroutines that cannot take the runtime down. In
// GOOS=js a panic in any goroutine ends the whole Go program, and with it
// every client on the page; here it becomes a description handed to the
// caller, which turns it into an unexpected_error (checksession) or a
// console line (jsbridge).
package safego

import (
	"fmt"
	"runtime/debug"
	"strings"
)

// Go runs fn in a goroutine. If fn panics, onPanic (when not nil) receives
// Describe's text; it must release whoever waits on fn. name says which
// goroutine it was.
func Go(name string, fn func(), onPanic func(description string)) {
	go Run(name, fn, onPanic)
}

// Run is Go's body, without the goroutine.
func Run(name string, fn func(), onPanic func(description string)) {
	defer func() {
		if v := recover(); v != nil {
			d := Describe(name, v)
			if onPanic != nil {
				onPanic(d)
			}
		}
	}()
	fn()
}

// Describe says what a recovered panic was: which goroutine, what it said,
// and the first frame of silentauth's that raised it, so that a bug report
// can be acted on. Call it while the panic is being recovered (from the
// deferred function), where the stack still shows the panic.
func Describe(name string, v any) string {
	desc := fmt.Sprintf("silentauth: %s panicked: %v", name, v)
	if at := site(debug.Stack()); at != "" {
		desc += " (at " + at + ")"
	}
	return desc + "; this is a bug in silentauth, please report it"
}

// site picks the first silentauth function line after the panic from a
// stack trace.
func site(stack []byte) string {
	afterPanic := false
	for _, l := range strings.Split(string(stack), "\n") {
		if strings.HasPrefix(l, "panic(") {
			afterPanic = true
			continue
		}
		if afterPanic && strings.Contains(l, "silentauth/") && !strings.HasPrefix(l, "\t") {
			return strings.TrimSpace(l)
		}
	}
	return ""
}
