package checksession

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"strings"
)

// randomString returns 32 bytes from crypto/rand, base64url-encoded: 256
// bits for state, nonce and the PKCE verifier (43 characters, within
// RFC 7636's 43–128).
func randomString() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		// crypto/rand never fails on supported platforms; a predictable
		// state would be worse than stopping.
		panic("silentauth: crypto/rand failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// pkceChallenge is the S256 code_challenge for a verifier.
func pkceChallenge(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// transaction is what one authorization request must remember to check
// its answer. Silent transactions live in memory only.
type transaction struct {
	State        string `json:"state"`
	Nonce        string `json:"nonce,omitempty"`
	CodeVerifier string `json:"code_verifier,omitempty"`
	RedirectURI  string `json:"redirect_uri"`
	ResponseType string `json:"response_type"`
	Scope        string `json:"scope"`
	Audience     string `json:"audience,omitempty"`
	MaxAge       int64  `json:"max_age,omitempty"`
	HasMaxAge    bool   `json:"has_max_age,omitempty"`
	// DPoPJKT is the DPoP key's thumbprint, sent as dpop_jkt (useDpop).
	DPoPJKT string `json:"dpop_jkt,omitempty"`
}

func newTransaction(r request, redirectURI string) *transaction {
	t := &transaction{
		State:        randomString(),
		Nonce:        randomString(),
		RedirectURI:  redirectURI,
		ResponseType: r.responseType,
		Scope:        r.scope,
		Audience:     r.audience,
		HasMaxAge:    r.hasMaxAge,
		MaxAge:       int64(r.maxAge.Seconds()),
		DPoPJKT:      r.dpopJKT,
	}
	if r.responseType == "code" {
		t.CodeVerifier = randomString()
	}
	return t
}

// authorizeURL builds the /authorize URL for a transaction. scope is the
// scope on the wire (settings.requestScope of t.Scope); mode is the
// response_mode; prompt is "none" for silent requests.
func authorizeURL(endpoint, clientID string, t *transaction, r request, scope, mode string) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return "", invalidOption("AuthorizationEndpoint", err.Error())
	}
	q := u.Query()
	for k, v := range r.extra {
		q.Set(k, v)
	}
	q.Set("client_id", clientID)
	q.Set("response_type", t.ResponseType)
	q.Set("redirect_uri", t.RedirectURI)
	q.Set("scope", scope)
	q.Set("state", t.State)
	if t.Nonce != "" {
		q.Set("nonce", t.Nonce)
	}
	if t.Audience != "" {
		q.Set("audience", t.Audience)
	}
	if t.CodeVerifier != "" {
		q.Set("code_challenge", pkceChallenge(t.CodeVerifier))
		q.Set("code_challenge_method", "S256")
	}
	if t.DPoPJKT != "" {
		q.Set("dpop_jkt", t.DPoPJKT)
	}
	if mode != "" {
		q.Set("response_mode", mode)
	}
	u.RawQuery = strings.ReplaceAll(q.Encode(), "+", "%20")
	return u.String(), nil
}
