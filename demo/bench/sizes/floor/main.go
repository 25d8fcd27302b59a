//go:build js && wasm

// Command floor is the dependency floor of the size table in make bench:
// what safejs and golang-jwt cost when they verify RS256 and ES256 ID tokens
// and nothing else runs. silentauth.wasm cannot be smaller than this without
// dropping one of them.
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"math/big"

	"github.com/golang-jwt/jwt/v5"
	"github.com/hack-pad/safejs"
)

func main() {
	verify, err := safejs.FuncOf(func(_ safejs.Value, args []safejs.Value) any {
		if len(args) < 2 {
			return false
		}
		token, err := args[0].String()
		if err != nil {
			return false
		}
		return check(token, args[1])
	})
	if err != nil {
		panic(err)
	}
	if err := safejs.Global().Set("floorVerify", verify); err != nil {
		panic(err)
	}
	select {}
}

// check verifies token with the JWK in key (an object with kty, n, e or crv, x, y).
func check(token string, key safejs.Value) bool {
	field := func(name string) *big.Int {
		v, err := key.Get(name)
		if err != nil {
			return nil
		}
		s, err := v.String()
		if err != nil {
			return nil
		}
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			return nil
		}
		return new(big.Int).SetBytes(b)
	}
	_, err := jwt.Parse(token, func(t *jwt.Token) (any, error) {
		if t.Method.Alg() == "ES256" {
			return &ecdsa.PublicKey{Curve: elliptic.P256(), X: field("x"), Y: field("y")}, nil
		}
		return &rsa.PublicKey{N: field("n"), E: int(field("e").Int64())}, nil
	}, jwt.WithValidMethods([]string{"RS256", "ES256"}))
	return err == nil
}
