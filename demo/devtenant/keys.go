package devtenant

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"math/big"
	"net/http"

	"github.com/golang-jwt/jwt/v5"
)

// signingKey is one private key with its published kid.
type signingKey struct {
	kid string
	alg string // RS256 or ES256
	key crypto.Signer
}

// keySet holds the keys in use and, after a graceful rotation, the ones before.
type keySet struct {
	rsa, ec *signingKey
	old     []*signingKey
}

func (k *keySet) rotate(keepOld bool) error {
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return fmt.Errorf("devtenant: RSA key: %w", err)
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("devtenant: EC key: %w", err)
	}
	var old []*signingKey
	if keepOld && k.rsa != nil {
		old = []*signingKey{k.rsa, k.ec}
	}
	k.rsa = &signingKey{alg: "RS256", key: rk}
	k.ec = &signingKey{alg: "ES256", key: ek}
	k.rsa.kid = thumbprint(k.rsa.jwk())
	k.ec.kid = thumbprint(k.ec.jwk())
	k.old = old
	return nil
}

func (k *keySet) all() []*signingKey {
	return append([]*signingKey{k.rsa, k.ec}, k.old...)
}

func (k *keySet) byAlg(alg string) *signingKey {
	if alg == "ES256" {
		return k.ec
	}
	return k.rsa
}

func (k *keySet) byKid(kid string) *signingKey {
	for _, s := range k.all() {
		if s.kid == kid {
			return s
		}
	}
	return nil
}

// jwk is the public half in JWK form; members are the ones RFC 7638 hashes, plus use/alg/kid.
func (s *signingKey) jwk() map[string]string {
	b64 := base64.RawURLEncoding.EncodeToString
	m := map[string]string{}
	switch pub := s.key.Public().(type) {
	case *rsa.PublicKey:
		m["kty"] = "RSA"
		m["n"] = b64(pub.N.Bytes())
		m["e"] = b64(big.NewInt(int64(pub.E)).Bytes())
	case *ecdsa.PublicKey:
		maps.Copy(m, ecJWK(pub))
	}
	return m
}

// ecJWK is a P-256 public key's JWK members, the ones RFC 7638 hashes.
func ecJWK(pub *ecdsa.PublicKey) map[string]string {
	b64 := base64.RawURLEncoding.EncodeToString
	ecdh, _ := pub.ECDH() // P-256 always converts
	raw := ecdh.Bytes()   // 0x04 || X || Y, 32 bytes each
	return map[string]string{"kty": "EC", "crv": "P-256", "x": b64(raw[1:33]), "y": b64(raw[33:])}
}

// thumbprint is the RFC 7638 JWK thumbprint, a kid that changes with the key.
func thumbprint(jwk map[string]string) string {
	var members []string
	switch jwk["kty"] {
	case "RSA":
		members = []string{"e", "kty", "n"}
	default:
		members = []string{"crv", "kty", "x", "y"}
	}
	buf := []byte("{")
	for i, m := range members {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = fmt.Appendf(buf, "%q:%q", m, jwk[m])
	}
	buf = append(buf, '}')
	sum := sha256.Sum256(buf)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// sign makes a compact JWS with the key for alg. Caller holds t.mu.
func (k *keySet) sign(alg string, claims jwt.MapClaims) (string, error) {
	sk := k.byAlg(alg)
	method := jwt.GetSigningMethod(sk.alg)
	tok := jwt.NewWithClaims(method, claims)
	tok.Header["kid"] = sk.kid
	return tok.SignedString(sk.key)
}

// verify checks a token's signature against the current and kept keys.
func (k *keySet) verify(raw string, parserOpts ...jwt.ParserOption) (jwt.MapClaims, error) {
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(raw, claims, func(tok *jwt.Token) (any, error) {
		kid, _ := tok.Header["kid"].(string)
		sk := k.byKid(kid)
		if sk == nil {
			return nil, fmt.Errorf("unknown kid %q", kid)
		}
		if tok.Method.Alg() != sk.alg {
			return nil, fmt.Errorf("alg %q does not match key %q", tok.Method.Alg(), sk.alg)
		}
		return sk.key.Public(), nil
	}, append(parserOpts, jwt.WithValidMethods([]string{"RS256", "ES256"}))...)
	return claims, err
}

func (t *Tenant) handleJWKS(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Access-Control-Allow-Origin", "*")
	t.mu.Lock()
	t.stats.JWKS++
	down := t.faults.JWKSDown
	var keys []map[string]string
	if !down {
		for _, sk := range t.keys.all() {
			j := sk.jwk()
			j["use"], j["alg"], j["kid"] = "sig", sk.alg, sk.kid
			keys = append(keys, j)
		}
	}
	t.mu.Unlock()
	if down {
		http.Error(w, "JWKS unavailable (fault switch JWKSDown)", http.StatusServiceUnavailable)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"keys": keys})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
