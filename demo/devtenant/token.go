package devtenant

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// grant is what an authorization produced: enough to mint tokens now or at the code exchange.
type grant struct {
	client   *Client
	user     *User
	scope    string
	audience string
	nonce    string
	authTime time.Time
	sid      string
	// jkt is the DPoP key the tokens are bound to (cnf.jkt), "" for bearer tokens.
	jkt string
}

type authCode struct {
	grant
	redirectURI string
	challenge   string
	dpopJKT     string // /authorize's dpop_jkt: only a proof by that key redeems the code
	expiresAt   time.Time
}

type tokens struct {
	access, id string
	expiresIn  int
}

// issueLocked signs the tokens of g, applying the ID-token faults. Caller holds t.mu.
func (t *Tenant) issueLocked(g grant, withAccess, withID bool) (tokens, error) {
	now := t.now()
	ttl := t.tokenLifetimeLocked()
	out := tokens{expiresIn: int(ttl / time.Second)}
	if withAccess {
		aud := g.audience
		if aud == "" {
			aud = t.api
		}
		at, err := t.signAccessLocked(jwt.MapClaims{
			"iss": t.Issuer(), "sub": g.user.Sub, "aud": aud, "azp": g.client.ID, "scope": g.scope,
			"iat": now.Unix(), "exp": now.Add(ttl).Unix(),
		}, g.jkt)
		if err != nil {
			return tokens{}, err
		}
		out.access = at
	}
	if !withID {
		return out, nil
	}
	f := t.faults
	claims := jwt.MapClaims{
		"iss": t.Issuer(), "sub": g.user.Sub, "aud": g.client.ID, "azp": g.client.ID,
		"iat": now.Unix(), "exp": now.Add(ttl).Unix(), "auth_time": g.authTime.Unix(), "sid": g.sid,
	}
	if g.nonce != "" {
		claims["nonce"] = g.nonce
	}
	scopes := strings.Fields(g.scope)
	if contains(scopes, "profile") {
		claims["name"] = g.user.Name
	}
	if contains(scopes, "email") {
		claims["email"], claims["email_verified"] = g.user.Email, true
	}
	// Custom claims, as an Auth0 action adds them; never over a claim above.
	for k, v := range g.user.ExtraClaims {
		if _, taken := claims[k]; !taken {
			claims[k] = v
		}
	}
	if out.access != "" {
		claims["at_hash"] = AtHash(out.access)
	}
	if f.WrongNonce {
		claims["nonce"] = "wrong-" + g.nonce
	}
	if f.WrongAudience {
		claims["aud"] = "some-other-client"
	}
	if f.ExpiredIDToken {
		// An hour past exp is outside any leeway the SDK allows (at most 300 s).
		claims["iat"], claims["exp"] = now.Add(-time.Hour-ttl).Unix(), now.Add(-time.Hour).Unix()
		claims["auth_time"] = now.Add(-time.Hour - ttl).Unix()
	}
	id, err := t.keys.sign(g.client.SigningAlg, claims)
	if err != nil {
		return tokens{}, err
	}
	if f.BadSignature {
		id = corruptSignature(id)
	}
	out.id = id
	return out, nil
}

// AtHash is OIDC's at_hash for RS256 and ES256: the left half of SHA-256, base64url.
func AtHash(accessToken string) string {
	sum := sha256.Sum256([]byte(accessToken))
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
}

// corruptSignature flips one bit of the signature so the token still parses but no longer verifies.
func corruptSignature(tok string) string {
	i := strings.LastIndexByte(tok, '.')
	sig, err := base64.RawURLEncoding.DecodeString(tok[i+1:])
	if err != nil || len(sig) == 0 {
		return tok + "x"
	}
	sig[len(sig)/2] ^= 0x01
	return tok[:i+1] + base64.RawURLEncoding.EncodeToString(sig)
}

// tokenError answers in RFC 6749 §5.2 JSON.
func tokenError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

// allowOrigin echoes Origin when it is one of the allowed origins; browsers then let the page read the answer.
func allowOrigin(w http.ResponseWriter, r *http.Request, allowed func(string) bool) {
	w.Header().Add("Vary", "Origin")
	if o := r.Header.Get("Origin"); o != "" && allowed(o) {
		w.Header().Set("Access-Control-Allow-Origin", o)
	}
}

// anyClientOrigin is true when some client lists o as a web origin; preflights carry no client_id.
func (t *Tenant) anyClientOrigin(o string) bool {
	for _, c := range t.clients {
		if contains(c.WebOrigins, o) {
			return true
		}
	}
	return false
}

func preflight(w http.ResponseWriter, methods, headers string) {
	h := w.Header()
	h.Set("Access-Control-Allow-Methods", methods)
	h.Set("Access-Control-Allow-Headers", headers)
	h.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
}

// tokenParams reads the token request as a form or, as auth0-spa-js sends it, as JSON.
func tokenParams(w http.ResponseWriter, r *http.Request) (map[string]string, error) {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	body := http.MaxBytesReader(w, r.Body, 1<<16)
	if mt == "application/json" {
		var m map[string]string
		if err := json.NewDecoder(body).Decode(&m); err != nil {
			return nil, err
		}
		return m, nil
	}
	r.Body = body
	if err := r.ParseForm(); err != nil {
		return nil, err
	}
	m := map[string]string{}
	for k := range r.PostForm {
		m[k] = r.PostForm.Get(k)
	}
	return m, nil
}

// clientPost is what the token and revocation endpoints check first, in
// this order: a CORS preflight answered, POST only, a readable form, and a
// known client (with its secret, for a confidential one) whose web origins
// alone the answer is shared with. ok false: the answer has been written.
func (t *Tenant) clientPost(w http.ResponseWriter, r *http.Request, endpoint, allowHeaders string) (c *Client, p map[string]string, ok bool) {
	if r.Method == http.MethodOptions {
		allowOrigin(w, r, t.anyClientOrigin)
		preflight(w, "POST", allowHeaders)
		return nil, nil, false
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST, OPTIONS")
		tokenError(w, http.StatusMethodNotAllowed, "invalid_request", "The "+endpoint+" endpoint only accepts POST")
		return nil, nil, false
	}
	p, err := tokenParams(w, r)
	if err != nil {
		tokenError(w, http.StatusBadRequest, "invalid_request", "Unreadable request body: "+err.Error())
		return nil, nil, false
	}
	c = t.clients[p["client_id"]]
	allowOrigin(w, r, func(o string) bool { return c != nil && contains(c.WebOrigins, o) })
	if c == nil {
		tokenError(w, http.StatusUnauthorized, "invalid_client", "Unknown client")
		return nil, nil, false
	}
	if c.Secret != "" && subtle.ConstantTimeCompare([]byte(c.Secret), []byte(p["client_secret"])) != 1 {
		tokenError(w, http.StatusUnauthorized, "invalid_client", "Client authentication failed")
		return nil, nil, false
	}
	return c, p, true
}

func (t *Tenant) handleToken(w http.ResponseWriter, r *http.Request) {
	c, p, ok := t.clientPost(w, r, "token", "Content-Type, Auth0-Client, DPoP")
	if !ok {
		return
	}
	jkt, ok := t.tokenDPoP(w, r)
	if !ok {
		return
	}
	if p["grant_type"] == "refresh_token" {
		t.mu.Lock()
		defer t.mu.Unlock()
		t.refreshGrantLocked(w, c, p, jkt)
		return
	}
	if p["grant_type"] != "authorization_code" {
		tokenError(w, http.StatusBadRequest, "unsupported_grant_type", "Only grant_type=authorization_code and refresh_token are supported")
		return
	}

	t.mu.Lock()
	defer t.mu.Unlock()
	t.stats.TokenExchanges++
	code := t.codes[p["code"]]
	// A code is spent the first time anyone presents it, right or wrong (RFC 6749 §4.1.2).
	delete(t.codes, p["code"])
	// Auth0 answers invalid_grant with 403 where RFC 6749 says 400; we imitate Auth0.
	switch {
	case code == nil || !t.now().Before(code.expiresAt):
		tokenError(w, http.StatusForbidden, "invalid_grant", "Invalid authorization code")
		return
	case code.client.ID != c.ID:
		tokenError(w, http.StatusForbidden, "invalid_grant", "The code was issued to another client")
		return
	case code.redirectURI != p["redirect_uri"]:
		tokenError(w, http.StatusForbidden, "invalid_grant", "redirect_uri does not match the one used at /authorize")
		return
	case code.challenge != "" && !verifierMatches(p["code_verifier"], code.challenge):
		tokenError(w, http.StatusForbidden, "invalid_grant", "Failed to verify code verifier")
		return
	case code.dpopJKT != "" && code.dpopJKT != jkt:
		tokenError(w, http.StatusBadRequest, "invalid_grant", "The code is bound to dpop_jkt "+code.dpopJKT+"; the DPoP proof is missing or from another key")
		return
	}
	g := code.grant
	g.jkt = jkt
	tok, err := t.issueLocked(g, true, contains(strings.Fields(code.scope), "openid"))
	if err != nil {
		tokenError(w, http.StatusInternalServerError, "server_error", err.Error())
		return
	}
	resp := map[string]any{"access_token": tok.access, "token_type": tokenType(jkt), "expires_in": tok.expiresIn, "scope": code.scope}
	if tok.id != "" {
		resp["id_token"] = tok.id
	}
	if wantsRefreshToken(c, code.scope) {
		resp["refresh_token"] = t.newFamilyLocked(g) // bound to g.jkt, like its access tokens
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, resp)
}

// verifierMatches checks PKCE S256: BASE64URL(SHA256(verifier)) == challenge, with RFC 7636's length bounds.
func verifierMatches(verifier, challenge string) bool {
	if len(verifier) < 43 || len(verifier) > 128 {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(S256(verifier)), []byte(challenge)) == 1
}

// bearerClaims verifies the request's access token; wantAud "" accepts any audience.
func (t *Tenant) bearerClaims(r *http.Request, wantAud string) (jwt.MapClaims, error) {
	auth := r.Header.Get("Authorization")
	raw, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok || raw == "" {
		return nil, errors.New("no bearer token")
	}
	opts := []jwt.ParserOption{jwt.WithIssuer(t.Issuer()), jwt.WithExpirationRequired(), jwt.WithTimeFunc(t.now)}
	if wantAud != "" {
		opts = append(opts, jwt.WithAudience(wantAud))
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.keys.verify(raw, opts...)
}

func (t *Tenant) handlePrivateAPI(w http.ResponseWriter, r *http.Request) {
	allowOrigin(w, r, t.anyClientOrigin)
	if r.Method == http.MethodOptions {
		preflight(w, "GET", "Authorization, DPoP")
		return
	}
	claims, refused := t.apiClaims(w, r, t.issuer+"/api/private", t.api)
	if refused != nil {
		scheme := "Bearer"
		if strings.HasPrefix(strings.ToLower(r.Header.Get("Authorization")), "dpop ") {
			scheme = "DPoP" // RFC 9449, 7.1: the challenge names the scheme the token was sent with
		}
		w.Header().Set("WWW-Authenticate", scheme+` error="`+refused.code+`", error_description="`+strings.ReplaceAll(refused.desc, `"`, `'`)+`"`)
		// Browsers hide WWW-Authenticate (and DPoP-Nonce) from cross-origin scripts unless they are exposed.
		w.Header().Set("Access-Control-Expose-Headers", "WWW-Authenticate, DPoP-Nonce")
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": refused.code, "error_description": refused.desc})
		return
	}
	sub, _ := claims["sub"].(string)
	writeJSON(w, http.StatusOK, map[string]any{
		"message": "Hello from a private endpoint! Your access token is valid.",
		"sub":     sub,
	})
}

func (t *Tenant) handleUserinfo(w http.ResponseWriter, r *http.Request) {
	allowOrigin(w, r, t.anyClientOrigin)
	if r.Method == http.MethodOptions {
		preflight(w, "GET", "Authorization")
		return
	}
	claims, err := t.bearerClaims(r, "")
	if err != nil {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_token"})
		return
	}
	sub, _ := claims["sub"].(string)
	for _, u := range t.users {
		if u.Sub == sub {
			writeJSON(w, http.StatusOK, map[string]any{"sub": sub, "name": u.Name, "email": u.Email, "email_verified": true})
			return
		}
	}
	writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_token"})
}

// handleLogout ends the browser's session and goes to returnTo only when it is an allowed logout URL.
func (t *Tenant) handleLogout(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	t.mu.Lock()
	if c, err := r.Cookie(sessionCookie); err == nil && c.Value != "" {
		delete(t.sessions, c.Value)
		t.revokeSessionLocked(c.Value) // logging out ends the refresh tokens of the logins made in this session
	}
	t.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode})

	returnTo := q.Get("returnTo")
	if returnTo == "" {
		renderPage(w, http.StatusOK, pageData{Title: "Logged out", Lines: []string{"Your session at the dev tenant has ended."}})
		return
	}
	allowed := false
	if c := t.clients[q.Get("client_id")]; c != nil {
		allowed = contains(c.LogoutURLs, returnTo)
	} else if q.Get("client_id") == "" {
		// Without client_id Auth0 checks the tenant-wide list; ours is every client's list.
		for _, c := range t.clients {
			allowed = allowed || contains(c.LogoutURLs, returnTo)
		}
	}
	if !allowed {
		renderPage(w, http.StatusBadRequest, pageData{Title: "Logged out",
			Lines: []string{"Your session has ended, but returnTo is not an allowed logout URL, so you stay here."}, Error: returnTo})
		return
	}
	http.Redirect(w, r, returnTo, http.StatusFound)
}
