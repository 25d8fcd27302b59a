package dpop_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/silentauth/silentauth/demo/devtenant"
	"github.com/silentauth/silentauth/demo/internal/e2eenv"
)

// server is one authorization server of either kind, the app on localhost
// that uses it, and a browser.
type server struct {
	*e2eenv.Server
	// api is a URL on the server that takes the access token: the dev
	// tenant's /api/private, the provider's userinfo.
	api string
	// nonceAPI is an API on the app's origin that wants its own DPoP nonce
	// (node-oidc-provider only).
	nonceAPI *nonceAPI
}

// eachServer runs f against each kind of server, in parallel.
func eachServer(t *testing.T, f func(t *testing.T, s *server)) {
	e2eenv.EachServer(t, e2eenv.ServerOptions{TokenLifetime: time.Minute, LogTokens: true}, func(t *testing.T, es *e2eenv.Server) {
		es.ClientDefaults = fmt.Sprintf("apiOrigins: [%q, %q]", es.AppURL, es.Issuer)
		s := &server{Server: es, api: es.Issuer + "/api/private"}
		if es.IsProvider() {
			s.api, s.nonceAPI = es.Issuer+"/me", &nonceAPI{}
			es.AppMux.Handle("/api/dpop", s.nonceAPI)
		}
		f(t, s)
	})
}

// jktOf is the DPoP key a token is bound to, as the server recorded it: the
// dev tenant's access tokens are JWTs with cnf.jkt (read here without
// checking the signature: the tenant's own tests do that); the provider
// logs each token's jkt.
func (s *server) jktOf(t *testing.T, token string) string {
	t.Helper()
	if s.IsProvider() {
		jkt, ok := s.TokenJKT(token)
		if !ok {
			t.Fatalf("the provider logged no token %.8s…", token)
		}
		return jkt
	}
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(token, claims); err != nil {
		t.Fatalf("access token: %v", err)
	}
	cnf, _ := claims["cnf"].(map[string]any)
	jkt, _ := cnf["jkt"].(string)
	return jkt
}

// tokenURL is the server's token endpoint.
func (s *server) tokenURL() string {
	if s.IsProvider() {
		return s.Issuer + "/token"
	}
	return s.Issuer + "/oauth/token"
}

// redeem presents refreshToken at the token endpoint from Go, as whoever
// copied it out of the browser would: with no proof, or with proofs by a
// key of its own (answering one use_dpop_nonce with the nonce it brings).
func (s *server) redeem(t *testing.T, refreshToken string, withKey bool) (int, map[string]any) {
	t.Helper()
	var key *ecdsa.PrivateKey
	if withKey {
		key, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	nonce := ""
	for attempt := 0; ; attempt++ {
		form := url.Values{"grant_type": {"refresh_token"}, "client_id": {"spa"}, "refresh_token": {refreshToken}}
		req, _ := http.NewRequest(http.MethodPost, s.tokenURL(), strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", s.AppURL)
		if key != nil {
			req.Header.Set("DPoP", forgedProof(t, key, s.tokenURL(), nonce))
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		resp.Body.Close()
		if attempt == 0 && m["error"] == "use_dpop_nonce" && resp.Header.Get("DPoP-Nonce") != "" {
			nonce = resp.Header.Get("DPoP-Nonce")
			continue
		}
		return resp.StatusCode, m
	}
}

// forgedProof is a well-formed proof by a key that is not the browser's,
// with nonce unless it is "".
func forgedProof(t *testing.T, key *ecdsa.PrivateKey, htu, nonce string) string {
	t.Helper()
	s, err := devtenant.DPoPProof(key, "POST", htu, time.Now(), func(_ map[string]any, c jwt.MapClaims) {
		if nonce != "" {
			c["nonce"] = nonce
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// nonceAPI is a resource server that speaks DPoP with nonces of its own: a
// proof without its current nonce gets a 401 with WWW-Authenticate: DPoP
// error="use_dpop_nonce" and the nonce in DPoP-Nonce (RFC 9449, 9). It checks
// the proof's signature over its jwk, htm, htu and ath.
type nonceAPI struct {
	mu      sync.Mutex
	answers []string // "use_dpop_nonce", "ok", or why the proof was refused
}

const apiNonce = "api-nonce-1"

func (a *nonceAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	answer := a.check(r)
	a.mu.Lock()
	a.answers = append(a.answers, answer)
	a.mu.Unlock()
	w.Header().Set("DPoP-Nonce", apiNonce)
	switch answer {
	case "ok":
		w.WriteHeader(http.StatusOK)
	case "use_dpop_nonce":
		w.Header().Set("WWW-Authenticate", `DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof"`)
		w.WriteHeader(http.StatusUnauthorized)
	default:
		w.Header().Set("WWW-Authenticate", `DPoP error="invalid_dpop_proof"`)
		w.WriteHeader(http.StatusUnauthorized)
	}
}

func (a *nonceAPI) check(r *http.Request) string {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "DPoP ")
	if !ok {
		return "no DPoP token"
	}
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(r.Header.Get("DPoP"), claims, devtenant.DPoPKeyfunc, jwt.WithValidMethods([]string{"ES256"}))
	if err != nil {
		return "proof: " + err.Error()
	}
	want := "http://" + r.Host + r.URL.Path
	switch {
	case claims["htm"] != r.Method || claims["htu"] != want:
		return fmt.Sprintf("htm %v htu %v, want %s %s", claims["htm"], claims["htu"], r.Method, want)
	case claims["ath"] != devtenant.S256(token):
		return "ath is not the token's hash"
	case claims["nonce"] != apiNonce:
		return "use_dpop_nonce"
	}
	return "ok"
}

func (a *nonceAPI) seen() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.answers...)
}
