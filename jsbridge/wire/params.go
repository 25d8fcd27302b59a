package wire

import (
	"strconv"

	"github.com/silentauth/silentauth/checksession"
)

// ParseAuthorizeParams reads a JS params object (decoded from JSON). Known
// names are camelCase; anything else is a pass-through authorize parameter
// whose value must be a string, number or boolean.
func ParseAuthorizeParams(raw map[string]any) (checksession.AuthorizeParams, error) {
	var p checksession.AuthorizeParams
	r := reader{raw: raw}
	p.ResponseType = r.str("responseType")
	p.Scope = r.str("scope")
	p.Audience = r.str("audience")
	p.Timeout = r.seconds("timeoutInSeconds")
	if r.err != nil {
		return checksession.AuthorizeParams{}, r.err
	}
	extra, err := r.passThrough()
	if err != nil {
		return checksession.AuthorizeParams{}, err
	}
	p.Extra = extra
	return p, nil
}

// passThrough returns the keys the reader has not taken, as wire parameters
// (strings, numbers or booleans). Keys are visited in order so that the
// first error is stable. The parameters silentauth owns are refused by the
// client, for Go callers too.
func (r *reader) passThrough() (map[string]string, error) {
	var extra map[string]string
	for _, k := range r.unseen() {
		v, ok := paramString(r.raw[k])
		if !ok {
			return nil, configError(k, "must be a string, number or boolean")
		}
		if extra == nil {
			extra = map[string]string{}
		}
		extra[k] = v
	}
	return extra, nil
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
	var p checksession.LogoutParams
	r := reader{raw: raw}
	p.ReturnTo = r.str("returnTo")
	p.LocalOnly = r.boolean("localOnly")
	if r.err != nil {
		return checksession.LogoutParams{}, r.err
	}
	extra, err := r.passThrough()
	if err != nil {
		return checksession.LogoutParams{}, err
	}
	p.Extra = extra
	return p, nil
}
