package bench

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/silentauth/silentauth/demo/devtenant"
	"github.com/silentauth/silentauth/demo/internal/chrome"
	"github.com/silentauth/silentauth/demo/internal/e2eenv"
	"github.com/silentauth/silentauth/demo/internal/repo"
)

// anonymousVisits is the number of page loads per contender.
const anonymousVisits = 15

// anonymousPage answers the question every page asks first, "is anyone
// signed in?", for a visitor who never signed in: silentauth's checkSession
// (which, with no sign-in recorded, answers without the runtime), the same
// with assumeSignedOut: false (the runtime and a silent request), and
// auth0-spa-js's createAuth0Client and checkSession (which skip the request
// without their "is authenticated" cookie).
const anonymousPage = `<!doctype html><html><head><meta charset="utf-8"><title>anonymous</title>
<script>
const SDK = new URLSearchParams(location.search).get("sdk");
document.write('<script src="' + (SDK === "auth0" ? "/npm/auth0-spa-js.js" : "/sdk/silentauth.js") + '"><\/script>');
</script>
<script>
window.first = (async () => {
  const t0 = performance.now();
  let answer;
  if (SDK === "auth0") {
    const client = await auth0.createAuth0Client({domain: "TENANT_URL", clientId: "spa", cacheLocation: "memory",
      authorizeTimeoutInSeconds: 10, authorizationParams: {redirect_uri: location.origin}});
    await client.checkSession();
    answer = (await client.isAuthenticated()) ? "signed in" : "signed out";
  } else {
    const client = await silentauth.createClient({domain: "TENANT_URL", clientId: "spa", autoRenew: false,
      assumeSignedOut: SDK !== "silentauth-ask"});
    try {
      await client.checkSession();
      answer = "signed in";
    } catch (e) {
      answer = e.error === "login_required" ? "signed out" : e.error;
    }
  }
  const done = performance.now();
  const res = performance.getEntriesByType("resource");
  return {answer, script: t0, answered: done,
    wasm: res.some((r) => r.name.endsWith(".wasm")),
    tenant: res.filter((r) => r.name.startsWith("TENANT_URL")).length + document.querySelectorAll("iframe").length,
    bytes: res.reduce((n, r) => n + (r.transferSize || r.encodedBodySize || 0), 0)};
})();
</script></head><body><p>anonymous</p></body></html>`

type anonymousSample struct {
	Answer   string  `json:"answer"`
	Script   float64 `json:"script"`
	Answered float64 `json:"answered"`
	Wasm     bool    `json:"wasm"`
	Tenant   int     `json:"tenant"`
	Bytes    float64 `json:"bytes"`
}

// Anonymous is the "anonymous visitor" row of make bench:
// navigation start to the first answer for a visitor who never signed in,
// silentauth beside auth0-spa-js, on this machine's loopback (no emulated
// network), each page load a fresh page with the HTTP cache warm.
func Anonymous(t *Scope, o Options) {
	dist := e2eenv.DistDir(t)
	root := repo.MustRoot(t)
	tl, tenantURL := e2eenv.Listen(t, "localhost")
	al, appURL := e2eenv.Listen(t, "localhost")
	tenant, err := devtenant.New(devtenant.Config{Issuer: tenantURL, AppOrigins: []string{appURL}})
	if err != nil {
		t.Fatal(err)
	}
	e2eenv.Serve(t, tl, tenant)
	mux := http.NewServeMux()
	mux.HandleFunc("/anonymous.html", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		fmt.Fprint(w, strings.ReplaceAll(anonymousPage, "TENANT_URL", tenantURL))
	})
	mux.Handle("/sdk/", http.StripPrefix("/sdk/", http.FileServer(http.Dir(dist))))
	mux.HandleFunc("/npm/auth0-spa-js.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		http.ServeFile(w, r, filepath.Join(root, "node_modules/@auth0/auth0-spa-js/dist/auth0-spa-js.production.js"))
	})
	e2eenv.Serve(t, al, mux)
	browser := chrome.Start(t)
	tab := browser.NewTab(t)

	sdks := []string{"silentauth", "auth0", "silentauth-ask"}
	samples := map[string][]anonymousSample{}
	for visit := 0; visit <= anonymousVisits; visit++ {
		for _, sdk := range sdks {
			if err := tab.Navigate(appURL + "/anonymous.html?sdk=" + sdk); err != nil {
				t.Fatal(err)
			}
			var s anonymousSample
			tab.MustEval("window.first", &s)
			if s.Answer != "signed out" {
				t.Fatalf("%s: answered %q, want signed out", sdk, s.Answer)
			}
			if visit > 0 { // the first visit fills the HTTP cache
				samples[sdk] = append(samples[sdk], s)
			}
		}
	}
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("\nanonymous visitor: navigation start to the first answer (signed out), %d warm page loads each\n", anonymousVisits)
	p("%s, %s, %s\n", time.Now().Format(time.RFC3339), machine(), chromiumVersion(t, tab))
	p("%-16s %14s %14s %16s %8s %14s\n", "sdk", "answer med", "answer p95", "after script med", "wasm", "tenant asked")
	med := map[string]float64{}
	for _, sdk := range sdks {
		var answered, after []float64
		wasm, asked := 0, 0
		for _, s := range samples[sdk] {
			answered = append(answered, s.Answered)
			after = append(after, s.Answered-s.Script)
			if s.Wasm {
				wasm++
			}
			if s.Tenant > 0 {
				asked++
			}
		}
		d := Summarise(answered)
		med[sdk] = d.Median
		p("%-16s %11.1f ms %11.1f ms %13.1f ms %4d/%-3d %10d/%d\n", sdk, d.Median, d.P95, Summarise(after).Median,
			wasm, len(samples[sdk]), asked, len(samples[sdk]))
	}
	if med["auth0"] > 0 {
		p("  silentauth/auth0-spa-js %.2f×; silentauth-ask (assumeSignedOut: false)/auth0-spa-js %.2f×\n",
			med["silentauth"]/med["auth0"], med["silentauth-ask"]/med["auth0"])
	}
	fmt.Print(b.String())
	out := filepath.Join(dist, "bench")
	if err := os.MkdirAll(out, 0o755); err == nil {
		raw, _ := json.MarshalIndent(samples, "", "  ")
		_ = os.WriteFile(filepath.Join(out, "anonymous.json"), raw, 0o644)
		_ = os.WriteFile(filepath.Join(out, "anonymous.txt"), []byte(b.String()), 0o644)
	}
}
