//go:build js && wasm

package jsbridge_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"math/big"
	"testing"

	"github.com/silentauth/silentauth/checksession/platform"
	"github.com/silentauth/silentauth/jsbridge"
)

// verifyES256 checks sig (r‖s) over data with the public key (x, y).
func verifyES256(t *testing.T, x, y string, data, sig []byte) bool {
	t.Helper()
	xb, err1 := base64.RawURLEncoding.DecodeString(x)
	yb, err2 := base64.RawURLEncoding.DecodeString(y)
	if err1 != nil || err2 != nil || len(xb) != 32 || len(yb) != 32 {
		t.Fatalf("public JWK x %q y %q is not two 32-byte base64url coordinates", x, y)
	}
	pub := &ecdsa.PublicKey{Curve: elliptic.P256(), X: new(big.Int).SetBytes(xb), Y: new(big.Int).SetBytes(yb)}
	sum := sha256.Sum256(data)
	return len(sig) == 64 && ecdsa.Verify(pub, sum[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:]))
}

func TestDPoPKeySignsWithANonExtractableKeyKeptInIndexedDB(t *testing.T) {
	funcs := jsbridge.LiveFuncs()
	b, err := jsbridge.NewBrowser()
	if err != nil {
		t.Fatal(err)
	}
	var keys platform.DPoPKeys = b
	ctx := context.Background()
	const name = "dpop:test-sign"
	_ = keys.DeleteDPoPKey(ctx, name)

	k, made, err := keys.DPoPKey(ctx, name)
	if err != nil || !made {
		t.Fatalf("first DPoPKey: made %v, err %v; want a new key", made, err)
	}
	x, y := k.PublicJWK()
	data := []byte("header.claims")
	sig, err := k.Sign(ctx, data)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	if !verifyES256(t, x, y, data, sig) {
		t.Fatal("the signature does not verify with the public JWK")
	}
	if verifyES256(t, x, y, []byte("other"), sig) {
		t.Fatal("the signature verifies over other data")
	}

	again, made, err := keys.DPoPKey(ctx, name)
	if err != nil || made {
		t.Fatalf("second DPoPKey: made %v, err %v; want the stored key", made, err)
	}
	if ax, ay := again.PublicJWK(); ax != x || ay != y {
		t.Error("the second load returned another key")
	}

	// The stored private key cannot be read out, by Go or by a script.
	got := awaitJS(t, `(async () => {
		const db = await new Promise((ok, fail) => { const r = indexedDB.open("`+jsbridge.VaultDatabase+`"); r.onsuccess = () => ok(r.result); r.onerror = fail; });
		const pair = await new Promise((ok, fail) => { const r = db.transaction("`+jsbridge.VaultKeyStore+`").objectStore("`+jsbridge.VaultKeyStore+`").get("`+name+`"); r.onsuccess = () => ok(r.result); r.onerror = fail; });
		db.close();
		try { await crypto.subtle.exportKey("jwk", pair.privateKey); return "exported"; }
		catch (e) { return pair.privateKey.extractable + " " + pair.privateKey.algorithm.namedCurve + " " + e.name; }
	})()`)
	if got != "false P-256 InvalidAccessError" {
		t.Errorf("exporting the stored private key: %q, want it refused as non-extractable", got)
	}

	if err := keys.DeleteDPoPKey(ctx, name); err != nil {
		t.Fatalf("DeleteDPoPKey: %v", err)
	}
	fresh, made, err := keys.DPoPKey(ctx, name)
	if err != nil || !made {
		t.Fatalf("after delete: made %v, err %v; want a new key", made, err)
	}
	if fx, _ := fresh.PublicJWK(); fx == x {
		t.Error("after delete the same key came back")
	}
	_ = keys.DeleteDPoPKey(ctx, name)
	b.Close()
	if n := jsbridge.LiveFuncs(); n != funcs {
		t.Errorf("LiveFuncs = %d after the key's calls, want %d", n, funcs)
	}
}
