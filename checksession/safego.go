package checksession

import (
	"fmt"
	"runtime/debug"
	"strings"
)

// goSafe runs fn in a goroutine that cannot take the runtime down. In
// GOOS=js a panic in any goroutine ends the whole Go program, and with it
// every client on the page; here it becomes an unexpected_error handed to
// onPanic, which must release whoever waits on fn (finish its flight).
// name says which goroutine it was, for the description.
func goSafe(name string, fn func(), onPanic func(error)) {
	go runSafe(name, fn, onPanic)
}

// GoSafe is goSafe for package jsbridge, whose goroutines (the tab
// channel's delivery, the Web Lock's leader callback) stop the runtime just
// the same when they panic.
func GoSafe(name string, fn func(), onPanic func(error)) { goSafe(name, fn, onPanic) }

// runSafe is goSafe's body, callable without a goroutine (and by tests).
func runSafe(name string, fn func(), onPanic func(error)) {
	defer func() {
		if v := recover(); v != nil {
			err := panicError(name, v)
			if onPanic != nil {
				onPanic(err)
			}
		}
	}()
	fn()
}

// panicError describes a recovered panic: which goroutine, what it said,
// and the first frame of ours that raised it, so a bug report can be acted on.
func panicError(name string, v any) *Error {
	desc := fmt.Sprintf("silentauth: %s panicked: %v", name, v)
	if at := panicSite(debug.Stack()); at != "" {
		desc += " (at " + at + ")"
	}
	desc += "; this is a bug in silentauth, please report it"
	return newError(string(ErrUnexpected), desc)
}

// panicSite picks the first checksession/jsbridge function line after the
// panic from a stack trace.
func panicSite(stack []byte) string {
	lines := strings.Split(string(stack), "\n")
	afterPanic := false
	for _, l := range lines {
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
