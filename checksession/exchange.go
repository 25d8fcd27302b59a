package checksession

import (
	"context"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/silentauth/silentauth/checksession/platform"
)

// tokenEndpoint makes the requests to the server's token endpoint (the code
// exchange, the refresh grant), with a DPoP proof under useDpop, and to its
// revocation endpoint.
type tokenEndpoint struct {
	s       *settings
	browser platform.Browser // Fetch; its origin names who CORS must allow
	clock   platform.Clock
	log     logger
	dpop    *dpopState     // the DPoP key and nonces (useDpop); nil without
	refresh *refreshTokens // dropped when a newly made key cannot redeem it
	disc    *discoverer    // names the revocation endpoint

	// lostKeyOnce: a newly made DPoP key was checked against the refresh token.
	lostKeyOnce atomic.Bool
}

// exchange redeems an authorization code at the token endpoint with the
// PKCE verifier.
func (ep *tokenEndpoint) exchange(ctx context.Context, m *serverMetadata, t *transaction, code string) (*authResponse, error) {
	tokens, err := ep.tokenRequest(ctx, m, url.Values{
		"grant_type":    {"authorization_code"},
		"client_id":     {ep.s.ClientID},
		"code":          {code},
		"code_verifier": {t.CodeVerifier},
		"redirect_uri":  {t.RedirectURI},
	}, t.State, "a code cannot be exchanged")
	if err != nil {
		return nil, err
	}
	return tokens, nil
}

// refreshGrant redeems a refresh token (grant_type=refresh_token). scope ""
// asks for the scope granted at login; a server that rotates answers with a
// new refresh token in RefreshToken, and the one sent is then spent.
func (ep *tokenEndpoint) refreshGrant(ctx context.Context, m *serverMetadata, refreshToken, scope string) (*authResponse, error) {
	if refreshToken == "" {
		return nil, errMissingRefreshToken("no refresh token to redeem")
	}
	form := url.Values{
		"grant_type":    {"refresh_token"},
		"client_id":     {ep.s.ClientID},
		"refresh_token": {refreshToken},
	}
	if scope != "" {
		form.Set("scope", scope)
	}
	tokens, err := ep.tokenRequest(ctx, m, form, "", "a refresh token cannot be redeemed")
	if err != nil {
		// Servers may quote the request in their descriptions; the token must not leave this function.
		if e, ok := err.(*Error); ok {
			e.Description = redact(e.Description, refreshToken)
		}
		return nil, err
	}
	return tokens, nil
}

// tokenRequest POSTs form to the token endpoint and parses the answer. state
// is the request's state, carried by errors and set on the answer (a token
// response has none); "" for grants made outside an authorization request.
func (ep *tokenEndpoint) tokenRequest(ctx context.Context, m *serverMetadata, form url.Values, state, consequence string) (*authResponse, error) {
	if m.TokenEndpoint == "" {
		return nil, invalidOption("TokenEndpoint", "the server names no token endpoint, so "+consequence)
	}
	resp, err := ep.postToken(ctx, m.TokenEndpoint, platform.HTTPRequest{
		Method: "POST",
		URL:    m.TokenEndpoint,
		Header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
		Body:   []byte(form.Encode()),
	})
	if e, ok := err.(*Error); ok {
		e.State = state
		return nil, e
	}
	if err != nil {
		return nil, &Error{Code: string(ErrNetwork), State: state, Description: "the token endpoint " + m.TokenEndpoint +
			" got no answer (" + err.Error() + "): the server is unreachable, or it does not allow CORS from " + ep.browser.Origin()}
	}
	if resp.Early {
		ep.log.debug("the code exchange the head start sent early is adopted")
	}
	var fields map[string]any
	if err := json.Unmarshal(resp.Body, &fields); err != nil || fields == nil {
		return nil, withServerWait(&Error{Code: string(ErrServer), State: state, Description: "the token endpoint answered HTTP " +
			strconv.Itoa(resp.Status) + " without a JSON object"}, resp.Status, resp.Header, ep.clock.Now())
	}
	if e, _ := fields["error"].(string); e != "" || resp.Status != 200 {
		if e == "" {
			e = string(ErrServer)
		}
		desc, _ := fields["error_description"].(string)
		return nil, withServerWait(&Error{Code: e, Description: desc, State: state}, resp.Status, resp.Header, ep.clock.Now())
	}
	fields["state"] = state
	if state == "" {
		fields["state"] = "-" // parseResponseFields insists on a state; grants outside a request have none
	}
	tokens, problem := parseResponseFields(func(k string) (any, bool) { v, ok := fields[k]; return v, ok })
	if problem != "" {
		return nil, &Error{Code: string(ErrServer), State: state, Description: "the token endpoint's answer is malformed: " + problem}
	}
	tokens.State = state
	if resp.Early {
		tokens.SentAt = resp.Sent
	}
	if v, ok := fields["refresh_token"]; ok && v != nil {
		rt, isStr := v.(string)
		if !isStr {
			return nil, &Error{Code: string(ErrServer), State: state, Description: "the token endpoint's answer is malformed: refresh_token is not a string"}
		}
		tokens.RefreshToken = rt
	}
	ep.checkTokenType(tokens)
	return tokens, nil
}

// redact takes secret out of s, so that an error description never carries it.
func redact(s, secret string) string {
	if secret == "" || !strings.Contains(s, secret) {
		return s
	}
	return strings.ReplaceAll(s, secret, "[refresh token]")
}
