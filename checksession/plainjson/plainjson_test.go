package plainjson

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
)

func claims() map[string]any {
	return map[string]any{
		"iss": "https://tenant.example/", "sub": "auth0|42", "aud": []any{"spa", "api"},
		"exp": float64(1764694800), "iat": float64(1764691200), "email_verified": true,
		"nickname": nil, "name": "Zoë \"Z\" O'Neil\\\n\t\r\x01", "roles": []string{"admin", "dev"},
		"address": map[string]any{"country": "NZ", "zip": map[string]string{"code": "6011"}},
		"n":       42, "i64": int64(math.MinInt64), "u64": uint64(math.MaxUint64), "f32": float32(2),
		"neg": float64(-7), "empty": map[string]any{}, "none": []any{},
	}
}

func manyKeys() map[string]any {
	m := map[string]any{}
	for i := range 300 {
		m[string(rune('a'+i%26))+strings.Repeat("z", i%7)+string(rune('A'+i%23))] = i
	}
	return m
}

func TestAppendWritesWhatEncodingJSONWrites(t *testing.T) {
	for name, v := range map[string]any{
		"claims": claims(), "string": "plain", "nil": nil, "bool": false, "array": []any{1, "two", nil, true},
		"many keys": manyKeys(), "nil map": map[string]any(nil), "nil slice": []any(nil), "nil strings": []string(nil),
	} {
		t.Run(name, func(t *testing.T) {
			got, ok := Append(nil, v)
			want, err := json.Marshal(v)
			if !ok || err != nil {
				t.Fatalf("ok %v, encoding/json error %v", ok, err)
			}
			if string(got) != string(want) {
				t.Errorf("got  %s\nwant %s", got, want)
			}
		})
	}
}

// Where the text may differ from encoding/json's (it escapes <, > and &,
// spells exponents otherwise), JSON readers must still read the same value.
func TestAppendReadsBackAsEncodingJSONsText(t *testing.T) {
	for name, v := range map[string]any{
		"html":           "<script>&</script>",
		"line separator": "a\u2028b\u2029c",
		"invalid utf-8":  "a\xffb\xc3",
		"small float":    1e-7,
		"large float":    1e21,
		"beyond 2^53":    float64(1 << 60),
		"fraction":       123.456,
		"negative zero":  math.Copysign(0, -1),
		"float32":        float32(0.1),
		"emoji key":      map[string]any{"😀": "ok", "\x00": 1},
	} {
		t.Run(name, func(t *testing.T) {
			got, ok := Append(nil, v)
			if !ok {
				t.Fatal("refused plain data")
			}
			want, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			var a, b any
			if err := json.Unmarshal(got, &a); err != nil {
				t.Fatalf("%s is not JSON: %v", got, err)
			}
			if err := json.Unmarshal(want, &b); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(a, b) {
				t.Errorf("%s reads as %#v, encoding/json's %s as %#v", got, a, want, b)
			}
			if name == "negative zero" && !math.Signbit(a.(float64)) {
				t.Errorf("%s lost the sign of zero", got)
			}
		})
	}
}

func TestAppendRefusesWhatIsNotPlainData(t *testing.T) {
	deep := any("leaf")
	for range maxDepth + 1 {
		deep = []any{deep}
	}
	cycle := map[string]any{}
	cycle["self"] = cycle
	for name, v := range map[string]any{
		"NaN": math.NaN(), "infinity": math.Inf(1), "float32 infinity": float32(math.Inf(-1)),
		"nested NaN": map[string]any{"a": []any{math.NaN()}}, "struct": struct{ A int }{1},
		"func": func() {}, "map of ints": map[string]int{"a": 1}, "too deep": deep, "cycle": cycle,
	} {
		t.Run(name, func(t *testing.T) {
			if out, ok := Append(nil, v); ok {
				t.Errorf("accepted as %s", out)
			}
		})
	}
}
