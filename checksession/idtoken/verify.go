// Package idtoken verifies OpenID Connect ID tokens against an issuer's
// signing keys: a Verifier walks the checks in the order the spec lists them,
// and a KeySet caches the keys, refetching once for an unknown kid.
package idtoken

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// maxTokenBytes bounds the ID tokens Verify will parse. Real ones are a few
// kilobytes; parsing megabytes of base64 and JSON is an easy denial of service.
const maxTokenBytes = 64 << 10

// maxNumericDate is 9999-12-31T23:59:59Z. Larger numbers are not dates a
// server means, and would overflow time.Time arithmetic.
const maxNumericDate = 253402300799

// defaultAlgorithms are the asymmetric JWS algorithms OIDC servers sign ID
// tokens with. They are also everything Verify can ever accept: "none" and
// the HS* family are never allowed, whatever VerifierConfig says.
var defaultAlgorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}

// VerifierConfig says whose ID tokens a Verifier accepts.
type VerifierConfig struct {
	// Issuer must equal the token's iss exactly.
	Issuer string
	// ClientID must be in the token's aud; azp must equal it when aud has
	// several entries, and whenever azp is present.
	ClientID string
	// Leeway is the clock skew allowed on exp, iat, nbf and auth_time.
	Leeway time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Keys holds the issuer's signing keys.
	Keys *KeySet
	// Algorithms is the allow-list of signing algorithms; nil means
	// defaultAlgorithms. Entries outside defaultAlgorithms are dropped.
	Algorithms []string
}

// Expected is what one response's ID token must match, beyond the issuer
// and client that the Verifier knows.
type Expected struct {
	// Nonce must equal the token's nonce; empty skips the check (the code
	// flow may run without a nonce).
	Nonce string
	// MaxAge, when HasMaxAge, requires auth_time no older than MaxAge.
	MaxAge    time.Duration
	HasMaxAge bool
	// AccessToken, when not empty, is checked against the token's at_hash
	// if it has one.
	AccessToken string
	// RequireAtHash fails a token without at_hash, as OIDC requires for the
	// implicit "id_token token" response type.
	RequireAtHash bool
}

// Verifier checks ID tokens from one issuer for one client. It is safe for
// concurrent use.
type Verifier struct {
	issuer   string
	clientID string
	leeway   time.Duration
	now      func() time.Time
	keys     *KeySet
	algs     []string
	parser   *jwt.Parser
}

// NewVerifier returns a Verifier for cfg.
func NewVerifier(cfg VerifierConfig) *Verifier {
	algs := defaultAlgorithms
	if cfg.Algorithms != nil {
		// Non-nil even when empty: jwt treats a nil list as "any method".
		algs = make([]string, 0, len(cfg.Algorithms))
		for _, a := range cfg.Algorithms {
			if slices.Contains(defaultAlgorithms, a) && !slices.Contains(algs, a) {
				algs = append(algs, a)
			}
		}
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Verifier{
		issuer:   cfg.Issuer,
		clientID: cfg.ClientID,
		leeway:   max(cfg.Leeway, 0),
		now:      now,
		keys:     cfg.Keys,
		algs:     algs,
		// Claims are checked below, where each failure can say exactly what
		// it expected; strict base64 makes a token's encoding unique.
		parser: jwt.NewParser(jwt.WithValidMethods(algs), jwt.WithoutClaimsValidation(), jwt.WithStrictDecoding()),
	}
}

// PrefetchKeys starts getting the issuer's keys if a Verify now would have
// to fetch them (KeySet.Prefetch), without waiting.
func (v *Verifier) PrefetchKeys(ctx context.Context) { v.keys.Prefetch(ctx) }

// Verify checks the token and returns its claims as decoded by
// encoding/json: numbers are float64, as they are in JavaScript.
//
// Failures are *Error naming the check that failed: malformed, alg,
// signature, iss, sub, aud, azp, exp, iat, nbf, nonce, auth_time or at_hash
// (jwks for an unusable key set document). An error fetching the issuer's
// keys is returned as the KeySet's fetch reported it, and a cancelled ctx
// as ctx.Err().
func (v *Verifier) Verify(ctx context.Context, raw string, exp Expected) (map[string]any, error) {
	if len(raw) > maxTokenBytes {
		return nil, tokenError("malformed", fmt.Sprintf("token is %d bytes, more than the %d allowed", len(raw), maxTokenBytes))
	}

	claims := jwt.MapClaims{}
	var keyErr error
	tok, err := v.parser.ParseWithClaims(raw, claims, func(t *jwt.Token) (any, error) {
		key, err := v.key(ctx, t)
		keyErr = err
		return key, err
	})
	if keyErr != nil {
		return nil, keyErr
	}
	if err != nil {
		return nil, v.parseError(tok, err)
	}

	alg := tok.Method.Alg()
	for _, check := range []func(jwt.MapClaims, string, Expected) *Error{
		v.checkIssuer, v.checkSubject, v.checkAudience, v.checkTimes, v.checkNonce, v.checkAuthTime, v.checkAtHash,
	} {
		if err := check(claims, alg, exp); err != nil {
			return nil, err
		}
	}
	return claims, nil
}

// key finds the key that must have signed t.
func (v *Verifier) key(ctx context.Context, t *jwt.Token) (any, error) {
	if crit, ok := t.Header["crit"]; ok {
		// RFC 7515 4.1.11: extensions we do not understand must be rejected.
		return nil, tokenError("malformed", "unsupported critical header parameters "+describe(crit, true))
	}
	kidValue, hasKid := t.Header["kid"]
	kid, ok := kidValue.(string)
	if hasKid && !ok {
		return nil, tokenError("malformed", "kid header is "+describe(kidValue, true)+", expected a string")
	}
	if v.keys == nil {
		return nil, errors.New("idtoken: the verifier has no key set")
	}
	return v.keys.Key(ctx, kid, t.Method.Alg())
}

// parseError names the check behind an error from jwt's parser.
func (v *Verifier) parseError(tok *jwt.Token, err error) *Error {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed) || tok == nil:
		return tokenError("malformed", strings.TrimPrefix(err.Error(), jwt.ErrTokenMalformed.Error()+": "))
	case tok.Method == nil || !slices.Contains(v.algs, tok.Method.Alg()):
		alg, present := tok.Header["alg"]
		return tokenError("alg", fmt.Sprintf("expected one of %s got %s", strings.Join(v.algs, ", "), describe(alg, present)))
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		kid, _ := tok.Header["kid"].(string)
		return tokenError("signature", fmt.Sprintf("%s signature does not verify with key %q", tok.Method.Alg(), kid))
	}
	return tokenError("malformed", err.Error())
}

func (v *Verifier) checkIssuer(claims jwt.MapClaims, _ string, _ Expected) *Error {
	iss, present := claims["iss"]
	if s, ok := iss.(string); !ok || s != v.issuer {
		return tokenError("iss", fmt.Sprintf("expected %q got %s", v.issuer, describe(iss, present)))
	}
	return nil
}

func (v *Verifier) checkSubject(claims jwt.MapClaims, _ string, _ Expected) *Error {
	sub, present := claims["sub"]
	if s, ok := sub.(string); !ok || s == "" {
		return tokenError("sub", "expected a non-empty string got "+describe(sub, present))
	}
	return nil
}

// checkAudience checks aud and azp together: azp only matters given aud.
func (v *Verifier) checkAudience(claims jwt.MapClaims, _ string, _ Expected) *Error {
	aud, present := claims["aud"]
	auds, ok := audiences(aud)
	if !ok || !slices.Contains(auds, v.clientID) {
		return tokenError("aud", fmt.Sprintf("expected %q got %s", v.clientID, describe(aud, present)))
	}
	azp, hasAzp := claims["azp"]
	if len(auds) > 1 || hasAzp {
		if s, ok := azp.(string); !ok || s != v.clientID {
			return tokenError("azp", fmt.Sprintf("expected %q got %s (aud has %d entries)", v.clientID, describe(azp, hasAzp), len(auds)))
		}
	}
	return nil
}

// audiences reads aud, which RFC 7519 allows as a string or an array.
func audiences(aud any) ([]string, bool) {
	switch a := aud.(type) {
	case string:
		return []string{a}, true
	case []any:
		out := make([]string, 0, len(a))
		for _, e := range a {
			s, ok := e.(string)
			if !ok {
				return nil, false
			}
			out = append(out, s)
		}
		return out, true
	}
	return nil, false
}

// checkTimes checks exp, iat and nbf, in that order.
func (v *Verifier) checkTimes(claims jwt.MapClaims, _ string, _ Expected) *Error {
	now := v.now()
	exp, err := numericDate(claims, "exp", true)
	if err != nil {
		return err
	}
	if now.After(exp.Add(v.leeway)) {
		return tokenError("exp", fmt.Sprintf("token expired at %s (now %s, leeway %s)", stamp(exp), stamp(now), seconds(v.leeway)))
	}
	iat, err := numericDate(claims, "iat", true)
	if err != nil {
		return err
	}
	if iat.After(now.Add(v.leeway)) {
		return tokenError("iat", fmt.Sprintf("token issued in the future at %s (now %s, leeway %s)", stamp(iat), stamp(now), seconds(v.leeway)))
	}
	nbf, err := numericDate(claims, "nbf", false)
	if err != nil {
		return err
	}
	if !nbf.IsZero() && nbf.After(now.Add(v.leeway)) {
		return tokenError("nbf", fmt.Sprintf("token not valid before %s (now %s, leeway %s)", stamp(nbf), stamp(now), seconds(v.leeway)))
	}
	return nil
}

func (v *Verifier) checkNonce(claims jwt.MapClaims, _ string, exp Expected) *Error {
	if exp.Nonce == "" {
		return nil
	}
	nonce, present := claims["nonce"]
	s, _ := nonce.(string)
	if subtle.ConstantTimeCompare([]byte(s), []byte(exp.Nonce)) != 1 {
		// Neither value is quoted: the expected nonce is this request's secret.
		if !present {
			return tokenError("nonce", "missing, and this request sent one")
		}
		return tokenError("nonce", "the token's nonce does not match the one this request sent")
	}
	return nil
}

func (v *Verifier) checkAuthTime(claims jwt.MapClaims, _ string, exp Expected) *Error {
	if !exp.HasMaxAge {
		return nil
	}
	authTime, err := numericDate(claims, "auth_time", true)
	if err != nil {
		return err
	}
	now := v.now()
	if now.After(authTime.Add(exp.MaxAge + v.leeway)) {
		return tokenError("auth_time", fmt.Sprintf("user authenticated at %s, more than max_age %s before now %s (leeway %s)",
			stamp(authTime), seconds(exp.MaxAge), stamp(now), seconds(v.leeway)))
	}
	return nil
}

func (v *Verifier) checkAtHash(claims jwt.MapClaims, alg string, exp Expected) *Error {
	atHash, present := claims["at_hash"]
	if !present {
		if exp.RequireAtHash {
			return tokenError("at_hash", "missing, and the response type requires it")
		}
		return nil
	}
	if exp.AccessToken == "" && !exp.RequireAtHash {
		return nil
	}
	want := leftHalfHash(alg, exp.AccessToken)
	if s, ok := atHash.(string); !ok || subtle.ConstantTimeCompare([]byte(s), []byte(want)) != 1 {
		if !present {
			return tokenError("at_hash", "missing")
		}
		return tokenError("at_hash", "does not match the access token that came with it")
	}
	return nil
}

// leftHalfHash is OIDC Core 3.1.3.6's at_hash: base64url of the left half of
// the access token's hash, using the hash of the ID token's alg.
func leftHalfHash(alg, token string) string {
	var h hash.Hash
	switch {
	case strings.HasSuffix(alg, "384"):
		h = sha512.New384()
	case strings.HasSuffix(alg, "512"):
		h = sha512.New()
	default:
		h = sha256.New()
	}
	h.Write([]byte(token))
	sum := h.Sum(nil)
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
}

// numericDate reads a time claim (seconds since 1970, maybe fractional).
// An absent optional claim is the zero time.
func numericDate(claims jwt.MapClaims, name string, required bool) (time.Time, *Error) {
	v, present := claims[name]
	if !present {
		if required {
			return time.Time{}, tokenError(name, "expected a NumericDate got none")
		}
		return time.Time{}, nil
	}
	f, ok := v.(float64)
	if !ok || math.Abs(f) > maxNumericDate {
		return time.Time{}, tokenError(name, "expected a NumericDate got "+describe(v, true))
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), nil
}

// describe renders what arrived in a claim or header for an error message.
func describe(v any, present bool) string {
	if !present {
		return "none"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%v", v)
	}
	// Keep messages readable when a token carries something huge.
	const limit = 80
	if len(b) > limit {
		return string(b[:limit]) + "..."
	}
	return string(b)
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// seconds writes a duration the way the options spell it ("60s").
func seconds(d time.Duration) string { return fmt.Sprintf("%gs", d.Seconds()) }
