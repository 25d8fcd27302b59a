// Package wire reads and writes silentauth's JavaScript shapes: the
// camelCase options, call parameters and results of docs/API.md, as Go's
// checksession types.
package wire

import (
	"math"
	"sort"
	"strings"
	"time"

	"github.com/silentauth/silentauth/checksession"
)

// ParseOptions reads options as the JS createClient receives them (decoded
// from JSON). Unknown options, and known ones of the wrong type, are
// invalid_configuration errors that name the option.
func ParseOptions(raw map[string]any) (checksession.Options, error) {
	var o checksession.Options
	r := reader{raw: raw}
	o.Domain = r.str("domain")
	o.ClientID = r.str("clientId")
	if alias := r.str("clientID"); alias != "" {
		if o.ClientID != "" && o.ClientID != alias {
			r.fail("clientID", "conflicts with clientId")
		}
		o.ClientID = alias
	}
	o.RedirectURI = r.str("redirectUri")
	o.ResponseType = r.str("responseType")
	o.Scope = r.str("scope")
	o.Audience = r.str("audience")
	o.Timeout = r.seconds("timeoutInSeconds")
	// Absent is not zero for these: nil keeps the client's default.
	o.Leeway = optional(&r, r.seconds, "leewayInSeconds")
	o.AutoRenew = optional(&r, r.boolean, "autoRenew")
	o.RenewBeforeExpiry = optional(&r, r.seconds, "renewBeforeExpiryInSeconds")
	o.MinValidity = optional(&r, r.seconds, "minValidityInSeconds")
	o.Issuer = r.str("issuer")
	o.AuthorizationEndpoint = r.str("authorizationEndpoint")
	o.TokenEndpoint = r.str("tokenEndpoint")
	o.JWKSURI = r.str("jwksUri")
	o.EndSessionEndpoint = r.str("endSessionEndpoint")
	o.SessionCheckInterval = r.seconds("sessionCheckIntervalInSeconds")
	o.Debug = r.boolean("debug")
	o.APIOrigins = r.strList("apiOrigins")
	o.UseRefreshTokens = r.boolean("useRefreshTokens")
	hasFallback := r.has("useRefreshTokensFallback")
	o.RefreshTokensNoFallback = hasFallback && !r.boolean("useRefreshTokensFallback")
	o.RefreshTokenStorage = r.str("refreshTokenStorage")
	o.UseDPoP = r.boolean("useDpop")
	r.str("wasmUrl")             // the loader's option; known here so it is not "unknown"
	r.str("engine")              // the loader's option too: where the engine runs
	r.boolean("assumeSignedOut") // the loader's too: it answers checkSession before Go is asked
	if r.err != nil {
		return checksession.Options{}, r.err
	}
	if unknown := r.unseen(); len(unknown) > 0 {
		return checksession.Options{}, configError(unknown[0], "is not an option"+r.suggest(unknown[0])+
			`; every option is listed in the README, section "Options, errors and events"`)
	}
	return o, nil
}

// suggest is "; did you mean "x"?" for the known option nearest to a
// mistyped one, or "" when none is near.
func (r *reader) suggest(unknown string) string {
	best, bestD := "", -1
	for known := range r.seen {
		if r.has(known) {
			continue // given too: the page meant something else
		}
		d := editDistance(strings.ToLower(unknown), strings.ToLower(known))
		if bestD < 0 || d < bestD || (d == bestD && known < best) {
			best, bestD = known, d
		}
	}
	// A third of the name may be wrong, as in a dropped letter, a wrong
	// case or snake_case for camelCase.
	if best == "" || bestD > max(2, len(unknown)/3) {
		return ""
	}
	return `; did you mean "` + best + `"?`
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// reader pulls typed values out of a decoded JSON object, remembering the
// first error and which keys it has seen.
type reader struct {
	raw  map[string]any
	seen map[string]bool
	err  error
}

func (r *reader) has(key string) bool {
	v, ok := r.raw[key]
	return ok && v != nil
}

// optional reads key with read, or gives nil when it is absent.
func optional[T any](r *reader, read func(string) T, key string) *T {
	if !r.has(key) {
		return nil
	}
	v := read(key)
	return &v
}

func (r *reader) get(key string) (any, bool) {
	if r.seen == nil {
		r.seen = map[string]bool{}
	}
	r.seen[key] = true
	v, ok := r.raw[key]
	if !ok || v == nil {
		return nil, false
	}
	return v, true
}

func (r *reader) fail(key, problem string) {
	if r.err == nil {
		r.err = configError(key, problem)
	}
}

func (r *reader) str(key string) string {
	v, ok := r.get(key)
	if !ok {
		return ""
	}
	s, isStr := v.(string)
	if !isStr {
		r.fail(key, "must be a string")
	}
	return s
}

// strList reads an array of strings; nil when absent.
func (r *reader) strList(key string) []string {
	v, ok := r.get(key)
	if !ok {
		return nil
	}
	items, isList := v.([]any)
	if !isList {
		r.fail(key, "must be an array of strings")
		return nil
	}
	out := make([]string, 0, len(items))
	for _, item := range items {
		s, isStr := item.(string)
		if !isStr {
			r.fail(key, "must be an array of strings")
			return nil
		}
		out = append(out, s)
	}
	return out
}

func (r *reader) boolean(key string) bool {
	v, ok := r.get(key)
	if !ok {
		return false
	}
	b, isBool := v.(bool)
	if !isBool {
		r.fail(key, "must be true or false")
	}
	return b
}

// seconds reads a number of seconds (fractions allowed) as a Duration.
func (r *reader) seconds(key string) time.Duration {
	v, ok := r.get(key)
	if !ok {
		return 0
	}
	f, isNum := v.(float64)
	if !isNum || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > 1e7 {
		r.fail(key, "must be a number of seconds between 0 and 10000000")
		return 0
	}
	return time.Duration(f * float64(time.Second))
}

// unseen lists the keys never read, sorted so that errors name a stable one.
func (r *reader) unseen() []string {
	var keys []string
	for k := range r.raw {
		if !r.seen[k] {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

// configError is an invalid_configuration naming the JS option at fault.
func configError(option, problem string) *checksession.Error {
	return &checksession.Error{Code: string(checksession.ErrInvalidConfiguration), Description: option + ": " + problem}
}

// jsNames are the JS names of the Go fields that checksession's option
// validation names.
var jsNames = map[string]string{
	"Options.Domain":                "domain",
	"Options.ClientID":              "clientId",
	"Options.RedirectURI":           "redirectUri",
	"Options.ResponseType":          "responseType",
	"Options.Timeout":               "timeoutInSeconds",
	"Options.Leeway":                "leewayInSeconds",
	"Options.RenewBeforeExpiry":     "renewBeforeExpiryInSeconds",
	"Options.MinValidity":           "minValidityInSeconds",
	"Options.UseRefreshTokens":      "useRefreshTokens",
	"Options.RefreshTokenStorage":   "refreshTokenStorage",
	"Options.UseDPoP":               "useDpop",
	"Options.SessionCheckInterval":  "sessionCheckIntervalInSeconds",
	"Options.Issuer":                "issuer",
	"Options.AuthorizationEndpoint": "authorizationEndpoint",
	"Options.TokenEndpoint":         "tokenEndpoint",
	"Options.JWKSURI":               "jwksUri",
	"Options.EndSessionEndpoint":    "endSessionEndpoint",
	"Options.APIOrigins":            "apiOrigins",
}

// JSError renames the Go option an invalid_configuration error starts with
// ("Options.Timeout: ...") to the JS option ("timeoutInSeconds: ..."), so
// that a page is told what it wrote. Other errors are returned as they are.
func JSError(err error) error {
	e, ok := err.(*checksession.Error)
	if !ok || e.Code != string(checksession.ErrInvalidConfiguration) {
		return err
	}
	field, rest, found := strings.Cut(e.Description, ": ")
	js, known := jsNames[field]
	if !found || !known {
		return err
	}
	renamed := *e
	renamed.Description = js + ": " + rest
	return &renamed
}
