//go:build js && wasm

package main

import (
	"github.com/hack-pad/safejs"
	"github.com/silentauth/silentauth/checksession"
	"github.com/silentauth/silentauth/checksession/platform"
	"github.com/silentauth/silentauth/jsbridge"
	"github.com/silentauth/silentauth/jsbridge/wire/hub"
)

// startHub(memory) → {connect(id, post), receive(id, text), disconnect(id)}: what
// silentauth-worker.js calls for each page's MessagePort. Only the worker
// calls it; in a page the runtime serves createClient alone.
func startHub() *jsbridge.Func {
	f, err := jsbridge.NewFunc(func(_ safejs.Value, args []safejs.Value) any {
		memory := jsbridge.Arg(args, 0)
		base, err := jsbridge.NewWorkerBase()
		if err != nil {
			return jsbridge.ErrorValue(err)
		}
		h := hub.New(hub.Config{
			Base: base,
			NewEngine: func(opts checksession.Options, b platform.Browser) (hub.Engine, error) {
				return checksession.NewClient(opts, b, platform.SystemClock{})
			},
			Debug: func(line string) { console("debug", "worker: "+line) },
			Vault: base,
			Stats: func() map[string]any {
				s := map[string]any{"liveFuncs": jsbridge.LiveFuncs(), "goHeapBytes": goHeapBytes()}
				if buf, err := memory.Get("buffer"); err == nil {
					if n, err := buf.Get("byteLength"); err == nil {
						if f, err := n.Float(); err == nil {
							s["wasmMemoryBytes"] = f
						}
					}
				}
				return s
			},
		})
		// One goroutine takes the pages' messages in order of arrival, so
		// that nothing the hub does (destroying a client waits for its
		// goroutines) runs inside JS's call and blocks the worker's event loop.
		queue := make(chan func(), 1024)
		go func() {
			for fn := range queue {
				fn()
			}
		}()
		// These live as long as the worker: nothing releases them.
		connect, _ := jsbridge.NewFunc(func(_ safejs.Value, args []safejs.Value) any {
			id, _ := jsbridge.Arg(args, 0).String()
			post := jsbridge.Arg(args, 1)
			h.Connect(id, func(text []byte) { _, _ = post.Invoke(string(text)) })
			return nil
		})
		receive, _ := jsbridge.NewFunc(func(_ safejs.Value, args []safejs.Value) any {
			id, _ := jsbridge.Arg(args, 0).String()
			text, err := jsbridge.Arg(args, 1).String()
			if err == nil {
				queue <- func() { h.Receive(id, []byte(text)) }
			}
			return nil
		})
		disconnect, _ := jsbridge.NewFunc(func(_ safejs.Value, args []safejs.Value) any {
			id, _ := jsbridge.Arg(args, 0).String()
			queue <- func() { h.Disconnect(id) }
			return nil
		})
		v, err := jsbridge.ToJS(map[string]any{"connect": connect, "receive": receive, "disconnect": disconnect})
		if err != nil {
			return jsbridge.ErrorValue(err)
		}
		return v
	})
	if err != nil {
		panic(err)
	}
	return f
}
