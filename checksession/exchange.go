package checksession

import (
	"context"
	"encoding/json"
	"net/url"
	"strconv"
)

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
