package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMinifyKeepsTheNoticeAndWhatThePageReads(t *testing.T) {
	cases := []struct {
		name, src string
		want      []string // in the output
		gone      []string // not in it
		err       bool
	}{
		{"the license notice stays, other comments go",
			"/*! Copyright notice */\n// a line comment\n/* a block comment */\nconst answer = 42;\nglobalThis.answer = answer;\n",
			[]string{"/*! Copyright notice */", "globalThis.answer"}, []string{"a line comment", "a block comment", "\n"}, false},
		{"exported and global names, properties and strings stay",
			"export function createClient(options) { const longLocalName = options.domain; return { domain: longLocalName, message: \"the option domain\" }; }\n",
			[]string{"export", "createClient", ".domain", "domain:", `"the option domain"`}, []string{"longLocalName"}, false},
		{"private fields (renamed within their class) and optional chaining survive",
			"class A { #x = 1; get x() { return this.#x; } }\nglobalThis.y = new A()?.x ?? 0;\n",
			[]string{"#", "get x()", "?.x", "??"}, nil, false},
		{"a syntax error fails the build", "const = ;\n", nil, nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			in, out := filepath.Join(dir, "in.js"), filepath.Join(dir, "out.js")
			if err := os.WriteFile(in, []byte(tc.src), 0o644); err != nil {
				t.Fatal(err)
			}
			err := run(in, out)
			if tc.err {
				if err == nil {
					t.Fatal("no error for a syntax error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			got := string(b)
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("the output lost %q:\n%s", w, got)
				}
			}
			for _, g := range tc.gone {
				if strings.Contains(got, g) {
					t.Errorf("the output still has %q:\n%s", g, got)
				}
			}
			if len(got) >= len(tc.src) {
				t.Errorf("the output (%d bytes) is not smaller than the input (%d)", len(got), len(tc.src))
			}
		})
	}
}
