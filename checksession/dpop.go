package checksession

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/silentauth/silentauth/checksession/plainjson"
	"github.com/silentauth/silentauth/checksession/platform"
)

// DPoP (RFC 9449; API.md, "DPoP"): with Options.UseDPoP every token request
// and every API call carries a proof signed by a key that never leaves the
// browser, so a copied access or refresh token is useless elsewhere. The
// core builds the proofs; the browser signs them (platform.DPoPKeys).

// The token types AuthResult.TokenType carries.
const (
	tokenTypeDPoP   = "DPoP"
	tokenTypeBearer = "Bearer"
)

// normalizeTokenType reads token_type case-insensitively (RFC 6749, 5.1):
// "DPoP" for a DPoP-bound token, "Bearer" for anything else or nothing.
func normalizeTokenType(t string) string {
	if strings.EqualFold(t, tokenTypeDPoP) {
		return tokenTypeDPoP
	}
	return tokenTypeBearer
}

// dpopState is one client's DPoP key and server nonces.
type dpopState struct {
	keys platform.DPoPKeys
	name string

	mu      sync.Mutex
	loading *flight[*dpopKey]
	key     *dpopKey
	nonces  map[string]string // server origin → its latest DPoP-Nonce
}

// dpopKey is a loaded key with what every proof repeats.
type dpopKey struct {
	platform.DPoPKey
	jwk string // the header's jwk member, as JSON
	jkt string // RFC 7638 thumbprint, base64url
	// made: the key was made when this client loaded it, so tokens bound
	// to an older one (a stored refresh token) cannot be used with it.
	made bool
}

// dpopKeyName names the key one per origin and client configuration; it
// follows the stored refresh token's name, so the two always belong together.
func (s *settings) dpopKeyName() string { return "dpop:" + s.refreshKey() }

func newDPoPState(s *settings, b platform.Browser) (*dpopState, error) {
	if !s.UseDPoP {
		return nil, nil
	}
	keys, ok := b.(platform.DPoPKeys)
	if !ok {
		return nil, invalidOption("UseDPoP", "needs a browser that keeps keys (WebCrypto and IndexedDB); this one does not")
	}
	return &dpopState{keys: keys, name: s.dpopKeyName(), nonces: map[string]string{}}, nil
}

// load returns the key, loading (or making) it once; concurrent callers
// wait on one load.
func (d *dpopState) load(ctx context.Context) (*dpopKey, error) {
	d.mu.Lock()
	if d.key != nil {
		k := d.key
		d.mu.Unlock()
		return k, nil
	}
	f := d.loading
	if f == nil {
		f = newFlight[*dpopKey]()
		d.loading = f
		go func() {
			k, err := d.fetchKey(context.WithoutCancel(ctx))
			d.mu.Lock()
			if err == nil {
				d.key = k
			}
			d.loading = nil
			d.mu.Unlock()
			f.finish(k, err)
		}()
	}
	d.mu.Unlock()
	return f.wait(ctx)
}

func (d *dpopState) fetchKey(ctx context.Context) (*dpopKey, error) {
	k, made, err := d.keys.DPoPKey(ctx, d.name)
	if err != nil {
		return nil, invalidOption("UseDPoP", "the DPoP key cannot be loaded or made: "+err.Error())
	}
	x, y := k.PublicJWK()
	// RFC 7638: the required members in lexicographic order, no spaces.
	canon := `{"crv":"P-256","kty":"EC","x":` + string(plainjson.AppendString(nil, x)) + `,"y":` + string(plainjson.AppendString(nil, y)) + `}`
	sum := sha256.Sum256([]byte(canon))
	return &dpopKey{DPoPKey: k, jwk: canon, jkt: base64.RawURLEncoding.EncodeToString(sum[:]), made: made}, nil
}

// forget deletes the key (logout) and the nonces; the next use makes a new key.
func (d *dpopState) forget(ctx context.Context) error {
	d.mu.Lock()
	d.key = nil
	d.nonces = map[string]string{}
	d.mu.Unlock()
	return d.keys.DeleteDPoPKey(ctx, d.name)
}

// nonce is the last DPoP-Nonce the server at origin gave.
func (d *dpopState) nonce(origin string) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.nonces[origin]
}

// noteNonce keeps a DPoP-Nonce header from a server's answer, success or
// error; it reports whether the nonce is new.
func (d *dpopState) noteNonce(origin, nonce string) bool {
	if nonce == "" {
		return false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.nonces[origin] == nonce {
		return false
	}
	d.nonces[origin] = nonce
	return true
}

// htu is a proof's htu: the URL without query and fragment (RFC 9449, 4.2).
func htu(raw string) (string, string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "", "", errorString("needs an absolute URL")
	}
	u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = "", false, "", ""
	return u.String(), origin(u), nil
}

// proof signs a DPoP proof for method and rawURL; accessToken, when set,
// is bound with ath (resource requests). The server's last nonce for the
// URL's origin goes in.
func (d *dpopState) proof(ctx context.Context, method, rawURL, accessToken string, now int64) (string, error) {
	k, err := d.load(ctx)
	if err != nil {
		return "", err
	}
	target, o, err := htu(rawURL)
	if err != nil {
		return "", configError("DPoP", "a proof "+err.Error()+", got "+quote(redactURL(rawURL)))
	}
	header := `{"alg":"ES256","typ":"dpop+jwt","jwk":` + k.jwk + `}`
	claims := append([]byte(`{"jti":`), plainjson.AppendString(nil, randomString())...)
	claims = append(append(claims, `,"htm":`...), plainjson.AppendString(nil, strings.ToUpper(method))...)
	claims = append(append(claims, `,"htu":`...), plainjson.AppendString(nil, target)...)
	claims = strconv.AppendInt(append(claims, `,"iat":`...), now, 10)
	if n := d.nonce(o); n != "" {
		claims = append(append(claims, `,"nonce":`...), plainjson.AppendString(nil, n)...)
	}
	if accessToken != "" {
		sum := sha256.Sum256([]byte(accessToken))
		claims = append(append(claims, `,"ath":"`...), base64.RawURLEncoding.EncodeToString(sum[:])...)
		claims = append(claims, '"')
	}
	claims = append(claims, '}')
	input := base64.RawURLEncoding.EncodeToString([]byte(header)) + "." + base64.RawURLEncoding.EncodeToString(claims)
	sig, err := k.Sign(ctx, []byte(input))
	if err != nil {
		return "", invalidOption("UseDPoP", "the DPoP proof cannot be signed: "+err.Error())
	}
	if len(sig) != 64 {
		return "", invalidOption("UseDPoP", "the key signed "+strconv.Itoa(len(sig))+" bytes, expected a 64-byte ES256 signature")
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// bindAuthorize sets r's dpop_jkt (RFC 9449, 10): the authorization code is
// then bound to the key, and only a proof from it can redeem the code.
// A key made now means tokens bound to the old one are lost: the refresh
// token is dropped, so renewal goes on with the iframe (or ends).
func (ep *tokenEndpoint) bindAuthorize(ctx context.Context, r *request) error {
	if ep.dpop == nil {
		return nil
	}
	k, err := ep.dpopKey(ctx)
	if err != nil {
		return err
	}
	r.dpopJKT = k.jkt
	return nil
}

// dpopKey loads the key, and the first time a newly made key is seen drops
// the refresh token that an older key was bound to.
func (ep *tokenEndpoint) dpopKey(ctx context.Context) (*dpopKey, error) {
	k, err := ep.dpop.load(ctx)
	if err != nil {
		return nil, err
	}
	if k.made && ep.lostKeyOnce.CompareAndSwap(false, true) {
		if ep.refresh.Has() || ep.refresh.store != nil {
			next := "renewal goes on with the silent iframe"
			if !ep.s.refreshFallback() {
				next = "the session ends at the next renewal (useRefreshTokensFallback is off)"
			}
			ep.log.debug("useDpop: no DPoP key was stored (storage cleared, or first use), so a new key was made; a refresh token bound to an older key is dropped and " + next)
			_ = ep.refresh.Forget(ctx)
		}
	}
	return k, nil
}

// tokenProof is the DPoP header for a request to the token endpoint.
func (ep *tokenEndpoint) tokenProof(ctx context.Context, endpoint string) (map[string]string, error) {
	if _, err := ep.dpopKey(ctx); err != nil {
		return nil, err
	}
	p, err := ep.dpop.proof(ctx, "POST", endpoint, "", ep.clock.Now().Unix())
	if err != nil {
		return nil, err
	}
	return map[string]string{"DPoP": p}, nil
}

// noteServerNonce keeps the DPoP-Nonce of an answer from the server at
// rawURL's origin; true when it is a new one.
func (ep *tokenEndpoint) noteServerNonce(rawURL string, resp *platform.HTTPResponse) bool {
	if ep.dpop == nil || resp == nil {
		return false
	}
	_, o, err := htu(rawURL)
	if err != nil {
		return false
	}
	return ep.dpop.noteNonce(o, resp.Header["dpop-nonce"])
}

// NoteDPoPNonce keeps a DPoP-Nonce header an API at rawURL answered with,
// for the next proof to that origin. Without UseDPoP it does nothing.
func (c *Client) NoteDPoPNonce(rawURL, nonce string) {
	if c.tokenEndpoint.dpop == nil {
		return
	}
	if _, o, err := htu(rawURL); err == nil {
		c.tokenEndpoint.dpop.noteNonce(o, nonce)
	}
}

// AuthHeaders returns the headers an API call to rawURL with method needs:
// Authorization with a valid access token (renewed if needed) and, when the
// token is DPoP-bound, a fresh proof with ath. A URL outside APIOrigins is an
// invalid_configuration error, and nothing is renewed for it.
func (c *Client) AuthHeaders(ctx context.Context, rawURL, method string) (map[string]string, error) {
	if err := c.CheckAPIURL(rawURL); err != nil {
		return nil, err
	}
	if method == "" {
		method = "GET"
	}
	r := c.s.defaultRequest()
	token, err := c.GetTokenSilently(ctx, AuthorizeParams{})
	if err != nil {
		return nil, err
	}
	tokenType := tokenTypeBearer
	if res := c.tokens.latest(r); res != nil && res.AccessToken == token {
		tokenType = normalizeTokenType(res.TokenType)
	}
	if c.tokenEndpoint.dpop == nil || tokenType != tokenTypeDPoP {
		return map[string]string{"Authorization": "Bearer " + token}, nil
	}
	p, err := c.tokenEndpoint.dpop.proof(ctx, method, rawURL, token, c.clock.Now().Unix())
	if err != nil {
		return nil, err
	}
	return map[string]string{"Authorization": "DPoP " + token, "DPoP": p}, nil
}

// forgetDPoPKey deletes the key at logout: the next login makes a new one,
// and tokens bound to the old one are useless everywhere.
func (ep *tokenEndpoint) forgetDPoPKey(ctx context.Context) {
	if ep.dpop == nil {
		return
	}
	if err := ep.dpop.forget(ctx); err != nil {
		ep.log.debug("useDpop: the DPoP key could not be deleted: " + err.Error())
	}
}

// postToken POSTs a token request, with a DPoP proof under useDpop, and
// keeps the server's nonce from the answer, success or error. A 400
// use_dpop_nonce that brings a new nonce is sent once more with it; a second
// refusal is the caller's to pass through.
//
// The retry never spends a refresh token (or a code) twice: the server
// checks the proof, its nonce included, before it looks at the grant
// (RFC 9449, sections 5 and 8), so use_dpop_nonce means the grant was not
// processed and the token is still unspent. There is only one retry, so
// even a server that broke that rule would see the token twice at most,
// never in a loop.
func (ep *tokenEndpoint) postToken(ctx context.Context, endpoint string, req platform.HTTPRequest) (*platform.HTTPResponse, error) {
	if ep.dpop == nil {
		return ep.browser.Fetch(ctx, req)
	}
	for attempt := 0; ; attempt++ {
		h, err := ep.tokenProof(ctx, endpoint)
		if err != nil {
			return nil, err
		}
		header := make(map[string]string, len(req.Header)+1)
		for k, v := range req.Header {
			header[k] = v
		}
		header["DPoP"] = h["DPoP"]
		sent := req
		sent.Header = header
		resp, err := ep.browser.Fetch(ctx, sent)
		if err != nil {
			return nil, err
		}
		fresh := ep.noteServerNonce(endpoint, resp)
		if attempt > 0 || resp.Status != 400 || !fresh || tokenErrorCode(resp.Body) != "use_dpop_nonce" {
			return resp, nil
		}
		ep.log.debug("useDpop: the token endpoint asked for its DPoP nonce (use_dpop_nonce); sending the request once more with it")
	}
}

// tokenErrorCode is the error member of a token endpoint's JSON answer.
func tokenErrorCode(body []byte) string {
	var v struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &v) != nil {
		return ""
	}
	return v.Error
}

// checkTokenType says, under useDpop, when a server issued Bearer tokens
// to a DPoP request: they are used as bearer tokens.
func (ep *tokenEndpoint) checkTokenType(tokens *authResponse) {
	if ep.dpop == nil || tokens.AccessToken == "" {
		return
	}
	if normalizeTokenType(tokens.TokenType) != tokenTypeDPoP {
		ep.log.debug("useDpop: the server answered token_type " + quote(tokens.TokenType) + ", not DPoP: its tokens are not bound to the key and are used as bearer tokens")
	}
}
