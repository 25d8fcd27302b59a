//go:build js && wasm

package jsbridge

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/hack-pad/safejs"
	"github.com/silentauth/silentauth/checksession/platform"
)

// The vault: platform.SecretStore on the page and in a worker. A secret
// is kept in localStorage (in a worker, which has none, in IndexedDB) as
// AES-GCM ciphertext under a WebCrypto key that is
// generated non-extractable and kept in IndexedDB (a structured clone of the
// CryptoKey), so what storage holds is never a usable token by itself: only
// a script running on this origin can decrypt it, and no script can read the
// key out.
const (
	// VaultDatabase and VaultKeyStore are the IndexedDB database and object
	// store that hold the key, under VaultKeyID.
	VaultDatabase = "silentauth"
	VaultKeyStore = "keys"
	VaultKeyID    = "secret-store-key"
	// vaultFormat prefixes a stored value: "v1.<iv>.<ciphertext>", base64url.
	vaultFormat = "v1"
	ivBytes     = 12 // AES-GCM's 96-bit IV, random per write
)

var _ platform.SecretStore = (*Browser)(nil)

// vaultKey caches the CryptoKey: one per origin, shared by every client of
// the page. Only goroutines take mu, never JS callbacks.
var vaultKey struct {
	mu  sync.Mutex
	key safejs.Value
	ok  bool
}

// Save encrypts secret under a fresh IV and stores it as key in localStorage.
// The storage key is the additional data, so a value copied under another
// key does not decrypt.
func (b *Browser) Save(ctx context.Context, key, secret string) error {
	k, err := b.vaultCryptoKey(ctx, true)
	if err != nil {
		return err
	}
	subtle, err := b.subtle()
	if err != nil {
		return err
	}
	iv := make([]byte, ivBytes)
	jsIV, err := b.randomBytes(iv)
	if err != nil {
		return err
	}
	params, err := aesParams(jsIV, key)
	if err != nil {
		return err
	}
	plain, err := bytesToJS([]byte(secret))
	if err != nil {
		return err
	}
	p, err := subtle.Call("encrypt", params, k, plain)
	if err != nil {
		return fmt.Errorf("jsbridge: vault: encrypt: %w", err)
	}
	buf, err := Await(ctx, p)
	if err != nil {
		return fmt.Errorf("jsbridge: vault: encrypt: %w", err)
	}
	ct, err := bytesOf(buf)
	if err != nil {
		return err
	}
	value := vaultFormat + "." + base64.RawURLEncoding.EncodeToString(iv) + "." + base64.RawURLEncoding.EncodeToString(ct)
	if b.inWorker() {
		return b.idbValue(ctx, "put", key, value)
	}
	ls, err := b.localStorage()
	if err != nil {
		return err
	}
	if _, err := ls.Call("setItem", key, value); err != nil {
		return fmt.Errorf("jsbridge: vault: localStorage.setItem: %w", err)
	}
	return nil
}

// inWorker reports a worker's global scope, which has IndexedDB and
// WebCrypto but no localStorage: there the ciphertext is kept in
// IndexedDB's key store too, as a string under valuePrefix+key.
func (b *Browser) inWorker() bool {
	ls, err := getGuarded(b.window, "localStorage")
	if err == nil && ls.Type() == safejs.TypeObject {
		return false
	}
	doc, err := getGuarded(b.window, "document")
	return err == nil && doc.Type() != safejs.TypeObject
}

// valuePrefix keeps a stored value's id apart from VaultKeyID in the key
// store.
const valuePrefix = "value:"

// idbValue puts value as key ("put") or deletes key ("delete") in the key
// store.
func (b *Browser) idbValue(ctx context.Context, op, key, value string) error {
	db, err := b.openVaultDB(ctx)
	if err != nil {
		return err
	}
	defer func() { _, _ = db.Call("close") }()
	if op == "put" {
		return idbWrite(ctx, db, "put", value, valuePrefix+key)
	}
	return idbWrite(ctx, db, "delete", valuePrefix+key)
}

// idbLoadValue reads the string stored as key in the key store; "" and
// false when there is none.
func (b *Browser) idbLoadValue(ctx context.Context, key string) (string, bool, error) {
	db, err := b.openVaultDB(ctx)
	if err != nil {
		return "", false, err
	}
	defer func() { _, _ = db.Call("close") }()
	store, err := idbStore(db, "readonly")
	if err != nil {
		return "", false, err
	}
	req, err := store.Call("get", valuePrefix+key)
	if err != nil {
		return "", false, fmt.Errorf("jsbridge: vault: get: %w", err)
	}
	if err := idbWait(ctx, req, "get"); err != nil {
		return "", false, err
	}
	v, err := req.Get("result")
	if err != nil || v.Type() != safejs.TypeString {
		return "", false, err
	}
	str, err := v.String()
	return str, err == nil, err
}

// Load decrypts the secret stored as key. Nothing stored is ("", false,
// nil); a value that does not decrypt (tampered, written under a key that is
// gone, copied from another key) is an error.
func (b *Browser) Load(ctx context.Context, key string) (string, bool, error) {
	stored, found, err := b.loadValue(ctx, key)
	if err != nil || !found {
		return "", false, err
	}
	parts := strings.Split(stored, ".")
	if len(parts) != 3 || parts[0] != vaultFormat {
		return "", false, errors.New("jsbridge: vault: the stored value is not in the vault's format")
	}
	iv, err1 := base64.RawURLEncoding.DecodeString(parts[1])
	ct, err2 := base64.RawURLEncoding.DecodeString(parts[2])
	if err1 != nil || err2 != nil || len(iv) != ivBytes {
		return "", false, errors.New("jsbridge: vault: the stored value is not valid base64url with a 96-bit IV")
	}
	k, err := b.vaultCryptoKey(ctx, false)
	if err != nil {
		return "", false, err
	}
	subtle, err := b.subtle()
	if err != nil {
		return "", false, err
	}
	jsIV, err := bytesToJS(iv)
	if err != nil {
		return "", false, err
	}
	params, err := aesParams(jsIV, key)
	if err != nil {
		return "", false, err
	}
	data, err := bytesToJS(ct)
	if err != nil {
		return "", false, err
	}
	p, err := subtle.Call("decrypt", params, k, data)
	if err != nil {
		return "", false, fmt.Errorf("jsbridge: vault: decrypt: %w", err)
	}
	buf, err := Await(ctx, p)
	if err != nil {
		// OperationError: the ciphertext, its IV or the key is not the one it was made with.
		return "", false, fmt.Errorf("jsbridge: vault: the stored value does not decrypt (tampered, or its key is gone): %w", err)
	}
	plain, err := bytesOf(buf)
	if err != nil {
		return "", false, err
	}
	return string(plain), true, nil
}

// loadValue reads the stored value of key, from localStorage (a page) or
// IndexedDB (a worker).
func (b *Browser) loadValue(ctx context.Context, key string) (string, bool, error) {
	if b.inWorker() {
		return b.idbLoadValue(ctx, key)
	}
	ls, err := b.localStorage()
	if err != nil {
		return "", false, err
	}
	v, err := ls.Call("getItem", key)
	if err != nil {
		return "", false, fmt.Errorf("jsbridge: vault: localStorage.getItem: %w", err)
	}
	if v.Type() != safejs.TypeString {
		return "", false, nil
	}
	stored, err := v.String()
	return stored, err == nil, err
}

// Delete removes the value stored as key. The CryptoKey stays: other keys
// may use it.
func (b *Browser) Delete(ctx context.Context, key string) error {
	if b.inWorker() {
		return b.idbValue(ctx, "delete", key, "")
	}
	ls, err := b.localStorage()
	if err != nil {
		return err
	}
	if _, err := ls.Call("removeItem", key); err != nil {
		return fmt.Errorf("jsbridge: vault: localStorage.removeItem: %w", err)
	}
	return nil
}

// vaultCryptoKey returns the origin's key from IndexedDB, generating and
// storing it the first time when create is set. Two tabs generating at once
// both add under the same id; the loser reads the winner's key.
func (b *Browser) vaultCryptoKey(ctx context.Context, create bool) (safejs.Value, error) {
	vaultKey.mu.Lock()
	defer vaultKey.mu.Unlock()
	if vaultKey.ok {
		return vaultKey.key, nil
	}
	db, err := b.openVaultDB(ctx)
	if err != nil {
		return safejs.Value{}, err
	}
	defer func() { _, _ = db.Call("close") }()
	k, found, err := idbGet(ctx, db, VaultKeyID)
	if err != nil {
		return safejs.Value{}, err
	}
	if !found {
		if !create {
			return safejs.Value{}, errors.New("jsbridge: vault: no key in IndexedDB, so nothing stored can be decrypted")
		}
		if k, err = b.generateKey(ctx); err != nil {
			return safejs.Value{}, err
		}
		if err := idbAdd(ctx, db, k, VaultKeyID); err != nil {
			var je *JSError
			if !errors.As(err, &je) || je.Name != "ConstraintError" {
				return safejs.Value{}, err
			}
			// Another tab stored its key first: use that one.
			if k, found, err = idbGet(ctx, db, VaultKeyID); err != nil || !found {
				return safejs.Value{}, fmt.Errorf("jsbridge: vault: the key another tab stored cannot be read: %v", err)
			}
		}
	}
	vaultKey.key, vaultKey.ok = k, true
	return k, nil
}

func (b *Browser) generateKey(ctx context.Context) (safejs.Value, error) {
	subtle, err := b.subtle()
	if err != nil {
		return safejs.Value{}, err
	}
	alg, err := jsObject(map[string]any{"name": "AES-GCM", "length": 256})
	if err != nil {
		return safejs.Value{}, err
	}
	usages, err := jsArray("encrypt", "decrypt")
	if err != nil {
		return safejs.Value{}, err
	}
	p, err := subtle.Call("generateKey", alg, false, usages) // false: non-extractable
	if err != nil {
		return safejs.Value{}, fmt.Errorf("jsbridge: vault: generateKey: %w", err)
	}
	k, err := Await(ctx, p)
	if err != nil {
		return safejs.Value{}, fmt.Errorf("jsbridge: vault: generateKey: %w", err)
	}
	return k, nil
}

// openVaultDB opens the database, creating the key store on first use. The
// upgrade callback is released once the open request has settled, never
// before: IndexedDB may still call it until then.
func (b *Browser) openVaultDB(ctx context.Context) (safejs.Value, error) {
	idb, err := getGuarded(b.window, "indexedDB")
	if err != nil || idb.Type() != safejs.TypeObject {
		return safejs.Value{}, errors.New("jsbridge: vault: IndexedDB is unavailable")
	}
	req, err := idb.Call("open", VaultDatabase, 1)
	if err != nil {
		return safejs.Value{}, fmt.Errorf("jsbridge: vault: indexedDB.open: %w", err)
	}
	upgrade, err := NewFunc(func(_ safejs.Value, _ []safejs.Value) any {
		db, err := req.Get("result")
		if err == nil {
			_, _ = db.Call("createObjectStore", VaultKeyStore)
		}
		return nil
	})
	if err != nil {
		return safejs.Value{}, err
	}
	if err := req.Set("onupgradeneeded", upgrade.Value()); err != nil {
		upgrade.Release()
		return safejs.Value{}, err
	}
	settled, err := idbPromise(req, "success", "error", "blocked")
	if err != nil {
		upgrade.Release()
		return safejs.Value{}, err
	}
	_, err = Await(context.WithoutCancel(ctx), settled) // an open always settles; see above
	_ = req.Set("onupgradeneeded", safejs.Null())
	upgrade.Release()
	if err != nil {
		return safejs.Value{}, idbError("indexedDB.open", req, err)
	}
	return req.Get("result")
}

// idbGet reads the object stored as id in the key store (the vault's key,
// a DPoP key pair); found is false when there is none.
func idbGet(ctx context.Context, db safejs.Value, id string) (safejs.Value, bool, error) {
	store, err := idbStore(db, "readonly")
	if err != nil {
		return safejs.Value{}, false, err
	}
	req, err := store.Call("get", id)
	if err != nil {
		return safejs.Value{}, false, fmt.Errorf("jsbridge: vault: get: %w", err)
	}
	if err := idbWait(ctx, req, "get"); err != nil {
		return safejs.Value{}, false, err
	}
	k, err := req.Get("result")
	if err != nil {
		return safejs.Value{}, false, err
	}
	if k.Type() != safejs.TypeObject {
		return safejs.Value{}, false, nil
	}
	return k, true, nil
}

// idbAdd stores k as id with add, which refuses to overwrite (a
// ConstraintError), and waits for the transaction to commit.
func idbAdd(ctx context.Context, db, k safejs.Value, id string) error {
	return idbWrite(ctx, db, "add", k, id)
}

// idbDelete removes what is stored as id and waits for the commit.
func idbDelete(ctx context.Context, db safejs.Value, id string) error {
	return idbWrite(ctx, db, "delete", id)
}

func idbWrite(ctx context.Context, db safejs.Value, op string, args ...any) error {
	store, err := idbStore(db, "readwrite")
	if err != nil {
		return err
	}
	tx, err := store.Get("transaction")
	if err != nil {
		return err
	}
	req, err := store.Call(op, args...)
	if err != nil {
		return fmt.Errorf("jsbridge: vault: %s: %w", op, err)
	}
	if err := idbWait(ctx, req, op); err != nil {
		return err
	}
	committed, err := idbPromise(tx, "complete", "error", "abort")
	if err != nil {
		return err
	}
	if _, err := Await(ctx, committed); err != nil {
		return idbError("commit", tx, err)
	}
	return nil
}

func idbStore(db safejs.Value, mode string) (safejs.Value, error) {
	tx, err := db.Call("transaction", VaultKeyStore, mode)
	if err != nil {
		return safejs.Value{}, fmt.Errorf("jsbridge: vault: transaction: %w", err)
	}
	return tx.Call("objectStore", VaultKeyStore)
}

// idbWait waits for an IDBRequest to succeed.
func idbWait(ctx context.Context, req safejs.Value, what string) error {
	settled, err := idbPromise(req, "success", "error")
	if err != nil {
		return err
	}
	if _, err := Await(ctx, settled); err != nil {
		return idbError(what, req, err)
	}
	return nil
}

// idbPromise is a Promise that resolves on target's ok event and rejects on
// its fail events. The handlers are the Promise's own resolve and reject,
// so no Go callback outlives the constructor.
func idbPromise(target safejs.Value, ok string, fail ...string) (safejs.Value, error) {
	exec, err := NewFunc(func(_ safejs.Value, args []safejs.Value) any {
		_ = target.Set("on"+ok, Arg(args, 0))
		for _, f := range fail {
			_ = target.Set("on"+f, Arg(args, 1))
		}
		return nil
	})
	if err != nil {
		return safejs.Value{}, err
	}
	defer exec.Release()
	ctor, err := safejs.Global().Get("Promise")
	if err != nil {
		return safejs.Value{}, err
	}
	return ctor.New(exec.Value())
}

// idbError names the DOMException an IndexedDB request or transaction
// failed with; a rejection with its event says nothing by itself.
func idbError(what string, target safejs.Value, err error) error {
	if e, gerr := target.Get("error"); gerr == nil && e.Type() == safejs.TypeObject {
		if je, ok := jsError(e).(*JSError); ok {
			return fmt.Errorf("jsbridge: vault: %s: %w", what, je)
		}
	}
	if _, blocked := err.(*RejectedError); blocked && what == "indexedDB.open" {
		return errors.New("jsbridge: vault: indexedDB.open was blocked or failed")
	}
	return fmt.Errorf("jsbridge: vault: %s: %w", what, err)
}

func (b *Browser) localStorage() (safejs.Value, error) {
	ls, err := getGuarded(b.window, "localStorage")
	if err != nil {
		return safejs.Value{}, fmt.Errorf("jsbridge: vault: localStorage: %w", err)
	}
	if ls.Type() != safejs.TypeObject {
		return safejs.Value{}, errors.New("jsbridge: vault: localStorage is unavailable")
	}
	return ls, nil
}

func (b *Browser) subtle() (safejs.Value, error) {
	c, err := b.window.Get("crypto")
	if err == nil && c.Type() == safejs.TypeObject {
		s, err := c.Get("subtle")
		if err == nil && s.Type() == safejs.TypeObject {
			return s, nil
		}
	}
	return safejs.Value{}, errors.New("jsbridge: vault: crypto.subtle is unavailable (the page is not a secure context)")
}

// randomBytes fills dst from crypto.getRandomValues and returns the
// Uint8Array it used.
func (b *Browser) randomBytes(dst []byte) (safejs.Value, error) {
	a, err := bytesToJS(make([]byte, len(dst)))
	if err != nil {
		return safejs.Value{}, err
	}
	c, err := b.window.Get("crypto")
	if err != nil {
		return safejs.Value{}, err
	}
	if _, err := c.Call("getRandomValues", a); err != nil {
		return safejs.Value{}, fmt.Errorf("jsbridge: vault: getRandomValues: %w", err)
	}
	if _, err := safejs.CopyBytesToGo(dst, a); err != nil {
		return safejs.Value{}, err
	}
	return a, nil
}

func aesParams(iv safejs.Value, key string) (safejs.Value, error) {
	aad, err := bytesToJS([]byte(key))
	if err != nil {
		return safejs.Value{}, err
	}
	o, err := jsObject(map[string]any{"name": "AES-GCM"})
	if err != nil {
		return safejs.Value{}, err
	}
	if err := o.Set("iv", iv); err != nil {
		return safejs.Value{}, err
	}
	if err := o.Set("additionalData", aad); err != nil {
		return safejs.Value{}, err
	}
	return o, nil
}

// bytesOf copies an ArrayBuffer into Go.
func bytesOf(buf safejs.Value) ([]byte, error) {
	ctor, err := safejs.Global().Get("Uint8Array")
	if err != nil {
		return nil, err
	}
	a, err := ctor.New(buf)
	if err != nil {
		return nil, fmt.Errorf("jsbridge: vault: not an ArrayBuffer: %w", err)
	}
	return bytesToGo(a)
}

func jsObject(fields map[string]any) (safejs.Value, error) {
	ctor, err := safejs.Global().Get("Object")
	if err != nil {
		return safejs.Value{}, err
	}
	o, err := ctor.New()
	if err != nil {
		return safejs.Value{}, err
	}
	for k, v := range fields {
		if err := o.Set(k, v); err != nil {
			return safejs.Value{}, err
		}
	}
	return o, nil
}

func jsArray(items ...any) (safejs.Value, error) {
	ctor, err := safejs.Global().Get("Array")
	if err != nil {
		return safejs.Value{}, err
	}
	return ctor.Call("of", items...)
}
