package devtenant

import (
	"net/http"
	"strings"
	"time"
)

// Refresh tokens as Auth0 issues them to SPAs with rotation on: one per code
// exchange that asked for offline_access, replaced on every use, and a reuse
// of a replaced one revokes every token descended from the same login.

// Default refresh-token lifetimes: Auth0's defaults for rotating tokens.
const (
	DefaultRefreshTokenLifetime     = 30 * 24 * time.Hour // absolute, from the login
	DefaultRefreshTokenIdleLifetime = 15 * 24 * time.Hour // since the family's last rotation
)

// rtFamily is every refresh token descended from one code exchange.
type rtFamily struct {
	grant     grant // scope is what the login granted; refreshes may narrow it
	createdAt time.Time
	usedAt    time.Time // the latest issuance
	tokens    []string  // every token of the family, the current one last
	current   string
}

// refreshToken is one token of a family; only the family's current one redeems.
type refreshToken struct {
	family *rtFamily
	scope  string
}

// wantsRefreshToken: public clients that asked for offline_access get one.
func wantsRefreshToken(c *Client, scope string) bool {
	return c.Secret == "" && contains(strings.Fields(scope), "offline_access")
}

// newFamilyLocked starts a family for g and returns its first token. Caller holds t.mu.
func (t *Tenant) newFamilyLocked(g grant) string {
	now := t.now()
	// Families nobody presents again would stay forever in a long soak; drop the expired ones here.
	for _, rt := range t.refresh {
		if t.expiredLocked(rt.family, now) {
			t.revokeLocked(rt.family)
		}
	}
	f := &rtFamily{grant: g, createdAt: now}
	return t.rotateLocked(f, g.scope, now)
}

// rotateLocked issues the family's next token; the previous one stays known so that its reuse is detected.
func (t *Tenant) rotateLocked(f *rtFamily, scope string, now time.Time) string {
	tok := randomID()
	f.tokens = append(f.tokens, tok)
	f.current, f.usedAt = tok, now
	t.refresh[tok] = &refreshToken{family: f, scope: scope}
	return tok
}

// revokeLocked forgets every token of f. Caller holds t.mu.
func (t *Tenant) revokeLocked(f *rtFamily) {
	for _, tok := range f.tokens {
		delete(t.refresh, tok)
	}
	f.tokens, f.current = nil, ""
}

// revokeSessionLocked revokes the families of the logins made in session sid ("" for all). Caller holds t.mu.
func (t *Tenant) revokeSessionLocked(sid string) {
	for _, rt := range t.refresh {
		if sid == "" || rt.family.grant.sid == sid {
			t.revokeLocked(rt.family)
		}
	}
}

// expiredLocked says whether f has outlived its absolute or idle lifetime.
func (t *Tenant) expiredLocked(f *rtFamily, now time.Time) bool {
	return !now.Before(f.createdAt.Add(t.rtTTL)) || !now.Before(f.usedAt.Add(t.rtIdleTTL))
}

// refreshGrant answers grant_type=refresh_token. Caller holds t.mu.
// jkt is the request's DPoP key ("" without a proof): a family bound to a
// key redeems only with a proof by that key.
func (t *Tenant) refreshGrantLocked(w http.ResponseWriter, c *Client, p map[string]string, jkt string) {
	t.stats.RefreshGrants++
	now := t.now()
	rt := t.refresh[p["refresh_token"]]
	// Auth0's words and status (403) for every refused refresh token; the token itself is never echoed.
	switch {
	case rt == nil:
		tokenError(w, http.StatusForbidden, "invalid_grant", "Unknown or invalid refresh token.")
		return
	case rt.family.grant.client.ID != c.ID:
		tokenError(w, http.StatusForbidden, "invalid_grant", "The refresh token was issued to another client.")
		return
	case rt.family.grant.jkt != "" && rt.family.grant.jkt != jkt:
		// A copy of a bound token is worth nothing without the key; the family lives on.
		tokenError(w, http.StatusBadRequest, "invalid_grant", "The refresh token is DPoP-bound; the DPoP proof is missing or from another key.")
		return
	case rt.family.current != p["refresh_token"]:
		t.stats.RefreshReuses++
		t.log.Info("refresh token reused; family revoked", "sub", rt.family.grant.user.Sub)
		t.revokeLocked(rt.family)
		tokenError(w, http.StatusForbidden, "invalid_grant", "Unknown or invalid refresh token.")
		return
	case t.expiredLocked(rt.family, now):
		t.revokeLocked(rt.family)
		tokenError(w, http.StatusForbidden, "invalid_grant", "The refresh token has expired.")
		return
	}
	scope := rt.scope
	if s := strings.TrimSpace(p["scope"]); s != "" {
		granted := strings.Fields(rt.scope)
		for _, sc := range strings.Fields(s) {
			if !contains(granted, sc) {
				tokenError(w, http.StatusForbidden, "invalid_scope", "The scope "+sc+" was not granted to this refresh token.")
				return
			}
		}
		scope = strings.Join(strings.Fields(s), " ")
	}
	g := rt.family.grant
	if g.jkt == "" {
		g.jkt = jkt // an unbound family's new access token is bound when the request has a proof
	}
	g.scope, g.nonce = scope, "" // an ID token from a refresh carries no nonce; auth_time and sid stay the login's
	tok, err := t.issueLocked(g, true, contains(strings.Fields(scope), "openid"))
	if err != nil {
		tokenError(w, http.StatusInternalServerError, "server_error", err.Error())
		return
	}
	resp := map[string]any{"access_token": tok.access, "token_type": tokenType(g.jkt), "expires_in": tok.expiresIn, "scope": scope,
		// The new token keeps the family's scope so that a narrowed refresh does not narrow the next one.
		"refresh_token": t.rotateLocked(rt.family, rt.scope, now)}
	if tok.id != "" {
		resp["id_token"] = tok.id
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, resp)
}
