package checksession

import (
	"sort"
	"strconv"
	"strings"
	"time"
)

// AuthorizeParams are what one call may change: the scope, audience,
// response type and timeout, and any other authorize parameter, which is
// passed through (login_hint, organization, connection, max_age, ...).
type AuthorizeParams struct {
	ResponseType string
	Scope        string
	Audience     string
	// Timeout bounds the call; zero means Options.Timeout, or for
	// LoginWithPopup 5 minutes (a person typing a password needs longer).
	Timeout time.Duration
	// Extra holds the pass-through authorize parameters by their wire names.
	Extra map[string]string
}

// reservedParams are set by silentauth itself: letting a caller override
// them would break the flow or its security.
var reservedParams = map[string]string{
	"client_id":             "is the client's clientId",
	"redirect_uri":          "is the client's redirectUri",
	"response_type":         "use responseType",
	"response_mode":         "is web_message for silent requests and chosen by the response type for redirects",
	"state":                 "is generated for every request",
	"nonce":                 "is generated for every request",
	"code_challenge":        "is generated for every request (PKCE)",
	"code_challenge_method": "is always S256",
	"scope":                 "use scope",
	"audience":              "use audience",
	"dpop_jkt":              "is the DPoP key's thumbprint (useDpop)",
}

// LogoutParams are logout's options.
type LogoutParams struct {
	// ReturnTo is where the server sends the browser after logging out.
	ReturnTo string
	// LocalOnly forgets the tokens without navigating to the server.
	LocalOnly bool
	Extra     map[string]string
}

// request is one fully resolved authorization request's parameters.
type request struct {
	responseType string
	scope        string
	audience     string
	timeout      time.Duration
	extra        map[string]string
	maxAge       time.Duration
	hasMaxAge    bool
	// dpopJKT is the DPoP key's thumbprint for dpop_jkt (useDpop); set
	// just before the authorization request is built, not part of its key.
	dpopJKT string
}

// resolve merges call parameters over the client's settings.
func (s *settings) resolve(p AuthorizeParams) (request, error) {
	for _, k := range sortedKeys(p.Extra) {
		if why, ok := reservedParams[k]; ok {
			return request{}, configError(k, "cannot be set per call: it "+why)
		}
	}
	r := request{responseType: s.ResponseType, scope: s.Scope, audience: s.Audience, timeout: s.timeout, extra: p.Extra}
	if p.ResponseType != "" {
		r.responseType = normalizeResponseType(p.ResponseType)
		if !responseTypes[r.responseType] {
			return request{}, configError("responseType", `must be "code", "id_token token", "id_token" or "token", got "`+p.ResponseType+`"`)
		}
	}
	if p.Scope != "" {
		r.scope = p.Scope
	}
	if p.Audience != "" {
		r.audience = p.Audience
	}
	if p.Timeout > 0 {
		r.timeout = p.Timeout
	}
	if ma, ok := p.Extra["max_age"]; ok {
		n, err := strconv.ParseInt(ma, 10, 64)
		if err != nil || n < 0 {
			return request{}, configError("max_age", "must be a whole number of seconds, got "+quote(ma))
		}
		r.maxAge, r.hasMaxAge = time.Duration(n)*time.Second, true
	}
	if strings.Contains(r.responseType, "id_token") && !hasScope(r.scope, "openid") {
		return request{}, configError("scope", `must include "openid" when an ID token is requested`)
	}
	return r, nil
}

func hasScope(scope, want string) bool {
	for _, s := range strings.Fields(scope) {
		if s == want {
			return true
		}
	}
	return false
}

// key identifies requests that may share one iframe and one cached result.
func (r request) key() string {
	var b strings.Builder
	b.WriteString(r.responseType + "\x00" + r.scope + "\x00" + r.audience)
	for _, k := range sortedKeys(r.extra) {
		b.WriteString("\x00" + k + "=" + r.extra[k])
	}
	return b.String()
}

// sortedKeys is m's keys in order, so that the first error is stable.
func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// cacheKey identifies the tokens a request produces: the same audience and
// scope are the same access token, whatever the other parameters were.
func (r request) cacheKey() string { return r.audience + "\x00" + r.scope }
