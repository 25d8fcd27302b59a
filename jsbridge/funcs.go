//go:build js && wasm

package jsbridge

import (
	"fmt"
	"sync/atomic"

	"github.com/hack-pad/safejs"
)

// Counters of what is alive, so tests and benchmarks can prove nothing leaks.
var (
	liveFuncs  atomic.Int64
	liveFrames atomic.Int64
)

// LiveFuncs is the number of Go callbacks created by jsbridge and not yet
// released.
func LiveFuncs() int { return int(liveFuncs.Load()) }

// LiveFrames is the number of iframes OpenFrame added that are still in the
// document.
func LiveFrames() int { return int(liveFrames.Load()) }

// Func is a Go function callable from JavaScript, counted in LiveFuncs until
// Release. Its handler never lets a panic escape: a panic inside a callback
// would otherwise stop the whole Go runtime and with it every client.
type Func struct {
	f        safejs.Func
	released atomic.Bool
}

// NewFunc wraps fn as a JavaScript function. The caller must Release it.
func NewFunc(fn func(this safejs.Value, args []safejs.Value) any) (*Func, error) {
	f, err := safejs.FuncOf(func(this safejs.Value, args []safejs.Value) (result any) {
		defer func() {
			if r := recover(); r != nil {
				consoleError(fmt.Sprintf("silentauth: panic in a callback: %v", r))
				result = nil
			}
		}()
		return fn(this, args)
	})
	if err != nil {
		return nil, err
	}
	liveFuncs.Add(1)
	return &Func{f: f}, nil
}

// Value is the JavaScript function.
func (f *Func) Value() safejs.Value { return f.f.Value() }

// Release frees the callback. Calling it again does nothing, so every exit
// path can release without tracking who did it first.
func (f *Func) Release() {
	if f == nil || !f.released.CompareAndSwap(false, true) {
		return
	}
	f.f.Release()
	liveFuncs.Add(-1)
}

// consoleError reports something that has no caller to return to.
func consoleError(msg string) {
	console, err := safejs.Global().Get("console")
	if err != nil {
		return
	}
	_, _ = console.Call("error", msg)
}

// addListener registers fn for events of kind on target and returns the
// function that undoes it.
func addListener(target safejs.Value, kind string, fn *Func) (remove func(), err error) {
	if _, err := target.Call("addEventListener", kind, fn.Value()); err != nil {
		return nil, fmt.Errorf("addEventListener(%q): %w", kind, err)
	}
	return func() { _, _ = target.Call("removeEventListener", kind, fn.Value()) }, nil
}

// getGuarded is v[prop] for a property whose getter may throw (for example
// window.sessionStorage when storage is blocked). safejs's Get cannot catch
// that: wasm_exec.js's valueGet has no try/catch, so the exception would
// unwind through the Go runtime and stop it. Reflect.get through Call goes
// through valueCall, which does catch.
func getGuarded(v safejs.Value, prop string) (safejs.Value, error) {
	reflect, err := safejs.Global().Get("Reflect")
	if err != nil {
		return safejs.Value{}, err
	}
	return reflect.Call("get", v, prop)
}
