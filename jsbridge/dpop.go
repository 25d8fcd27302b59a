//go:build js && wasm

package jsbridge

import (
	"context"
	"errors"
	"fmt"

	"github.com/hack-pad/safejs"
	"github.com/silentauth/silentauth/checksession/platform"
)

// DPoP keys: platform.DPoPKeys on the page. A key pair is an ECDSA
// P-256 pair from WebCrypto whose private key is generated non-extractable,
// kept in the vault's IndexedDB store (a structured clone of the
// CryptoKeyPair) under its name. Go never sees the private key: it gets the
// public coordinates and asks crypto.subtle.sign for each signature.

var _ platform.DPoPKeys = (*Browser)(nil)

// webDPoPKey is one loaded key pair.
type webDPoPKey struct {
	b       *Browser
	private safejs.Value
	x, y    string
}

func (k *webDPoPKey) PublicJWK() (string, string) { return k.x, k.y }

// Sign signs data with ECDSA P-256/SHA-256; WebCrypto's signature is r‖s,
// which is what JWS's ES256 wants.
func (k *webDPoPKey) Sign(ctx context.Context, data []byte) ([]byte, error) {
	subtle, err := k.b.subtle()
	if err != nil {
		return nil, err
	}
	alg, err := jsObject(map[string]any{"name": "ECDSA", "hash": "SHA-256"})
	if err != nil {
		return nil, err
	}
	in, err := bytesToJS(data)
	if err != nil {
		return nil, err
	}
	p, err := subtle.Call("sign", alg, k.private, in)
	if err != nil {
		return nil, fmt.Errorf("jsbridge: dpop: sign: %w", err)
	}
	sig, err := Await(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("jsbridge: dpop: sign: %w", err)
	}
	return bytesOf(sig)
}

// DPoPKey returns the key pair stored as name, making and storing one when
// there is none. Two tabs making one at once both add under the same name;
// the loser uses the winner's pair and reports made false.
func (b *Browser) DPoPKey(ctx context.Context, name string) (platform.DPoPKey, bool, error) {
	db, err := b.openVaultDB(ctx)
	if err != nil {
		return nil, false, err
	}
	defer func() { _, _ = db.Call("close") }()
	pair, found, err := idbGet(ctx, db, name)
	if err != nil {
		return nil, false, err
	}
	made := false
	if !found {
		if pair, err = b.generateDPoPKey(ctx); err != nil {
			return nil, false, err
		}
		made = true
		if err := idbAdd(ctx, db, pair, name); err != nil {
			var je *JSError
			if !errors.As(err, &je) || je.Name != "ConstraintError" {
				return nil, false, err
			}
			if pair, found, err = idbGet(ctx, db, name); err != nil || !found {
				return nil, false, fmt.Errorf("jsbridge: dpop: the key another tab stored cannot be read: %v", err)
			}
			made = false
		}
	}
	private, err := pair.Get("privateKey")
	if err != nil {
		return nil, false, err
	}
	public, err := pair.Get("publicKey")
	if err != nil {
		return nil, false, err
	}
	if private.Type() != safejs.TypeObject || public.Type() != safejs.TypeObject {
		return nil, false, errors.New("jsbridge: dpop: the stored key pair is damaged")
	}
	x, y, err := b.publicCoordinates(ctx, public)
	if err != nil {
		return nil, false, err
	}
	return &webDPoPKey{b: b, private: private, x: x, y: y}, made, nil
}

// DeleteDPoPKey removes the key pair stored as name.
func (b *Browser) DeleteDPoPKey(ctx context.Context, name string) error {
	db, err := b.openVaultDB(ctx)
	if err != nil {
		return err
	}
	defer func() { _, _ = db.Call("close") }()
	return idbDelete(ctx, db, name)
}

func (b *Browser) generateDPoPKey(ctx context.Context) (safejs.Value, error) {
	subtle, err := b.subtle()
	if err != nil {
		return safejs.Value{}, err
	}
	alg, err := jsObject(map[string]any{"name": "ECDSA", "namedCurve": "P-256"})
	if err != nil {
		return safejs.Value{}, err
	}
	usages, err := jsArray("sign", "verify")
	if err != nil {
		return safejs.Value{}, err
	}
	// false: the private key is non-extractable; a public key always is.
	p, err := subtle.Call("generateKey", alg, false, usages)
	if err != nil {
		return safejs.Value{}, fmt.Errorf("jsbridge: dpop: generateKey: %w", err)
	}
	pair, err := Await(ctx, p)
	if err != nil {
		return safejs.Value{}, fmt.Errorf("jsbridge: dpop: generateKey: %w", err)
	}
	// A plain object of the two keys, which IndexedDB clones as it is.
	return jsObject(map[string]any{"privateKey": mustGet(pair, "privateKey"), "publicKey": mustGet(pair, "publicKey")})
}

func mustGet(v safejs.Value, name string) any {
	f, err := v.Get(name)
	if err != nil {
		return nil
	}
	return f
}

// publicCoordinates exports the public key as a JWK and returns its x and y.
func (b *Browser) publicCoordinates(ctx context.Context, public safejs.Value) (string, string, error) {
	subtle, err := b.subtle()
	if err != nil {
		return "", "", err
	}
	p, err := subtle.Call("exportKey", "jwk", public)
	if err != nil {
		return "", "", fmt.Errorf("jsbridge: dpop: exportKey: %w", err)
	}
	jwk, err := Await(ctx, p)
	if err != nil {
		return "", "", fmt.Errorf("jsbridge: dpop: exportKey: %w", err)
	}
	var xy [2]string
	for i, name := range []string{"x", "y"} {
		v, err := jwk.Get(name)
		if err == nil && v.Type() == safejs.TypeString {
			xy[i], err = v.String()
		}
		if err != nil || xy[i] == "" {
			return "", "", fmt.Errorf("jsbridge: dpop: the public key's JWK has no %s", name)
		}
	}
	return xy[0], xy[1], nil
}
