package devtenant

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// prover makes DPoP proofs with one key, as a browser's client would.
type prover struct {
	key *ecdsa.PrivateKey
	jwk map[string]string
	jkt string
}

func newProver(t *testing.T) *prover {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwk := ecJWK(&k.PublicKey)
	return &prover{key: k, jwk: jwk, jkt: thumbprint(jwk)}
}

// proofEdit changes a proof before it is signed.
type proofEdit = ProofEdit

func (p *prover) proof(t *testing.T, method, htu string, now time.Time, edits ...proofEdit) string {
	t.Helper()
	s, err := DPoPProof(p.key, method, htu, now, edits...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func withNonce(n string) proofEdit {
	return func(_ map[string]any, c jwt.MapClaims) { c["nonce"] = n }
}

// dpopCode logs in with dpop_jkt set to p's thumbprint and returns the code.
func (e *env) dpopCode(p *prover, scope string) string {
	e.t.Helper()
	resp := e.mustWebMessage(e.login("demo@example.com", map[string]string{"scope": scope, "dpop_jkt": p.jkt}))
	code, _ := resp["code"].(string)
	if code == "" {
		e.t.Fatalf("login gave no code: %v", resp)
	}
	return code
}

func codeForm(code string) url.Values {
	return url.Values{"grant_type": {"authorization_code"}, "client_id": {"spa"}, "code": {code},
		"code_verifier": {testVerifier}, "redirect_uri": {appOrigin}}
}

// dpopNonce asks the token endpoint for its nonce with a nonce-less proof.
func (e *env) dpopNonce(p *prover) string {
	e.t.Helper()
	status, m, h := e.tokenPost(url.Values{"grant_type": {"refresh_token"}, "client_id": {"spa"}, "refresh_token": {"none"}},
		p.proof(e.t, "POST", e.srv.URL+"/oauth/token", e.clock.Now()))
	if status != http.StatusBadRequest || m["error"] != "use_dpop_nonce" || h.Get("DPoP-Nonce") == "" {
		e.t.Fatalf("a proof without a nonce: %d %v, DPoP-Nonce %q; want 400 use_dpop_nonce with a nonce", status, m, h.Get("DPoP-Nonce"))
	}
	return h.Get("DPoP-Nonce")
}

// dpopLogin logs in with p and returns the code exchange's answer.
func (e *env) dpopLogin(p *prover) map[string]any {
	e.t.Helper()
	code := e.dpopCode(p, offlineScope)
	status, m, _ := e.tokenPost(codeForm(code), p.proof(e.t, "POST", e.srv.URL+"/oauth/token", e.clock.Now(), withNonce(e.dpopNonce(p))))
	if status != http.StatusOK {
		e.t.Fatalf("DPoP code exchange: %d %v", status, m)
	}
	return m
}

// S256 and AtHash are what the tests compute PKCE challenges, DPoP aths and
// at_hash claims with, so they are pinned to the specifications' own
// examples rather than to themselves.
func TestHashesMatchTheSpecExamples(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		hash     func(string) string
		in, want string
	}{
		{"RFC 7636 appendix B: the code challenge of the verifier", S256, "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"},
		{"RFC 9449 section 7.1: the ath of the access token", S256, "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU", "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"},
		{"OpenID Connect Core appendix A: the at_hash of the access token", AtHash, "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y", "77QmUPtjPfzWtF2AnpK9RQ"},
	}
	for _, tc := range tests {
		if got := tc.hash(tc.in); got != tc.want {
			t.Errorf("%s: %q hashes to %q, want %q", tc.name, tc.in, got, tc.want)
		}
	}
}

func TestDPoPCodeExchangeBindsTheTokens(t *testing.T) {
	e := newEnv(t)
	p := newProver(t)
	code := e.dpopCode(p, offlineScope)
	htu := e.srv.URL + "/oauth/token"

	// Without the nonce: refused, with the nonce to use, exposed to the page; the code is not spent.
	status, m, h := e.tokenPost(codeForm(code), p.proof(t, "POST", htu, e.clock.Now()))
	if status != http.StatusBadRequest || m["error"] != "use_dpop_nonce" {
		t.Fatalf("no nonce: %d %v", status, m)
	}
	if h.Get("DPoP-Nonce") == "" || !strings.Contains(h.Get("Access-Control-Expose-Headers"), "DPoP-Nonce") || h.Get("Access-Control-Allow-Origin") != appOrigin {
		t.Errorf("refusal headers %v: want DPoP-Nonce, exposed over CORS", h)
	}
	status, m, h = e.tokenPost(codeForm(code), p.proof(t, "POST", htu, e.clock.Now(), withNonce(h.Get("DPoP-Nonce"))))
	if status != http.StatusOK || m["token_type"] != "DPoP" || rtOf(m) == "" {
		t.Fatalf("with the nonce: %d %v", status, m)
	}
	if h.Get("DPoP-Nonce") == "" {
		t.Error("a success carries no DPoP-Nonce")
	}
	claims := jwt.MapClaims{}
	if _, err := jwt.ParseWithClaims(m["access_token"].(string), claims, e.keyfunc()); err != nil {
		t.Fatal(err)
	}
	if cnf, _ := claims["cnf"].(map[string]any); cnf["jkt"] != p.jkt {
		t.Errorf("access token cnf %v, want jkt %s", claims["cnf"], p.jkt)
	}
}

func TestDPoPCodeBoundToDpopJktNeedsThatKey(t *testing.T) {
	for _, tc := range []struct {
		name  string
		proof func(e *env, p, other *prover) string
	}{
		{"no proof", func(*env, *prover, *prover) string { return "" }},
		{"a proof by another key", func(e *env, _, other *prover) string {
			return other.proof(e.t, "POST", e.srv.URL+"/oauth/token", e.clock.Now(), withNonce(e.dpopNonce(other)))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			p, other := newProver(t), newProver(t)
			code := e.dpopCode(p, "openid")
			status, m, _ := e.tokenPost(codeForm(code), tc.proof(e, p, other))
			if status != http.StatusBadRequest || m["error"] != "invalid_grant" || !strings.Contains(m["error_description"].(string), "dpop_jkt") {
				t.Errorf("%d %v, want invalid_grant naming dpop_jkt", status, m)
			}
		})
	}
}

func TestDPoPProofChecks(t *testing.T) {
	e := newEnv(t)
	p, other := newProver(t), newProver(t)
	htu := e.srv.URL + "/oauth/token"
	replayed := ""
	for _, tc := range []struct {
		name string
		make func(nonce string) string
	}{
		{"typ other than dpop+jwt", func(n string) string {
			return p.proof(t, "POST", htu, e.clock.Now(), withNonce(n), func(h map[string]any, _ jwt.MapClaims) { h["typ"] = "JWT" })
		}},
		{"a signature by a key other than the jwk's", func(n string) string {
			return p.proof(t, "POST", htu, e.clock.Now(), withNonce(n), func(h map[string]any, _ jwt.MapClaims) {
				jwk := map[string]any{}
				for k, v := range other.jwk {
					jwk[k] = v
				}
				h["jwk"] = jwk
			})
		}},
		{"a jwk with the private key", func(n string) string {
			return p.proof(t, "POST", htu, e.clock.Now(), withNonce(n), func(h map[string]any, _ jwt.MapClaims) {
				h["jwk"].(map[string]any)["d"] = base64.RawURLEncoding.EncodeToString(p.key.D.Bytes())
			})
		}},
		{"htm other than the request's", func(n string) string { return p.proof(t, "GET", htu, e.clock.Now(), withNonce(n)) }},
		{"htu of another endpoint", func(n string) string {
			return p.proof(t, "POST", e.srv.URL+"/userinfo", e.clock.Now(), withNonce(n))
		}},
		{"iat too old", func(n string) string { return p.proof(t, "POST", htu, e.clock.Now().Add(-2*time.Minute), withNonce(n)) }},
		{"iat in the future", func(n string) string { return p.proof(t, "POST", htu, e.clock.Now().Add(2*time.Minute), withNonce(n)) }},
		{"a replayed jti", func(n string) string { return replayed }},
		{"a nonce the tenant never gave", func(string) string { return p.proof(t, "POST", htu, e.clock.Now(), withNonce("made-up")) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code := e.dpopCode(p, "openid")
			nonce := e.dpopNonce(p)
			if tc.name == "a replayed jti" {
				replayed = p.proof(t, "POST", htu, e.clock.Now(), withNonce(nonce))
				if status, m, _ := e.tokenPost(codeForm(e.dpopCode(p, "openid")), replayed); status != http.StatusOK {
					t.Fatalf("first use of the proof: %d %v", status, m)
				}
			}
			status, m, _ := e.tokenPost(codeForm(code), tc.make(nonce))
			want := "invalid_dpop_proof"
			if tc.name == "a nonce the tenant never gave" {
				want = "use_dpop_nonce"
			}
			if status != http.StatusBadRequest || m["error"] != want {
				t.Errorf("%d %v, want 400 %s", status, m, want)
			}
			// The proof is refused before the grant is looked at: the code is still good.
			status, m, _ = e.tokenPost(codeForm(code), p.proof(t, "POST", htu, e.clock.Now(), withNonce(nonce)))
			if status != http.StatusOK {
				t.Errorf("the code after a refused proof: %d %v, want it unspent", status, m)
			}
		})
	}
}

func TestDPoPRefreshTokenIsBoundToTheKey(t *testing.T) {
	e := newEnv(t)
	p, thief := newProver(t), newProver(t)
	rt := rtOf(e.dpopLogin(p))
	htu := e.srv.URL + "/oauth/token"
	form := url.Values{"grant_type": {"refresh_token"}, "client_id": {"spa"}, "refresh_token": {rt}}
	for _, tc := range []struct{ name, proof string }{
		{"a copied refresh token without a proof", ""},
		{"a copied refresh token with another key's proof", thief.proof(t, "POST", htu, e.clock.Now(), withNonce(e.dpopNonce(thief)))},
	} {
		status, m, _ := e.tokenPost(form, tc.proof)
		if status != http.StatusBadRequest || m["error"] != "invalid_grant" {
			t.Errorf("%s: %d %v, want invalid_grant", tc.name, status, m)
		}
	}
	status, m, _ := e.tokenPost(form, p.proof(t, "POST", htu, e.clock.Now(), withNonce(e.dpopNonce(p))))
	if status != http.StatusOK || m["token_type"] != "DPoP" || rtOf(m) == "" {
		t.Fatalf("the holder's refresh after the thefts: %d %v", status, m)
	}
}

func TestDPoPNonceRotates(t *testing.T) {
	e := newEnv(t)
	p := newProver(t)
	htu := e.srv.URL + "/oauth/token"
	old := e.dpopNonce(p)
	for _, tc := range []struct {
		after time.Duration
		ok    bool
	}{{dpopNonceLifetime, true}, {dpopNonceLifetime, false}} {
		e.clock.Advance(tc.after)
		_ = e.dpopNonce(p) // the tenant rotates when it hands out a nonce
		code := e.dpopCode(p, "openid")
		status, m, _ := e.tokenPost(codeForm(code), p.proof(t, "POST", htu, e.clock.Now(), withNonce(old)))
		if (status == http.StatusOK) != tc.ok {
			t.Errorf("a nonce %v old: %d %v, accepted %v", e.clock.Now().Sub(time.Unix(1_800_000_000, 0)), status, m, tc.ok)
		}
	}
}

func TestDPoPPrivateAPI(t *testing.T) {
	e := newEnv(t)
	p, other := newProver(t), newProver(t)
	at := e.dpopLogin(p)["access_token"].(string)
	api := e.srv.URL + "/api/private"
	ath := func(tok string) proofEdit {
		return func(_ map[string]any, c jwt.MapClaims) { c["ath"] = S256(tok) }
	}
	call := func(auth, proof string) response {
		req, _ := http.NewRequest(http.MethodGet, api+"?q=1", nil)
		req.Header.Set("Origin", appOrigin)
		req.Header.Set("Authorization", auth)
		if proof != "" {
			req.Header.Set("DPoP", proof)
		}
		return e.do(req)
	}
	first := call("DPoP "+at, p.proof(t, "GET", api, e.clock.Now(), ath(at)))
	nonce := first.header.Get("DPoP-Nonce")
	if first.status != http.StatusUnauthorized || !strings.HasPrefix(first.header.Get("WWW-Authenticate"), `DPoP error="use_dpop_nonce"`) ||
		nonce == "" || !strings.Contains(first.header.Get("Access-Control-Expose-Headers"), "DPoP-Nonce") {
		t.Fatalf("without the nonce: %d %v", first.status, first.header)
	}
	for _, tc := range []struct {
		name, auth, proof string
		status            int
		challenge         string
	}{
		{"a DPoP token with its proof and ath", "DPoP " + at, p.proof(t, "GET", api, e.clock.Now(), ath(at), withNonce(nonce)), 200, ""},
		{"a DPoP token sent as a bearer token", "Bearer " + at, "", 401, `Bearer error="invalid_token"`},
		{"a DPoP token without a proof", "DPoP " + at, "", 401, `DPoP error="invalid_dpop_proof"`},
		{"ath of another token", "DPoP " + at, p.proof(t, "GET", api, e.clock.Now(), ath(at+"x"), withNonce(nonce)), 401, `DPoP error="invalid_dpop_proof"`},
		{"a proof by another key", "DPoP " + at, other.proof(t, "GET", api, e.clock.Now(), ath(at), withNonce(nonce)), 401, `DPoP error="invalid_dpop_proof"`},
	} {
		r := call(tc.auth, tc.proof)
		if r.status != tc.status || (tc.challenge != "" && !strings.HasPrefix(r.header.Get("WWW-Authenticate"), tc.challenge)) {
			t.Errorf("%s: %d %q %s, want %d %s", tc.name, r.status, r.header.Get("WWW-Authenticate"), r.body, tc.status, tc.challenge)
		}
	}
	req, _ := http.NewRequest(http.MethodOptions, api, nil)
	req.Header.Set("Origin", appOrigin)
	if r := e.do(req); !strings.Contains(r.header.Get("Access-Control-Allow-Headers"), "DPoP") {
		t.Errorf("preflight allows %q, want DPoP among them", r.header.Get("Access-Control-Allow-Headers"))
	}
}
