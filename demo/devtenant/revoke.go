package devtenant

import (
	"crypto/subtle"
	"net/http"
)

// handleRevoke is token revocation (RFC 7009) as Auth0's /oauth/revoke
// does it for refresh tokens: a public client names itself with client_id,
// and revoking one token of a rotation family revokes the whole family, so
// that no copy of it, earlier or later, redeems again. A token the tenant
// does not know (already revoked, an access token, garbage) is answered 200:
// the client's goal, a token that no longer works, is met (RFC 7009 §2.2).
func (t *Tenant) handleRevoke(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodOptions {
		allowOrigin(w, r, t.anyClientOrigin)
		preflight(w, "POST", "Content-Type, Auth0-Client")
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST, OPTIONS")
		tokenError(w, http.StatusMethodNotAllowed, "invalid_request", "The revocation endpoint only accepts POST")
		return
	}
	p, err := tokenParams(w, r)
	if err != nil {
		tokenError(w, http.StatusBadRequest, "invalid_request", "Unreadable request body: "+err.Error())
		return
	}
	c := t.clients[p["client_id"]]
	allowOrigin(w, r, func(o string) bool { return c != nil && contains(c.WebOrigins, o) })
	if c == nil {
		tokenError(w, http.StatusUnauthorized, "invalid_client", "Unknown client")
		return
	}
	if c.Secret != "" && subtle.ConstantTimeCompare([]byte(c.Secret), []byte(p["client_secret"])) != 1 {
		tokenError(w, http.StatusUnauthorized, "invalid_client", "Client authentication failed")
		return
	}
	if p["token"] == "" {
		tokenError(w, http.StatusBadRequest, "invalid_request", "token is required")
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stats.Revocations++
	rt := t.refresh[p["token"]]
	switch {
	case rt == nil:
		// Unknown: nothing to do, and nothing said about whether it existed.
	case rt.family.grant.client.ID != c.ID:
		tokenError(w, http.StatusBadRequest, "invalid_grant", "The refresh token was issued to another client.")
		return
	default:
		t.log.Info("refresh token revoked; family revoked", "sub", rt.family.grant.user.Sub)
		t.revokeLocked(rt.family)
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}
