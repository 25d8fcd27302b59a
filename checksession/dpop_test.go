package checksession

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/silentauth/silentauth/checksession/platform"
)

// fakeDPoPKeys keeps real ECDSA keys by name, as jsbridge keeps WebCrypto
// keys in IndexedDB; lose empties it, as clearing site data does.
type fakeDPoPKeys struct {
	mu      sync.Mutex
	keys    map[string]*ecdsa.PrivateKey
	made    int
	deleted int
}

type fakeDPoPKey struct{ k *ecdsa.PrivateKey }

func (k fakeDPoPKey) PublicJWK() (string, string) {
	return b64(k.k.PublicKey.X.FillBytes(make([]byte, 32))), b64(k.k.PublicKey.Y.FillBytes(make([]byte, 32)))
}

func (k fakeDPoPKey) Sign(_ context.Context, data []byte) ([]byte, error) {
	sum := sha256.Sum256(data)
	r, s, err := ecdsa.Sign(rand.Reader, k.k, sum[:])
	if err != nil {
		return nil, err
	}
	out := make([]byte, 64)
	r.FillBytes(out[:32])
	s.FillBytes(out[32:])
	return out, nil
}

func (f *fakeDPoPKeys) DPoPKey(_ context.Context, name string) (platform.DPoPKey, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if k, ok := f.keys[name]; ok {
		return fakeDPoPKey{k}, false, nil
	}
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, false, err
	}
	f.keys[name] = k
	f.made++
	return fakeDPoPKey{k}, true, nil
}

func (f *fakeDPoPKeys) DeleteDPoPKey(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.keys, name)
	f.deleted++
	return nil
}

func (f *fakeDPoPKeys) lose() { f.mu.Lock(); f.keys = map[string]*ecdsa.PrivateKey{}; f.mu.Unlock() }

func (f *fakeDPoPKeys) count() int { f.mu.Lock(); defer f.mu.Unlock(); return len(f.keys) }

// dpopBrowser is a fake browser that keeps DPoP keys and secrets.
type dpopBrowser struct {
	*fakeBrowser
	*fakeDPoPKeys
	*memSecretStore
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// checkedProof is a proof that passed checkProof.
type checkedProof struct {
	header map[string]any
	claims map[string]any
	jkt    string
}

// checkProof verifies a DPoP proof as RFC 9449 section 4.3 has a server
// verify it: typ, alg, the signature over the header's jwk, htm, htu.
func checkProof(t *testing.T, proof, method, target string) checkedProof {
	t.Helper()
	parts := strings.Split(proof, ".")
	if len(parts) != 3 {
		t.Fatalf("proof %q is not a compact JWS", proof)
	}
	var p checkedProof
	for i, into := range []*map[string]any{&p.header, &p.claims} {
		raw, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil || json.Unmarshal(raw, into) != nil {
			t.Fatalf("proof part %d does not decode: %v", i, err)
		}
	}
	if p.header["typ"] != "dpop+jwt" || p.header["alg"] != "ES256" {
		t.Fatalf("proof header %v, want typ dpop+jwt and alg ES256", p.header)
	}
	jwk, _ := p.header["jwk"].(map[string]any)
	if jwk["kty"] != "EC" || jwk["crv"] != "P-256" || jwk["d"] != nil || len(jwk) != 4 {
		t.Fatalf("proof jwk %v, want a public P-256 key and nothing else", jwk)
	}
	xs, _ := jwk["x"].(string)
	ys, _ := jwk["y"].(string)
	x, _ := base64.RawURLEncoding.DecodeString(xs)
	y, _ := base64.RawURLEncoding.DecodeString(ys)
	pub := &ecdsa.PublicKey{Curve: elliptic.P256(), X: new(big.Int).SetBytes(x), Y: new(big.Int).SetBytes(y)}
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if len(sig) != 64 || !ecdsa.Verify(pub, sum[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		t.Fatalf("proof signature does not verify with its jwk")
	}
	if p.claims["htm"] != method || p.claims["htu"] != target {
		t.Fatalf("proof htm %v htu %v, want %s %s", p.claims["htm"], p.claims["htu"], method, target)
	}
	if jti, _ := p.claims["jti"].(string); len(jti) < 22 {
		t.Fatalf("proof jti %q is too short to be random", jti)
	}
	th := sha256.Sum256([]byte(`{"crv":"P-256","kty":"EC","x":"` + xs + `","y":"` + ys + `"}`))
	p.jkt = b64(th[:])
	return p
}

// dpopServer plays a DPoP-speaking token endpoint: it wants a nonce, binds
// codes to dpop_jkt, and answers token_type DPoP.
type dpopServer struct {
	fx *fixture
	t  *testing.T

	mu        sync.Mutex
	nonce     string
	tokenType string
	proofs    []checkedProof
	// refuseNonce answers use_dpop_nonce this many more times, whatever the proof says.
	refuseNonce int
	// live refresh tokens, and the key each is bound to.
	live     map[string]string
	redeemed []string
	jkts     map[string]string // code → dpop_jkt of its authorization request
}

const tokenURL = serverOrigin + "/oauth/token"

func newDPoPServer(fx *fixture) *dpopServer {
	s := &dpopServer{fx: fx, t: fx.t, nonce: "n-1", tokenType: "DPoP", live: map[string]string{}, jkts: map[string]string{}}
	fx.b.routes[tokenURL] = s.token
	fx.b.onFrame = func(f *fakeFrame) {
		resp := fx.loggedIn(f.URL.Query())
		s.mu.Lock()
		if code, ok := resp["code"].(string); ok {
			s.jkts[code] = f.param("dpop_jkt")
		}
		s.mu.Unlock()
		f.respond(resp)
	}
	return s
}

func (s *dpopServer) token(req platform.HTTPRequest) (*platform.HTTPResponse, error) {
	p := checkProof(s.t, req.Header["DPoP"], "POST", tokenURL)
	form, _ := url.ParseQuery(string(req.Body))
	s.mu.Lock()
	s.proofs = append(s.proofs, p)
	refuse := s.refuseNonce > 0 || p.claims["nonce"] != s.nonce
	if refuse {
		s.refuseNonce--
		s.nonce += "+"
	}
	nonce, tokenType := s.nonce, s.tokenType
	s.mu.Unlock()
	if refuse {
		// The proof is refused before the grant is looked at (RFC 9449, 8).
		r, _ := jsonResponse(400, map[string]any{"error": "use_dpop_nonce", "error_description": "Authorization server requires nonce in DPoP proof"})
		r.Header = map[string]string{"dpop-nonce": nonce}
		return r, nil
	}
	var r *platform.HTTPResponse
	switch form.Get("grant_type") {
	case "authorization_code":
		s.mu.Lock()
		want := s.jkts[form.Get("code")]
		s.mu.Unlock()
		if want != p.jkt {
			r, _ = jsonResponse(400, map[string]any{"error": "invalid_grant", "error_description": "dpop_jkt mismatch"})
			break
		}
		r, _ = s.fx.token(req)
		var body map[string]any
		_ = json.Unmarshal(r.Body, &body)
		body["token_type"] = tokenType
		body["refresh_token"] = "rt-" + randomString()
		s.mu.Lock()
		s.live[body["refresh_token"].(string)] = p.jkt
		s.mu.Unlock()
		r, _ = jsonResponse(200, body)
	case "refresh_token":
		rt := form.Get("refresh_token")
		s.mu.Lock()
		s.redeemed = append(s.redeemed, rt)
		bound, ok := s.live[rt]
		delete(s.live, rt)
		next := "rt-" + randomString()
		if ok && bound == p.jkt {
			s.live[next] = p.jkt
		}
		s.mu.Unlock()
		if !ok || bound != p.jkt {
			r, _ = jsonResponse(400, map[string]any{"error": "invalid_grant", "error_description": "refresh token unknown or bound to another key"})
			break
		}
		s.fx.mu.Lock()
		claims := s.fx.claimsLocked("")
		s.fx.mu.Unlock()
		delete(claims, "nonce")
		r, _ = jsonResponse(200, map[string]any{"access_token": "at-" + randomString(), "id_token": s.fx.iss.Sign(s.t, claims),
			"refresh_token": next, "token_type": tokenType, "expires_in": 3600})
	}
	r.Header = map[string]string{"dpop-nonce": nonce}
	return r, nil
}

func (s *dpopServer) proofCount() int { s.mu.Lock(); defer s.mu.Unlock(); return len(s.proofs) }

func dpopFixture(t *testing.T, edit ...func(*Options)) (*fixture, *dpopBrowser, *dpopServer) {
	fx := newFixture(t)
	srv := newDPoPServer(fx)
	b := &dpopBrowser{fx.b, &fakeDPoPKeys{keys: map[string]*ecdsa.PrivateKey{}}, &memSecretStore{m: map[string]string{}}}
	return fx, b, srv
}

func withDPoP(o *Options) { o.UseDPoP = true }

func TestDPoPCodeExchangeIsBoundToTheKey(t *testing.T) {
	fx, b, srv := dpopFixture(t)
	c := fx.clientOn(b, withDPoP)
	res, err := c.CheckSession(context.Background(), AuthorizeParams{})
	if err != nil {
		t.Fatal(err)
	}
	jkt := fx.b.frame(0).param("dpop_jkt")
	if jkt == "" {
		t.Fatal("the silent authorization request carries no dpop_jkt")
	}
	srv.mu.Lock()
	proofs := append([]checkedProof(nil), srv.proofs...)
	srv.mu.Unlock()
	// First without the server's nonce (refused), then with it.
	if len(proofs) != 2 || proofs[0].claims["nonce"] != nil || proofs[1].claims["nonce"] != "n-1+" {
		t.Fatalf("proofs %v, want one without a nonce, then one with the nonce the refusal brought", proofs)
	}
	for _, p := range proofs {
		if p.jkt != jkt || p.claims["ath"] != nil {
			t.Errorf("proof jkt %s (dpop_jkt %s), ath %v: token requests carry no ath", p.jkt, jkt, p.claims["ath"])
		}
		if iat, _ := p.claims["iat"].(float64); int64(iat) != fx.clock.Now().Unix() {
			t.Errorf("proof iat %v, want now %d", p.claims["iat"], fx.clock.Now().Unix())
		}
	}
	if proofs[0].claims["jti"] == proofs[1].claims["jti"] {
		t.Error("two proofs share a jti")
	}
	if res.TokenType != tokenTypeDPoP {
		t.Errorf("tokenType %q, want DPoP", res.TokenType)
	}
}

func TestDPoPJktOnTheRedirectLogin(t *testing.T) {
	fx, b, _ := dpopFixture(t)
	c := fx.clientOn(b, withDPoP)
	if err := c.LoginWithRedirect(context.Background(), AuthorizeParams{}); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(fx.b.Location())
	k, _, _ := b.DPoPKey(context.Background(), c.s.dpopKeyName())
	x, y := k.PublicJWK()
	th := sha256.Sum256([]byte(`{"crv":"P-256","kty":"EC","x":"` + x + `","y":"` + y + `"}`))
	if got := u.Query().Get("dpop_jkt"); got != b64(th[:]) {
		t.Errorf("dpop_jkt %q, want the key's RFC 7638 thumbprint %q", got, b64(th[:]))
	}
	if _, err := c.CheckSession(context.Background(), AuthorizeParams{Extra: map[string]string{"dpop_jkt": "x"}}); err == nil || !strings.Contains(err.Error(), "dpop_jkt") {
		t.Errorf("a caller's dpop_jkt was accepted: %v", err)
	}
}

func TestDPoPTokenTypes(t *testing.T) {
	for _, tc := range []struct {
		name, serverSays, want string
		dpop                   bool
		wantLog                bool
	}{
		{"a DPoP answer is used as DPoP", "DPoP", tokenTypeDPoP, true, false},
		{"a server that answers Bearer gets bearer use and a debug line", "Bearer", tokenTypeBearer, true, true},
		{"the type is read case-insensitively", "dpop", tokenTypeDPoP, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx, b, srv := dpopFixture(t)
			srv.tokenType = tc.serverSays
			c := fx.clientOn(b, withDPoP)
			res, err := c.CheckSession(context.Background(), AuthorizeParams{})
			if err != nil {
				t.Fatal(err)
			}
			if res.TokenType != tc.want {
				t.Errorf("tokenType %q, want %q", res.TokenType, tc.want)
			}
			h, err := c.AuthHeaders(context.Background(), pageOrigin+"/api", "GET")
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.SplitN(h["Authorization"], " ", 2)[0]; got != tc.want || (h["DPoP"] != "") != (tc.want == tokenTypeDPoP) {
				t.Errorf("headers %v for a %s token", h, tc.want)
			}
			fx.mu.Lock()
			logged := strings.Contains(strings.Join(fx.logs, "\n"), "used as bearer tokens")
			fx.mu.Unlock()
			if logged != tc.wantLog {
				t.Errorf("bearer debug line logged: %v, want %v", logged, tc.wantLog)
			}
		})
	}
	t.Run("without useDpop the type is Bearer", func(t *testing.T) {
		fx := newFixture(t)
		res, err := fx.client().CheckSession(context.Background(), AuthorizeParams{})
		if err != nil || res.TokenType != tokenTypeBearer {
			t.Fatalf("tokenType %q, err %v", res.TokenType, err)
		}
		if fx.b.frame(0).param("dpop_jkt") != "" {
			t.Error("dpop_jkt sent without useDpop")
		}
	})
}

func TestDPoPNonceRetry(t *testing.T) {
	for _, tc := range []struct {
		name     string
		refusals int
		wantErr  string
		wantSent int // token requests the server saw
		// wantRedeemed is how many refresh grants got past the proof check.
		wantRedeemed int
	}{
		{"a use_dpop_nonce is retried once with the new nonce", 1, "", 2, 1},
		{"a second refusal passes through as use_dpop_nonce", 2, "use_dpop_nonce", 2, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx, b, srv := dpopFixture(t)
			c := fx.clientOn(b, withDPoP, func(o *Options) { o.UseRefreshTokens = true })
			ctx := context.Background()
			if _, err := c.CheckSession(ctx, AuthorizeParams{}); err != nil {
				t.Fatal(err)
			}
			before := srv.proofCount()
			srv.mu.Lock()
			srv.refuseNonce = tc.refusals
			srv.mu.Unlock()
			_, err := c.flow.refreshWith(ctx, c.refresh, defaultRequest(c))
			var e *Error
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("refresh: %v", err)
			case tc.wantErr != "" && (!errors.As(err, &e) || e.Code != tc.wantErr):
				t.Fatalf("refresh error %v, want %s", err, tc.wantErr)
			}
			if n := srv.proofCount() - before; n != tc.wantSent {
				t.Errorf("%d token requests, want %d: one retry only", n, tc.wantSent)
			}
			srv.mu.Lock()
			redeemed := len(srv.redeemed)
			srv.mu.Unlock()
			if redeemed != tc.wantRedeemed {
				t.Errorf("the server processed %d refresh grants, want %d", redeemed, tc.wantRedeemed)
			}
			if tc.wantErr != "" && !c.refresh.Has() {
				t.Error("a use_dpop_nonce refusal dropped the refresh token: the server never spent it")
			}
		})
	}
}

func TestDPoPAuthHeaders(t *testing.T) {
	fx, b, _ := dpopFixture(t)
	c := fx.clientOn(b, withDPoP, func(o *Options) { o.APIOrigins = []string{"https://api.example.com"} })
	ctx := context.Background()
	res, err := c.CheckSession(ctx, AuthorizeParams{})
	if err != nil {
		t.Fatal(err)
	}
	c.NoteDPoPNonce("https://api.example.com/other", "api-nonce")
	h, err := c.AuthHeaders(ctx, "https://api.example.com/orders?id=1#top", "post")
	if err != nil {
		t.Fatal(err)
	}
	if h["Authorization"] != "DPoP "+res.AccessToken {
		t.Errorf("Authorization %q", h["Authorization"])
	}
	p := checkProof(t, h["DPoP"], "POST", "https://api.example.com/orders")
	sum := sha256.Sum256([]byte(res.AccessToken))
	if p.claims["ath"] != b64(sum[:]) || p.claims["nonce"] != "api-nonce" {
		t.Errorf("claims %v: want ath of the access token and the API's own nonce", p.claims)
	}
	_, err = c.AuthHeaders(ctx, "https://evil.example.com/x", "GET")
	var e *Error
	if !errors.As(err, &e) || e.Code != string(ErrInvalidConfiguration) || !strings.Contains(e.Description, "evil.example.com") {
		t.Errorf("an origin outside apiOrigins: %v", err)
	}

	plain := newFixture(t).client()
	if _, err := plain.CheckSession(ctx, AuthorizeParams{}); err != nil {
		t.Fatal(err)
	}
	h, err = plain.AuthHeaders(ctx, pageOrigin+"/api", "GET")
	if err != nil || !strings.HasPrefix(h["Authorization"], "Bearer at-") || len(h) != 1 {
		t.Errorf("without useDpop: %v %v", h, err)
	}
}

func TestDPoPLostKeyDropsTheBoundRefreshToken(t *testing.T) {
	for _, fallback := range []bool{true, false} {
		t.Run(map[bool]string{true: "with fallback the iframe renews", false: "without fallback the session ends"}[fallback], func(t *testing.T) {
			fx, b, _ := dpopFixture(t)
			opts := []func(*Options){withDPoP, func(o *Options) {
				o.UseRefreshTokens, o.RefreshTokenStorage = true, RefreshTokenStorageLocal
			}}
			ctx := context.Background()
			first := fx.clientOn(b, opts...)
			opts = append(opts, func(o *Options) { o.RefreshTokensNoFallback = !fallback })
			if _, err := first.CheckSession(ctx, AuthorizeParams{}); err != nil {
				t.Fatal(err)
			}
			if len(b.memSecretStore.m) != 1 {
				t.Fatalf("stored %d refresh tokens, want 1", len(b.memSecretStore.m))
			}
			first.Destroy()
			b.lose() // storage cleared: the key is gone, the (encrypted) token not
			frames := fx.b.frameCount()
			c := fx.clientOn(b, opts...)
			_, err := c.CheckSession(ctx, AuthorizeParams{})
			fx.mu.Lock()
			logs := strings.Join(fx.logs, "\n")
			fx.mu.Unlock()
			if !strings.Contains(logs, "a new key was made; a refresh token bound to an older key is dropped") {
				t.Errorf("no debug line about the lost key in %q", logs)
			}
			if fallback {
				if err != nil || fx.b.frameCount() != frames+1 {
					t.Errorf("err %v, frames %d → %d: want the iframe to renew", err, frames, fx.b.frameCount())
				}
				if jkt := fx.b.frame(frames).param("dpop_jkt"); jkt == "" {
					t.Error("the iframe's request carries no dpop_jkt for the new key")
				}
			} else {
				var e *Error
				if !errors.As(err, &e) || e.Code != string(ErrMissingRefreshToken) {
					t.Errorf("err %v, want missing_refresh_token", err)
				}
			}
		})
	}
}

func TestDPoPLogoutDeletesTheKey(t *testing.T) {
	fx, b, _ := dpopFixture(t)
	c := fx.clientOn(b, withDPoP)
	ctx := context.Background()
	if _, err := c.CheckSession(ctx, AuthorizeParams{}); err != nil {
		t.Fatal(err)
	}
	old := fx.b.frame(0).param("dpop_jkt")
	if err := c.Logout(ctx, LogoutParams{LocalOnly: true}); err != nil {
		t.Fatal(err)
	}
	if b.count() != 0 {
		t.Fatal("logout left the DPoP key in the store")
	}
	if _, err := c.CheckSession(ctx, AuthorizeParams{}); err != nil {
		t.Fatal(err)
	}
	if now := fx.b.frame(1).param("dpop_jkt"); now == "" || now == old {
		t.Errorf("after logout dpop_jkt %q, want a new key's (old %q)", now, old)
	}
}

func TestDPoPNeedsAKeyStoreAndTheCodeFlow(t *testing.T) {
	fx := newFixture(t)
	for _, tc := range []struct {
		name string
		b    platform.Browser
		opts Options
	}{
		{"a browser that keeps no keys", fx.b, Options{Domain: serverOrigin, ClientID: "spa", UseDPoP: true}},
		{"an implicit response type", &dpopBrowser{fx.b, &fakeDPoPKeys{}, nil}, Options{Domain: serverOrigin, ClientID: "spa", UseDPoP: true, ResponseType: "id_token token"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewClient(tc.opts, tc.b, fx.clock)
			var e *Error
			if !errors.As(err, &e) || e.Code != string(ErrInvalidConfiguration) || !strings.Contains(e.Description, "UseDPoP") {
				t.Errorf("err %v, want invalid_configuration naming UseDPoP", err)
			}
		})
	}
}
