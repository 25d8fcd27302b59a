// Package wire reads and writes silentauth's JavaScript shapes: the
// camelCase options, call parameters and results of docs/API.md, as Go's
// checksession types.
package wire

import (
	"errors"
	"math"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/silentauth/silentauth/checksession"
)

// kind is how a JS option's value is read.
type kind uint8

const (
	text     kind = iota // a string
	seconds              // a number of seconds, as a time.Duration
	flag                 // true or false
	notFlag              // true or false, stored negated (useRefreshTokensFallback)
	textList             // an array of strings
)

// option is one createClient option: its JS name, the checksession.Options
// field it sets (its Go name; "" for the loader's own options, which Go
// only accepts), and how its value is read.
type option struct {
	js, goName string
	kind       kind
}

// options is every createClient option, in the order they are read (the
// first error found is the one reported). It is the one table of option
// names: ParseOptions sets each field by its Go name, and JSError names a
// field by its JS name. A JS name that sets a field another one already
// set is an alias (auth0.js's clientID), refused when the two differ.
var options = []option{
	{"domain", "Domain", text},
	{"clientId", "ClientID", text},
	{"clientID", "ClientID", text},
	{"redirectUri", "RedirectURI", text},
	{"responseType", "ResponseType", text},
	{"scope", "Scope", text},
	{"audience", "Audience", text},
	{"timeoutInSeconds", "Timeout", seconds},
	{"leewayInSeconds", "Leeway", seconds},
	{"autoRenew", "AutoRenew", flag},
	{"renewBeforeExpiryInSeconds", "RenewBeforeExpiry", seconds},
	{"minValidityInSeconds", "MinValidity", seconds},
	{"issuer", "Issuer", text},
	{"authorizationEndpoint", "AuthorizationEndpoint", text},
	{"tokenEndpoint", "TokenEndpoint", text},
	{"jwksUri", "JWKSURI", text},
	{"endSessionEndpoint", "EndSessionEndpoint", text},
	{"sessionCheckIntervalInSeconds", "SessionCheckInterval", seconds},
	{"debug", "Debug", flag},
	{"apiOrigins", "APIOrigins", textList},
	{"useRefreshTokens", "UseRefreshTokens", flag},
	{"useRefreshTokensFallback", "RefreshTokensNoFallback", notFlag},
	{"refreshTokenStorage", "RefreshTokenStorage", text},
	{"useDpop", "UseDPoP", flag},
	{"wasmUrl", "", text},         // where the loader fetches the engine
	{"engine", "", text},          // where the loader runs it
	{"assumeSignedOut", "", flag}, // the loader answers checkSession before Go is asked
}

// ParseOptions reads options as the JS createClient receives them (decoded
// from JSON). Unknown options, and known ones of the wrong type, are
// invalid_configuration errors that name the option.
func ParseOptions(raw map[string]any) (checksession.Options, error) {
	var o checksession.Options
	r := reader{raw: raw}
	fields := reflect.ValueOf(&o).Elem()
	for _, opt := range options {
		v, ok := opt.read(&r)
		if !ok || opt.goName == "" {
			continue
		}
		f := fields.FieldByName(opt.goName)
		if f.Kind() == reflect.Pointer {
			// Absent is not zero for these: nil keeps the client's default.
			p := reflect.New(v.Type())
			p.Elem().Set(v)
			v = p
		} else if v.IsZero() {
			continue // what the zero Options already say
		}
		if !f.IsZero() { // set by an alias already (clientId, clientID)
			if f.Kind() != reflect.String || f.String() != v.String() {
				r.fail(opt.js, "conflicts with "+jsName(opt.goName))
			}
			continue
		}
		f.Set(v)
	}
	if r.err != nil {
		return checksession.Options{}, r.err
	}
	if unknown := r.unseen(); len(unknown) > 0 {
		return checksession.Options{}, configError(unknown[0], "is not an option"+r.suggest(unknown[0])+
			`; every option is listed in the README, section "Options, errors and events"`)
	}
	return o, nil
}

// read takes opt's value from r; ok is false when it is absent or of the
// wrong type (r then holds the error).
func (opt option) read(r *reader) (v reflect.Value, ok bool) {
	if !r.has(opt.js) {
		r.get(opt.js) // seen, so that a null is not "not an option"
		return reflect.Value{}, false
	}
	var x any
	switch opt.kind {
	case text:
		x = r.str(opt.js)
	case seconds:
		x = r.seconds(opt.js)
	case flag:
		x = r.boolean(opt.js)
	case notFlag:
		x = !r.boolean(opt.js)
	case textList:
		x = r.strList(opt.js)
	}
	if r.err != nil {
		return reflect.Value{}, false
	}
	return reflect.ValueOf(x), true
}

// jsName is the JS name of the Options field goName, or "" when no option
// sets it.
func jsName(goName string) string {
	if goName == "" {
		return ""
	}
	for _, opt := range options {
		if opt.goName == goName {
			return opt.js
		}
	}
	return ""
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

// JSError is err as a JS caller should read it: an error about an Options
// field (checksession.Error.Option) names the JS option ("timeoutInSeconds:
// ...") where Go names the field ("Options.Timeout: ..."), so that a page
// is told what it wrote. Other errors are returned as they are.
func JSError(err error) error {
	var e *checksession.Error
	if !errors.As(err, &e) {
		return err
	}
	field, problem := e.Option()
	js := jsName(field)
	if js == "" {
		return err
	}
	return &checksession.Error{Code: e.Code, Description: js + ": " + problem, State: e.State, RetryAfter: e.RetryAfter}
}
