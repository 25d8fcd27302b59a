package devtenant

import (
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// DPoP (RFC 9449) as the dev tenant speaks it: a request that carries a
// DPoP proof gets tokens bound to the proof's key (cnf.jkt in the access
// token, the refresh token family bound to it), a code whose /authorize
// named dpop_jkt is redeemed only with that key, and /api/private takes
// "Authorization: DPoP" with a proof whose ath is the token's hash. The
// tenant wants its nonce in every proof: it hands one out in DPoP-Nonce and
// refuses a proof without the current one with use_dpop_nonce.

const (
	// dpopIATWindow is how far a proof's iat may lie from the tenant's clock.
	dpopIATWindow = 60 * time.Second
	// dpopNonceLifetime is how long a nonce is the current one; the one
	// before it stays good for another lifetime, so no proof in flight fails.
	dpopNonceLifetime = 5 * time.Minute
)

// dpopServer is the tenant's DPoP state; t.mu guards it.
type dpopServer struct {
	nonce, previous string
	nonceAt         time.Time
	jtis            map[string]time.Time // jti → when it may be forgotten
}

// dpopError is a refused proof: use_dpop_nonce or invalid_dpop_proof.
type dpopError struct{ code, desc string }

func (e *dpopError) Error() string { return e.code + ": " + e.desc }

// nonceLocked is the current nonce, rotated when it has lived its lifetime.
func (t *Tenant) dpopNonceLocked() string {
	now := t.now()
	if t.dpop.nonce == "" || now.Sub(t.dpop.nonceAt) >= dpopNonceLifetime {
		t.dpop.previous, t.dpop.nonce, t.dpop.nonceAt = t.dpop.nonce, randomID(), now
	}
	return t.dpop.nonce
}

// checkDPoPLocked verifies the request's DPoP proof for htu (the tenant's
// URL of the endpoint, without query) and, for a resource request, the
// access token it must carry as ath. It returns the key's RFC 7638
// thumbprint, "" when the request carries no proof. Caller holds t.mu.
func (t *Tenant) checkDPoPLocked(r *http.Request, htu, accessToken string) (string, error) {
	proofs := r.Header.Values("DPoP")
	if len(proofs) == 0 {
		return "", nil
	}
	if len(proofs) > 1 {
		return "", &dpopError{"invalid_dpop_proof", "more than one DPoP header"}
	}
	claims := jwt.MapClaims{}
	tok, err := jwt.ParseWithClaims(proofs[0], claims, DPoPKeyfunc, jwt.WithValidMethods([]string{"ES256"}))
	if err != nil {
		return "", &dpopError{"invalid_dpop_proof", "the DPoP proof does not verify: " + err.Error()}
	}
	jwk, _ := tok.Header["jwk"].(map[string]any)
	if htm, _ := claims["htm"].(string); htm != r.Method {
		return "", &dpopError{"invalid_dpop_proof", fmt.Sprintf("htm is %q, the request's method is %s", htm, r.Method)}
	}
	if got, _ := claims["htu"].(string); !sameHTU(got, htu) {
		return "", &dpopError{"invalid_dpop_proof", fmt.Sprintf("htu is %q, the request went to %s", got, htu)}
	}
	now := t.now()
	iat, ok := claims["iat"].(float64)
	if !ok || time.Unix(int64(iat), 0).Before(now.Add(-dpopIATWindow)) || time.Unix(int64(iat), 0).After(now.Add(dpopIATWindow)) {
		return "", &dpopError{"invalid_dpop_proof", fmt.Sprintf("iat %v is not within %v of the server's time %d", claims["iat"], dpopIATWindow, now.Unix())}
	}
	jti, _ := claims["jti"].(string)
	if len(jti) < 16 {
		return "", &dpopError{"invalid_dpop_proof", "jti is missing or too short"}
	}
	if accessToken != "" {
		if ath, _ := claims["ath"].(string); ath != S256(accessToken) {
			return "", &dpopError{"invalid_dpop_proof", "ath is not the hash of the access token sent"}
		}
	}
	current := t.dpopNonceLocked()
	if n, _ := claims["nonce"].(string); n == "" || (n != current && n != t.dpop.previous) {
		return "", &dpopError{"use_dpop_nonce", "Authorization server requires nonce in DPoP proof"}
	}
	// A proof used once is refused again while its iat is in the window.
	for id, until := range t.dpop.jtis {
		if now.After(until) {
			delete(t.dpop.jtis, id)
		}
	}
	if t.dpop.jtis == nil {
		t.dpop.jtis = map[string]time.Time{}
	}
	if _, seen := t.dpop.jtis[jti]; seen {
		return "", &dpopError{"invalid_dpop_proof", "jti was used before: a replayed proof"}
	}
	t.dpop.jtis[jti] = time.Unix(int64(iat), 0).Add(2 * dpopIATWindow)
	return thumbprint(map[string]string{"kty": "EC", "crv": "P-256", "x": jwk["x"].(string), "y": jwk["y"].(string)}), nil
}

// S256 is base64url(SHA-256(s)) without padding: PKCE's S256 challenge of
// a verifier, and a DPoP proof's ath of an access token.
func S256(s string) string {
	sum := sha256.Sum256([]byte(s))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// ProofEdit changes a DPoP proof's header or claims before it is signed.
type ProofEdit func(header map[string]any, claims jwt.MapClaims)

// DPoPProof is a DPoP proof by key for a request of method to htu at iat,
// made as a client makes it and then changed by edits: what a test sends
// as the client, as someone with a key of their own, or as a client gone
// wrong.
func DPoPProof(key *ecdsa.PrivateKey, method, htu string, iat time.Time, edits ...ProofEdit) (string, error) {
	jwk := map[string]any{}
	for k, v := range ecJWK(&key.PublicKey) {
		jwk[k] = v
	}
	claims := jwt.MapClaims{"jti": randomID(), "htm": method, "htu": htu, "iat": iat.Unix()}
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	tok.Header["typ"] = "dpop+jwt"
	tok.Header["jwk"] = jwk
	for _, e := range edits {
		e(tok.Header, claims)
	}
	return tok.SignedString(key)
}

// DPoPKeyfunc is the key a DPoP proof verifies with: the public P-256 key
// of its header's jwk, for a proof typed dpop+jwt.
func DPoPKeyfunc(tok *jwt.Token) (any, error) {
	if typ, _ := tok.Header["typ"].(string); typ != "dpop+jwt" {
		return nil, fmt.Errorf("typ is %q, want dpop+jwt", typ)
	}
	jwk, _ := tok.Header["jwk"].(map[string]any)
	return dpopPublicKey(jwk)
}

// dpopPublicKey reads a proof header's jwk: a public P-256 key, no more.
func dpopPublicKey(jwk map[string]any) (*ecdsa.PublicKey, error) {
	if jwk == nil {
		return nil, errors.New("the header has no jwk")
	}
	if _, private := jwk["d"]; private {
		return nil, errors.New("the jwk holds a private key")
	}
	kty, _ := jwk["kty"].(string)
	crv, _ := jwk["crv"].(string)
	xs, _ := jwk["x"].(string)
	ys, _ := jwk["y"].(string)
	if kty != "EC" || crv != "P-256" {
		return nil, fmt.Errorf("jwk is kty %q crv %q, want EC P-256", kty, crv)
	}
	x, err1 := base64.RawURLEncoding.DecodeString(xs)
	y, err2 := base64.RawURLEncoding.DecodeString(ys)
	if err1 != nil || err2 != nil || len(x) != 32 || len(y) != 32 {
		return nil, errors.New("jwk x and y are not 32-byte base64url coordinates")
	}
	if _, err := ecdh.P256().NewPublicKey(append(append([]byte{4}, x...), y...)); err != nil {
		return nil, errors.New("jwk is not a point on P-256")
	}
	return &ecdsa.PublicKey{Curve: elliptic.P256(), X: new(big.Int).SetBytes(x), Y: new(big.Int).SetBytes(y)}, nil
}

// sameHTU compares htu without query and fragment (RFC 9449, 4.3).
func sameHTU(got, want string) bool {
	g, err := url.Parse(got)
	if err != nil {
		return false
	}
	w, _ := url.Parse(want)
	return strings.EqualFold(g.Scheme, w.Scheme) && strings.EqualFold(g.Host, w.Host) && g.Path == w.Path
}

// dpopAnswerLocked sets the nonce and its CORS exposure on an answer of an
// endpoint that speaks DPoP. Caller holds t.mu.
func (t *Tenant) dpopAnswerLocked(w http.ResponseWriter) {
	w.Header().Set("DPoP-Nonce", t.dpopNonceLocked())
	w.Header().Set("Access-Control-Expose-Headers", "DPoP-Nonce, WWW-Authenticate")
}

// tokenDPoP checks the token request's proof before anything else of the
// request is looked at, so that a refused proof never spends a code or a
// refresh token. false: the answer was written.
func (t *Tenant) tokenDPoP(w http.ResponseWriter, r *http.Request) (jkt string, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if r.Header.Get("DPoP") == "" {
		return "", true
	}
	t.dpopAnswerLocked(w)
	jkt, err := t.checkDPoPLocked(r, t.issuer+"/oauth/token", "")
	if err != nil {
		e := err.(*dpopError)
		t.log.Info("token request: DPoP proof refused", "error", e.code, "why", e.desc)
		tokenError(w, http.StatusBadRequest, e.code, e.desc)
		return "", false
	}
	return jkt, true
}

// apiClaims verifies an API request's access token: "Bearer" for unbound
// tokens, "DPoP" with a proof (ath, and the key of the token's cnf.jkt) for
// bound ones. A bound token sent as a bearer token is refused.
func (t *Tenant) apiClaims(w http.ResponseWriter, r *http.Request, htu, wantAud string) (jwt.MapClaims, *dpopError) {
	auth := r.Header.Get("Authorization")
	scheme, raw, _ := strings.Cut(auth, " ")
	if raw == "" || (!strings.EqualFold(scheme, "Bearer") && !strings.EqualFold(scheme, "DPoP")) {
		return nil, &dpopError{"invalid_token", "no bearer or DPoP token"}
	}
	opts := []jwt.ParserOption{jwt.WithIssuer(t.Issuer()), jwt.WithExpirationRequired(), jwt.WithTimeFunc(t.now)}
	if wantAud != "" {
		opts = append(opts, jwt.WithAudience(wantAud))
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	claims, err := t.keys.verify(raw, opts...)
	if err != nil {
		return nil, &dpopError{"invalid_token", err.Error()}
	}
	cnf, _ := claims["cnf"].(map[string]any)
	bound, _ := cnf["jkt"].(string)
	if strings.EqualFold(scheme, "Bearer") {
		if bound != "" {
			return nil, &dpopError{"invalid_token", "the access token is DPoP-bound: send it as Authorization: DPoP with a proof"}
		}
		return claims, nil
	}
	t.dpopAnswerLocked(w)
	if bound == "" {
		return nil, &dpopError{"invalid_token", "the access token is not DPoP-bound: send it as Authorization: Bearer"}
	}
	jkt, err := t.checkDPoPLocked(r, htu, raw)
	switch {
	case err != nil:
		return nil, err.(*dpopError)
	case jkt == "":
		return nil, &dpopError{"invalid_dpop_proof", "Authorization: DPoP needs a DPoP proof"}
	case jkt != bound:
		return nil, &dpopError{"invalid_dpop_proof", "the proof's key is not the one the token is bound to"}
	}
	return claims, nil
}

// tokenType is token_type for tokens bound to jkt ("" for none).
func tokenType(jkt string) string {
	if jkt != "" {
		return "DPoP"
	}
	return "Bearer"
}

// signAccessLocked signs an access token, bound to jkt with cnf when set.
// Caller holds t.mu.
func (t *Tenant) signAccessLocked(claims jwt.MapClaims, jkt string) (string, error) {
	if jkt != "" {
		claims["cnf"] = map[string]any{"jkt": jkt}
	}
	return t.keys.sign("RS256", claims)
}
