//go:build js && wasm

package jsbridge

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/hack-pad/safejs"
	"github.com/silentauth/silentauth/checksession/plainjson"
)

// ToJS converts a Go value made of map[string]any, []any, string, numbers,
// bool and nil (what encoding/json produces, and what package wire builds
// from results and events) into a JavaScript value. safejs values and *Func pass through; an
// error becomes a JS Error as built by ErrorValue. Other types go through
// encoding/json, so a struct with json tags works too.
func ToJS(v any) (safejs.Value, error) {
	switch v := v.(type) {
	case nil:
		return safejs.Null(), nil
	case safejs.Value:
		return v, nil
	case *Func:
		return v.Value(), nil
	case string, bool, float64, float32, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return safejs.ValueOf(v)
	case error:
		return ErrorValue(v), nil
	case map[string]any:
		// A nil map is null, as in JSON: GetUser's "no user" must read as null.
		if v == nil {
			return safejs.Null(), nil
		}
		// Plain data goes through JSON.parse, which makes every key an own
		// data property: a claim named "__proto__" stays a claim instead of
		// becoming the object's prototype, as obj[k] = v would make it.
		if b, ok := plainjson.Append(nil, v); ok {
			return parseJSON(string(b))
		}
		obj, err := newObject()
		if err != nil {
			return safejs.Value{}, err
		}
		// Sorted keys make the JS object's key order, and so its JSON, stable.
		for _, k := range slices.Sorted(maps.Keys(v)) {
			item := v[k]
			jv, err := ToJS(item)
			if err != nil {
				return safejs.Value{}, fmt.Errorf("%s: %w", k, err)
			}
			if err := defineOwn(obj, k, jv); err != nil {
				return safejs.Value{}, err
			}
		}
		return obj, nil
	case map[string]string:
		m := make(map[string]any, len(v))
		for k, s := range v {
			m[k] = s
		}
		return ToJS(m)
	case []any:
		out, err := construct("Array", len(v))
		if err != nil {
			return safejs.Value{}, err
		}
		for i, item := range v {
			jv, err := ToJS(item)
			if err != nil {
				return safejs.Value{}, fmt.Errorf("[%d]: %w", i, err)
			}
			if err := out.SetIndex(i, jv); err != nil {
				return safejs.Value{}, err
			}
		}
		return out, nil
	case []string:
		items := make([]any, len(v))
		for i, s := range v {
			items[i] = s
		}
		return ToJS(items)
	}
	// Anything else must be JSON-shaped; going through JSON keeps one rule for
	// what crosses the bridge.
	b, err := json.Marshal(v)
	if err != nil {
		return safejs.Value{}, fmt.Errorf("jsbridge: cannot convert %T to JS: %w", v, err)
	}
	return parseJSON(string(b))
}

// FromJS converts a JavaScript value into Go through JSON.stringify and
// encoding/json: objects become map[string]any, arrays []any, numbers
// float64. Functions and undefined properties are dropped, as JSON drops
// them; undefined itself becomes nil.
func FromJS(v safejs.Value) (any, error) {
	if v.IsUndefined() || v.IsNull() {
		return nil, nil
	}
	s, ok, err := stringify(v)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, nil
	}
	var out any
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		return nil, err
	}
	return out, nil
}

// MapFromJS converts a JavaScript options or params object into a Go map.
// undefined and null give a nil map, so optional arguments can be omitted;
// anything that is not a plain object is an error.
func MapFromJS(v safejs.Value) (map[string]any, error) {
	switch v.Type() {
	case safejs.TypeUndefined, safejs.TypeNull:
		return nil, nil
	case safejs.TypeObject:
	default:
		return nil, fmt.Errorf("expected an object, got %s", v.Type())
	}
	if isArray(v) {
		return nil, errors.New("expected an object, got an array")
	}
	out, err := FromJS(v)
	if err != nil {
		return nil, err
	}
	m, _ := out.(map[string]any)
	return m, nil
}

// stringify is JSON.stringify(v). ok is false when JSON has no text for v
// (undefined, a function, a symbol); err is set when it threw (a cycle, a
// BigInt, a throwing toJSON).
func stringify(v safejs.Value) (s string, ok bool, err error) {
	j, err := safejs.Global().Get("JSON")
	if err != nil {
		return "", false, err
	}
	out, err := j.Call("stringify", v)
	if err != nil {
		return "", false, err
	}
	if out.Type() != safejs.TypeString {
		return "", false, nil
	}
	s, err = out.String()
	return s, err == nil, err
}

// defineOwn is Object.defineProperty(obj, key, {value, writable, enumerable,
// configurable}): an own data property whatever the key, where obj[key] = v
// would call a setter ("__proto__", or one a page put on Object.prototype).
func defineOwn(obj safejs.Value, key string, value safejs.Value) error {
	desc, err := newObject()
	if err != nil {
		return err
	}
	for _, kv := range []struct {
		k string
		v any
	}{{"value", value}, {"writable", true}, {"enumerable", true}, {"configurable", true}} {
		if err := desc.Set(kv.k, kv.v); err != nil {
			return err
		}
	}
	ctor, err := safejs.Global().Get("Object")
	if err != nil {
		return err
	}
	_, err = ctor.Call("defineProperty", obj, key, desc)
	return err
}

func parseJSON(s string) (safejs.Value, error) {
	j, err := safejs.Global().Get("JSON")
	if err != nil {
		return safejs.Value{}, err
	}
	return j.Call("parse", s)
}

func newObject() (safejs.Value, error) {
	ctor, err := safejs.Global().Get("Object")
	if err != nil {
		return safejs.Value{}, err
	}
	return ctor.New()
}

func isArray(v safejs.Value) bool {
	arr, err := safejs.Global().Get("Array")
	if err != nil {
		return false
	}
	r, err := arr.Call("isArray", v)
	if err != nil {
		return false
	}
	b, _ := r.Bool()
	return b
}

// construct is new globalThis[name](...args).
func construct(name string, args ...any) (safejs.Value, error) {
	ctor, err := safejs.Global().Get(name)
	if err != nil {
		return safejs.Value{}, err
	}
	return ctor.New(args...)
}
