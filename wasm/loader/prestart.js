/* silentauth loader: the head start. While the Go runtime downloads,
 * compiles and boots, everything that needs only the options starts here:
 * the discovery fetch, the JWKS fetch, and the first silent request's
 * iframe. Go adopts what it would have done itself (jsbridge/prestart.go)
 * and validates all of it; a message that arrives before Go is ready waits
 * in a buffer and is then checked like any other. Whatever Go does not
 * adopt is removed, at the latest after the request's timeout. */

// Options that change the first request in ways the loader does not build:
// with any of them, Go makes every request itself.
// (useDpop: the request's dpop_jkt needs the key, which Go loads.)
const PRESTART_OFF = ["issuer", "authorizationEndpoint", "tokenEndpoint", "jwksUri", "useRefreshTokens", "useDpop"];
// The iframe's messages that arrive before Go is ready: older ones are dropped.
const PRESTART_BUFFER = 32;
const PRESTART_TIMEOUT_S = 60;
// The discovery fields the head start needs, kept from the last page load so
// that the next one opens its iframe without waiting for discovery's round
// trip. Public metadata only; Go still fetches discovery and adopts the
// iframe only if its URL is the one Go builds from what it fetched.
const DISCOVERY_CACHE_PREFIX = "silentauth.discovery:";
const DISCOVERY_CACHE_MAX_AGE_MS = 24 * 3600 * 1000;

function prestartB64u(bytes) {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

// 32 random bytes, as Go's randomString: state, nonce and PKCE verifier.
function prestartRandom() {
  const b = new Uint8Array(32);
  crypto.getRandomValues(b);
  return prestartB64u(b);
}

function prestartLoopback(host) {
  return host === "localhost" || host === "127.0.0.1" || host === "[::1]";
}

function storage() {
  try {
    return globalThis.localStorage || null;
  } catch {
    return null; // storage disabled for this page
  }
}

// cachedDiscovery is the last load's discovery subset for domain, or null.
function cachedDiscovery(domain) {
  try {
    const ls = storage();
    const d = ls && JSON.parse(ls.getItem(DISCOVERY_CACHE_PREFIX + domain) || "null");
    if (!d || typeof d.at !== "number" || Date.now() - d.at > DISCOVERY_CACHE_MAX_AGE_MS || d.at > Date.now()) return null;
    return d;
  } catch {
    return null;
  }
}

function cacheDiscovery(domain, d) {
  try {
    const ls = storage();
    if (!ls) return;
    const keep = { issuer: d.issuer, authorization_endpoint: d.authorization_endpoint, jwks_uri: d.jwks_uri, at: Date.now() };
    if (Array.isArray(d.response_modes_supported)) keep.response_modes_supported = d.response_modes_supported;
    ls.setItem(DISCOVERY_CACHE_PREFIX + domain, JSON.stringify(keep));
  } catch {
    // Full or disabled storage: the next load waits for discovery.
  }
}

// --- options the loader can vouch for ---------------------------------------
// The head start and the lazy start act on options before Go has read them,
// so they act only on options the loader is sure Go accepts: a client that
// createClient will refuse must start nothing (no request, no iframe).
// Sure means a subset of Go's rules (jsbridge/wire, checksession/options.go):
// anything else, including an option this list does not know yet, only
// makes the loader wait for Go, which then accepts it or says why not.
const LOADER_OPTIONS = {
  domain: "string", clientId: "string", clientID: "string", redirectUri: "string", responseType: "string",
  scope: "string", audience: "string", timeoutInSeconds: "seconds", leewayInSeconds: "seconds",
  autoRenew: "boolean", renewBeforeExpiryInSeconds: "seconds", minValidityInSeconds: "seconds",
  sessionCheckIntervalInSeconds: "seconds", debug: "boolean", useRefreshTokens: "boolean",
  useRefreshTokensFallback: "boolean", refreshTokenStorage: "string", wasmUrl: "string",
  assumeSignedOut: "boolean", apiOrigins: "origins", issuer: "url", authorizationEndpoint: "url",
  tokenEndpoint: "url", jwksUri: "url", endSessionEndpoint: "url", useDpop: "boolean", engine: "engine",
};
// https on any lower-case host name, http on loopback only; a path at most.
const SURE_ORIGIN = /^(https:\/\/[a-z0-9]([a-z0-9.-]*[a-z0-9])?|http:\/\/(localhost|127\.0\.0\.1|\[::1\]))(:[0-9]{1,5})?$/;
const SURE_PATH = /^(\/[A-Za-z0-9._~!$&'()*+,;=:@%-]*)*$/;

function sureURL(s, pathAllowed) {
  if (typeof s !== "string") return false;
  const at = s.indexOf("/", s.indexOf("://") + 3);
  const origin = at < 0 ? s : s.slice(0, at);
  const path = at < 0 ? "" : s.slice(at);
  return SURE_ORIGIN.test(origin) && (path === "" || (pathAllowed && SURE_PATH.test(path)));
}

// optionsProblem is "" for options Go surely accepts, else why the loader
// is not sure (for debug lines; Go gives the real error, if any).
function optionsProblem(options) {
  if (!options || typeof options !== "object" || Array.isArray(options)) return "options is not an object";
  for (const [k, v] of Object.entries(options)) {
    if (v === undefined || v === null) continue; // absent, as Go reads it
    const kind = Object.prototype.hasOwnProperty.call(LOADER_OPTIONS, k) ? LOADER_OPTIONS[k] : "";
    const ok =
      kind === "string" ? typeof v === "string"
      : kind === "boolean" ? typeof v === "boolean"
      : kind === "seconds" ? typeof v === "number" && Number.isFinite(v) && v >= 0 && v <= 1e7
      : kind === "url" ? sureURL(v, true)
      : kind === "origins" ? Array.isArray(v) && v.every((o) => sureURL(o, false))
      : kind === "engine" ? ["auto", "page", "shared-worker"].includes(v)
      : false;
    if (!ok) return kind ? `${k} is not one the loader can vouch for` : `${k} is not an option the loader knows`;
  }
  const clientId = typeof options.clientId === "string" ? options.clientId : "";
  const alias = typeof options.clientID === "string" ? options.clientID : "";
  if (clientId && alias && clientId !== alias) return "clientId and clientID differ";
  if (!(alias || clientId).trim()) return "no clientId";
  if (typeof options.domain !== "string" || !options.domain.trim()) return "no domain";
  const domain = options.domain.trim();
  if (!sureURL(domain.includes("://") ? domain : `https://${domain}`, true)) return "domain";
  const redirect = options.redirectUri;
  if (typeof redirect === "string" && redirect !== "") {
    const o = location.origin;
    if (!redirect.startsWith(o) || !(redirect.length === o.length || "/?#".includes(redirect[o.length]))) return "redirectUri is not on this origin";
  }
  const rt = typeof options.responseType === "string" && options.responseType ? options.responseType.split(/\s+/).filter(Boolean).sort().join(" ") : "code";
  if (!["code", "id_token token", "id_token", "token"].includes(rt)) return "responseType";
  if (typeof options.leewayInSeconds === "number" && options.leewayInSeconds > 300) return "leewayInSeconds";
  if (options.useRefreshTokens === true && rt !== "code") return "useRefreshTokens needs code";
  if (typeof options.refreshTokenStorage === "string" && !["", "memory", "local"].includes(options.refreshTokenStorage)) return "refreshTokenStorage";
  return "";
}

// --- the signed-in marker ---------------------------------------------------
// Go writes it at each login and renewal and removes it at logout and at the
// end of the session (checksession/marker.go), under the key the loader
// hands it: a flag and a time, no secret. Where there is none, nobody
// signed in here with this configuration.
const MARKER_PREFIX = "silentauth.signedin:";

// markerKey is the marker's key for options, or "" when they name no
// configuration: the client and the server's base URL, as Go normalises it.
function markerKey(options) {
  if (!options || typeof options !== "object") return "";
  const clientId = typeof options.clientId === "string" && options.clientId ? options.clientId : options.clientID;
  if (typeof options.domain !== "string" || typeof clientId !== "string" || !clientId.trim()) return "";
  const d = options.domain.trim();
  return `${MARKER_PREFIX}${clientId}@${(d.includes("://") ? d : `https://${d}`).replace(/\/+$/, "")}`;
}

// signedInHere is true where the marker is there, false where storage
// works and it is not, and null where storage cannot tell (blocked): then
// the loader assumes nothing.
function signedInHere(key) {
  const ls = key ? storage() : null;
  if (!ls) return null;
  try {
    return ls.getItem(key) !== null;
  } catch {
    return null;
  }
}

// readMarker is the marker's value, or null (none, or no storage);
// writeMarker sets it (null removes it) for the engine in the worker.
function readMarker(key) {
  try {
    const ls = storage();
    return ls ? ls.getItem(key) : null;
  } catch {
    return null;
  }
}

function writeMarker(key, value) {
  try {
    const ls = storage();
    if (ls && value === null) ls.removeItem(key);
    else if (ls) ls.setItem(key, value);
  } catch {
    // Full or blocked storage: the marker's shortcut is lost, nothing else.
  }
}

// sameForm is true when body, a form, has exactly want's keys, each once,
// with want's values, in any order.
function sameForm(want, body) {
  if (typeof body !== "string") return false;
  const got = new URLSearchParams(body);
  const keys = [...got.keys()];
  if (new Set(keys).size !== keys.length || keys.length !== [...want.keys()].length) return false;
  return keys.every((k) => want.getAll(k).length === 1 && want.get(k) === got.get(k));
}

// prestart returns the head start for options, or null when there is none
// to take: no page, no WebCrypto, options it does not build, or a page that
// cannot receive the iframe's message anyway (cross-origin isolated).
function prestart(options) {
  try {
    return startPrestart(options);
  } catch {
    return null;
  }
}

function startPrestart(options) {
  if (!options || typeof options !== "object" || typeof document === "undefined" || typeof window === "undefined") return null;
  if (window.crossOriginIsolated || !globalThis.crypto || !crypto.subtle) return null;
  // A login's callback page handles its response; a silent request is not
  // what it waits for.
  const here = `${location.search}&${location.hash.replace(/^#/, "&")}`;
  if (/[?&]state=/.test(here) && /[?&](code|error|id_token|access_token)=/.test(here)) return null;
  if (PRESTART_OFF.some((k) => options[k] !== undefined && options[k] !== false)) return null;
  const clientId = options.clientId !== undefined ? options.clientId : options.clientID;
  if (typeof options.domain !== "string" || !options.domain || typeof clientId !== "string" || !clientId) return null;
  const responseType = options.responseType === undefined ? "code" : options.responseType;
  if (typeof responseType !== "string") return null;
  const domain = (/^[a-z][a-z0-9+.-]*:\/\//i.test(options.domain) ? options.domain : `https://${options.domain}`).replace(/\/+$/, "");
  const timeoutS = typeof options.timeoutInSeconds === "number" && options.timeoutInSeconds > 0 ? options.timeoutInSeconds : PRESTART_TIMEOUT_S;
  const redirectUri = typeof options.redirectUri === "string" && options.redirectUri ? options.redirectUri : location.origin;
  const scope = typeof options.scope === "string" && options.scope ? options.scope : "openid profile email";

  const fetches = new Map(); // url → Promise<Response>, each taken once
  const get = (url) => {
    const p = fetch(url, { method: "GET", mode: "cors", credentials: "omit" });
    p.catch(() => {}); // Go refetches after a failure; nothing to report here
    fetches.set(url, p);
    return p;
  };
  const secrets = { state: prestartRandom(), nonce: prestartRandom(), codeVerifier: responseType === "code" ? prestartRandom() : "" };
  const challenge = secrets.codeVerifier
    ? crypto.subtle.digest("SHA-256", new TextEncoder().encode(secrets.codeVerifier)).then((d) => prestartB64u(new Uint8Array(d)))
    : Promise.resolve("");

  let iframe = null;
  let request = null;
  let handlers = null; // Go's, once attached
  let live = false;
  let ended = false;
  let navigated = false;
  const buffer = [];
  const onMessage = (e) => {
    if (live) {
      handlers.message(e);
      return;
    }
    // Only the iframe's own messages wait for Go: a page flooding postMessage
    // must not push the real answer out of the buffer.
    if (!iframe || e.source !== iframe.contentWindow) return;
    buffer.push(["message", e]);
    if (buffer.length > PRESTART_BUFFER) buffer.shift();
    const r = e.origin === frameOrigin && e.data && e.data.type === "authorization_response" ? e.data.response : null;
    if (r && r.state === secrets.state && typeof r.code === "string") exchangeEarly(r.code);
  };
  const onLoad = (e) => {
    if (!navigated) return; // the initial about:blank
    if (live) handlers.load(e);
    else buffer.push(["load", e]);
  };
  // A CSP that blocks the iframe: drop it, so that Go's own request meets
  // the violation and its error names the directive. The loader's CSP
  // listener (common.js) logs violations and calls cspWaiters.
  let frameOrigin = "";
  const onViolation = () => {
    const v = cspLog[cspLog.length - 1];
    if (v && (v.directive === "frame-src" || v.directive === "child-src") && originOfURI(v.blockedURI) === frameOrigin && !handlers) end();
  };
  const unlisten = () => {
    window.removeEventListener("message", onMessage);
    cspWaiters.delete(onViolation);
    if (iframe) iframe.removeEventListener("load", onLoad);
  };
  let settleRequest;
  const requestReady = new Promise((resolve) => { settleRequest = resolve; });

  // end takes the iframe away unless Go has it, and the loader's listeners.
  const end = () => {
    if (ended) return;
    ended = true;
    settleRequest(null);
    buffer.length = 0;
    unlisten();
    if (iframe && !handlers) {
      // Blank first, as jsbridge does, so no spinner is left turning.
      const f = iframe;
      const remove = () => f.remove();
      f.addEventListener("load", remove, { once: true });
      setTimeout(remove, 1000);
      try { f.contentWindow.location.replace("about:blank"); } catch { remove(); }
    }
  };
  // The code exchange sent as soon as the iframe answered, held for Go's
  // identical request: {params, sent: Promise<{url, response, sentAt}|null>},
  // once. sentAt (ms since the epoch) is when it left: the tokens' lifetime
  // counts from then, not from when Go asked.
  let held = null;
  let exchanges = true; // off for an engine that would not take it
  const dropRequest = () => {
    held = null;
    end();
  };
  const discard = () => {
    clearTimeout(timer);
    fetches.clear();
    dropRequest();
  };
  // Unclaimed at the request's timeout: nothing of it is wanted any more.
  const timer = setTimeout(() => {
    fetches.clear();
    held = null;
    if (!handlers) end();
  }, timeoutS * 1000);

  // exchangeEarly redeems the iframe's code while Go boots; Go still checks
  // everything (state, nonce, signature, at_hash) before it uses the answer.
  // Never with offline_access: a refresh token must not pass through the page.
  const exchangeEarly = (code) => {
    if (!exchanges || held || ended || !secrets.codeVerifier || scope.split(/\s+/).includes("offline_access")) return;
    const params = new URLSearchParams({ grant_type: "authorization_code", client_id: clientId, code, code_verifier: secrets.codeVerifier, redirect_uri: redirectUri });
    const h = {
      params,
      sent: fresh.then((d) => {
        const url = tokenEndpointOf(d);
        if (!url || held !== h) return null;
        const sentAt = Date.now();
        const response = fetch(url, { method: "POST", mode: "cors", credentials: "omit", headers: { "Content-Type": "application/x-www-form-urlencoded" }, body: params });
        response.catch(() => {}); // whoever takes it reports the failure
        return { url, response, sentAt };
      }),
    };
    held = h;
  };
  // tokenEndpointOf is the fresh document's token endpoint, checked as open
  // checks the authorization endpoint, or "".
  const tokenEndpointOf = (d) => {
    if (!d || String(d.issuer || "").replace(/\/+$/, "") !== domain || typeof d.token_endpoint !== "string") return "";
    try {
      const u = new URL(d.token_endpoint);
      return u.protocol === "https:" || (u.protocol === "http:" && prestartLoopback(u.hostname)) ? d.token_endpoint : "";
    } catch {
      return "";
    }
  };

  const open = (discovery, codeChallenge) => {
    if (ended || !discovery || typeof discovery.authorization_endpoint !== "string") return settleRequest(null);
    if (String(discovery.issuer || "").replace(/\/+$/, "") !== domain) return settleRequest(null);
    if (Array.isArray(discovery.response_modes_supported) && !discovery.response_modes_supported.includes("web_message")) return settleRequest(null);
    const u = new URL(discovery.authorization_endpoint);
    if (u.protocol !== "https:" && !(u.protocol === "http:" && prestartLoopback(u.hostname))) return settleRequest(null);
    const q = u.searchParams;
    q.set("prompt", "none");
    q.set("client_id", clientId);
    q.set("response_type", responseType);
    q.set("redirect_uri", redirectUri);
    q.set("scope", scope);
    q.set("state", secrets.state);
    q.set("nonce", secrets.nonce);
    if (typeof options.audience === "string" && options.audience) q.set("audience", options.audience);
    if (codeChallenge) {
      q.set("code_challenge", codeChallenge);
      q.set("code_challenge_method", "S256");
    }
    q.set("response_mode", "web_message");
    iframe = document.createElement("iframe");
    for (const [k, v] of [["title", "silentauth session check"], ["aria-hidden", "true"], ["tabindex", "-1"], ["width", "0"], ["height", "0"], ["referrerpolicy", "no-referrer"]]) {
      iframe.setAttribute(k, v);
    }
    iframe.style.cssText = "display:none;width:0;height:0;border:0;position:absolute";
    window.addEventListener("message", onMessage);
    cspWaiters.add(onViolation);
    frameOrigin = u.origin;
    iframe.addEventListener("load", onLoad);
    (document.body || document.documentElement).appendChild(iframe);
    navigated = true;
    iframe.src = u.href;
    request = { url: u.href, state: secrets.state, nonce: secrets.nonce, codeVerifier: secrets.codeVerifier };
    settleRequest(request);
  };

  // With the last load's discovery, the iframe and the JWKS start now; the
  // fresh document still comes, for Go and for the next load.
  const cached = cachedDiscovery(domain);
  const prefetchJWKS = (d) => {
    if (typeof d.jwks_uri === "string" && /^https?:\/\//.test(d.jwks_uri) && !fetches.has(d.jwks_uri)) get(d.jwks_uri);
  };
  if (cached) {
    prefetchJWKS(cached);
    challenge.then((c) => open(cached, c)).catch(() => settleRequest(null));
  }
  const discoveryUrl = `${domain}/.well-known/openid-configuration`;
  // The server's document of this load, or null: the code exchange goes
  // only to the token endpoint it names, never to a cached one.
  const fresh = get(discoveryUrl)
    .then((r) => (r.ok ? r.clone().json() : null))
    .then((d) => (d && typeof d === "object" ? d : null))
    .catch(() => null);
  fresh
    .then((d) => {
      // Opened from the cache, the iframe goes when the server's discovery
      // fails or moved the endpoint: Go would not adopt it.
      if (!d) return cached ? end() : settleRequest(null);
      if (String(d.issuer || "").replace(/\/+$/, "") === domain) cacheDiscovery(domain, d);
      if (ended) return settleRequest(null);
      if (cached) return cached.authorization_endpoint !== d.authorization_endpoint ? end() : undefined;
      prefetchJWKS(d);
      return challenge.then((c) => open(d, c));
    })
    .catch(() => (cached ? end() : settleRequest(null)));

  return {
    // takeFetch(url): the prefetched Response promise for a GET of url, once.
    takeFetch(url) {
      const p = fetches.get(url);
      if (!p) return null;
      fetches.delete(url);
      return p;
    },
    // opened(): a promise that settles once the iframe is in the page, or
    // once there will be none.
    opened() {
      return requestReady;
    },
    // takeRequest(): a promise of the prestarted request, or of null.
    takeRequest() {
      return requestReady.then((r) => (ended ? null : r));
    },
    // attach(message, load) hands the iframe to Go: what arrived before is
    // delivered first, in order, then events go to Go as they come.
    attach(message, load) {
      if (ended || !iframe || handlers) return null;
      handlers = { message, load };
      queueMicrotask(() => {
        if (ended) return;
        live = true;
        // Go may close the frame (detach) on any of these: stop there.
        for (const [kind, e] of buffer.splice(0)) {
          if (!handlers) break;
          if (kind === "message") handlers.message(e);
          else handlers.load(e);
        }
      });
      return iframe;
    },
    // detach removes the loader's listeners from an attached iframe, which
    // Go removes itself; the prefetches stay for Go to take.
    detach() {
      unlisten();
      handlers = null;
      iframe = null;
      end();
    },
    // takeExchange(url, body): once, for Go's code exchange when it is the
    // one the loader sent (the same token endpoint, the same form), a
    // promise of {response: Promise<Response>, sentAt}, or of null when the
    // fresh document named another endpoint; null when there is none or the
    // form differs.
    takeExchange(url, body) {
      const h = held;
      if (!h || !sameForm(h.params, body)) return null;
      held = null;
      return h.sent.then((s) => (s && s.url === url ? { response: s.response, sentAt: s.sentAt } : null));
    },
    // noExchange: the engine sends its own code exchange; none is sent early.
    noExchange() {
      exchanges = false;
      held = null;
    },
    // dropRequest removes the iframe Go did not adopt, and its exchange;
    // the prefetches stay.
    dropRequest,
    // discard removes everything Go has not taken.
    discard,
  };
}
