//go:build js && wasm

package jsbridge_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/silentauth/silentauth/checksession/platform"
	"github.com/silentauth/silentauth/jsbridge"
)

const vaultSecret = "v1.rt-SECRET-refresh-token-0123456789"

func newVault(t *testing.T) (platform.SecretStore, context.Context) {
	t.Helper()
	b, err := jsbridge.NewBrowser()
	if err != nil {
		t.Fatal(err)
	}
	return b, context.Background()
}

// awaitJS evaluates an async JavaScript expression and returns its string result.
func awaitJS(t *testing.T, expr string) string {
	t.Helper()
	v, err := jsbridge.Await(context.Background(), js(t, expr))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	s, err := v.String()
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return s
}

func TestVaultRoundTripKeepsNoPlaintext(t *testing.T) {
	funcs := jsbridge.LiveFuncs()
	v, ctx := newVault(t)
	const key = "silentauth:rt:round-trip"
	if err := v.Save(ctx, key, vaultSecret); err != nil {
		t.Fatalf("Save: %v", err)
	}
	got, ok, err := v.Load(ctx, key)
	if err != nil || !ok || got != vaultSecret {
		t.Fatalf("Load = %q %v %v, want the secret", got, ok, err)
	}
	stored := jsString(t, `localStorage.getItem("`+key+`")`)
	for _, form := range []string{
		vaultSecret,
		"rt-SECRET",
		base64.StdEncoding.EncodeToString([]byte(vaultSecret)),
		base64.RawURLEncoding.EncodeToString([]byte(vaultSecret)),
		base64.StdEncoding.EncodeToString([]byte(vaultSecret))[:16],
	} {
		if strings.Contains(stored, form) {
			t.Errorf("localStorage holds %q, which contains %q", stored, form)
		}
	}
	// A second write of the same secret uses a new IV, so the value changes.
	if err := v.Save(ctx, key, vaultSecret); err != nil {
		t.Fatal(err)
	}
	if again := jsString(t, `localStorage.getItem("`+key+`")`); again == stored {
		t.Error("two writes of one secret stored the same value: the IV is not fresh")
	}
	if err := v.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	if js(t, `localStorage.getItem("`+key+`")`).Type().String() != "null" {
		t.Error("Delete left the value in localStorage")
	}
	if got, ok, err := v.Load(ctx, key); err != nil || ok || got != "" {
		t.Errorf("Load after Delete = %q %v %v, want nothing", got, ok, err)
	}
	if n := jsbridge.LiveFuncs(); n != funcs {
		t.Errorf("LiveFuncs = %d after the vault's calls, want %d", n, funcs)
	}
}

func TestVaultKeyInIndexedDBIsNonExtractable(t *testing.T) {
	v, ctx := newVault(t)
	if err := v.Save(ctx, "silentauth:rt:key-check", vaultSecret); err != nil {
		t.Fatal(err)
	}
	raw := awaitJS(t, `(async () => {
		const db = await new Promise((res, rej) => { const r = indexedDB.open("`+jsbridge.VaultDatabase+`"); r.onsuccess = () => res(r.result); r.onerror = () => rej(r.error); });
		const key = await new Promise((res, rej) => {
			const r = db.transaction("`+jsbridge.VaultKeyStore+`").objectStore("`+jsbridge.VaultKeyStore+`").get("`+jsbridge.VaultKeyID+`");
			r.onsuccess = () => res(r.result); r.onerror = () => rej(r.error);
		});
		db.close();
		let exported = "resolved";
		try { await crypto.subtle.exportKey("raw", key); } catch (e) { exported = e.name; }
		return JSON.stringify({isKey: key instanceof CryptoKey, extractable: key.extractable, alg: key.algorithm.name, exported});
	})()`)
	var got struct {
		IsKey       bool   `json:"isKey"`
		Extractable bool   `json:"extractable"`
		Alg         string `json:"alg"`
		Exported    string `json:"exported"`
	}
	if err := json.Unmarshal([]byte(raw), &got); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	if !got.IsKey || got.Extractable || got.Alg != "AES-GCM" || got.Exported != "InvalidAccessError" {
		t.Errorf("key in IndexedDB: %+v, want a non-extractable AES-GCM CryptoKey whose export is refused", got)
	}
}

func TestVaultRefusesWhatItDidNotWrite(t *testing.T) {
	cases := []struct {
		name   string
		tamper string // JS run on the stored value s; returns the new value
	}{
		{"a flipped ciphertext byte", `s.slice(0, -2) + (s.slice(-2, -1) === "A" ? "B" : "A") + s.slice(-1)`},
		{"another IV", `(([v, iv, ct]) => [v, "AAAAAAAAAAAAAAAA", ct].join("."))(s.split("."))`},
		{"not the vault's format", `"plain-text-token"`},
		{"bad base64", `"v1.!!!.???"`},
		{"a value copied from another key", `localStorage.getItem("silentauth:rt:other")`},
	}
	v, ctx := newVault(t)
	if err := v.Save(ctx, "silentauth:rt:other", "another secret"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			funcs := jsbridge.LiveFuncs()
			const key = "silentauth:rt:tamper"
			if err := v.Save(ctx, key, vaultSecret); err != nil {
				t.Fatal(err)
			}
			js(t, `(() => { const s = localStorage.getItem("`+key+`"); localStorage.setItem("`+key+`", `+tc.tamper+`); })()`)
			got, ok, err := v.Load(ctx, key)
			if err == nil || ok || got != "" {
				t.Fatalf("Load of %s = %q %v %v, want an error", tc.name, got, ok, err)
			}
			if strings.Contains(err.Error(), vaultSecret) {
				t.Errorf("the error names the secret: %v", err)
			}
			if n := jsbridge.LiveFuncs(); n != funcs {
				t.Errorf("LiveFuncs = %d, want %d", n, funcs)
			}
		})
	}
}
