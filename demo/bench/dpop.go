package bench

// DPoPPagePath is the page of the DPoP renewal run (DPoP):
// silentauth and auth0-spa-js, both with useDpop, renewing through the
// iframe (code + PKCE + a DPoP proof on the exchange) and through the
// refresh token grant (a proof on the grant).
const DPoPPagePath = "/bench/dpop.html"

// DPoPContenders are the DPoP run's contenders, in table order.
// The two "-bearer-refresh" rows are the same refresh grant without DPoP:
// what DPoP itself adds, for each SDK.
// silentauth's rows run the engine where "auto" puts it, the
// SharedWorker; "silentauth-page-dpop-refresh" is the refresh grant with
// the engine in the page.
var DPoPContenders = []string{"silentauth-dpop-iframe", "auth0-dpop-iframe", "silentauth-dpop-refresh", "auth0-dpop-refresh",
	"silentauth-bearer-refresh", "auth0-bearer-refresh", "silentauth-page-dpop-refresh"}

// dpopPage holds the contenders. Each client of an SDK asks for a scope of
// its own, so that they are separate sessions (tab group, cache, refresh token), as two apps would be.
// The first call of a refresh client has no refresh token yet and goes
// through the iframe; the run's warm-up rounds take it, and the server's
// first use_dpop_nonce with it.
const dpopPage = `<!doctype html><html><head><meta charset="utf-8"><title>silentauth DPoP bench</title>
<script src="/silentauth/silentauth.js"></script>
<script src="` + Auth0SPAPath + `"></script>
</head><body><p>silentauth DPoP bench</p><script>
const TENANT = "TENANT_URL", ORIGIN = location.origin;
const bench = window.bench = {fns: {}};
bench.setup = async function () {
  const sa = (extra) => silentauth.createClient(Object.assign({domain: TENANT, clientId: "spa", redirectUri: ORIGIN,
    autoRenew: false, useDpop: true}, extra));
  const a0 = (extra, scope) => auth0.createAuth0Client(Object.assign({domain: TENANT, clientId: "spa", cacheLocation: "memory",
    authorizeTimeoutInSeconds: 10, useDpop: true, authorizationParams: {redirect_uri: ORIGIN, scope}}, extra));
  const si = await sa({scope: "openid profile email"});
  bench.fns["silentauth-dpop-iframe"] = () => si.checkSession();
  const sr = await sa({scope: "openid profile", useRefreshTokens: true});
  bench.fns["silentauth-dpop-refresh"] = () => sr.checkSession();
  const ai = await a0({}, "openid profile email");
  bench.fns["auth0-dpop-iframe"] = () => ai.getTokenSilently({cacheMode: "off"});
  const ar = await a0({useRefreshTokens: true, useRefreshTokensFallback: true}, "openid profile");
  bench.fns["auth0-dpop-refresh"] = () => ar.getTokenSilently({cacheMode: "off"});
  const sb = await sa({scope: "openid email", useRefreshTokens: true, useDpop: false});
  bench.fns["silentauth-bearer-refresh"] = () => sb.checkSession();
  const sp = await sa({scope: "openid", useRefreshTokens: true, engine: "page"});
  bench.fns["silentauth-page-dpop-refresh"] = () => sp.checkSession();
  const ab = await a0({useRefreshTokens: true, useRefreshTokensFallback: true, useDpop: false}, "openid email");
  bench.fns["auth0-bearer-refresh"] = () => ab.getTokenSilently({cacheMode: "off"});
  return true;
};
bench.frames = () => document.querySelectorAll("iframe").length;
// quiet waits for the last renewal's iframe to go (auth0-spa-js keeps its
// own 2 s), so that no contender's cleanup is timed as the next one's work.
bench.quiet = async function () {
  const until = performance.now() + 3000;
  while (bench.frames() > 0 && performance.now() < until) await new Promise(r => setTimeout(r, 10));
  await new Promise(r => setTimeout(r, 50));
};
// run times sequential renewals, rotating the contenders' order each round.
bench.run = async function (names, rounds, warmup) {
  const samples = {};
  for (const n of names) samples[n] = [];
  for (let i = 0; i < warmup + rounds; i++) {
    for (let j = 0; j < names.length; j++) {
      const name = names[(i + j) % names.length];
      const t0 = performance.now();
      await bench.fns[name]();
      const dt = performance.now() - t0;
      if (i >= warmup) samples[name].push(dt);
      await bench.quiet();
    }
  }
  return samples;
};
</script></body></html>`
