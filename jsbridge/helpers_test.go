//go:build js && wasm

package jsbridge_test

import (
	"testing"
	"time"

	"github.com/hack-pad/safejs"
)

// js evaluates a JavaScript expression in the test page.
func js(t testing.TB, expr string) safejs.Value {
	t.Helper()
	v, err := safejs.Global().Call("eval", expr)
	if err != nil {
		t.Fatalf("eval %q: %v", expr, err)
	}
	return v
}

func jsInt(t testing.TB, expr string) int { t.Helper(); return jsAs(t, expr, safejs.Value.Int) }

func jsString(t testing.TB, expr string) string {
	t.Helper()
	return jsAs(t, expr, safejs.Value.String)
}

// jsAs evaluates expr and converts its value with as.
func jsAs[T any](t testing.TB, expr string, as func(safejs.Value) (T, error)) T {
	t.Helper()
	v, err := as(js(t, expr))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return v
}

// eventually polls cond; sleeping hands control back to the browser's event
// loop, which is what lets loads and messages happen meanwhile.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func iframeCount(t testing.TB) int {
	return jsInt(t, `document.querySelectorAll("iframe").length`)
}
