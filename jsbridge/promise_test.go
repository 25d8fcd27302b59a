//go:build js && wasm

package jsbridge_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hack-pad/safejs"
	"github.com/silentauth/silentauth/checksession"
	"github.com/silentauth/silentauth/checksession/platform"
	"github.com/silentauth/silentauth/jsbridge"
)

func TestAwait(t *testing.T) {
	cases := []struct {
		name    string
		promise string
		want    string // the resolved value as JSON, when it resolves
		check   func(t *testing.T, err error)
	}{
		{name: "resolves with the value", promise: `Promise.resolve({a: 1})`, want: `{"a":1}`},
		{name: "resolves later", promise: `new Promise(r => setTimeout(() => r("late"), 20))`, want: `"late"`},
		{name: "a plain value counts as resolved", promise: `42`, want: `42`},
		{name: "rejection with an Error is a JSError", promise: `Promise.reject(new TypeError("boom"))`,
			check: func(t *testing.T, err error) {
				var je *jsbridge.JSError
				if !errors.As(err, &je) || je.Name != "TypeError" || je.Message != "boom" {
					t.Errorf("err = %#v, want JSError TypeError: boom", err)
				}
			}},
		{name: "rejection with a non-Error is a RejectedError", promise: `Promise.reject({error: "x"})`,
			check: func(t *testing.T, err error) {
				var re *jsbridge.RejectedError
				if !errors.As(err, &re) || re.Error() != `promise rejected with {"error":"x"}` {
					t.Errorf("err = %v, want RejectedError with the value", err)
				}
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			baseline(t)
			v, err := jsbridge.Await(context.Background(), js(t, c.promise))
			if c.check != nil {
				if err == nil {
					t.Fatal("Await succeeded, want a rejection")
				}
				c.check(t, err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := jsonOf(t, v); got != c.want {
				t.Errorf("value = %s, want %s", got, c.want)
			}
		})
	}
}

func TestAwaitReturnsWhenContextEndsAndReleasesCallbacksOnSettle(t *testing.T) {
	funcs := jsbridge.LiveFuncs()
	js(t, `window.__settle = null; window.__p = new Promise(r => { window.__settle = r; })`)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if _, err := jsbridge.Await(ctx, js(t, `__p`)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want DeadlineExceeded", err)
	}
	js(t, `__settle("done")`)
	eventually(t, "callbacks released", func() bool { return jsbridge.LiveFuncs() == funcs })
}

// originOnly is a Browser that only knows its origin: enough for
// checksession.NewClient to check options.
type originOnly struct{ platform.Browser }

func (originOnly) Origin() string { return "https://app.example.com" }

func TestNewPromise(t *testing.T) {
	cases := []struct {
		name             string
		fn               func() (any, error)
		want             string // resolved value as JSON
		code, desc, stat string // rejection properties
		message          string
		retryAfter       int // err.retryAfter; 0: absent
	}{
		{name: "resolves with the result as a JS value",
			fn:   func() (any, error) { return map[string]any{"accessToken": "at", "expiresIn": 3600}, nil },
			want: `{"accessToken":"at","expiresIn":3600}`},
		{name: "resolves with nil as null", fn: func() (any, error) { return nil, nil }, want: `null`},
		{name: "rejects with the OAuth error's code, description and state",
			fn: func() (any, error) {
				return nil, &checksession.Error{Code: "login_required", Description: "Login required", State: "st"}
			},
			code: "login_required", desc: "Login required", stat: "st", message: "Login required"},
		{name: "a wrapped OAuth error keeps its code",
			fn: func() (any, error) {
				return nil, errors.Join(errors.New("context"), &checksession.Error{Code: "timeout", Description: "Timeout during executing web_message communication"})
			},
			code: "timeout", desc: "Timeout during executing web_message communication", message: "Timeout during executing web_message communication"},
		{name: "an error during a backoff carries retryAfter in whole seconds",
			fn: func() (any, error) {
				return nil, &checksession.Error{Code: "timeout", Description: "slow", RetryAfter: 1500 * time.Millisecond}
			},
			code: "timeout", desc: "slow", message: "slow", retryAfter: 2},
		{name: "an error about an option names the JS option, not the Go field",
			fn: func() (any, error) {
				return checksession.NewClient(checksession.Options{Domain: "d", ClientID: "spa", Timeout: -time.Second}, originOnly{}, nil)
			},
			code: "invalid_configuration", desc: "timeoutInSeconds: must not be negative", message: "timeoutInSeconds: must not be negative"},
		{name: "an error without description uses the code as message",
			fn:   func() (any, error) { return nil, &checksession.Error{Code: "invalid_state"} },
			code: "invalid_state", desc: "", message: "invalid_state"},
		{name: "a bare code keeps its code",
			fn:   func() (any, error) { return nil, checksession.ErrDestroyed },
			code: "destroyed", desc: "", message: "destroyed"},
		{name: "any other error is unexpected_error",
			fn:   func() (any, error) { return nil, errors.New("disk on fire") },
			code: "unexpected_error", desc: "disk on fire", message: "disk on fire"},
		{name: "a panic rejects instead of stopping the runtime",
			fn:   func() (any, error) { panic("bug") },
			code: "unexpected_error", desc: "panic: bug", message: "panic: bug"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			baseline(t)
			v, err := jsbridge.Await(context.Background(), jsbridge.NewPromise(c.fn))
			if c.code == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got := jsonOf(t, v); got != c.want {
					t.Errorf("resolved %s, want %s", got, c.want)
				}
				return
			}
			var je *jsbridge.JSError
			if !errors.As(err, &je) {
				t.Fatalf("err = %v, want a rejection with an Error", err)
			}
			props := map[string]string{"error": c.code, "error_description": c.desc, "message": c.message}
			for k, want := range props {
				if got, _ := prop(je.Value, k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			ra, err := je.Value.Get("retryAfter")
			if err != nil {
				t.Fatal(err)
			}
			if c.retryAfter == 0 && !ra.IsUndefined() {
				t.Errorf("retryAfter is set for an error outside a backoff")
			}
			if c.retryAfter != 0 {
				if got, _ := ra.Int(); got != c.retryAfter {
					t.Errorf("retryAfter = %d, want %d", got, c.retryAfter)
				}
			}
			st, err := je.Value.Get("state")
			if err != nil {
				t.Fatal(err)
			}
			if c.stat == "" && !st.IsUndefined() {
				t.Errorf("state is set for an error without one")
			}
			if c.stat != "" {
				if got, _ := st.String(); got != c.stat {
					t.Errorf("state = %q, want %q", got, c.stat)
				}
			}
		})
	}
}

func jsonOf(t *testing.T, v safejs.Value) string {
	t.Helper()
	j, _ := safejs.Global().Get("JSON")
	s, err := j.Call("stringify", v)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := s.String()
	return out
}

func prop(v safejs.Value, name string) (string, error) {
	p, err := v.Get(name)
	if err != nil {
		return "", err
	}
	return p.String()
}
