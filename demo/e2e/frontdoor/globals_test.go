package frontdoor_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/silentauth/silentauth/demo/internal/e2eenv"
)

// TestLoadersLeaveNoGlobals: Go's wasm_exec.js defines fs, process, path and
// Go where they are missing; the loaders keep them in their own scope, before
// and after the Go runtime has started, and a page's own process is left as
// it was.
func TestLoadersLeaveNoGlobals(t *testing.T) {
	t.Parallel()
	e := start(t, "localhost", 0)
	client := fmt.Sprintf(`{domain: %q, clientId: "spa"}`, e.TenantURL)
	cases := []struct {
		name, html, api string
	}{
		{"the script tag", `<script src="/silentauth/silentauth.js"></script>`, `window.silentauth`},
		{"the ES module", `<script type="module">import * as s from "/silentauth/silentauth.mjs"; window.sdk = s;</script>`, `window.sdk`},
		{"the script tag beside a page's own process", `<script>window.process = {env: {mine: 1}};</script><script src="/silentauth/silentauth.js"></script>`, `window.silentauth`},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := fmt.Sprintf("/globals%d", i)
			e.pages.Serve(path, "", tc.html)
			tab := e2eenv.OpenPage(t, e.Browser, e.AppURL+path, tc.api+" && "+tc.api+".createClient", 10*time.Second)
			leaked := `["fs", "path", "Go"].filter((k) => k in globalThis).concat(
				"process" in globalThis && !(process.env && process.env.mine === 1) ? ["process"] : [])`
			var before, after []string
			tab.MustEval(leaked, &before)
			tab.MustEval(`(async () => { const c = await `+tc.api+`.createClient(`+client+`); c.destroy(); return `+leaked+` })()`, &after)
			if len(before) != 0 || len(after) != 0 {
				t.Errorf("globals left on the page: %v once loaded, %v once Go ran", before, after)
			}
		})
	}
}
