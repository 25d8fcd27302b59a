// Package idtokentest is a test issuer for code that verifies ID tokens: RSA
// and EC keys, their JWKS, and a Sign that can also forge.
package idtokentest

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Test helpers for anything that needs ID tokens: an issuer with RSA-2048 and
// P-256 keys, its JWKS, and a Sign that can also forge (none, HS256 with the
// public key, wrong kid, bad signature).

// Now is the fake "now" that token tests start from.
var Now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const (
	IssuerURL = "https://login.example.com/"
	ClientID  = "spa"
	Nonce     = "n-0S6_WzA2Mj"
)

// SigningKey is one issuer key.
type SigningKey struct {
	Kid     string
	Private crypto.Signer // *rsa.PrivateKey or *ecdsa.PrivateKey
}

// Public is the key's public half.
func (k SigningKey) Public() crypto.PublicKey { return k.Private.Public() }

// Issuer signs ID tokens and serves its JWKS, counting fetches.
type Issuer struct {
	URL      string
	ClientID string

	mu   sync.Mutex
	rsa  SigningKey // signs RS*, PS* and is in the JWKS
	ec   SigningKey // signs ES256 and is in the JWKS
	gen  int        // RSA keys generated so far, for fresh kids on Rotate
	jwks []byte     // nil: built from rsa and ec

	// Fetches counts calls of Fetch.
	Fetches atomic.Int32
}

// NewIssuer returns an issuer for IssuerURL and ClientID with
// one RSA-2048 key ("rsa-0") and one P-256 key ("ec-0").
func NewIssuer(t testing.TB) *Issuer {
	t.Helper()
	return &Issuer{
		URL:      IssuerURL,
		ClientID: ClientID,
		rsa:      SigningKey{Kid: "rsa-0", Private: RSAKey(t, 0)},
		ec:       SigningKey{Kid: "ec-0", Private: ECKey(t, 0)},
		gen:      1,
	}
}

// RSA and EC are the keys the issuer currently signs with.
func (i *Issuer) RSA() SigningKey { i.mu.Lock(); defer i.mu.Unlock(); return i.rsa }
func (i *Issuer) EC() SigningKey  { i.mu.Lock(); defer i.mu.Unlock(); return i.ec }

// Rotate replaces the RSA key with a new one under a new kid; the JWKS no
// longer lists the old one. It returns the new key.
func (i *Issuer) Rotate(t testing.TB) SigningKey {
	t.Helper()
	i.mu.Lock()
	defer i.mu.Unlock()
	i.rsa = SigningKey{Kid: fmt.Sprintf("rsa-%d", i.gen), Private: RSAKey(t, i.gen)}
	i.gen++
	return i.rsa
}

// SetJWKS makes Fetch serve doc instead of the issuer's own keys; nil undoes it.
func (i *Issuer) SetJWKS(doc []byte) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.jwks = doc
}

// JWKS is the issuer's key set document.
func (i *Issuer) JWKS() []byte {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.jwks != nil {
		return i.jwks
	}
	return KeySetDoc(JWKOf(i.rsa), JWKOf(i.ec))
}

// Fetch serves JWKS; it is the fetch func for NewKeySet.
func (i *Issuer) Fetch(ctx context.Context) ([]byte, error) {
	i.Fetches.Add(1)
	return i.JWKS(), nil
}

// Claims returns the claims of a valid ID token issued at now for
// Nonce. Tests change or delete entries to break one check.
func (i *Issuer) Claims(now time.Time) map[string]any {
	return map[string]any{
		"iss":       i.URL,
		"sub":       "auth0|user-1",
		"aud":       i.ClientID,
		"iat":       now.Unix(),
		"exp":       now.Add(time.Hour).Unix(),
		"auth_time": now.Add(-time.Minute).Unix(),
		"nonce":     Nonce,
	}
}

// signConfig is how Sign builds one token.
type signConfig struct {
	alg      string
	key      *SigningKey // nil: the issuer's key for alg
	kid      *string     // nil: the signing key's kid
	noKid    bool
	header   map[string]any
	breakSig bool
}

type SignOpt func(*signConfig)

// WithAlg signs with alg: RS*/PS* with the RSA key, ES256 with the EC key,
// "none" unsigned, HS* with the RSA public key's PEM as the HMAC secret.
func WithAlg(alg string) SignOpt { return func(c *signConfig) { c.alg = alg } }

// WithKid puts kid in the header instead of the signing key's.
func WithKid(kid string) SignOpt { return func(c *signConfig) { c.kid = &kid } }

// WithoutKid leaves kid out of the header.
func WithoutKid() SignOpt { return func(c *signConfig) { c.noKid = true } }

// WithKey signs with k (kid included) instead of the issuer's key.
func WithKey(k SigningKey) SignOpt { return func(c *signConfig) { c.key = &k } }

// WithHeader sets a header parameter; a nil value removes it.
func WithHeader(name string, value any) SignOpt {
	return func(c *signConfig) {
		if c.header == nil {
			c.header = map[string]any{}
		}
		c.header[name] = value
	}
}

// WithBadSignature flips a bit of the signature.
func WithBadSignature() SignOpt { return func(c *signConfig) { c.breakSig = true } }

// Sign returns a compact JWS of claims, RS256 with the RSA key unless opts
// say otherwise.
func (i *Issuer) Sign(t testing.TB, claims map[string]any, opts ...SignOpt) string {
	t.Helper()
	c := signConfig{alg: "RS256"}
	for _, o := range opts {
		o(&c)
	}

	var signer SigningKey
	switch {
	case c.key != nil:
		signer = *c.key
	case strings.HasPrefix(c.alg, "ES"):
		signer = i.EC()
	default:
		signer = i.RSA()
	}

	header := map[string]any{"alg": c.alg, "typ": "JWT", "kid": signer.Kid}
	if c.kid != nil {
		header["kid"] = *c.kid
	}
	if c.noKid {
		delete(header, "kid")
	}
	for k, v := range c.header {
		if v == nil {
			delete(header, k)
		} else {
			header[k] = v
		}
	}
	input := b64JSON(t, header) + "." + b64JSON(t, claims)

	var sig []byte
	switch {
	case c.alg == "none":
	case strings.HasPrefix(c.alg, "HS"):
		// The classic confusion attack: the public key, as published, used as an HMAC secret.
		der, err := x509.MarshalPKIXPublicKey(signer.Public())
		if err != nil {
			t.Fatal(err)
		}
		secret := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
		sig = mustSign(t, c.alg, input, secret)
	default:
		sig = mustSign(t, c.alg, input, signer.Private)
	}
	if c.breakSig {
		if len(sig) == 0 {
			sig = []byte{0}
		}
		sig[len(sig)/2] ^= 0x01
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func mustSign(t testing.TB, alg, input string, key any) []byte {
	t.Helper()
	m := jwt.GetSigningMethod(alg)
	if m == nil {
		t.Fatalf("no signing method %q", alg)
	}
	sig, err := m.Sign(input, key)
	if err != nil {
		t.Fatalf("sign %s: %v", alg, err)
	}
	return sig
}

func b64JSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// KeySetDoc builds a JWKS document from JWK objects (see JWKOf).
func KeySetDoc(keys ...map[string]any) []byte {
	b, err := json.Marshal(map[string]any{"keys": keys})
	if err != nil {
		panic(err)
	}
	return b
}

// JWKOf is the public JWK of k, with "use":"sig" and no "alg". Tests add or
// change members to build odd keys.
func JWKOf(k SigningKey) map[string]any {
	b64 := func(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
	switch pub := k.Public().(type) {
	case *rsa.PublicKey:
		return map[string]any{"kty": "RSA", "kid": k.Kid, "use": "sig",
			"n": b64(pub.N.Bytes()), "e": b64(big.NewInt(int64(pub.E)).Bytes())}
	case *ecdsa.PublicKey:
		size := (pub.Curve.Params().BitSize + 7) / 8
		point, err := pub.Bytes() // 0x04 || X || Y
		if err != nil {
			panic(err)
		}
		return map[string]any{"kty": "EC", "kid": k.Kid, "use": "sig", "crv": pub.Curve.Params().Name,
			"x": b64(point[1 : 1+size]), "y": b64(point[1+size:])}
	}
	panic(fmt.Sprintf("JWKOf: unsupported key %T", k.Private))
}

// Key generation is slow under -race; every test shares a few keys.
var (
	testKeysMu sync.Mutex
	testRSA    = map[int]*rsa.PrivateKey{}
	testEC     = map[string]*ecdsa.PrivateKey{}
)

// RSAKey returns the n-th shared RSA-2048 key.
func RSAKey(t testing.TB, n int) *rsa.PrivateKey {
	t.Helper()
	testKeysMu.Lock()
	defer testKeysMu.Unlock()
	if k, ok := testRSA[n]; ok {
		return k
	}
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	testRSA[n] = k
	return k
}

// ECKey returns the n-th shared P-256 key.
func ECKey(t testing.TB, n int) *ecdsa.PrivateKey {
	return ECKeyOn(t, elliptic.P256(), n)
}

// ECKeyOn returns the n-th shared key on curve.
func ECKeyOn(t testing.TB, curve elliptic.Curve, n int) *ecdsa.PrivateKey {
	t.Helper()
	testKeysMu.Lock()
	defer testKeysMu.Unlock()
	id := fmt.Sprintf("%s/%d", curve.Params().Name, n)
	if k, ok := testEC[id]; ok {
		return k
	}
	k, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	testEC[id] = k
	return k
}

// AtHashRS256 is the at_hash claim of accessToken in an RS256 token.
func AtHashRS256(accessToken string) string {
	sum := sha256.Sum256([]byte(accessToken))
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
}
