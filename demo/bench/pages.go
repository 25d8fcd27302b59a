// Package bench is what make bench measures: silentauth against baselines
// in headless Chromium on the dev tenant. Each benchmark is a function the
// bench program (demo/cmd/bench) runs under a Scope; this file serves the
// pages they drive. Benchmarks print figures; they never assert timings.
package bench

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
)

// Paths on the app origin.
const (
	PagePath   = "/bench/page.html"  // latency, memory and profile runs
	ReadyPath  = "/bench/ready.html" // time to ready; ?sdk=silentauth|auth0
	VerifyPath = "/bench/verify.html"
	// Auth0SPAPath is auth0-spa-js's production bundle from node_modules.
	Auth0SPAPath = "/bench/npm/@auth0/auth0-spa-js/dist/auth0-spa-js.production.js"
)

// Files are the files the pages load besides the SDK, which the app serves.
type Files struct {
	NodeModules string    // <repo>/node_modules
	WasmExecJS  string    // $GOROOT/lib/wasm/wasm_exec.js
	VerifyWasm  string    // demo/bench/verifywasm, built for this run
	SymbolWasm  string    // ./wasm built without -s -w, for profiles; may be ""
	CDN         []CDNFile // the first-token page's files; may be empty
}

// Handler serves the bench pages and files under /bench/ and passes
// everything else to app.
func Handler(app http.Handler, tenantURL string, f Files) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", app)
	page := func(body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Cache-Control", "no-store")
			fmt.Fprint(w, strings.ReplaceAll(body, "TENANT_URL", tenantURL))
		}
	}
	mux.HandleFunc(PagePath, page(latencyPage))
	mux.HandleFunc(ReadyPath, page(readyPage))
	mux.HandleFunc(VerifyPath, page(verifyPage))
	mux.HandleFunc(TabPath, page(tabPage))
	if len(f.CDN) > 0 {
		mux.HandleFunc(FirstTokenPath, firstTokenHandler(tenantURL, f.CDN))
		mux.Handle(CDNPrefix, CDNHandler(f.CDN))
	}
	file := func(path, typ string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", typ)
			w.Header().Set("Cache-Control", "no-cache")
			http.ServeFile(w, r, path)
		}
	}
	mux.HandleFunc("/bench/wasm_exec.js", file(f.WasmExecJS, "text/javascript"))
	mux.HandleFunc("/bench/verify.wasm", file(f.VerifyWasm, "application/wasm"))
	if f.SymbolWasm != "" {
		mux.HandleFunc("/bench/silentauth-symbols.wasm", file(f.SymbolWasm, "application/wasm"))
	}
	// Only the two packages the pages use, not all of node_modules.
	for _, dir := range []string{"@auth0/auth0-spa-js/dist/", "jose/dist/webapi/"} {
		prefix := "/bench/npm/" + dir
		root := filepath.Join(f.NodeModules, filepath.FromSlash(dir))
		fs := http.StripPrefix(prefix, http.FileServer(http.Dir(root)))
		mux.Handle(prefix, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, ".js") {
				w.Header().Set("Content-Type", "text/javascript")
			}
			w.Header().Set("Cache-Control", "no-cache")
			fs.ServeHTTP(w, r)
		}))
	}
	return mux
}

// floorJS is the hand-written floor: the same iframe and web_message round
// trip silentauth makes, with the origin, source and state checks every SDK
// needs, and no validation of what comes back.
const floorJS = `
const TENANT = "TENANT_URL", ORIGIN = location.origin;
function b64u(bytes) {
  return btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}
function rand(n) { const a = new Uint8Array(n); crypto.getRandomValues(a); return b64u(a); }
function floorSilent(params) {
  return new Promise((resolve, reject) => {
    const state = rand(16);
    const u = new URL(TENANT + "/authorize");
    const q = Object.assign({}, params, {client_id: "spa", redirect_uri: ORIGIN, response_mode: "web_message", prompt: "none", state});
    for (const k in q) u.searchParams.set(k, q[k]);
    const f = document.createElement("iframe");
    f.style.display = "none";
    const timer = setTimeout(() => { done(); reject(new Error("timeout")); }, 10000);
    function done() { clearTimeout(timer); window.removeEventListener("message", onMessage); f.remove(); }
    function onMessage(e) {
      if (e.origin !== TENANT || e.source !== f.contentWindow || !e.data || e.data.type !== "authorization_response") return;
      const r = e.data.response;
      if (!r || r.state !== state) return;
      done();
      if (r.error) reject(new Error(r.error + ": " + r.error_description)); else resolve(r);
    }
    window.addEventListener("message", onMessage);
    document.body.appendChild(f);
    f.src = u.href;
  });
}
// floorImplicit: id_token token in the iframe, nothing checked.
function floorImplicit() {
  return floorSilent({response_type: "id_token token", scope: "openid profile email", nonce: rand(16)});
}
// floorCode: code + PKCE in the iframe, then the token request, nothing checked.
async function floorCode() {
  const verifier = rand(32);
  const challenge = b64u(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
  const r = await floorSilent({response_type: "code", scope: "openid profile email", code_challenge: challenge, code_challenge_method: "S256"});
  const res = await fetch(TENANT + "/oauth/token", {method: "POST", body: new URLSearchParams({
    grant_type: "authorization_code", client_id: "spa", code: r.code, code_verifier: verifier, redirect_uri: ORIGIN})});
  if (!res.ok) throw new Error("token endpoint: HTTP " + res.status);
  return res.json();
}
`

// latencyPage holds every contender, so that one run can interleave them.
// bench.setup(names) creates the clients it is asked for; bench.run(names,
// rounds, warmup) times sequential renewals, rotating the order each round.
const latencyPage = `<!doctype html><html><head><meta charset="utf-8"><title>silentauth bench</title>
<script src="/silentauth/silentauth.js"></script>
<script src="` + Auth0SPAPath + `"></script>
</head><body><p>silentauth bench</p><script>` + floorJS + `
const bench = window.bench = {fns: {}, errors: 0};
bench.setup = async function (names, wasmUrl) {
  const sa = (responseType) => silentauth.createClient(Object.assign({domain: TENANT, clientId: "spa", redirectUri: ORIGIN,
    responseType, autoRenew: false}, wasmUrl ? {wasmUrl} : {}));
  for (const name of names) {
    switch (name) {
    case "floor-implicit": bench.fns[name] = floorImplicit; break;
    case "floor-code": bench.fns[name] = floorCode; break;
    case "silentauth-implicit": { const c = await sa("id_token token"); bench.fns[name] = () => c.checkSession(); break; }
    case "silentauth-code": { const c = await sa("code"); bench.fns[name] = () => c.checkSession(); break; }
    case "auth0-spa-js": {
      const c = await auth0.createAuth0Client({domain: TENANT, clientId: "spa", cacheLocation: "memory",
        authorizeTimeoutInSeconds: 10, authorizationParams: {redirect_uri: ORIGIN}});
      bench.fns[name] = () => c.getTokenSilently({cacheMode: "off"});
      break;
    }
    default: throw new Error("unknown contender " + name);
    }
  }
  return true;
};
// Phase marks of the renewal being timed, seen from the page the way any
// SDK's work shows: the iframe appears, the server's message arrives, the
// token request goes out and its response comes back. Each mark is the
// first of its kind after the renewal started.
bench.marks = null;
function mark(name) {
  if (bench.marks && !(name in bench.marks)) bench.marks[name] = performance.now() - bench.marks.start;
}
new MutationObserver(records => {
  for (const r of records) for (const n of r.addedNodes) if (n.nodeName === "IFRAME") mark("frame");
}).observe(document.documentElement, {childList: true, subtree: true});
addEventListener("message", e => {
  if (e.data && e.data.type === "authorization_response") mark("message");
}, true);
const pageFetch = window.fetch;
window.fetch = function (input, init) {
  const token = String(input && input.url || input).includes("/oauth/token");
  if (token) mark("token_request");
  const p = pageFetch.apply(this, arguments);
  if (token) p.then(() => mark("token_response"), () => {});
  return p;
};
bench.run = async function (names, rounds, warmup) {
  const samples = {}, phases = {};
  for (const n of names) { samples[n] = []; phases[n] = []; }
  for (let i = 0; i < warmup + rounds; i++) {
    for (let j = 0; j < names.length; j++) {
      const name = names[(i + j) % names.length];
      const t0 = performance.now();
      bench.marks = {start: t0};
      await bench.fns[name]();
      const dt = performance.now() - t0;
      const m = bench.marks;
      bench.marks = null;
      // The browser's own timing of the token request: how much of
      // token_request → token_response was the network and the server.
      const tok = performance.getEntriesByType("resource").filter(e => e.name.includes("/oauth/token") && e.startTime >= m.start).pop();
      if (tok) m.token_network = tok.responseEnd - tok.startTime;
      performance.clearResourceTimings();
      delete m.start;
      m.resolved = dt;
      if (i >= warmup) { samples[name].push(dt); phases[name].push(m); }
      await bench.quiet();
    }
  }
  return {samples, phases};
};
// quiet waits until the last renewal's iframe is gone (auth0-spa-js keeps
// its own 2 s, silentauth removes its own after the answer) and a little
// more, so that no contender's cleanup is timed as the next one's work.
bench.quiet = async function () {
  const until = performance.now() + 3000;
  while (bench.frames() > 0 && performance.now() < until) await new Promise(r => setTimeout(r, 10));
  await new Promise(r => setTimeout(r, 50));
};
// loop renews n times with one contender, for memory and profiles.
bench.loop = async function (name, n) {
  for (let i = 0; i < n; i++) await bench.fns[name]();
  return true;
};
bench.frames = () => document.querySelectorAll("iframe").length;
</script></body></html>`

// readyPage measures from the first script to a usable client, then to the
// first token. auth0-spa-js's "is authenticated" cookie is dropped first:
// with it, createAuth0Client renews before it resolves.
const readyPage = `<!doctype html><html><head><meta charset="utf-8"><title>silentauth bench: ready</title>
<script>
window.t0 = performance.now();
window.sdk = new URLSearchParams(location.search).get("sdk");
for (const c of ["auth0.spa.is.authenticated", "_legacy_auth0.spa.is.authenticated"]) document.cookie = c + "=; max-age=0; path=/";
document.write('<script src="' + (sdk === "auth0" ? "` + Auth0SPAPath + `" : "/silentauth/silentauth.js") + '"><\/script>');
</script>
<script>
const TENANT = "TENANT_URL", ORIGIN = location.origin;
window.ready = (async () => {
  const tScript = performance.now();
  let client, getToken;
  if (sdk === "auth0") {
    client = await auth0.createAuth0Client({domain: TENANT, clientId: "spa", cacheLocation: "memory",
      authorizeTimeoutInSeconds: 10, authorizationParams: {redirect_uri: ORIGIN}});
    getToken = () => client.getTokenSilently();
  } else {
    client = await silentauth.createClient({domain: TENANT, clientId: "spa", redirectUri: ORIGIN, autoRenew: false});
    getToken = () => client.getTokenSilently();
  }
  const tReady = performance.now();
  await getToken();
  const tToken = performance.now();
  return {script: tScript - t0, ready: tReady - t0, token: tToken - t0, navToReady: tReady};
})();
</script></head><body><p>ready</p></body></html>`

// verifyPage runs checksession's Verifier (verify.wasm) and jose on the same token.
const verifyPage = `<!doctype html><html><head><meta charset="utf-8"><title>silentauth bench: verify</title>
<script src="/bench/wasm_exec.js"></script>
<script type="module">
import {jwtVerify, createLocalJWKSet} from "/bench/npm/jose/dist/webapi/index.js";
const go = new Go();
const {instance} = await WebAssembly.instantiateStreaming(fetch("/bench/verify.wasm"), go.importObject);
go.run(instance);
const bench = window.bench = {};
// go: n calls of verify(token) from JS. goLoop: one call, n Verify in Go.
// jose: n awaited jwtVerify calls with a local JWKS on WebCrypto.
bench.run = async function (token, jwks, issuer, now, n, warmup) {
  const out = {};
  let err = benchVerifier.setup(JSON.stringify(jwks), issuer, "spa", now);
  for (let i = 0; i < warmup; i++) err = err || benchVerifier.verify(token);
  if (err) throw new Error("silentauth verify: " + err);
  let t = performance.now();
  for (let i = 0; i < n; i++) { const e = benchVerifier.verify(token); if (e) throw new Error(e); }
  out.go = performance.now() - t;
  t = performance.now();
  err = benchVerifier.verifyN(token, n);
  if (err) throw new Error(err);
  out.goLoop = performance.now() - t;
  const keys = createLocalJWKSet(jwks);
  const opts = {issuer, audience: "spa", algorithms: ["RS256"], currentDate: new Date(now * 1000)};
  for (let i = 0; i < warmup; i++) await jwtVerify(token, keys, opts);
  t = performance.now();
  for (let i = 0; i < n; i++) await jwtVerify(token, keys, opts);
  out.jose = performance.now() - t;
  return out;
};
window.benchReady = true;
</script></head><body><p>verify</p></body></html>`
