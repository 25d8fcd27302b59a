package bench

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"path"
	"strings"
)

// FirstTokenPath is the first-token page:
// ?sdk=silentauth|silentauth-worker|auth0|baseline|floor&cdn=<prefix>. Its
// scripts and the wasm come from CDNPrefix, served as a CDN would; the
// SharedWorker's script too, under WorkerScript, the name the loader asks
// for next to its own script (a worker's script must be same-origin: the
// CDN is the app's origin here).
const (
	FirstTokenPath = "/bench/first.html"
	CDNPrefix      = "/cdn/"
	WorkerScript   = "silentauth-worker.js"
)

// CDNFile is one file served under CDNPrefix with a content-hashed name,
// compressed ahead of time as a CDN stores it.
type CDNFile struct {
	Name   string // content-hashed, e.g. silentauth.0123abcd.wasm
	Type   string
	Raw    []byte
	Gzip   []byte
	Brotli []byte
}

// HashedName is name with the first 8 bytes of content's SHA-256 before its extension.
func HashedName(name string, content []byte) string {
	sum := sha256.Sum256(content)
	ext := path.Ext(name)
	return strings.TrimSuffix(name, ext) + "." + hex.EncodeToString(sum[:8]) + ext
}

// CDNHandler serves files under CDNPrefix<run>/<name>: the run segment lets a
// cold load ask for names no cache has seen, and a warm load reuse them. The
// headers are a CDN's: the stored encoding the browser accepts (brotli, else
// gzip), the right type for streaming compilation, a year of immutable
// caching, and a strong validator.
func CDNHandler(files []CDNFile) http.Handler {
	byName := map[string]CDNFile{}
	for _, f := range files {
		byName[f.Name] = f
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, ok := byName[path.Base(r.URL.Path)]
		if !ok {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Type", f.Type)
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
		h.Set("Vary", "Accept-Encoding")
		h.Set("ETag", `"`+strings.TrimSuffix(f.Name, path.Ext(f.Name))+`"`)
		body := f.Raw
		switch ae := r.Header.Get("Accept-Encoding"); {
		case strings.Contains(ae, "br") && f.Brotli != nil:
			h.Set("Content-Encoding", "br")
			body = f.Brotli
		case strings.Contains(ae, "gzip") && f.Gzip != nil:
			h.Set("Content-Encoding", "gzip")
			body = f.Gzip
		}
		h.Set("Content-Length", fmt.Sprint(len(body)))
		_, _ = w.Write(body)
	})
}

// pagePlaceholders are the names firstTokenPage uses for the CDN's files:
// each stands for the file whose name has its prefix and suffix.
var pagePlaceholders = []struct{ name, prefix, suffix string }{
	{"SA_JS", "silentauth.", ".js"},
	{"SA_WASM", "silentauth.", ".wasm"},
	{"AUTH0_JS", "auth0-spa-js.", ""},
	{"BL_JS", "baseline.", ".js"},
	{"BL_WASM", "baseline.", ".wasm"},
	{"FLOOR_WASM", "floor.", ".wasm"},
	{"GOEXEC_JS", "wasm_exec.", ""},
}

// firstTokenHandler serves the page; the page's URL names the CDN run.
func firstTokenHandler(tenantURL string, files []CDNFile) http.HandlerFunc {
	names := map[string]string{}
	for _, f := range files {
		for _, p := range pagePlaceholders {
			if strings.HasPrefix(f.Name, p.prefix) && strings.HasSuffix(f.Name, p.suffix) {
				names[p.name] = f.Name
				break
			}
		}
	}
	return func(w http.ResponseWriter, r *http.Request) {
		body := strings.ReplaceAll(firstTokenPage, "TENANT_URL", tenantURL)
		for k, v := range names {
			body = strings.ReplaceAll(body, k, v)
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		fmt.Fprint(w, body)
	}
}

// firstTokenPage measures from navigation start (performance.now() is
// relative to it) to the first validated token: createClient + checkSession
// for silentauth, createAuth0Client + getTokenSilently for auth0-spa-js.
// auth0-spa-js's "is authenticated" cookie is dropped first so that its
// renewal happens in getTokenSilently, as silentauth's does in checkSession;
// either way the page makes one silent request.
//
// sdk=floor is the lower bound of any first token validated in Go: the
// dependency floor (safejs and golang-jwt, bench/sizes/floor) loaded as
// silentauth.wasm is, its runtime started, and one ID token verified, one
// the test fetched beforehand (&t=, its JWK in &k=), so no request at all
// stands between the start and the token.
const firstTokenPage = `<!doctype html><html><head><meta charset="utf-8"><title>silentauth bench: first token</title>
<script>
window.sdk = new URLSearchParams(location.search).get("sdk");
window.cdn = new URLSearchParams(location.search).get("cdn");
for (const c of ["auth0.spa.is.authenticated", "_legacy_auth0.spa.is.authenticated"]) document.cookie = c + "=; max-age=0; path=/";
document.write('<script src="' + cdn + ({auth0: "AUTH0_JS", baseline: "BL_JS", floor: "GOEXEC_JS"}[sdk] || "SA_JS") + '"><\/script>');
</script>
<script>
// phases: when the first token's steps happened, ms from navigation start,
// from Resource Timing (the iframe's /authorize is its navigation) and the
// long tasks that held the main thread (wasm compilation, the Go runtime's
// start, code compiled on first call).
window.longtasks = [];
new PerformanceObserver((l) => { for (const e of l.getEntries()) longtasks.push(e); }).observe({type: "longtask"});
window.phases = (script, ready, token) => {
  const out = {script, ready, token};
  const steps = {wasm: /\.wasm$/, discovery: /openid-configuration$/, authorize: /\/authorize$/, token: /\/oauth\/token$/};
  for (const e of performance.getEntriesByType("resource")) {
    for (const [k, re] of Object.entries(steps)) {
      if (re.test(e.name.split("?")[0]) && out[k + "_start"] === undefined) {
        out[k + "_start"] = e.startTime;
        out[k + "_end"] = e.responseEnd;
      }
    }
  }
  for (const m of performance.getEntriesByType("mark")) {
    if (m.name.startsWith("silentauth:")) out[m.name.slice(11)] = m.startTime;
  }
  out.main_blocked = longtasks.filter((e) => e.startTime < token).reduce((a, e) => a + e.duration, 0);
  return out;
};
window.first = (async () => {
  const TENANT = "TENANT_URL", ORIGIN = location.origin;
  const script = performance.now();
  let client, token;
  if (sdk === "auth0") {
    client = await auth0.createAuth0Client({domain: TENANT, clientId: "spa", cacheLocation: "memory",
      authorizeTimeoutInSeconds: 10, authorizationParams: {redirect_uri: ORIGIN}});
    const ready = performance.now();
    token = await client.getTokenSilently();
    const done = performance.now();
    return {script, ready, token: done, ok: typeof token === "string" && token.length > 0, phases: phases(script, ready, done)};
  }
  if (sdk === "floor") {
    const q = new URLSearchParams(location.search), go = new Go();
    const {instance} = await WebAssembly.instantiateStreaming(fetch(cdn + "FLOOR_WASM"), go.importObject);
    performance.mark("silentauth:compiled");
    go.run(instance); // runs main until it waits, with floorVerify set
    performance.mark("silentauth:started");
    const ready = performance.now();
    const ok = floorVerify(q.get("t"), JSON.parse(q.get("k")));
    const done = performance.now();
    // The long tasks are reported after the task that ran them.
    await new Promise((r) => setTimeout(r, 50));
    return {script, ready, token: done, ok, phases: phases(script, ready, done)};
  }
  // assumeSignedOut: false: the visitor is signed in, but a cold visit
  // starts with the page's storage cleared, signed-in marker included (a
  // baseline built before the option does not know it, nor need it).
  client = await silentauth.createClient({domain: TENANT, clientId: "spa", redirectUri: ORIGIN, autoRenew: false,
    ...(sdk === "baseline" ? {} : {assumeSignedOut: false}), ...(sdk === "silentauth-worker" ? {engine: "shared-worker"} : sdk === "silentauth" ? {engine: "page"} : {}),
    wasmUrl: cdn + (sdk === "baseline" ? "BL_WASM" : "SA_WASM")});
  const ready = performance.now();
  const r = await client.checkSession();
  const done = performance.now();
  return {script, ready, token: done, ok: !!(r && r.accessToken), phases: phases(script, ready, done)};
})();
</script></head><body><p>first token</p></body></html>`
