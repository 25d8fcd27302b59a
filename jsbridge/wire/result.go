package wire

import (
	"time"

	"github.com/silentauth/silentauth/checksession"
)

// Result is r with API.md's JS names; expiresAt is epoch ms. Fields the
// response type does not produce are absent.
func Result(r *checksession.AuthResult) map[string]any {
	o := map[string]any{}
	if r.AccessToken != "" {
		o["accessToken"] = r.AccessToken
	}
	if r.IDToken != "" {
		o["idToken"] = r.IDToken
		o["idTokenPayload"] = r.IDTokenPayload
	}
	if r.ExpiresIn > 0 {
		o["expiresIn"] = r.ExpiresIn
	}
	if !r.ExpiresAt.IsZero() {
		o["expiresAt"] = r.ExpiresAt.UnixMilli()
	}
	if r.TokenType != "" {
		o["tokenType"] = r.TokenType
	}
	if r.Scope != "" {
		o["scope"] = r.Scope
	}
	if r.State != "" {
		o["state"] = r.State
	}
	return o
}

// RetryAfter is err.retryAfter in JS: the whole seconds until the next
// attempt while a renewal backoff runs; ok is false when none runs, and
// the property is then absent.
func RetryAfter(e *checksession.Error) (seconds int64, ok bool) {
	if e == nil || e.RetryAfter <= 0 {
		return 0, false
	}
	return int64((e.RetryAfter + time.Second - 1) / time.Second), true
}
