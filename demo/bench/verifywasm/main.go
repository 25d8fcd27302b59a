//go:build js && wasm

// Command verifywasm is the ID-token Verifier (checksession/idtoken) alone, for make
// bench: it times the same validation silentauth runs on every renewal,
// inside the browser, next to jose on WebCrypto.
//
// It sets globalThis.benchVerifier = {setup, verify, verifyN}:
//
//	setup(jwksJSON, issuer, clientId, nowUnixSeconds) → "" or an error message
//	verify(token) → "" or an error message (one Verify per call from JS)
//	verifyN(token, n) → "" or the first error (n Verify calls in one JS call)
package main

import (
	"context"
	"time"

	"github.com/hack-pad/safejs"
	"github.com/silentauth/silentauth/checksession/idtoken"
)

var verifier *idtoken.Verifier

func main() {
	setup := must(safejs.FuncOf(func(_ safejs.Value, args []safejs.Value) any {
		jwks, issuer, clientID := str(args, 0), str(args, 1), str(args, 2)
		now := time.Unix(int64(num(args, 3)), 0)
		keys := idtoken.NewKeySet(func(context.Context) ([]byte, error) { return []byte(jwks), nil })
		verifier = idtoken.NewVerifier(idtoken.VerifierConfig{
			Issuer: issuer, ClientID: clientID, Leeway: 60 * time.Second, // the engine's default leeway
			Now: func() time.Time { return now }, Keys: keys,
		})
		return ""
	}))
	verify := must(safejs.FuncOf(func(_ safejs.Value, args []safejs.Value) any {
		return run(str(args, 0), 1)
	}))
	verifyN := must(safejs.FuncOf(func(_ safejs.Value, args []safejs.Value) any {
		return run(str(args, 0), int(num(args, 1)))
	}))
	object := must(safejs.Global().Get("Object"))
	obj := must(object.New())
	for name, f := range map[string]safejs.Func{"setup": setup, "verify": verify, "verifyN": verifyN} {
		if err := obj.Set(name, f); err != nil {
			panic(err)
		}
	}
	if err := safejs.Global().Set("benchVerifier", obj); err != nil {
		panic(err)
	}
	select {}
}

func run(token string, n int) string {
	if verifier == nil {
		return "setup was not called"
	}
	for range n {
		if _, err := verifier.Verify(context.Background(), token, idtoken.Expected{}); err != nil {
			return err.Error()
		}
	}
	return ""
}

func str(args []safejs.Value, i int) string {
	if i >= len(args) {
		return ""
	}
	s, _ := args[i].String()
	return s
}

func num(args []safejs.Value, i int) float64 {
	if i >= len(args) {
		return 0
	}
	f, _ := args[i].Float()
	return f
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
