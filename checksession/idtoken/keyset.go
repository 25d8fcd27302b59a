package idtoken

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"sync"
	"time"
)

// refetchCooldown is how long after a successful JWKS fetch an unknown kid
// fails at once instead of fetching again. Issuers publish a new key before
// they sign with it, so a kid missing from a set this fresh is not rotation;
// without the cooldown every forged kid would cost the issuer a request.
const refetchCooldown = 30 * time.Second

// fetchTimeout bounds a shared JWKS fetch. The fetch outlives the caller that
// started it (others may be waiting on it), but not forever.
const fetchTimeout = 30 * time.Second

// How long a fetched key set is trusted. Servers say it with Cache-Control
// max-age; without one the default applies. The cap bounds how long a key the
// issuer withdrew (rotated out after a leak) keeps verifying tokens here; the
// floor keeps a "no-cache" server from being asked once per token.
const (
	DefaultKeyMaxAge = time.Hour
	MaxKeyMaxAge     = 24 * time.Hour
	MinKeyMaxAge     = refetchCooldown
	// FailedFetchTTL is how long a failed JWKS fetch is remembered: tokens
	// verified meanwhile get the same error without asking the server again,
	// so a JWKS answering 503 is not hammered once per token. Keep it shorter
	// than the shortest retry delay (checksession's first backoff delay is
	// at least 1 s, and a test holds the two apart), so that every retry
	// asks the server again and a key set that came back is found by the
	// next retry.
	FailedFetchTTL = 900 * time.Millisecond
)

// KeySet caches an issuer's signing keys by kid.
//
// Keys are cached for the max age the server gave (DefaultKeyMaxAge when it
// gave none, within MinKeyMaxAge..MaxKeyMaxAge); after that the set is
// fetched again before any key is used. A token naming a kid the set does not
// have causes a refetch, at most once per refetchCooldown. Concurrent callers
// share one in-flight fetch. A failed fetch is remembered for FailedFetchTTL.
type KeySet struct {
	fetch func(ctx context.Context) ([]byte, time.Duration, error)
	// now is replaced by tests to step over the cooldown without sleeping.
	now func() time.Time

	mu        sync.Mutex
	keys      []*jsonWebKey
	fetchedAt time.Time // zero until the first successful fetch
	expiresAt time.Time // keys are not used from this moment on
	failErr   error     // the last fetch's error, until failUntil
	failUntil time.Time
	inflight  *fetchCall
	// goSafe runs the shared fetch in a goroutine; a panic in it is
	// handed to onPanic instead of ending the program.
	goSafe func(name string, fn func(), onPanic func(error))
}

// jsonWebKey is one entry of a JWKS that can verify signatures.
type jsonWebKey struct {
	kid string
	kty string // "RSA" or "EC"
	crv string // for EC: "P-256", "P-384" or "P-521"
	alg string // optional: the one algorithm the issuer allows for this key
	key crypto.PublicKey
	// point is an EC key's uncompressed point, made into key on first use:
	// the curve checks and the curve tables they initialise cost a page
	// tens of milliseconds, and most issuers sign with RSA. bad marks a
	// point that turned out not to be a key; such an entry is not there.
	point []byte
	bad   bool
}

// ready makes an EC entry's key from its point, once, and reports whether
// the entry holds a key. The KeySet's mutex must be held.
func (j *jsonWebKey) ready() bool {
	if j.key != nil || j.bad {
		return !j.bad
	}
	var curve elliptic.Curve
	switch j.crv {
	case "P-256":
		curve = elliptic.P256()
	case "P-384":
		curve = elliptic.P384()
	case "P-521":
		curve = elliptic.P521()
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(curve, j.point)
	j.point = nil
	if err != nil {
		j.bad = true
		return false
	}
	j.key = pub
	return true
}

// NewKeySet returns a KeySet that gets the issuer's JWKS document from fetch,
// caching it for DefaultKeyMaxAge. fetch's errors are returned from Key
// unchanged.
func NewKeySet(fetch func(ctx context.Context) ([]byte, error), opts ...KeySetOption) *KeySet {
	return NewKeySetWithMaxAge(func(ctx context.Context) ([]byte, time.Duration, error) {
		b, err := fetch(ctx)
		return b, -1, err
	}, opts...)
}

// NewKeySetWithMaxAge is NewKeySet for a fetch that also reports how long the
// server allows the document to be cached (see MaxAgeFromCacheControl); a
// negative max age means the server did not say.
func NewKeySetWithMaxAge(fetch func(ctx context.Context) ([]byte, time.Duration, error), opts ...KeySetOption) *KeySet {
	k := &KeySet{fetch: fetch, now: time.Now, goSafe: goRecovered}
	for _, o := range opts {
		o(k)
	}
	return k
}

// KeySetOption changes how a KeySet runs.
type KeySetOption func(*KeySet)

// WithClock makes the key set's ages and cooldowns run on now.
func WithClock(now func() time.Time) KeySetOption { return func(k *KeySet) { k.now = now } }

// WithGoroutines makes the key set start its fetch with goSafe, which must
// run fn in a goroutine and hand a panic in it to onPanic.
func WithGoroutines(goSafe func(name string, fn func(), onPanic func(error))) KeySetOption {
	return func(k *KeySet) { k.goSafe = goSafe }
}

// goRecovered runs fn in a goroutine; a panic becomes an error for onPanic.
func goRecovered(name string, fn func(), onPanic func(error)) {
	go func() {
		defer func() {
			if v := recover(); v != nil {
				onPanic(fmt.Errorf("idtoken: %s panicked: %v", name, v))
			}
		}()
		fn()
	}()
}

// MaxAgeFromCacheControl reads a Cache-Control header value: max-age=N gives
// N seconds, no-store and no-cache give 0, anything else (or nothing) -1.
func MaxAgeFromCacheControl(v string) time.Duration {
	age := time.Duration(-1)
	for _, part := range strings.Split(v, ",") {
		name, value, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "no-store", "no-cache":
			return 0
		case "max-age":
			n, err := strconv.ParseInt(strings.Trim(strings.TrimSpace(value), `"`), 10, 64)
			if err != nil || n < 0 {
				continue
			}
			if n > int64(MaxKeyMaxAge/time.Second) {
				n = int64(MaxKeyMaxAge / time.Second)
			}
			age = time.Duration(n) * time.Second
		}
	}
	return age
}

// cacheFor turns a server's max age into how long keys are kept.
func cacheFor(maxAge time.Duration) time.Duration {
	switch {
	case maxAge < 0:
		return DefaultKeyMaxAge
	case maxAge < MinKeyMaxAge:
		return MinKeyMaxAge
	case maxAge > MaxKeyMaxAge:
		return MaxKeyMaxAge
	}
	return maxAge
}

// Key returns the public key for kid usable with alg. An unknown kid causes
// one refetch of the JWKS (unless the cached copy is younger than
// refetchCooldown), then an invalid_token error naming "signature". An empty
// kid matches when exactly one key in the set is usable with alg. Keys past
// their max age are fetched again first; a fetch that failed within
// FailedFetchTTL is not repeated, its error is returned.
func (k *KeySet) Key(ctx context.Context, kid, alg string) (crypto.PublicKey, error) {
	k.mu.Lock()
	now := k.now()
	fresh := !k.fetchedAt.IsZero() && now.Before(k.expiresAt)
	if fresh {
		if key, ok := pickKey(k.keys, kid, alg); ok {
			k.mu.Unlock()
			return key, nil
		}
	}
	f := k.inflight
	if f == nil {
		// A known kid of the wrong type is alg confusion, not rotation.
		if fresh && (hasKid(k.keys, kid) || now.Sub(k.fetchedAt) < refetchCooldown) {
			err := missingKeyError(k.keys, kid, alg)
			k.mu.Unlock()
			return nil, err
		}
		if k.failErr != nil && now.Before(k.failUntil) {
			err := k.failErr
			k.mu.Unlock()
			return nil, err
		}
		f = k.startFetch(ctx)
	}
	k.mu.Unlock()

	select {
	case <-f.done:
		if f.err != nil {
			return nil, f.err
		}
	case <-ctx.Done():
		return nil, ctx.Err()
	}

	k.mu.Lock()
	defer k.mu.Unlock()
	if key, ok := pickKey(k.keys, kid, alg); ok {
		return key, nil
	}
	return nil, missingKeyError(k.keys, kid, alg)
}

// Prefetch starts fetching the key set when a Key call would have to: none
// fetched yet or past its max age, no fetch under way and no recent failure
// to repeat. It does not wait. A caller that knows a token is coming calls
// it first, so that the fetch and the parse run while it waits for that
// token instead of after.
func (k *KeySet) Prefetch(ctx context.Context) {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := k.now()
	fresh := !k.fetchedAt.IsZero() && now.Before(k.expiresAt)
	failing := k.failErr != nil && now.Before(k.failUntil)
	if fresh || failing || k.inflight != nil {
		return
	}
	k.startFetch(ctx)
}

// fetchCall is one JWKS fetch that any number of callers wait on. It runs
// detached from them, so one caller giving up does not fail the others.
type fetchCall struct {
	done chan struct{}
	err  error // set before done is closed
}

// startFetch begins a fetch that callers wait on; k.mu must be held.
func (k *KeySet) startFetch(ctx context.Context) *fetchCall {
	f := &fetchCall{done: make(chan struct{})}
	k.inflight = f
	// Detached from ctx so that one caller giving up does not fail the others.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fetchTimeout)
	settle := func(keys []*jsonWebKey, maxAge time.Duration, err error) {
		cancel()
		k.mu.Lock()
		now := k.now()
		if err == nil {
			k.keys, k.fetchedAt, k.expiresAt = keys, now, now.Add(cacheFor(maxAge))
			k.failErr = nil
		} else {
			k.failErr, k.failUntil = err, now.Add(FailedFetchTTL)
		}
		k.inflight = nil
		k.mu.Unlock()
		f.err = err
		close(f.done)
	}
	k.goSafe("key set fetch", func() { settle(k.load(fctx)) }, func(err error) { settle(nil, 0, err) })
	return f
}

func (k *KeySet) load(ctx context.Context) ([]*jsonWebKey, time.Duration, error) {
	body, maxAge, err := k.fetch(ctx)
	if err != nil {
		return nil, 0, err
	}
	keys, err := parseJWKS(body)
	return keys, maxAge, err
}

// pickKey finds the key for kid that can verify alg.
func pickKey(keys []*jsonWebKey, kid, alg string) (crypto.PublicKey, bool) {
	var found crypto.PublicKey
	n := 0
	for _, jwk := range keys {
		if jwk.kid != kid && kid != "" {
			continue
		}
		if !jwk.usableWith(alg) {
			continue
		}
		if kid != "" {
			return jwk.key, true
		}
		found = jwk.key
		n++
	}
	// Without a kid, guessing between several keys would defeat rotation.
	return found, n == 1
}

func hasKid(keys []*jsonWebKey, kid string) bool {
	for _, jwk := range keys {
		if kid != "" && jwk.kid == kid && jwk.ready() {
			return true
		}
	}
	return false
}

// missingKeyError says why no key was picked, naming the check that failed.
func missingKeyError(keys []*jsonWebKey, kid, alg string) *Error {
	if kid == "" {
		n := 0
		for _, jwk := range keys {
			if jwk.usableWith(alg) {
				n++
			}
		}
		return tokenError("signature", fmt.Sprintf("token has no kid and the issuer's JWKS has %d keys usable with %s, expected exactly 1", n, alg))
	}
	for _, jwk := range keys {
		if jwk.kid == kid && jwk.ready() {
			return tokenError("alg", fmt.Sprintf("token is signed with %s but key %q is %s", alg, kid, jwk.describe()))
		}
	}
	n := 0
	for _, jwk := range keys {
		if jwk.ready() {
			n++
		}
	}
	return tokenError("signature", fmt.Sprintf("no key with kid %q in the issuer's JWKS (%d keys)", kid, n))
}

// usableWith reports whether the key can verify a signature made with alg.
func (j *jsonWebKey) usableWith(alg string) bool {
	if j.alg != "" && j.alg != alg {
		return false
	}
	switch alg {
	case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512":
		return j.kty == "RSA"
	case "ES256":
		return j.kty == "EC" && j.crv == "P-256" && j.ready()
	case "ES384":
		return j.kty == "EC" && j.crv == "P-384" && j.ready()
	case "ES512":
		return j.kty == "EC" && j.crv == "P-521" && j.ready()
	}
	return false
}

func (j *jsonWebKey) describe() string {
	s := j.kty
	if j.crv != "" {
		s += " " + j.crv
	}
	if j.alg != "" {
		s += " for " + j.alg
	}
	return s
}

// rawJWK is the wire form of a JWK, RFC 7517 and RFC 7518 section 6.
type rawJWK struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	N   string `json:"n"`
	E   string `json:"e"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// parseJWKS keeps the signature keys of a JWKS document. A key it cannot use
// is skipped, not an error: one odd entry must not lock out the others.
func parseJWKS(body []byte) ([]*jsonWebKey, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, tokenError("jwks", "not a JSON Web Key Set: "+err.Error())
	}
	if doc.Keys == nil {
		return nil, tokenError("jwks", `no "keys" array`)
	}
	keys := make([]*jsonWebKey, 0, len(doc.Keys))
	for _, msg := range doc.Keys {
		var raw rawJWK
		if json.Unmarshal(msg, &raw) != nil {
			continue
		}
		if raw.Use != "" && raw.Use != "sig" {
			continue
		}
		jwk, ok := raw.publicKey()
		if !ok {
			continue
		}
		keys = append(keys, jwk)
	}
	return keys, nil
}

// publicKey checks the entry's fields; an EC point is checked on first use.
func (r rawJWK) publicKey() (*jsonWebKey, bool) {
	jwk := &jsonWebKey{kid: r.Kid, kty: r.Kty, alg: r.Alg}
	switch r.Kty {
	case "RSA":
		n, err1 := decodeB64URL(r.N)
		e, err2 := decodeB64URL(r.E)
		// Exponents beyond 32 bits are not real keys and would overflow int.
		if err1 != nil || err2 != nil || len(n) == 0 || len(e) == 0 || len(e) > 4 {
			return jwk, false
		}
		jwk.key = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		return jwk, true
	case "EC":
		// Coordinate sizes in bytes, without asking elliptic (see point).
		size := map[string]int{"P-256": 32, "P-384": 48, "P-521": 66}[r.Crv]
		if size == 0 {
			return jwk, false
		}
		x, err1 := decodeB64URL(r.X)
		y, err2 := decodeB64URL(r.Y)
		if err1 != nil || err2 != nil || len(x) > size || len(y) > size {
			return jwk, false
		}
		// Uncompressed SEC 1 point: 0x04 || X || Y, each left-padded to size.
		point := make([]byte, 1+2*size)
		point[0] = 4
		copy(point[1+size-len(x):1+size], x)
		copy(point[1+2*size-len(y):], y)
		jwk.crv, jwk.point = r.Crv, point
		return jwk, true
	}
	return jwk, false
}

// decodeB64URL accepts base64url with or without padding; issuers differ.
func decodeB64URL(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}
