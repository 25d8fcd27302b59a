//go:build js && wasm

package jsbridge

import (
	"context"
	"errors"
	"fmt"

	"github.com/hack-pad/safejs"
	"github.com/silentauth/silentauth/checksession"
	"github.com/silentauth/silentauth/jsbridge/wire"
)

// RejectedError is a promise rejection that was not a JavaScript Error:
// JS may reject with any value.
type RejectedError struct {
	// Value is the rejection value.
	Value safejs.Value
}

func (e *RejectedError) Error() string {
	if s, ok, err := stringify(e.Value); err == nil && ok {
		return "promise rejected with " + s
	}
	return "promise rejected with a " + e.Value.Type().String()
}

// Await waits for a promise (or any value, as Promise.resolve sees it) to
// settle. A rejection with an Error comes back as *JSError, anything else
// as *RejectedError. When ctx ends first Await returns ctx.Err() at once;
// its callbacks stay registered until the promise settles, because releasing
// a function the promise will still call would throw in JS.
func Await(ctx context.Context, promise safejs.Value) (safejs.Value, error) {
	type outcome struct {
		v   safejs.Value
		err error
	}
	done := make(chan outcome, 1)
	var onOK, onErr *Func
	settle := func(o outcome) {
		onOK.Release()
		onErr.Release()
		done <- o
	}
	var err error
	onOK, err = NewFunc(func(_ safejs.Value, args []safejs.Value) any {
		settle(outcome{v: Arg(args, 0)})
		return nil
	})
	if err != nil {
		return safejs.Value{}, err
	}
	onErr, err = NewFunc(func(_ safejs.Value, args []safejs.Value) any {
		settle(outcome{err: rejection(Arg(args, 0))})
		return nil
	})
	if err != nil {
		onOK.Release()
		return safejs.Value{}, err
	}
	p, err := resolved(promise)
	if err == nil {
		_, err = p.Call("then", onOK.Value(), onErr.Value())
	}
	if err != nil {
		onOK.Release()
		onErr.Release()
		return safejs.Value{}, err
	}
	select {
	case o := <-done:
		return o.v, o.err
	case <-ctx.Done():
		return safejs.Value{}, ctx.Err()
	}
}

// NewPromise runs fn in a goroutine and returns a Promise that resolves with
// ToJS of its result, or rejects with ErrorValue of its error. A panic in fn
// rejects with "unexpected_error" instead of stopping the runtime.
func NewPromise(fn func() (any, error)) safejs.Value {
	var executor *Func
	executor, err := NewFunc(func(_ safejs.Value, args []safejs.Value) any {
		resolve, reject := Arg(args, 0), Arg(args, 1)
		go func() {
			v, err := runGuarded(fn)
			if err == nil {
				var jv safejs.Value
				if jv, err = ToJS(v); err == nil {
					_, _ = resolve.Invoke(jv)
					return
				}
			}
			_, _ = reject.Invoke(ErrorValue(err))
		}()
		return nil
	})
	if err != nil {
		return rejectedPromise(err)
	}
	// The executor runs synchronously inside new Promise, so it can go at once.
	defer executor.Release()
	ctor, err := safejs.Global().Get("Promise")
	if err != nil {
		return rejectedPromise(err)
	}
	p, err := ctor.New(executor.Value())
	if err != nil {
		return rejectedPromise(err)
	}
	return p
}

func runGuarded(fn func() (any, error)) (v any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return fn()
}

// ErrorValue builds the JS Error a promise rejects with: message is the
// description (or the code), with error, error_description and, when set,
// state properties as API.md specifies. A bare checksession.Code keeps its
// code; other errors that are not *checksession.Error get
// checksession.ErrUnexpected's. An error about an option names it as JS
// does (wire.JSError).
func ErrorValue(err error) safejs.Value {
	var ce *checksession.Error
	var code checksession.Code
	switch {
	case errors.As(wire.JSError(err), &ce):
	case errors.As(err, &code):
		ce = &checksession.Error{Code: string(code)}
	default:
		desc := "unknown error"
		if err != nil {
			desc = err.Error()
		}
		ce = &checksession.Error{Code: string(checksession.ErrUnexpected), Description: desc}
	}
	msg := ce.Description
	if msg == "" {
		msg = ce.Code
	}
	ctor, gerr := safejs.Global().Get("Error")
	if gerr != nil {
		return safejs.Null()
	}
	e, nerr := ctor.New(msg)
	if nerr != nil {
		return safejs.Null()
	}
	_ = e.Set("error", ce.Code)
	_ = e.Set("error_description", ce.Description)
	if ce.State != "" {
		_ = e.Set("state", ce.State)
	}
	if s, ok := wire.RetryAfter(ce); ok {
		_ = e.Set("retryAfter", s)
	}
	return e
}

// resolved is Promise.resolve(v), so that Await accepts thenables and plain
// values alike.
func resolved(v safejs.Value) (safejs.Value, error) {
	ctor, err := safejs.Global().Get("Promise")
	if err != nil {
		return safejs.Value{}, err
	}
	return ctor.Call("resolve", v)
}

func rejectedPromise(err error) safejs.Value {
	ctor, gerr := safejs.Global().Get("Promise")
	if gerr != nil {
		return safejs.Undefined()
	}
	p, _ := ctor.Call("reject", ErrorValue(err))
	return p
}

// rejection turns a rejection value into a Go error.
func rejection(v safejs.Value) error {
	errCtor, err := safejs.Global().Get("Error")
	if err == nil {
		if is, _ := v.InstanceOf(errCtor); is {
			return jsError(v)
		}
	}
	return &RejectedError{Value: v}
}

// jsError describes a JS Error as "Name: message".
func jsError(v safejs.Value) error {
	name, _ := getString(v, "name")
	msg, _ := getString(v, "message")
	if name == "" {
		name = "Error"
	}
	return &JSError{Name: name, Message: msg, Value: v}
}

// JSError is a JavaScript Error that came back from a promise or a call.
type JSError struct {
	Name    string // e.g. "TypeError", "AbortError"
	Message string
	Value   safejs.Value
}

func (e *JSError) Error() string { return e.Name + ": " + e.Message }

// Arg is a callback's i-th argument, undefined when JS passed fewer.
func Arg(args []safejs.Value, i int) safejs.Value {
	if i < len(args) {
		return args[i]
	}
	return safejs.Undefined()
}

func getString(v safejs.Value, prop string) (string, error) {
	p, err := v.Get(prop)
	if err != nil {
		return "", err
	}
	if p.Type() != safejs.TypeString {
		return "", fmt.Errorf("%s is a %s, not a string", prop, p.Type())
	}
	return p.String()
}
