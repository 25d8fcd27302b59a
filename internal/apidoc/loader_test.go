package apidoc

import (
	"regexp"
	"testing"
)

// loaderOptions is the loader's LOADER_OPTIONS (wasm/loader/prestart.js):
// the options it checks before Go has read them.
var loaderOptions = regexp.MustCompile(`(?s)const LOADER_OPTIONS = \{(.*?)\};`)
var loaderOptionName = regexp.MustCompile(`([A-Za-z]+): "`)

// TestLoaderKnowsEveryOption: the loader starts the head start, and leaves
// the runtime unloaded for a visitor nobody signed in as, only for options
// it has checked by createClient's rules. An option it does not know
// turns both off (safe, but slow): a new option belongs in LOADER_OPTIONS
// with the rule Go applies to it.
func TestLoaderKnowsEveryOption(t *testing.T) {
	m := loaderOptions.FindStringSubmatch(read(t, "wasm/loader/prestart.js"))
	if m == nil {
		t.Fatal("wasm/loader/prestart.js has no LOADER_OPTIONS")
	}
	known := map[string]bool{}
	for _, n := range loaderOptionName.FindAllStringSubmatch(m[1], -1) {
		known[n[1]] = true
	}
	dts, err := ParseDTS(read(t, "wasm/loader/silentauth.d.ts"))
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range dts.Sorted(Options) {
		if !known[o] {
			t.Errorf("the loader's LOADER_OPTIONS (wasm/loader/prestart.js) lacks the option %q: add it with the check createClient makes", o)
		}
	}
	if len(known) < 10 {
		t.Fatalf("read only %d options from LOADER_OPTIONS: %v", len(known), known)
	}
}
