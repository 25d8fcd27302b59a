package apidoc

import (
	"strings"
	"testing"
)

// readmeSection is the README section that lists the options and the
// error codes, and that the unknown-option error points to.
const readmeSection = "Options, errors and events"

// missingFrom lists the names that text does not mention as `name`.
func missingFrom(text string, names []string) []string {
	var out []string
	for _, n := range names {
		if !strings.Contains(text, "`"+n+"`") {
			out = append(out, n)
		}
	}
	return out
}

// TestReadmeListsEveryOptionAndErrorCode: the README, the one document the
// package carries, names every option the declarations have in the section
// the unknown-option error points to, and every error code appears in the
// README or in docs/API.md.
func TestReadmeListsEveryOptionAndErrorCode(t *testing.T) {
	readme := read(t, "README.md")
	sec, err := section(sections(readme), readmeSection)
	if err != nil {
		t.Fatalf("README.md: %v", err)
	}
	if wire := read(t, "jsbridge/wire/options.go"); !strings.Contains(wire, `section "`+readmeSection+`"`) {
		t.Errorf("the unknown-option error (jsbridge/wire/options.go) should point to the README section %q", readmeSection)
	}
	dts, err := ParseDTS(read(t, "wasm/loader/silentauth.d.ts"))
	if err != nil {
		t.Fatal(err)
	}
	if m := missingFrom(sec, dts.Sorted(Options)); len(m) > 0 {
		t.Errorf("README section %q does not list the options %v", readmeSection, m)
	}
	codes, _ := goCodes()
	if m := missingFrom(readme+read(t, "docs/API.md"), codes); len(m) > 0 {
		t.Errorf("neither README.md nor docs/API.md names the error codes %v", m)
	}
}

func TestMissingFromCanFail(t *testing.T) {
	got := missingFrom("takes `domain` and `clientId`", []string{"domain", "clientId", "scope"})
	if len(got) != 1 || got[0] != "scope" {
		t.Fatalf("got %v, want [scope]", got)
	}
}
