package checksession

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"

	"github.com/silentauth/silentauth/checksession/platform"
)

// storagePrefix names the sessionStorage entries that carry an interactive
// login's transaction across the redirect; one entry per state.
const storagePrefix = "silentauth.tx."

func storageKey(clientID, state string) string {
	return storagePrefix + clientID + "." + state
}

// LoginWithRedirect navigates to /authorize without prompt=none: the way
// out of login_required and the other codes that end a session, which only
// the user can resolve at the server. The code flow answers in the query,
// the implicit ones in the fragment. State, nonce and the PKCE verifier wait
// in sessionStorage until HandleRedirectCallback takes them.
func (c *Client) LoginWithRedirect(ctx context.Context, p AuthorizeParams) error {
	if c.ctx.Err() != nil {
		return errDestroyed()
	}
	r, err := c.s.resolve(p)
	if err != nil {
		return err
	}
	if r.extra["prompt"] == "none" {
		return configError("prompt", "loginWithRedirect is the interactive login; use checkSession for prompt=none")
	}
	m, err := c.disc.metadata(ctx)
	if err != nil {
		return err
	}
	if err := c.tokenEndpoint.bindAuthorize(ctx, &r); err != nil {
		return err
	}
	t := newTransaction(r, c.s.RedirectURI)
	mode := "fragment"
	if t.ResponseType == "code" {
		mode = "query"
	}
	u, err := authorizeURL(m.AuthorizationEndpoint, c.s.ClientID, t, r, c.s.requestScope(t.Scope), mode)
	if err != nil {
		return err
	}
	raw, _ := json.Marshal(t)
	if err := c.browser.SessionStorage().Set(storageKey(c.s.ClientID, t.State), string(raw)); err != nil {
		return configError("sessionStorage", "cannot store the login transaction: "+err.Error())
	}
	c.log.debug("interactive login: " + redactURL(u))
	return c.browser.Navigate(u)
}

// responseParams are the names a redirect response may carry, removed from
// the address bar once handled.
var responseParams = []string{"code", "state", "iss", "error", "error_description", "error_uri",
	"access_token", "id_token", "token_type", "expires_in", "scope", "session_state"}

// HasAuthResponse reports whether url carries an authorization response
// (state with a code, tokens or an error, in the query or the fragment): what
// a page checks before calling HandleRedirectCallback.
func HasAuthResponse(rawURL string) bool {
	u, err := url.Parse(rawURL)
	if err != nil {
		return false
	}
	for _, raw := range []string{u.RawQuery, u.Fragment} {
		q, err := url.ParseQuery(raw)
		if err != nil || q.Get("state") == "" {
			continue
		}
		if q.Has("code") || q.Has("error") || q.Has("access_token") || q.Has("id_token") {
			return true
		}
	}
	return false
}

// HandleRedirectCallback validates the response of an interactive login in
// url (location.href when empty) exactly as CheckSession validates a silent
// one, takes the transaction out of storage so the URL cannot be replayed,
// and removes the response from the address bar.
func (c *Client) HandleRedirectCallback(ctx context.Context, rawURL string) (*AuthResult, error) {
	if c.ctx.Err() != nil {
		return nil, errDestroyed()
	}
	if rawURL == "" {
		rawURL = c.browser.Location()
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		// url.Error quotes the whole URL, code or tokens included: keep only why.
		why := err
		if ue, ok := err.(*url.Error); ok {
			why = ue.Err
		}
		return nil, newError(string(ErrInvalidState), "the callback URL cannot be parsed: "+why.Error())
	}
	params := u.Query()
	fromFragment := false
	if frag, err := url.ParseQuery(u.Fragment); err == nil && (frag.Has("state") || frag.Has("error")) {
		params, fromFragment = frag, true
	}
	state := params.Get("state")
	if state == "" {
		return nil, newError(string(ErrInvalidState), "the callback URL carries no state: it is not an authorization response")
	}
	store := c.browser.SessionStorage()
	key := storageKey(c.s.ClientID, state)
	raw, ok := store.Get(key)
	if !ok {
		return nil, &Error{Code: string(ErrInvalidState), State: state,
			Description: "state is unknown or was already used: this callback was not started by this client, or it is a replay"}
	}
	// One use only, whatever the outcome.
	store.Remove(key)
	cleanAddressBar(c.browser, c.log, u, fromFragment)

	var t transaction
	if err := json.Unmarshal([]byte(raw), &t); err != nil || !sameSecret(t.State, state) {
		return nil, &Error{Code: string(ErrInvalidState), State: state, Description: "the stored transaction for this state is damaged"}
	}
	resp, problem := parseResponseFields(func(k string) (any, bool) {
		if !params.Has(k) {
			return nil, false
		}
		return params.Get(k), true
	})
	if problem != "" {
		return nil, &Error{Code: string(ErrInvalidToken), State: state, Description: "the callback is malformed: " + problem}
	}
	m, err := c.disc.metadata(ctx)
	if err != nil {
		return nil, err
	}
	res, refreshToken, err := c.flow.complete(ctx, m, &t, resp)
	if err != nil {
		return nil, err
	}
	c.engine.accept(request{audience: t.Audience, scope: t.Scope}, res)
	c.refreshToken.keep(ctx, c.refresh.Generation(), refreshToken)
	return res, nil
}

// cleanAddressBar removes the response parameters from the address bar.
func cleanAddressBar(b platform.Browser, log logger, u *url.URL, fromFragment bool) {
	clean := *u
	if fromFragment {
		clean.Fragment, clean.RawFragment = "", ""
	} else {
		q := clean.Query()
		for _, p := range responseParams {
			q.Del(p)
		}
		clean.RawQuery = q.Encode()
	}
	if err := b.ReplaceLocation(clean.String()); err != nil {
		log.debug("could not clean the address bar: " + err.Error())
	}
}

// Logout forgets the tokens and, unless LocalOnly, navigates to the
// server's end-session endpoint: Auth0's /v2/logout takes client_id and
// returnTo; an OpenID Provider's end_session_endpoint takes client_id,
// post_logout_redirect_uri and id_token_hint.
func (c *Client) Logout(ctx context.Context, p LogoutParams) error {
	if c.ctx.Err() != nil {
		return errDestroyed()
	}
	idToken := c.tokens.newestIDToken()
	rt := c.tokenEndpoint.refreshTokenToRevoke(ctx)
	c.tokens.forget()
	c.marker.clear()
	c.renewer.signOut()
	c.group.post(tabMessage{Kind: kindLoggedOut})
	c.refreshToken.forget()
	c.tokenEndpoint.revokeRefreshToken(ctx, rt)
	c.tokenEndpoint.forgetDPoPKey(ctx)
	if p.LocalOnly {
		return nil
	}
	m, err := c.disc.metadata(ctx)
	if err != nil {
		return err
	}
	if m.EndSessionEndpoint == "" {
		return invalidOption("EndSessionEndpoint", "the server names no end-session endpoint; set endSessionEndpoint or use logout({localOnly: true})")
	}
	u, err := url.Parse(m.EndSessionEndpoint)
	if err != nil {
		return invalidOption("EndSessionEndpoint", err.Error())
	}
	q := u.Query()
	for k, v := range p.Extra {
		q.Set(k, v)
	}
	q.Set("client_id", c.s.ClientID)
	if strings.HasSuffix(u.Path, "/v2/logout") {
		if p.ReturnTo != "" {
			q.Set("returnTo", p.ReturnTo)
		}
	} else {
		if p.ReturnTo != "" {
			q.Set("post_logout_redirect_uri", p.ReturnTo)
		}
		if idToken != "" {
			q.Set("id_token_hint", idToken)
		}
	}
	u.RawQuery = q.Encode()
	return c.browser.Navigate(u.String())
}

// newestIDToken is the id_token_hint for Logout: of the cached results'
// ID tokens, the one issued last (iat), then the one received last, so that
// the server is pointed at the session the user has now. Equal ones fall to
// the smaller cache key: the choice never depends on the map's order.
func newestIDToken(cache map[string]*AuthResult) string {
	var best *AuthResult
	var bestKey string
	for key, res := range cache {
		if res.IDToken == "" {
			continue
		}
		if best == nil || newerIDToken(res, key, best, bestKey) {
			best, bestKey = res, key
		}
	}
	if best == nil {
		return ""
	}
	return best.IDToken
}

// newerIDToken reports whether a (cached under aKey) is to be preferred
// over b (under bKey) by newestIDToken's order.
func newerIDToken(a *AuthResult, aKey string, b *AuthResult, bKey string) bool {
	aIat, _ := numberClaim(a.IDTokenPayload, "iat")
	bIat, _ := numberClaim(b.IDTokenPayload, "iat")
	switch {
	case aIat != bIat:
		return aIat > bIat
	case !a.received.Equal(b.received):
		return a.received.After(b.received)
	default:
		return aKey < bKey
	}
}
