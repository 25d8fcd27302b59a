package checksession

import (
	"net/url"
	"strings"
)

// redacted replaces a secret or personal value in logs and error texts.
const redacted = "[redacted]"

// secretParams are the parameters whose values never go to a log or an error
// text: request-binding secrets (state, nonce, PKCE), credentials (codes and
// tokens) and personal data (hints that name the user).
var secretParams = map[string]bool{
	"state": true, "nonce": true,
	"code": true, "code_challenge": true, "code_verifier": true,
	"access_token": true, "id_token": true, "refresh_token": true, "token": true,
	"id_token_hint": true, "login_hint": true, "logout_hint": true,
	"client_secret": true, "client_assertion": true, "assertion": true,
	"session_state": true, "sid": true,
}

// isSecretParam matches secretParams case-insensitively, and any name that
// ends in _token, _hint, _secret or _verifier.
func isSecretParam(name string) bool {
	n := strings.ToLower(name)
	if secretParams[n] {
		return true
	}
	for _, suffix := range []string{"_token", "_hint", "_secret", "_verifier"} {
		if strings.HasSuffix(n, suffix) {
			return true
		}
	}
	return false
}

// redactURL is raw as it may be logged: scheme, host, path and the names of
// the query and fragment parameters stay, so a log still shows which request
// it was and what it asked for; the values of secret parameters (see
// isSecretParam) become redacted. Credentials in the authority are dropped.
// A URL that does not parse is replaced entirely.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return redacted + " (an unparsable URL)"
	}
	if u.User != nil {
		u.User = nil
	}
	u.RawQuery = redactParams(u.RawQuery)
	if u.Fragment != "" {
		frag := redactParams(u.EscapedFragment())
		u.Fragment, u.RawFragment = "", ""
		return u.String() + "#" + frag
	}
	return u.String()
}

// redactParams redacts an application/x-www-form-urlencoded string, keeping
// the parameters' order and every non-secret value as it was.
func redactParams(raw string) string {
	if raw == "" {
		return ""
	}
	parts := strings.Split(raw, "&")
	for i, p := range parts {
		name, _, hasValue := strings.Cut(p, "=")
		decoded, err := url.QueryUnescape(name)
		if err != nil {
			decoded = name
		}
		if hasValue && isSecretParam(decoded) {
			parts[i] = name + "=" + redacted
		}
	}
	return strings.Join(parts, "&")
}
