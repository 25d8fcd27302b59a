package checksession

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// loadGrace is how long after the authorization server's page loaded in the
// iframe a silent request waits for its message. Servers post while the page
// is parsed, before "load"; a page that loaded and stayed silent is an error
// page or a refused origin, and waiting the full timeout would only hide it.
const loadGrace = 3 * time.Second

// ErrDestroyed is returned by every call on a destroyed client.
var ErrDestroyed = &Error{Code: "destroyed", Description: "the client was destroyed"}

// Client runs silent authentication for one application.
type Client struct {
	s       *settings
	browser Browser
	clock   Clock
	disc    *discoverer

	ctx    context.Context // cancelled by Destroy
	cancel context.CancelFunc

	verifierOnce sync.Once
	verifier     *Verifier

	mu       sync.Mutex
	inflight map[string]*flight[*AuthResult] // request key → the silent request in flight
	cache    map[string]*AuthResult          // request cacheKey → last result
	user     map[string]any
	renewer  *renewer
}

// NewClient validates the options and builds a client. It does not touch the
// network: discovery happens on the first request.
func NewClient(opts Options, b Browser, clock Clock) (*Client, error) {
	if clock == nil {
		clock = SystemClock{}
	}
	s, err := opts.validate(b.Origin())
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Client{
		s: s, browser: b, clock: clock,
		ctx: ctx, cancel: cancel,
		inflight: map[string]*flight[*AuthResult]{},
		cache:    map[string]*AuthResult{},
	}
	c.disc = &discoverer{s: s, browser: b, log: c.debug}
	if s.SessionCheckInterval > 0 && s.SessionCheckInterval < minSessionPoll {
		c.warn("sessionCheckIntervalInSeconds under 60 s polls /authorize often; servers rate-limit it")
	}
	c.renewer = newRenewer(c)
	return c, nil
}

func (c *Client) debug(msg string) {
	if c.s.Debug && c.s.Logger != nil {
		c.s.Logger(msg)
	}
}

// warn is logged whether or not debug is on.
func (c *Client) warn(msg string) {
	if c.s.Logger != nil {
		c.s.Logger("warning: " + msg)
	}
}

func (c *Client) emit(name string, payload any) {
	if c.s.OnEvent != nil {
		c.s.OnEvent(name, payload)
	}
}

// offline reports navigator.onLine == false, where the browser can tell.
func (c *Client) offline() bool {
	o, ok := c.browser.(interface{ Online() bool })
	return ok && !o.Online()
}

// Metadata returns the server's endpoints, from discovery or the fallback.
func (c *Client) Metadata(ctx context.Context) (*Metadata, error) {
	return c.disc.metadata(ctx)
}

// CheckSession asks the authorization server for fresh tokens through a
// hidden iframe with prompt=none and response_mode=web_message. Concurrent
// calls with the same parameters share one iframe and one result.
func (c *Client) CheckSession(ctx context.Context, p AuthorizeParams) (*AuthResult, error) {
	r, err := c.s.resolve(p)
	if err != nil {
		return nil, err
	}
	if prompt, ok := r.extra["prompt"]; ok && prompt != "none" {
		return nil, configError("prompt", "checkSession always sends prompt=none; use loginWithRedirect to show the login page")
	}
	res, err := c.shared(ctx, r)
	if err == nil {
		c.renewer.succeeded(r, res, false)
	} else {
		c.renewer.failed(r, err)
	}
	return res, err
}

// shared joins the request in flight with the same key, or starts one. The
// request runs on the client's context so that one caller giving up does not
// cancel it for the others.
func (c *Client) shared(ctx context.Context, r request) (*AuthResult, error) {
	if c.ctx.Err() != nil {
		return nil, ErrDestroyed
	}
	key := r.key()
	c.mu.Lock()
	f, joined := c.inflight[key]
	if !joined {
		f = newFlight[*AuthResult]()
		c.inflight[key] = f
		go func() {
			res, err := c.silent(c.ctx, r)
			c.mu.Lock()
			delete(c.inflight, key)
			c.mu.Unlock()
			f.finish(res, err)
		}()
	} else {
		c.debug("joining the silent request already in flight")
	}
	c.mu.Unlock()
	return f.wait(ctx)
}

// silent runs one prompt=none request from discovery to validated result.
func (c *Client) silent(ctx context.Context, r request) (*AuthResult, error) {
	m, err := c.disc.metadata(ctx)
	if err != nil {
		return nil, err
	}
	if !m.supportsWebMessage() {
		return nil, configError("domain", "the server's discovery lists response_modes_supported "+
			quote(strings.Join(m.ResponseModesSupported, " "))+" without web_message, so no silent request can be answered")
	}
	t := newTransaction(r, c.s.RedirectURI)
	if c.browser.CrossOriginIsolated() {
		return nil, &Error{Code: ErrTimeout.Code, State: t.State, Description: TimeoutDescription +
			". This page is cross-origin isolated (COOP/COEP), so the authorization server's iframe cannot answer it; serve the page without Cross-Origin-Embedder-Policy or renew with an interactive login."}
	}
	extra := map[string]string{"prompt": "none"}
	for k, v := range r.extra {
		if k != "prompt" {
			extra[k] = v
		}
	}
	r.extra = extra
	u, err := authorizeURL(m.AuthorizationEndpoint, c.s.ClientID, t, r, "web_message")
	if err != nil {
		return nil, err
	}
	resp, err := c.runFrame(ctx, u, t, r.timeout)
	if err != nil {
		return nil, err
	}
	return c.complete(ctx, m, t, resp)
}

// runFrame opens the hidden iframe and waits for the one message that is
// ours, the timeout, or the sign that none will come. The frame, its
// listeners and the timers are gone when it returns, whatever the path.
func (c *Client) runFrame(ctx context.Context, authorizeURL string, t *transaction, timeout time.Duration) (*authResponse, error) {
	au, _ := url.Parse(authorizeURL)
	serverOrigin := origin(au)
	msgs := make(chan *authResponse, 1)
	loads := make(chan struct{}, 1)
	frame, err := c.browser.OpenFrame(authorizeURL, FrameHandler{
		OnMessage: func(m Message) {
			resp, why := acceptMessage(m, serverOrigin, t.State)
			if why != "" {
				c.debug("ignored a message: " + why)
				return
			}
			select {
			case msgs <- resp:
			default:
			}
		},
		OnLoad: func() {
			select {
			case loads <- struct{}{}:
			default:
			}
		},
	})
	if err != nil {
		return nil, newError(ErrTimeout.Code, TimeoutDescription+". The iframe could not be created: "+err.Error())
	}
	defer frame.Close()
	c.debug("silent request opened: " + authorizeURL)

	deadline := c.clock.NewTimer(timeout)
	defer deadline.Stop()
	var grace Timer
	var graceC <-chan time.Time
	defer func() {
		if grace != nil {
			grace.Stop()
		}
	}()
	for {
		select {
		case resp := <-msgs:
			return resp, nil
		case <-loads:
			// Each load (a server may pass through pages) restarts the wait.
			if grace != nil {
				grace.Stop()
			}
			grace = c.clock.NewTimer(min(loadGrace, timeout))
			graceC = grace.C()
		case <-graceC:
			c.debug("failing fast: the server's page loaded but posted nothing")
			if c.offline() {
				return nil, &Error{Code: ErrTimeout.Code, State: t.State, Description: TimeoutDescription +
					". The browser is offline: the iframe shows its network error page."}
			}
			return nil, &Error{Code: ErrTimeout.Code, State: t.State, Description: TimeoutDescription +
				". The authorization server's page loaded in the iframe but posted no answer: it is an error page, or this origin (" +
				c.browser.Origin() + ") is not allowed for web_message (Auth0: add it to the application's Allowed Web Origins), or redirect_uri " +
				quote(t.RedirectURI) + " is not registered for client " + quote(c.s.ClientID) + "."}
		case <-deadline.C():
			if c.offline() {
				return nil, &Error{Code: ErrTimeout.Code, State: t.State, Description: TimeoutDescription + ". The browser is offline."}
			}
			return nil, &Error{Code: ErrTimeout.Code, State: t.State, Description: TimeoutDescription}
		case <-ctx.Done():
			if c.ctx.Err() != nil {
				return nil, ErrDestroyed
			}
			return nil, ctx.Err()
		}
	}
}

// complete turns an accepted response into a validated result: server
// errors pass through, codes are exchanged, ID tokens verified.
func (c *Client) complete(ctx context.Context, m *Metadata, t *transaction, resp *authResponse) (*AuthResult, error) {
	// RFC 9207: a response naming another issuer is a mix-up, whatever else it says.
	if resp.Iss != "" && resp.Iss != m.Issuer {
		return nil, &Error{Code: ErrInvalidToken.Code, State: t.State,
			Description: "iss: the authorization response names issuer " + quote(resp.Iss) + ", expected " + quote(m.Issuer)}
	}
	if resp.Error != "" {
		return nil, &Error{Code: resp.Error, Description: resp.ErrorDescription, State: t.State}
	}
	received := c.clock.Now()
	tokens := resp
	if t.ResponseType == "code" {
		if resp.Code == "" {
			return nil, &Error{Code: ErrInvalidToken.Code, State: t.State, Description: "code: the response carries no authorization code"}
		}
		var err error
		tokens, err = c.exchange(ctx, m, t, resp.Code)
		if err != nil {
			return nil, err
		}
		received = c.clock.Now()
	}
	wantID := strings.Contains(t.ResponseType, "id_token") || (t.ResponseType == "code" && hasScope(t.Scope, "openid"))
	wantAT := t.ResponseType != "id_token"
	if wantID && tokens.IDToken == "" {
		return nil, &Error{Code: ErrInvalidToken.Code, State: t.State, Description: "id_token: the response carries no ID token"}
	}
	if wantAT && tokens.AccessToken == "" {
		return nil, &Error{Code: ErrInvalidToken.Code, State: t.State, Description: "access_token: the response carries no access token"}
	}
	res := &AuthResult{
		AccessToken: tokens.AccessToken,
		IDToken:     tokens.IDToken,
		ExpiresIn:   tokens.ExpiresIn,
		TokenType:   tokens.TokenType,
		Scope:       tokens.Scope,
		State:       t.State,
		received:    received,
	}
	if tokens.IDToken != "" {
		claims, err := c.verifierFor(m).Verify(ctx, tokens.IDToken, Expected{
			Nonce:         t.Nonce,
			MaxAge:        time.Duration(t.MaxAge) * time.Second,
			HasMaxAge:     t.HasMaxAge,
			AccessToken:   tokens.AccessToken,
			RequireAtHash: t.ResponseType == "id_token token",
		})
		if err != nil {
			var e *Error
			if errors.As(err, &e) {
				e.State = t.State
			}
			return nil, err
		}
		res.IDTokenPayload = claims
	}
	switch {
	case tokens.HasExpiresIn:
		res.ExpiresAt = received.Add(time.Duration(tokens.ExpiresIn) * time.Second)
	case res.IDTokenPayload != nil:
		// No expires_in: the ID token's own lifetime, moved onto the local clock.
		exp, _ := numberClaim(res.IDTokenPayload, "exp")
		iat, _ := numberClaim(res.IDTokenPayload, "iat")
		if exp > iat {
			res.ExpiresAt = received.Add(time.Duration(exp-iat) * time.Second)
		}
	}
	c.store(t, res)
	return res, nil
}

// numberClaim reads a numeric claim whatever number type the verifier used.
func numberClaim(claims map[string]any, name string) (int64, bool) {
	switch v := claims[name].(type) {
	case float64:
		return int64(v), true
	case json.Number:
		n, err := v.Int64()
		return n, err == nil
	case int64:
		return v, true
	}
	return 0, false
}

func (c *Client) store(t *transaction, res *AuthResult) { c.storeFor(t.Audience, t.Scope, res) }

// storeFor caches a result for the audience and scope it was requested with.
func (c *Client) storeFor(audience, scope string, res *AuthResult) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cache[request{audience: audience, scope: scope}.cacheKey()] = res
	if res.IDTokenPayload != nil {
		c.user = res.IDTokenPayload
	}
}

// verifierFor builds the ID-token verifier once the issuer is known.
func (c *Client) verifierFor(m *Metadata) *Verifier {
	c.verifierOnce.Do(func() {
		jwksURI := m.JWKSURI
		keys := NewKeySet(func(ctx context.Context) ([]byte, error) {
			resp, err := c.browser.Fetch(ctx, HTTPRequest{Method: "GET", URL: jwksURI})
			if err != nil {
				return nil, newError(ErrNetwork.Code, "signature: the key set at "+jwksURI+" got no answer ("+err.Error()+")")
			}
			if resp.Status != 200 {
				return nil, newError(ErrServer.Code, "signature: the key set at "+jwksURI+" answered HTTP "+strconv.Itoa(resp.Status))
			}
			return resp.Body, nil
		})
		keys.now = c.clock.Now // the refetch cooldown runs on the client's clock
		c.verifier = NewVerifier(VerifierConfig{
			Issuer:   m.Issuer,
			ClientID: c.s.ClientID,
			Leeway:   c.s.leeway,
			Now:      c.clock.Now,
			Keys:     keys,
		})
	})
	return c.verifier
}

// exchange redeems an authorization code at the token endpoint with the
// PKCE verifier.
func (c *Client) exchange(ctx context.Context, m *Metadata, t *transaction, code string) (*authResponse, error) {
	if m.TokenEndpoint == "" {
		return nil, configError("tokenEndpoint", "the server names no token endpoint, so a code cannot be exchanged")
	}
	form := url.Values{
		"grant_type":    {"authorization_code"},
		"client_id":     {c.s.ClientID},
		"code":          {code},
		"code_verifier": {t.CodeVerifier},
		"redirect_uri":  {t.RedirectURI},
	}
	resp, err := c.browser.Fetch(ctx, HTTPRequest{
		Method: "POST",
		URL:    m.TokenEndpoint,
		Header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
		Body:   []byte(form.Encode()),
	})
	if err != nil {
		return nil, &Error{Code: ErrNetwork.Code, State: t.State, Description: "the token endpoint " + m.TokenEndpoint +
			" got no answer (" + err.Error() + "): the server is unreachable, or it does not allow CORS from " + c.browser.Origin()}
	}
	var fields map[string]any
	if err := json.Unmarshal(resp.Body, &fields); err != nil || fields == nil {
		return nil, &Error{Code: ErrServer.Code, State: t.State, Description: "the token endpoint answered HTTP " +
			strconv.Itoa(resp.Status) + " without a JSON object"}
	}
	if e, _ := fields["error"].(string); e != "" || resp.Status != 200 {
		if e == "" {
			e = ErrServer.Code
		}
		desc, _ := fields["error_description"].(string)
		return nil, &Error{Code: e, Description: desc, State: t.State}
	}
	fields["state"] = t.State // the token response has none; the checks need one
	tokens, problem := parseResponseFields(func(k string) (any, bool) { v, ok := fields[k]; return v, ok })
	if problem != "" {
		return nil, &Error{Code: ErrServer.Code, State: t.State, Description: "the token endpoint's answer is malformed: " + problem}
	}
	return tokens, nil
}

// GetTokenSilently returns the cached access token until it is due for
// renewal (renewBeforeExpiry ahead of expiry, or halfway through the life of
// a shorter-lived token), otherwise a fresh one from CheckSession.
func (c *Client) GetTokenSilently(ctx context.Context, p AuthorizeParams) (string, error) {
	r, err := c.s.resolve(p)
	if err != nil {
		return "", err
	}
	if r.responseType == "id_token" {
		return "", configError("responseType", `"id_token" produces no access token for getTokenSilently`)
	}
	if res := c.cached(r); res != nil {
		return res.AccessToken, nil
	}
	res, err := c.CheckSession(ctx, p)
	if err != nil {
		return "", err
	}
	return res.AccessToken, nil
}

// cached is the stored result for r while its access token stays valid for
// longer than renewBeforeExpiry.
func (c *Client) cached(r request) *AuthResult {
	c.mu.Lock()
	defer c.mu.Unlock()
	res := c.cache[r.cacheKey()]
	if res == nil || res.AccessToken == "" || res.ExpiresAt.IsZero() {
		return nil
	}
	if c.clock.Now().Before(res.renewAt(c.s.renewBeforeExpiry)) {
		return res
	}
	return nil
}

// GetUser returns the claims of the last validated ID token, or nil.
func (c *Client) GetUser() map[string]any {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.user
}

// forget drops every token and the user.
func (c *Client) forget() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cache = map[string]*AuthResult{}
	c.user = nil
}

// Destroy stops renewal, cancels requests in flight (their iframes and
// listeners go with them) and makes every later call fail with ErrDestroyed.
func (c *Client) Destroy() {
	c.renewer.stop()
	c.cancel()
}
