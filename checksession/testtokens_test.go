package checksession

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
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

// testNow is the fake "now" that token tests start from.
var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const (
	testIssuerURL = "https://login.example.com/"
	testClientID  = "spa"
	testNonce     = "n-0S6_WzA2Mj"
)

// testSigningKey is one issuer key.
type testSigningKey struct {
	Kid     string
	Private crypto.Signer // *rsa.PrivateKey or *ecdsa.PrivateKey
}

// Public is the key's public half.
func (k testSigningKey) Public() crypto.PublicKey { return k.Private.Public() }

// testIssuer signs ID tokens and serves its JWKS, counting fetches.
type testIssuer struct {
	URL      string
	ClientID string

	mu   sync.Mutex
	rsa  testSigningKey // signs RS*, PS* and is in the JWKS
	ec   testSigningKey // signs ES256 and is in the JWKS
	gen  int            // RSA keys generated so far, for fresh kids on Rotate
	jwks []byte         // nil: built from rsa and ec

	// Fetches counts calls of Fetch.
	Fetches atomic.Int32
}

// newTestIssuer returns an issuer for testIssuerURL and testClientID with
// one RSA-2048 key ("rsa-0") and one P-256 key ("ec-0").
func newTestIssuer(t testing.TB) *testIssuer {
	t.Helper()
	return &testIssuer{
		URL:      testIssuerURL,
		ClientID: testClientID,
		rsa:      testSigningKey{Kid: "rsa-0", Private: testRSAKey(t, 0)},
		ec:       testSigningKey{Kid: "ec-0", Private: testECKey(t, 0)},
		gen:      1,
	}
}

// RSA and EC are the keys the issuer currently signs with.
func (i *testIssuer) RSA() testSigningKey { i.mu.Lock(); defer i.mu.Unlock(); return i.rsa }
func (i *testIssuer) EC() testSigningKey  { i.mu.Lock(); defer i.mu.Unlock(); return i.ec }

// Rotate replaces the RSA key with a new one under a new kid; the JWKS no
// longer lists the old one. It returns the new key.
func (i *testIssuer) Rotate(t testing.TB) testSigningKey {
	t.Helper()
	i.mu.Lock()
	defer i.mu.Unlock()
	i.rsa = testSigningKey{Kid: fmt.Sprintf("rsa-%d", i.gen), Private: testRSAKey(t, i.gen)}
	i.gen++
	return i.rsa
}

// SetJWKS makes Fetch serve doc instead of the issuer's own keys; nil undoes it.
func (i *testIssuer) SetJWKS(doc []byte) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.jwks = doc
}

// JWKS is the issuer's key set document.
func (i *testIssuer) JWKS() []byte {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.jwks != nil {
		return i.jwks
	}
	return testJWKS(jwkOf(i.rsa), jwkOf(i.ec))
}

// Fetch serves JWKS; it is the fetch func for NewKeySet.
func (i *testIssuer) Fetch(ctx context.Context) ([]byte, error) {
	i.Fetches.Add(1)
	return i.JWKS(), nil
}

// Claims returns the claims of a valid ID token issued at now for
// testNonce. Tests change or delete entries to break one check.
func (i *testIssuer) Claims(now time.Time) map[string]any {
	return map[string]any{
		"iss":       i.URL,
		"sub":       "auth0|user-1",
		"aud":       i.ClientID,
		"iat":       now.Unix(),
		"exp":       now.Add(time.Hour).Unix(),
		"auth_time": now.Add(-time.Minute).Unix(),
		"nonce":     testNonce,
	}
}

// signConfig is how Sign builds one token.
type signConfig struct {
	alg      string
	key      *testSigningKey // nil: the issuer's key for alg
	kid      *string         // nil: the signing key's kid
	noKid    bool
	header   map[string]any
	breakSig bool
}

type signOpt func(*signConfig)

// withAlg signs with alg: RS*/PS* with the RSA key, ES256 with the EC key,
// "none" unsigned, HS* with the RSA public key's PEM as the HMAC secret.
func withAlg(alg string) signOpt { return func(c *signConfig) { c.alg = alg } }

// withKid puts kid in the header instead of the signing key's.
func withKid(kid string) signOpt { return func(c *signConfig) { c.kid = &kid } }

// withoutKid leaves kid out of the header.
func withoutKid() signOpt { return func(c *signConfig) { c.noKid = true } }

// withKey signs with k (kid included) instead of the issuer's key.
func withKey(k testSigningKey) signOpt { return func(c *signConfig) { c.key = &k } }

// withHeader sets a header parameter; a nil value removes it.
func withHeader(name string, value any) signOpt {
	return func(c *signConfig) {
		if c.header == nil {
			c.header = map[string]any{}
		}
		c.header[name] = value
	}
}

// withBadSignature flips a bit of the signature.
func withBadSignature() signOpt { return func(c *signConfig) { c.breakSig = true } }

// Sign returns a compact JWS of claims, RS256 with the RSA key unless opts
// say otherwise.
func (i *testIssuer) Sign(t testing.TB, claims map[string]any, opts ...signOpt) string {
	t.Helper()
	c := signConfig{alg: "RS256"}
	for _, o := range opts {
		o(&c)
	}

	var signer testSigningKey
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

// testJWKS builds a JWKS document from JWK objects (see jwkOf).
func testJWKS(keys ...map[string]any) []byte {
	b, err := json.Marshal(map[string]any{"keys": keys})
	if err != nil {
		panic(err)
	}
	return b
}

// jwkOf is the public JWK of k, with "use":"sig" and no "alg". Tests add or
// change members to build odd keys.
func jwkOf(k testSigningKey) map[string]any {
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
	panic(fmt.Sprintf("jwkOf: unsupported key %T", k.Private))
}

// Key generation is slow under -race; every test shares a few keys.
var (
	testKeysMu sync.Mutex
	testRSA    = map[int]*rsa.PrivateKey{}
	testEC     = map[string]*ecdsa.PrivateKey{}
)

// testRSAKey returns the n-th shared RSA-2048 key.
func testRSAKey(t testing.TB, n int) *rsa.PrivateKey {
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

// testECKey returns the n-th shared P-256 key.
func testECKey(t testing.TB, n int) *ecdsa.PrivateKey {
	return testECKeyOn(t, elliptic.P256(), n)
}

// testECKeyOn returns the n-th shared key on curve.
func testECKeyOn(t testing.TB, curve elliptic.Curve, n int) *ecdsa.PrivateKey {
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
