// Package plainjson writes plain Go data (what encoding/json decodes into
// an any, plus strings and integers) as JSON text without reflection.
//
// silentauth runs in the browser as wasm, where V8 compiles each function on
// its first call: encoding/json's reflection, key sorting and float
// formatting cost tens of milliseconds of compiling on the path to the first
// token. What silentauth writes (results and events for JavaScript, messages
// to the other tabs) is plain data, and this is a few small functions.
package plainjson

import (
	"math"
	"strconv"
	"unicode/utf8"
)

// maxDepth bounds how deeply Append nests: ID token claims are a few
// levels at most, and a cycle (a map holding itself) must end somewhere.
const maxDepth = 64

// Append appends v to dst as JSON text when v is plain data: nil, strings,
// booleans, finite numbers, map[string]any, map[string]string, []any and
// []string, nested at most maxDepth deep. ok is false for anything else
// (NaN, a struct, a func), and dst is then unusable. Keys are sorted, as
// encoding/json sorts them, so that the text (and the key order of the
// object JSON.parse builds from it) is stable.
func Append(dst []byte, v any) (out []byte, ok bool) {
	return appendJSON(dst, v, 0)
}

// AppendString appends s as a JSON string.
func AppendString(dst []byte, s string) []byte { return appendJSONString(dst, s) }

func appendJSON(dst []byte, v any, depth int) ([]byte, bool) {
	if depth > maxDepth {
		return dst, false
	}
	switch v := v.(type) {
	case nil:
		return append(dst, "null"...), true
	case string:
		return appendJSONString(dst, v), true
	case bool:
		return strconv.AppendBool(dst, v), true
	case float64:
		return appendJSONFloat(dst, v, 64)
	case float32:
		return appendJSONFloat(dst, float64(v), 32)
	case int:
		return strconv.AppendInt(dst, int64(v), 10), true
	case int8:
		return strconv.AppendInt(dst, int64(v), 10), true
	case int16:
		return strconv.AppendInt(dst, int64(v), 10), true
	case int32:
		return strconv.AppendInt(dst, int64(v), 10), true
	case int64:
		return strconv.AppendInt(dst, v, 10), true
	case uint:
		return strconv.AppendUint(dst, uint64(v), 10), true
	case uint8:
		return strconv.AppendUint(dst, uint64(v), 10), true
	case uint16:
		return strconv.AppendUint(dst, uint64(v), 10), true
	case uint32:
		return strconv.AppendUint(dst, uint64(v), 10), true
	case uint64:
		return strconv.AppendUint(dst, v, 10), true
	case map[string]any:
		if v == nil {
			return append(dst, "null"...), true
		}
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sortKeys(keys)
		dst = append(dst, '{')
		for i, k := range keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(appendJSONString(dst, k), ':')
			var ok bool
			if dst, ok = appendJSON(dst, v[k], depth+1); !ok {
				return dst, false
			}
		}
		return append(dst, '}'), true
	case map[string]string:
		if v == nil {
			return append(dst, "null"...), true
		}
		m := make(map[string]any, len(v))
		for k, s := range v {
			m[k] = s
		}
		return appendJSON(dst, m, depth)
	case []any:
		if v == nil {
			return append(dst, "null"...), true
		}
		dst = append(dst, '[')
		for i, item := range v {
			if i > 0 {
				dst = append(dst, ',')
			}
			var ok bool
			if dst, ok = appendJSON(dst, item, depth+1); !ok {
				return dst, false
			}
		}
		return append(dst, ']'), true
	case []string:
		if v == nil {
			return append(dst, "null"...), true
		}
		dst = append(dst, '[')
		for i, s := range v {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, s)
		}
		return append(dst, ']'), true
	}
	return dst, false
}

// sortKeys sorts an object's keys by insertion. An object here has tens of
// keys (ID token claims), and slices.Sort's pattern-defeating quicksort is
// large: compiling it on its first call cost 10 ms in the browser, more
// than sorting every object silentauth ever writes.
func sortKeys(keys []string) {
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
}

// appendJSONFloat writes f as a JSON number: integers (epoch seconds, the
// common case in claims) in plain digits without the shortest-float
// machinery, anything else in strconv's shortest form, which JSON accepts.
func appendJSONFloat(dst []byte, f float64, bits int) ([]byte, bool) {
	switch {
	case math.IsNaN(f) || math.IsInf(f, 0):
		return dst, false
	case f == 0 && math.Signbit(f):
		return append(dst, "-0"...), true
	case f == math.Trunc(f) && math.Abs(f) < 1<<53:
		return strconv.AppendInt(dst, int64(f), 10), true
	}
	return strconv.AppendFloat(dst, f, 'g', -1, bits), true
}

// appendJSONString writes s as a JSON string. Invalid UTF-8 becomes U+FFFD,
// as encoding/json writes it.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c == '\n':
				dst = append(dst, '\\', 'n')
			case c == '\r':
				dst = append(dst, '\\', 'r')
			case c == '\t':
				dst = append(dst, '\\', 't')
			case c < 0x20:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, "\ufffd"...)
		} else {
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}
