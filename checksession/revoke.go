package checksession

import (
	"context"
	"net/url"
	"strconv"

	"github.com/silentauth/silentauth/checksession/platform"
)

// Revocation at logout (RFC 7009): a refresh token copied out of the
// browser must die with the session, not live on until it expires. Logout
// (local-only too) and a logout in another tab revoke the token this tab
// holds where discovery names a revocation_endpoint.

// revokeTimeout bounds the revocation a logout waits for before it
// navigates: a server that does not answer must not keep the user signed in.
const revokeTimeout = fetchTimeout / 3

// refreshTokenToRevoke is the refresh token logout revokes: the one held,
// or, with refreshTokenStorage "local" on a page that has not renewed yet,
// the stored one. It reads nothing when useRefreshTokens is off.
func (ep *tokenEndpoint) refreshTokenToRevoke(ctx context.Context) string {
	if !ep.s.UseRefreshTokens {
		return ""
	}
	if err := ep.refresh.Load(ctx); err != nil {
		ep.log.debug("logout: the stored refresh token could not be read: " + err.Error())
	}
	tok, _ := ep.refresh.Current()
	return tok
}

// revokeRefreshToken asks the server to revoke token, as a public client
// (client_id, no secret), and waits for the answer at most revokeTimeout.
// A failure is logged, never returned: the logout goes on, and the token
// is forgotten here either way.
func (ep *tokenEndpoint) revokeRefreshToken(ctx context.Context, token string) {
	if token == "" {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, revokeTimeout)
	defer cancel()
	m, err := ep.disc.metadata(ctx)
	if err != nil {
		ep.log.debug("logout: the refresh token was not revoked: discovery failed: " + err.Error())
		return
	}
	if m.RevocationEndpoint == "" {
		ep.log.debug("logout: the server names no revocation_endpoint, so the refresh token lives on at the server until it expires")
		return
	}
	form := url.Values{"token": {token}, "token_type_hint": {"refresh_token"}, "client_id": {ep.s.ClientID}}
	resp, err := ep.browser.Fetch(ctx, platform.HTTPRequest{
		Method: "POST",
		URL:    m.RevocationEndpoint,
		Header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
		Body:   []byte(form.Encode()),
	})
	switch {
	case err != nil:
		ep.log.debug("logout: the revocation endpoint " + m.RevocationEndpoint + " got no answer (" + redact(err.Error(), token) + ")")
	case resp.Status != 200:
		ep.log.debug("logout: the revocation endpoint answered HTTP " + strconv.Itoa(resp.Status) + ": " + redact(string(resp.Body), token))
	default:
		ep.log.debug("logout: revoked the refresh token")
	}
}
