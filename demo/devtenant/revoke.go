package devtenant

import "net/http"

// handleRevoke is token revocation (RFC 7009) as Auth0's /oauth/revoke
// does it for refresh tokens: a public client names itself with client_id,
// and revoking one token of a rotation family revokes the whole family, so
// that no copy of it, earlier or later, redeems again. A token the tenant
// does not know (already revoked, an access token, garbage) is answered 200:
// the client's goal, a token that no longer works, is met (RFC 7009 §2.2).
func (t *Tenant) handleRevoke(w http.ResponseWriter, r *http.Request) {
	c, p, ok := t.clientPost(w, r, "revocation", "Content-Type, Auth0-Client")
	if !ok {
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
