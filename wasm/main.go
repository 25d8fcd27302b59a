//go:build js && wasm

// Command wasm is silentauth.wasm: it registers the bridge the JS loader
// picks up and then waits for calls. Wiring only: options come in from JS,
// a checksession.Client does the work, results go back as promises.
package main

import (
	"context"
	"errors"
	"os"
	"runtime"

	"github.com/hack-pad/safejs"
	"github.com/silentauth/silentauth/checksession"
	"github.com/silentauth/silentauth/checksession/platform"
	"github.com/silentauth/silentauth/jsbridge"
	"github.com/silentauth/silentauth/jsbridge/wire"
)

// bridgeKeyEnv names the environment variable in which the loader
// (wasm/loader/common.js, BRIDGE_KEY) says where it looks for the bridge.
const bridgeKeyEnv = "SILENTAUTH_BRIDGE_KEY"

func main() {
	create, err := jsbridge.NewFunc(func(_ safejs.Value, args []safejs.Value) any {
		return createClient(jsbridge.Arg(args, 0), jsbridge.Arg(args, 1), jsbridge.Arg(args, 2), jsbridge.Arg(args, 3))
	})
	if err != nil {
		panic(err)
	}
	// stats() is for leak tests and benchmarks: callbacks and iframes alive now.
	stats, err := jsbridge.NewFunc(func(safejs.Value, []safejs.Value) any {
		v, _ := jsbridge.ToJS(map[string]any{"liveFuncs": jsbridge.LiveFuncs(), "liveFrames": jsbridge.LiveFrames(), "goHeapBytes": goHeapBytes()})
		return v
	})
	if err != nil {
		panic(err)
	}
	bridge, err := jsbridge.ToJS(map[string]any{"createClient": create, "stats": stats, "version": 1, "startHub": startHub()})
	if err != nil {
		panic(err)
	}
	key := os.Getenv(bridgeKeyEnv)
	if key == "" {
		panic("silentauth.wasm: started without its loader: " + bridgeKeyEnv + " is not set")
	}
	if err := safejs.Global().Set(key, bridge); err != nil {
		panic(err)
	}
	// The runtime must outlive main: every client call runs on it.
	select {}
}

// createClient(options, emit, head, markerKey) → Promise<goClient>. Options
// are read before the promise starts, so later changes to the caller's
// object do not count. head is the loader's head start (prefetches and the
// first silent request), or null; markerKey is the localStorage key under
// which the loader looks for the signed-in marker, so that Go writes that one.
func createClient(options, emit, head, markerKey safejs.Value) safejs.Value {
	key, _ := markerKey.String()
	return withParams("options", options, wire.ParseOptions, func(opts checksession.Options) (any, error) {
		opts.Logger = consoleLog
		if markerKey.Type() == safejs.TypeString {
			opts.MarkerKey = key
		}
		if emit.Type() == safejs.TypeFunction {
			opts.OnEvent = func(e checksession.Event) {
				v, err := jsbridge.ToJS(jsPayload(e.Payload()))
				if err != nil {
					v = jsbridge.ErrorValue(err)
				}
				_, _ = emit.Invoke(string(e.Name), v)
			}
		}
		jb, err := jsbridge.NewBrowser()
		if err != nil {
			return nil, configError(err.Error())
		}
		b := jsbridge.WithPrestart(jb, head)
		c, err := checksession.NewClient(opts, b, platform.SystemClock{})
		if err != nil {
			b.Close()
			return nil, wire.JSError(err)
		}
		return newGoClient(c, b)
	})
}

// jsPayload is an event payload as JS should see it: results as plain
// objects, errors as Error objects (ToJS does that for errors).
func jsPayload(p any) any {
	if r, ok := p.(*checksession.AuthResult); ok {
		return wire.Result(r)
	}
	return p
}

// goClient is the JS object of Go-backed methods for one client, and the
// callbacks behind it, released by destroy.
type goClient struct {
	c     *checksession.Client
	b     *jsbridge.PrestartBrowser
	funcs []*jsbridge.Func
}

func newGoClient(c *checksession.Client, b *jsbridge.PrestartBrowser) (safejs.Value, error) {
	g := &goClient{c: c, b: b}
	methods := map[string]func(args []safejs.Value) any{
		"checkSession": func(args []safejs.Value) any {
			return withAuthorizeParams(jsbridge.Arg(args, 0), func(ctx context.Context, p checksession.AuthorizeParams) (any, error) {
				return result(c.CheckSession(ctx, p))
			})
		},
		"getTokenSilently": func(args []safejs.Value) any {
			return withAuthorizeParams(jsbridge.Arg(args, 0), func(ctx context.Context, p checksession.AuthorizeParams) (any, error) {
				return c.GetTokenSilently(ctx, p)
			})
		},
		"loginWithRedirect": func(args []safejs.Value) any {
			return withAuthorizeParams(jsbridge.Arg(args, 0), func(ctx context.Context, p checksession.AuthorizeParams) (any, error) {
				return nil, c.LoginWithRedirect(ctx, p)
			})
		},
		// loginWithPopup opens its window before the promise's goroutine
		// first blocks, and Go runs every ready goroutine before it hands
		// control back to JS: window.open still runs inside the click.
		"loginWithPopup": func(args []safejs.Value) any {
			return withAuthorizeParams(jsbridge.Arg(args, 0), func(ctx context.Context, p checksession.AuthorizeParams) (any, error) {
				return result(c.LoginWithPopup(ctx, p))
			})
		},
		"handleRedirectCallback": func(args []safejs.Value) any {
			url := b.Location()
			if u := jsbridge.Arg(args, 0); u.Type() == safejs.TypeString {
				url, _ = u.String()
			}
			return jsbridge.NewPromise(func() (any, error) {
				return result(c.HandleRedirectCallback(context.Background(), url))
			})
		},
		"logout": func(args []safejs.Value) any {
			return withParams("logout params", jsbridge.Arg(args, 0), wire.ParseLogoutParams, func(p checksession.LogoutParams) (any, error) {
				return nil, c.Logout(context.Background(), p)
			})
		},
		"getUser": func([]safejs.Value) any {
			v, err := jsbridge.ToJS(c.GetUser())
			if err != nil {
				return nil
			}
			return v
		},
		// checkApiUrl(url) → null, or the invalid_configuration error for a
		// URL outside apiOrigins: client.fetch asks before anything is sent.
		"checkApiUrl": func(args []safejs.Value) any {
			u, _ := jsbridge.Arg(args, 0).String()
			if err := c.CheckAPIURL(u); err != nil {
				return jsbridge.ErrorValue(err)
			}
			return nil
		},
		// getAuthHeaders(url, method) → { Authorization, DPoP? }: what
		// client.fetch and client.getAuthHeaders send to an API.
		"getAuthHeaders": func(args []safejs.Value) any {
			u, _ := jsbridge.Arg(args, 0).String()
			method, _ := jsbridge.Arg(args, 1).String()
			return jsbridge.NewPromise(func() (any, error) {
				h, err := c.AuthHeaders(context.Background(), u, method)
				if err != nil {
					return nil, err
				}
				out := make(map[string]any, len(h))
				for k, v := range h {
					out[k] = v
				}
				return out, nil
			})
		},
		// noteDpopNonce(url, nonce): an API's DPoP-Nonce, for its next proof.
		"noteDpopNonce": func(args []safejs.Value) any {
			u, _ := jsbridge.Arg(args, 0).String()
			n, _ := jsbridge.Arg(args, 1).String()
			c.NoteDPoPNonce(u, n)
			return nil
		},
		"startAutoRenew": func([]safejs.Value) any { c.StartAutoRenew(); return nil },
		"stopAutoRenew":  func([]safejs.Value) any { c.StopAutoRenew(); return nil },
		"destroy":        func([]safejs.Value) any { g.destroy(); return nil },
	}
	obj := map[string]any{}
	for name, m := range methods {
		f, err := jsbridge.NewFunc(func(_ safejs.Value, args []safejs.Value) any { return m(args) })
		if err != nil {
			g.destroy()
			return safejs.Value{}, err
		}
		g.funcs = append(g.funcs, f)
		obj[name] = f
	}
	return jsbridge.ToJS(obj)
}

// destroy stops the client, then releases every callback this client made;
// the loader's wrapper stops calling them first.
func (g *goClient) destroy() {
	g.c.Destroy()
	g.b.Close()
	for _, f := range g.funcs {
		f.Release()
	}
	g.funcs = nil
}

// withAuthorizeParams reads params now and runs fn in a promise.
func withAuthorizeParams(params safejs.Value, fn func(context.Context, checksession.AuthorizeParams) (any, error)) safejs.Value {
	return withParams("params", params, wire.ParseAuthorizeParams, func(p checksession.AuthorizeParams) (any, error) {
		return fn(context.Background(), p)
	})
}

// withParams reads a JS object now, so that later changes to the caller's
// object do not count, and in a promise parses it and runs fn. what names
// the object in the error when it cannot be read at all.
func withParams[P any](what string, v safejs.Value, parse func(map[string]any) (P, error), fn func(P) (any, error)) safejs.Value {
	raw, err := jsbridge.MapFromJS(v)
	if err != nil {
		return rejected(configError(what + ": " + err.Error()))
	}
	return jsbridge.NewPromise(func() (any, error) {
		p, err := parse(raw)
		if err != nil {
			return nil, err
		}
		return fn(p)
	})
}

func result(r *checksession.AuthResult, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, errors.New("no result and no error")
	}
	return wire.Result(r), nil
}

func configError(description string) error {
	return &checksession.Error{Code: string(checksession.ErrInvalidConfiguration), Description: description}
}

func rejected(err error) safejs.Value {
	return jsbridge.NewPromise(func() (any, error) { return nil, err })
}

// consoleLog is the Logger: checksession sends debug lines only when debug
// is on, and warnings always; they go to console.warn.
func consoleLog(level checksession.LogLevel, line string) {
	if level == checksession.LogWarn {
		console("warn", line)
		return
	}
	console("debug", line)
}

func console(level, line string) {
	c, err := safejs.Global().Get("console")
	if err == nil {
		_, _ = c.Call(level, "silentauth: "+line)
	}
}

// goHeapBytes is the Go heap's allocated objects, for stats(): benchmarks
// show how much of the linear memory is the engine's own data.
func goHeapBytes() float64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return float64(m.HeapAlloc)
}
