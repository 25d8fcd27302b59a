package checksession

import "time"

// AuthResult is a successful answer. Fields the response type does not
// produce are left empty.
type AuthResult struct {
	AccessToken    string
	IDToken        string
	IDTokenPayload map[string]any
	// ExpiresIn is expires_in as the server sent it, in seconds (0: not sent).
	ExpiresIn int64
	// ExpiresAt is when the access token (or, without one, the ID token)
	// expires on the local clock: receipt time plus its lifetime.
	ExpiresAt time.Time
	// TokenType is "Bearer", or "DPoP" for a token bound to the browser's
	// key (Options.UseDPoP): the scheme of the Authorization header.
	TokenType string
	Scope     string
	State     string

	// received is when the result arrived, for the renewal lead.
	received time.Time
	// viaRefresh: a refresh-token grant brought it (the tab group drops
	// stand-by copies of the redeemed token when it hears so).
	viaRefresh bool
}

// renewAt is when a result should be replaced: renewBefore ahead of its
// expiry, but never earlier than halfway through its life, so that a token
// shorter-lived than the lead is not renewed over and over.
func (r *AuthResult) renewAt(renewBefore time.Duration) time.Time {
	if r.ExpiresAt.IsZero() {
		return time.Time{}
	}
	if !r.received.IsZero() {
		renewBefore = min(renewBefore, r.ExpiresAt.Sub(r.received)/2)
	}
	return r.ExpiresAt.Add(-renewBefore)
}
