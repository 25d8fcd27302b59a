package checksession

import "github.com/silentauth/silentauth/internal/safego"

// goSafe runs fn in a goroutine that cannot take the runtime down (see
// package safego): a panic becomes an unexpected_error handed to onPanic,
// which must release whoever waits on fn (finish its flight). name says
// which goroutine it was, for the description.
func goSafe(name string, fn func(), onPanic func(error)) {
	safego.Go(name, fn, func(desc string) {
		if onPanic != nil {
			onPanic(newError(string(ErrUnexpected), desc))
		}
	})
}

// panicError describes a recovered panic as an unexpected_error. Call it
// from the deferred function that recovered it.
func panicError(name string, v any) *Error {
	return newError(string(ErrUnexpected), safego.Describe(name, v))
}
