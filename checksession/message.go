package checksession

import (
	"crypto/subtle"
	"encoding/json"
	"strconv"
	"time"

	"github.com/silentauth/silentauth/checksession/platform"
)

// authResponse is an authorization response as it arrives, from a
// web_message or from a redirect's query or fragment.
type authResponse struct {
	Code             string
	State            string
	Iss              string
	AccessToken      string
	IDToken          string
	TokenType        string
	Scope            string
	ExpiresIn        int64
	HasExpiresIn     bool
	Error            string
	ErrorDescription string
	// SentAt is when the token request that brought this answer left,
	// where that was before the engine asked (the head start's early
	// exchange); zero otherwise.
	SentAt time.Time
	// RefreshToken is read from token endpoint answers only (tokenRequest),
	// never from an authorization response. It must never reach an
	// AuthResult, an event, a tab message or a log line.
	RefreshToken string
}

// acceptMessage applies the acceptance rules in order and returns the
// response, or why the message is not ours. A message that is not ours is
// ignored, never an error: any page may post to any window.
func acceptMessage(m platform.Message, serverOrigin, state string) (*authResponse, string) {
	if m.Origin != serverOrigin {
		return nil, "origin " + quote(m.Origin) + " is not the authorization server's " + quote(serverOrigin)
	}
	if !m.FromFrame {
		return nil, "source is not this request's iframe"
	}
	if m.Data == nil {
		return nil, "data unreadable: " + m.DataProblem
	}
	if len(m.Data) > platform.MaxMessageBytes {
		return nil, "data larger than " + strconv.Itoa(platform.MaxMessageBytes) + " bytes"
	}
	var envelope struct {
		Type     any             `json:"type"`
		Response json.RawMessage `json:"response"`
	}
	if err := json.Unmarshal(m.Data, &envelope); err != nil {
		return nil, "data is not an object"
	}
	if envelope.Type != "authorization_response" {
		return nil, "type is not \"authorization_response\""
	}
	var fields map[string]any
	if err := json.Unmarshal(envelope.Response, &fields); err != nil || fields == nil {
		return nil, "response is missing or not an object"
	}
	resp, problem := parseResponseFields(func(k string) (any, bool) { v, ok := fields[k]; return v, ok })
	if problem != "" {
		return nil, problem
	}
	if !sameSecret(resp.State, state) {
		return nil, "state is not one this client sent"
	}
	return resp, ""
}

// parseResponseFields reads the response parameters, each of which must be
// a string when present (expires_in may also be a number, as most servers
// send it).
func parseResponseFields(get func(string) (any, bool)) (*authResponse, string) {
	r := &authResponse{}
	strs := []struct {
		name string
		dst  *string
	}{
		{"code", &r.Code}, {"state", &r.State}, {"iss", &r.Iss},
		{"access_token", &r.AccessToken}, {"id_token", &r.IDToken},
		{"token_type", &r.TokenType}, {"scope", &r.Scope},
		{"error", &r.Error}, {"error_description", &r.ErrorDescription},
	}
	for _, f := range strs {
		v, ok := get(f.name)
		if !ok || v == nil {
			continue
		}
		s, isStr := v.(string)
		if !isStr {
			return nil, f.name + " is not a string"
		}
		*f.dst = s
	}
	if v, ok := get("expires_in"); ok && v != nil {
		n, ok := parseExpiresIn(v)
		if !ok {
			return nil, "expires_in is not a whole number of seconds"
		}
		r.ExpiresIn, r.HasExpiresIn = n, true
	}
	if r.State == "" {
		return nil, "response has no state"
	}
	return r, ""
}

func parseExpiresIn(v any) (int64, bool) {
	switch x := v.(type) {
	case float64:
		if x < 0 || x > 1e9 || x != float64(int64(x)) {
			return 0, false
		}
		return int64(x), true
	case string:
		n, err := strconv.ParseInt(x, 10, 64)
		if err != nil || n < 0 || n > 1e9 {
			return 0, false
		}
		return n, true
	}
	return 0, false
}

// sameSecret compares secrets in constant time.
func sameSecret(a, b string) bool {
	return len(a) == len(b) && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
