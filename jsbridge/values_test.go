//go:build js && wasm

package jsbridge_test

import (
	"math"
	"reflect"
	"testing"

	"github.com/hack-pad/safejs"
	"github.com/silentauth/silentauth/jsbridge"
)

func TestToJSRoundTripsThroughFromJS(t *testing.T) {
	cases := []struct {
		name string
		in   any
		want any // what FromJS gives back: JSON's types
	}{
		{"string", "a", "a"},
		{"float", 1.5, 1.5},
		{"int becomes a number", 7, 7.0},
		{"int64 epoch milliseconds stay exact", int64(1767225600123), 1767225600123.0},
		{"bool", true, true},
		{"nil is null", nil, nil},
		{"a nil map is null, not {}", map[string]any(nil), nil},
		{"nested object and array", map[string]any{
			"idTokenPayload": map[string]any{"sub": "u1", "aud": []any{"spa", "api"}, "email_verified": false},
			"expiresIn":      3600,
			"empty":          map[string]any{},
			"none":           nil,
		}, map[string]any{
			"idTokenPayload": map[string]any{"sub": "u1", "aud": []any{"spa", "api"}, "email_verified": false},
			"expiresIn":      3600.0,
			"empty":          map[string]any{},
			"none":           nil,
		}},
		{"string slice", []string{"a", "b"}, []any{"a", "b"}},
		{"a struct goes through its JSON", struct {
			A string `json:"a"`
		}{"x"}, map[string]any{"a": "x"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v, err := jsbridge.ToJS(c.in)
			if err != nil {
				t.Fatal(err)
			}
			got, err := jsbridge.FromJS(v)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("round trip = %#v, want %#v", got, c.want)
			}
		})
	}
}

func TestToJSRefusesWhatJSONCannotCarry(t *testing.T) {
	if _, err := jsbridge.ToJS(map[string]any{"ch": make(chan int)}); err == nil {
		t.Fatal("ToJS accepted a channel")
	}
}

func TestMapFromJS(t *testing.T) {
	cases := []struct {
		name    string
		expr    string
		want    map[string]any
		wantErr bool
	}{
		{name: "undefined means no options", expr: `undefined`, want: nil},
		{name: "null means no options", expr: `null`, want: nil},
		{name: "functions and undefined properties are dropped",
			expr: `({domain: "login.example.com", timeoutInSeconds: 5, debug: true, cb: () => 1, gone: undefined})`,
			want: map[string]any{"domain": "login.example.com", "timeoutInSeconds": 5.0, "debug": true}},
		{name: "an array is not an options object", expr: `[1, 2]`, wantErr: true},
		{name: "a string is not an options object", expr: `"domain"`, wantErr: true},
		{name: "a cyclic object is an error, not a panic", expr: `(() => { const o = {}; o.o = o; return o })()`, wantErr: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := jsbridge.MapFromJS(js(t, c.expr))
			if (err != nil) != c.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, c.wantErr)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("MapFromJS = %#v, want %#v", got, c.want)
			}
		})
	}
}

func TestToJSMakesEveryKeyAnOwnDataProperty(t *testing.T) {
	fn, err := jsbridge.NewFunc(func(safejs.Value, []safejs.Value) any { return nil })
	if err != nil {
		t.Fatal(err)
	}
	defer fn.Release()
	cases := []struct {
		name string
		in   map[string]any
	}{
		{"plain claims", map[string]any{"sub": "u1", "__proto__": map[string]any{"role": "admin"}}},
		{"claims next to a JS function", map[string]any{"cb": fn, "__proto__": map[string]any{"role": "admin"}}},
		{"claims with a value JSON cannot carry", map[string]any{"n": math.NaN(), "__proto__": map[string]any{"role": "admin"}}},
	}
	// A page that put a setter on Object.prototype must not see our keys through it.
	js(t, `Object.defineProperty(Object.prototype, "trap", {configurable: true, set(v) { globalThis.__trapped = v }}); true`)
	defer js(t, `delete Object.prototype.trap; delete globalThis.__trapped; true`)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.in["trap"] = "x"
			v, err := jsbridge.ToJS(map[string]any{"idTokenPayload": c.in})
			if err != nil {
				t.Fatal(err)
			}
			if err := safejs.Global().Set("__payloadUnderTest", v); err != nil {
				t.Fatal(err)
			}
			checks := map[string]string{
				"prototype is Object.prototype":  `Object.getPrototypeOf(__payloadUnderTest.idTokenPayload) === Object.prototype`,
				"__proto__ is an own key":        `Object.keys(__payloadUnderTest.idTokenPayload).includes("__proto__")`,
				"no inherited role":              `__payloadUnderTest.idTokenPayload.role === undefined`,
				"the claim keeps its value":      `Object.getOwnPropertyDescriptor(__payloadUnderTest.idTokenPayload, "__proto__").value.role === "admin"`,
				"a prototype setter is not used": `Object.hasOwn(__payloadUnderTest.idTokenPayload, "trap") && globalThis.__trapped === undefined`,
			}
			for what, expr := range checks {
				if ok, _ := js(t, expr).Bool(); !ok {
					t.Errorf("%s: %s is false", what, expr)
				}
			}
		})
	}
}
