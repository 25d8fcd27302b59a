package wire

import (
	"strconv"

	"github.com/silentauth/silentauth/checksession"
)

// ParseAuthorizeParams reads a JS params object (decoded from JSON). Known
// names are camelCase; anything else is a pass-through authorize parameter
// whose value must be a string, number or boolean.
func ParseAuthorizeParams(raw map[string]any) (checksession.AuthorizeParams, error) {
	r := reader{raw: raw}
	p := checksession.AuthorizeParams{
		ResponseType: r.str("responseType"),
		Scope:        r.str("scope"),
		Audience:     r.str("audience"),
		Timeout:      r.seconds("timeoutInSeconds"),
	}
	p.Extra = r.passThrough()
	if r.err != nil {
		return checksession.AuthorizeParams{}, r.err
	}
	return p, nil
}

// passThrough returns the keys the reader has not taken, as wire parameters
// (strings, numbers or booleans), after the known ones were read without
// error. Keys are visited in order so that the first error is stable. The
// parameters silentauth owns are refused by the client, for Go callers too.
func (r *reader) passThrough() map[string]string {
	if r.err != nil {
		return nil
	}
	var extra map[string]string
	for _, k := range r.unseen() {
		v, ok := paramString(r.raw[k])
		if !ok {
			r.fail(k, "must be a string, number or boolean")
			return nil
		}
		if extra == nil {
			extra = map[string]string{}
		}
		extra[k] = v
	}
	return extra
}

func paramString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case bool:
		return strconv.FormatBool(x), true
	}
	return "", false
}

// ParseLogoutParams reads a JS logout params object.
func ParseLogoutParams(raw map[string]any) (checksession.LogoutParams, error) {
	r := reader{raw: raw}
	p := checksession.LogoutParams{ReturnTo: r.str("returnTo"), LocalOnly: r.boolean("localOnly")}
	p.Extra = r.passThrough()
	if r.err != nil {
		return checksession.LogoutParams{}, r.err
	}
	return p, nil
}
