/* silentauth loader, shared by the script (silentauth.js) and the ES module
 * (silentauth.mjs). It follows Go's wasm_exec.js, scoped by glue-open.js and
 * glue-close.js as silentauthGlue, in both files. */

// One Go runtime per page, whichever copy of the loader got there first: the
// promise of its bridge lives under a registry symbol every copy can find.
const RUNTIME = Symbol.for("silentauth.runtime");
// The key wasm/main.go writes its bridge to, handed to Go in its environment
// (SILENTAUTH_BRIDGE_KEY) so that it is written down only here. Symbols
// cannot be set from syscall/js, hence a string; the loader deletes it once
// it has it.
const BRIDGE_KEY = "__silentauth_bridge_v1";
const EVENTS = ["renewed", "renew_error", "session_ended"];

// SilentAuthError is every failure the SDK rejects with or emits: an Error
// with the OAuth-style properties API.md promises. Its brand is a registry
// symbol, so isSilentAuthError also knows the errors of another copy of the
// loader on the page (the script tag's and the module's).
const ERROR_BRAND = Symbol.for("silentauth.error");

class SilentAuthError extends Error {
  constructor(error, description, state, cause) {
    super(description || error, cause !== undefined ? { cause } : undefined);
    this.name = "SilentAuthError";
    this.error = error;
    this.error_description = description || "";
    if (state) this.state = state;
  }

  get [ERROR_BRAND]() {
    return true;
  }
}

/**
 * @param {unknown} e
 * @returns {e is SilentAuthError}
 */
function isSilentAuthError(e) {
  return e instanceof Error && e[ERROR_BRAND] === true;
}

// sdkError makes a SilentAuthError from whatever Go or the browser rejected with.
function sdkError(e) {
  if (isSilentAuthError(e)) return e;
  if (e && typeof e === "object" && typeof e.error === "string") {
    const err = new SilentAuthError(e.error, e.error_description || "", e.state, e instanceof Error ? e : undefined);
    // Set while a renewal backoff runs: the seconds until the next attempt.
    if (typeof e.retryAfter === "number") /** @type {{ retryAfter?: number }} */ (err).retryAfter = e.retryAfter;
    return err;
  }
  return new SilentAuthError("unexpected_error", e instanceof Error ? e.message : String(e), undefined, e instanceof Error ? e : undefined);
}

function codedError(code, description, cause) {
  return new SilentAuthError(code, description, undefined, cause);
}

// --- Content-Security-Policy violations -----------------------------------
// A CSP that lacks what silentauth needs makes the browser fail in ways that
// look like something else: a blocked iframe is a timeout, a blocked fetch a
// CORS-like network error, a blocked compile a hint at 'unsafe-eval'. The
// loader listens for securitypolicyviolation while it loads the runtime and
// while a client lives, and turns a failure that met a matching violation
// into an invalid_configuration naming the directive and the value to add.
const cspLog = []; // {seq, directive, blockedURI, time}, newest last
let cspSeq = 0;
let cspUsers = 0;

function onViolation(e) {
  cspLog.push({
    seq: ++cspSeq,
    directive: (e.effectiveDirective || e.violatedDirective || "").split(" ")[0],
    blockedURI: e.blockedURI || "",
    time: Date.now(),
  });
  if (cspLog.length > 50) cspLog.shift();
  for (const done of [...cspWaiters]) done();
}

// cspListen adds the document's listener for one user (the loading, or a
// client); the function it returns removes it again when the last user goes.
function cspListen() {
  if (typeof document === "undefined") return () => {};
  if (cspUsers++ === 0) document.addEventListener("securitypolicyviolation", onViolation);
  let done = false;
  return () => {
    if (done) return;
    done = true;
    if (--cspUsers === 0) document.removeEventListener("securitypolicyviolation", onViolation);
  };
}

// Violation events are reported asynchronously, sometimes after the failure
// they caused. cspSettle resolves once a violation after seq is logged, or
// after a short grace period when none comes: only failures wait for it.
const CSP_GRACE_MS = 200;
const cspWaiters = new Set();

function cspSettle(seq) {
  if (cspLog.some((v) => v.seq > seq)) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      cspWaiters.delete(done);
      // One more task, for violations reported together.
      setTimeout(resolve, 0);
    };
    const timer = setTimeout(done, CSP_GRACE_MS);
    cspWaiters.add(done);
  });
}

function originOfURI(uri) {
  try {
    const u = new URL(uri);
    return u.origin !== "null" ? u.origin : "";
  } catch {
    return "";
  }
}

// The failures a CSP block shows up as.
const CSP_MASKED = new Set(["timeout", "network_error", "server_error", "unexpected_error"]);

// cspError explains err by a violation logged after seq, or returns err.
function cspError(err, seq, serverOrigin) {
  if (!CSP_MASKED.has(err.error)) return err;
  const seen = cspLog.filter((v) => v.seq > seq && (v.directive === "frame-src" || v.directive === "child-src" || v.directive === "connect-src"));
  if (seen.length === 0) return err;
  // The server's own origin first: that is what the SDK was talking to.
  const v = seen.find((x) => originOfURI(x.blockedURI) === serverOrigin) || seen[0];
  const origin = originOfURI(v.blockedURI) || serverOrigin || v.blockedURI;
  const directive = v.directive === "child-src" ? "frame-src" : v.directive;
  const what = directive === "frame-src" ? "the hidden iframe" : "a request";
  // Without the query: an authorize URL carries the state and the nonce.
  const where = v.blockedURI.split(/[?#]/)[0];
  // Only this explanation: the masked failure's own text (a timeout's
  // advice on web origins, a network error's on CORS) would point
  // elsewhere. It stays reachable as the cause.
  return new SilentAuthError(
    "invalid_configuration",
    `Content-Security-Policy ${directive} blocks ${origin} (${what} to ${where}); add ${origin} to ${directive}`,
    err.state,
    err,
  );
}

// wasmCspError explains a failed load by a blocked compile, or returns err.
function wasmCspError(err, seq) {
  const seen = cspLog.some((v) => v.seq > seq && v.directive === "script-src" && (v.blockedURI === "wasm-eval" || v.blockedURI === "eval"));
  const text = `${err.error_description} ${err.cause && err.cause.message}`;
  if (!seen && !/Content Security Policy/i.test(text)) return err;
  return new SilentAuthError(
    "invalid_configuration",
    "Content-Security-Policy script-src blocks compiling silentauth.wasm; add 'wasm-unsafe-eval' to script-src" +
      " (not 'unsafe-eval', which allows far more)",
    undefined,
    err,
  );
}

function serverOriginOf(options) {
  const domain = options && typeof options.domain === "string" ? options.domain : "";
  if (!domain) return "";
  return originOfURI(/^[a-z][a-z0-9+.-]*:\/\//i.test(domain) ? domain : `https://${domain}`);
}

// The head start's iframe goes in before the runtime is compiled and
// started: both hold the main thread for a few hundred milliseconds, and the
// iframe's /authorize should be on the network meanwhile, not wait for them.
// The wait is capped, so a slow discovery delays the runtime by no more.
const PRESTART_GATE_MS = 300;

async function instantiateWasm(url, importObject, gate) {
  // The download starts at once; only its compilation waits for the gate.
  const fetching = fetch(url, { credentials: "same-origin" });
  fetching.catch(() => {}); // awaited below, after the gate
  if (gate) {
    let timer;
    await Promise.race([gate, new Promise((resolve) => { timer = setTimeout(resolve, PRESTART_GATE_MS); })]);
    clearTimeout(timer);
  }
  let response;
  try {
    response = await fetching;
  } catch (e) {
    throw codedError("network_error", `could not fetch ${url}: ${e && e.message}`, e);
  }
  if (!response.ok) {
    throw codedError("invalid_configuration", `could not load ${url}: HTTP ${response.status} (set wasmUrl to where silentauth.wasm is served)`);
  }
  // Streaming compilation needs the application/wasm type; servers that send
  // another one still work through an ArrayBuffer.
  const type = (response.headers.get("Content-Type") || "").split(";")[0].trim().toLowerCase();
  try {
    if (type === "application/wasm" && typeof WebAssembly.instantiateStreaming === "function") {
      return (await WebAssembly.instantiateStreaming(response, importObject)).instance;
    }
    return (await WebAssembly.instantiate(await response.arrayBuffer(), importObject)).instance;
  } catch (e) {
    throw codedError("invalid_configuration", `${url} is not a usable silentauth.wasm: ${e && e.message}`, e);
  }
}

// mark leaves a performance mark for the runtime's start, once per page, so
// that a profile (and make bench) can tell compiling from Go's own start.
function mark(name) {
  try {
    performance.mark(`silentauth:${name}`);
  } catch {
    // No User Timing here: nothing to leave.
  }
}

async function startRuntime(url, gate) {
  const go = new silentauthGlue.Go();
  go.env = { SILENTAUTH_BRIDGE_KEY: BRIDGE_KEY };
  const instance = await instantiateWasm(url, go.importObject, gate);
  mark("compiled");
  // run() returns when the program exits; main blocks forever, so an exit
  // means a crash, and the next createClient should start afresh.
  const exited = silentauthGlue.run(go, instance);
  mark("started");
  exited.then(
    () => { if (globalThis[RUNTIME] === runtime) delete globalThis[RUNTIME]; },
    () => { if (globalThis[RUNTIME] === runtime) delete globalThis[RUNTIME]; },
  );
  // Go's main registers the bridge before it first blocks, which is before
  // run() hands control back, so the bridge is there now or never.
  const bridge = globalThis[BRIDGE_KEY];
  delete globalThis[BRIDGE_KEY];
  if (!bridge || typeof bridge.createClient !== "function") {
    throw codedError("unexpected_error", "the silentauth Go runtime started but registered no bridge");
  }
  bridge.memory = instance.exports.mem;
  return bridge;
}

// stats() reports what the runtime holds: Go callbacks and iframes alive, and
// the WebAssembly linear memory's size. Leak tests and benchmarks read it.
async function runtimeStats() {
  const existing = globalThis[RUNTIME];
  const inWorker = existing ? null : workerStats();
  if (inWorker) return inWorker;
  if (!existing) return { running: false, liveFuncs: 0, liveFrames: 0, wasmMemoryBytes: 0, goHeapBytes: 0 };
  const bridge = await existing;
  const s = bridge.stats();
  return {
    running: true,
    liveFuncs: s.liveFuncs,
    liveFrames: s.liveFrames,
    wasmMemoryBytes: bridge.memory ? bridge.memory.buffer.byteLength : 0,
    goHeapBytes: s.goHeapBytes,
  };
}
let runtime;

// loadRuntime starts the page's runtime, or returns the one started; gate,
// if any, is a promise the compilation waits for (capped).
function loadRuntime(url, gate) {
  const existing = globalThis[RUNTIME];
  if (existing) return existing;
  runtime = startRuntime(url, gate);
  globalThis[RUNTIME] = runtime;
  // A failed load (offline, wrong wasmUrl) must not stick: let a later call retry.
  runtime.catch(() => { if (globalThis[RUNTIME] === runtime) delete globalThis[RUNTIME]; });
  return runtime;
}

function resolveWasmUrl(options, defaultUrl) {
  const base = (typeof document !== "undefined" && document.baseURI) || globalThis.location.href;
  return new URL(options && options.wasmUrl ? options.wasmUrl : defaultUrl, base).href;
}

// goClientFor loads the page's runtime (with head, the head start, when
// this is its first load) and makes the Go side of a client. Failures are
// SilentAuthErrors, explained by the CSP violations logged after seq.
async function goClientFor(url, options, emit, head, key, seq) {
  let bridge;
  try {
    bridge = await loadRuntime(url, head ? head.opened() : null);
  } catch (e) {
    if (head) head.discard();
    const err = sdkError(e);
    if (err.error === "invalid_configuration" || err.error === "network_error") {
      // Still listening: the violation may be reported after the failure.
      await cspSettle(seq);
    }
    // A blocked compile, or a wasm served from an origin connect-src lacks.
    if (err.error === "network_error") throw cspError(err, seq, "");
    if (err.error === "invalid_configuration") throw wasmCspError(err, seq);
    throw err;
  }
  try {
    return await bridge.createClient(options, emit, head, key);
  } catch (e) {
    if (head) head.discard();
    throw sdkError(e);
  }
}

// snapshot copies options as Go would read them now, so that a client whose
// Go side starts later does not see the caller's later changes.
function snapshot(options) {
  return Object.fromEntries(Object.entries(options).map(([k, v]) => [k, Array.isArray(v) ? [...v] : v]));
}

async function createClientWith(defaultWasmUrl, options, defaultWorkerUrl) {
  if (options !== undefined && (options === null || typeof options !== "object")) {
    throw codedError("invalid_configuration", "createClient needs an options object");
  }
  let url;
  try {
    url = resolveWasmUrl(options, defaultWasmUrl);
  } catch (e) {
    throw codedError("invalid_configuration", `wasmUrl: ${e && e.message}`, e);
  }
  const engine = engineOf(options);
  const workerUrl = workerUrlFor(defaultWorkerUrl, url);
  const debug = !!(options && options.debug);
  // A cross-origin-isolated page cannot hear the silent iframe: the engine
  // in the page says so at once, where the worker (not isolated) would wait.
  const isolated = typeof window !== "undefined" && window.crossOriginIsolated === true;
  const tryWorker = engine === "shared-worker" || (engine === "auto" && AUTO_TRIES_WORKER && !isolated);
  if (engine === "auto" && !tryWorker && debug) {
    const why = isolated ? ", since the page is cross-origin isolated" : "";
    console.debug(`silentauth: engine "auto": the engine runs in the page${why}`);
  }
  const unlisten = cspListen();
  const seq = cspSeq;
  const key = markerKey(options);
  const sure = optionsProblem(options) === "";
  const assumeSignedOut = !options || options.assumeSignedOut !== false;
  const client = new Client(unlisten, serverOriginOf(options), key, assumeSignedOut);
  const emit = client._emit;
  // inPage starts the engine in this page; head is the head start, if any.
  const inPage = (opts, head, from) => goClientFor(url, opts, emit, head, key, from);
  // start makes the client's engine: in the worker where it should and
  // can run, else in the page (for "auto", saying why).
  const start = async (opts, headStart, from) => {
    if (engine === "shared-worker") return workerEngineFor(workerUrl, opts, emit, key, headStart);
    if (tryWorker) {
      const { engine: e, cause } = await workerEngineOrCause(workerUrl, opts, emit, key, headStart);
      if (e) return e;
      if (debug) console.debug(`silentauth: engine "auto": the engine runs in the page, since the SharedWorker cannot run it: ${cause}`);
    }
    return inPage(opts, headStart(), from);
  };
  // Nobody signed in here: nothing to renew and nothing to ask for a
  // checkSession, so the engine starts with the first call that needs it
  // (getTokenSilently, a login), if any: no runtime loads, no worker starts.
  const running = tryWorker ? connections.has(workerUrl) : !!globalThis[RUNTIME];
  if (sure && assumeSignedOut && signedInHere(key) === false && !running) {
    const copy = snapshot(options);
    client._startLater(() => start(copy, () => null, cspSeq));
    return client;
  }
  // The head start first: its discovery request leaves before the wasm's.
  // It runs while the runtime loads for the first time only, and only for
  // options Go will accept and a visitor whose checkSession asks.
  const head = () => (sure && !globalThis[RUNTIME] ? prestart(options) : null);
  try {
    client._attach(await start(options || {}, head, seq));
  } catch (e) {
    unlisten();
    throw e;
  }
  return client;
}

class Client {
  #go = null;
  #destroyed = false;
  #handlers = new Map(EVENTS.map((name) => [name, new Set()]));
  #unlisten;
  #serverOrigin;
  // CSP violations after this one happened since the last event.
  #eventSeq = cspSeq;
  // The signed-in marker's key, and whether its absence answers checkSession.
  #markerKey;
  #assumeSignedOut;
  // A Go side that starts with the first call needing it: its starter,
  // the start under way, and what startAutoRenew/stopAutoRenew asked before.
  #start = null;
  #starting = null;
  #autoRenew = null;

  constructor(unlisten, serverOrigin, markerKey, assumeSignedOut) {
    this.#unlisten = unlisten;
    this.#serverOrigin = serverOrigin;
    this.#markerKey = markerKey;
    this.#assumeSignedOut = assumeSignedOut;
    // Go calls this for every event. Handlers run in a microtask, not inside
    // Go's call, so that a handler may call back into the client freely. An
    // error that a CSP block may explain waits one macrotask more, for the
    // violation events to arrive.
    this._emit = (name, payload) => {
      if (payload && typeof payload === "object" && CSP_MASKED.has(payload.error)) {
        cspSettle(this.#eventSeq).then(() => this.#dispatch(name, payload));
      } else {
        queueMicrotask(() => this.#dispatch(name, payload));
      }
    };
    Object.defineProperty(this, "_emit", { enumerable: false });
  }

  _attach(goClient) {
    this.#go = goClient;
    if (this.#autoRenew === true) goClient.startAutoRenew();
    if (this.#autoRenew === false) goClient.stopAutoRenew();
  }

  _startLater(start) {
    this.#start = start;
  }

  // #ready is the Go side, started now if it was left for later.
  #ready() {
    if (this.#go) return Promise.resolve(this.#go);
    if (!this.#starting) {
      this.#starting = this.#start().then(
        (go) => {
          if (this.#destroyed) {
            go.destroy();
            throw codedError("destroyed", "the client was destroyed");
          }
          this._attach(go);
          return go;
        },
        (e) => {
          this.#starting = null; // a failed load (offline) may be retried
          throw e;
        },
      );
    }
    return this.#starting;
  }

  // #signedOutHere is the error checkSession answers without asking the
  // server: assumeSignedOut, and no sign-in recorded in this browser.
  #signedOutHere() {
    if (!this.#assumeSignedOut || signedInHere(this.#markerKey) !== false) return null;
    // A session this client holds counts, even where the marker could not
    // be written (full storage).
    if (this.#go && this.#go.getUser()) return null;
    return codedError(
      "login_required",
      "No sign-in is recorded in this browser for this client, so checkSession did not ask the server " +
        "(assumeSignedOut; set it to false to ask, as getTokenSilently always does)",
    );
  }

  #dispatch(name, payload) {
    const handlers = this.#handlers.get(name);
    if (!handlers) return;
    let value = payload;
    if (payload && typeof payload === "object" && typeof payload.error === "string") {
      value = cspError(sdkError(payload), this.#eventSeq, this.#serverOrigin);
    }
    this.#eventSeq = cspSeq;
    for (const handler of [...handlers]) {
      try {
        handler(value);
      } catch (e) {
        console.error(`silentauth: a "${name}" handler threw`, e);
      }
    }
  }

  // #call runs a Go method, turning its rejection into a SilentAuthError,
  // and a failure that a CSP violation during the call explains into one
  // that names the directive.
  async #call(method, ...args) {
    if (this.#destroyed) throw codedError("destroyed", "the client was destroyed");
    const seq = cspSeq;
    try {
      const go = this.#go || (await this.#ready());
      return await go[method](...args);
    } catch (e) {
      const err = sdkError(e);
      // An answer from the renewal backoff (it carries retryAfter) sent no
      // request in this call: no violation can explain it, and the caller
      // gets it at once.
      if (!CSP_MASKED.has(err.error) || typeof e.retryAfter === "number") throw err;
      await cspSettle(seq);
      throw cspError(err, seq, this.#serverOrigin);
    }
  }

  checkSession(params, callback) {
    if (typeof params === "function") {
      callback = params;
      params = undefined;
    }
    const signedOut = this.#destroyed ? null : this.#signedOutHere();
    const result = signedOut ? Promise.reject(signedOut) : this.#call("checkSession", params);
    if (typeof callback !== "function") return result;
    // auth0.js style: callback(err, result), and no promise to leave unhandled.
    result.then(
      (r) => invoke(callback, null, r),
      (e) => invoke(callback, e),
    );
    return undefined;
  }

  getTokenSilently(params) {
    return this.#call("getTokenSilently", params);
  }

  getUser() {
    if (this.#destroyed || !this.#go) return null;
    return this.#go.getUser() || null;
  }

  loginWithRedirect(params) {
    return this.#call("loginWithRedirect", params).then(() => undefined);
  }

  // loginWithPopup reaches Go without an await in between (#call is async,
  // but runs synchronously up to its first await): Go opens the window
  // before it waits for anything, while the click's user activation holds.
  // Before Go has started (a signed-out visitor's client starts it at its
  // first call), the runtime's start may outlast that activation (about 5 s
  // in Chromium): the window opens here, blank, under the name Go opens it
  // by, and Go takes it over. Go closes it however the login ends; this
  // closes it too, for a call that fails before Go gets that far.
  loginWithPopup(params) {
    if (this.#go || this.#destroyed) return this.#call("loginWithPopup", params);
    let win = null;
    try {
      win = window.open("", POPUP_NAME, popupFeatures());
    } catch {
      win = null;
    }
    if (!win) return Promise.reject(codedError("popup_blocked", POPUP_BLOCKED));
    return this.#call("loginWithPopup", params).finally(() => {
      if (!win.closed) win.close();
    });
  }

  handleRedirectCallback(url) {
    return this.#call("handleRedirectCallback", url === undefined ? globalThis.location.href : String(url));
  }

  logout(params) {
    return this.#call("logout", params).then(() => undefined);
  }

  // fetch is the browser's fetch with the access token. On a 401 it renews
  // once through checkSession, which joins a renewal already in flight, and
  // retries once; a second 401 is the caller's to see. The token goes only to
  // the origins in apiOrigins (default: this page's): any other URL rejects
  // with invalid_configuration before anything is sent; a redirect is
  // returned, never followed, so the token cannot follow it elsewhere. With useDpop each
  // attempt carries a fresh proof; an API's DPoP-Nonce is kept for the next
  // one, and a use_dpop_nonce refusal is sent once more with it.
  async fetch(input, init) {
    let request;
    try {
      request = new Request(input, init);
    } catch (e) {
      throw codedError("invalid_configuration", `client.fetch: ${e && e.message}`, e);
    }
    if (!this.#destroyed && !this.#go) await this.#ready();
    // Null for a URL the token may go to (the worker's engine answers later).
    const refused = async (url) => (this.#destroyed ? null : this.#go.checkApiUrl(String(url)));
    const problem = await refused(request.url);
    if (problem) throw sdkError(problem);
    const api = originOfURI(request.url);
    const send = async () => {
      const auth = await this.getAuthHeaders(request.url, { method: request.method });
      const headers = new Headers(request.headers);
      for (const [name, value] of Object.entries(auth)) headers.set(name, value);
      // A clone per attempt, so a request body can be sent twice. A redirect
      // is never followed with the token: it comes back as the browser's
      // opaque-redirect response (redirect: "error" stays an error).
      const redirect = request.redirect === "error" ? "error" : "manual";
      const seq = cspSeq;
      let response;
      try {
        response = await fetch(new Request(request.clone(), { headers, redirect }));
      } catch (e) {
        // The caller's own abort stays theirs.
        if (e && e.name === "AbortError") throw e;
        const err = codedError(
          "network_error",
          `client.fetch to ${request.url.split(/[?#]/)[0]} got no answer (${e && e.message}): the API is unreachable, ` +
            `or it refused CORS. An API on another origin must allow this origin and the Authorization header ` +
            `(and DPoP, when tokens are DPoP-bound) in its CORS answers, the preflight included ` +
            `(Access-Control-Allow-Origin, Access-Control-Allow-Headers)`,
          e,
        );
        await cspSettle(seq);
        throw cspError(err, seq, api);
      }
      const nonce = response.headers.get("DPoP-Nonce");
      if (nonce && !this.#destroyed && !(response.url && (await refused(response.url))) && this.#go) this.#go.noteDpopNonce(request.url, nonce);
      return response;
    };
    let response = await send();
    if (response.status !== 401 || (response.url && (await refused(response.url)))) return response;
    if (wantsDpopNonce(response)) {
      response = await send();
      if (response.status !== 401 || wantsDpopNonce(response)) return response;
    }
    const renewed = await this.checkSession();
    if (!renewed || !renewed.accessToken) return response;
    return send();
  }

  // getAuthHeaders is what fetch sends, for another HTTP client or a
  // WebSocket: { Authorization } and, with a DPoP-bound token, { DPoP }.
  getAuthHeaders(url, { method = "GET" } = {}) {
    return this.#call("getAuthHeaders", new URL(String(url), globalThis.location.href).href, String(method).toUpperCase());
  }

  on(event, handler) {
    const handlers = this.#handlers.get(event);
    if (!handlers) throw codedError("invalid_configuration", `unknown event "${event}"; events are ${EVENTS.join(", ")}`);
    if (typeof handler !== "function") throw codedError("invalid_configuration", "an event handler must be a function");
    handlers.add(handler);
    return () => this.off(event, handler);
  }

  off(event, handler) {
    const handlers = this.#handlers.get(event);
    if (handlers) handlers.delete(handler);
  }

  startAutoRenew() {
    if (this.#destroyed) return;
    this.#autoRenew = true;
    if (this.#go) this.#go.startAutoRenew();
  }

  stopAutoRenew() {
    if (this.#destroyed) return;
    this.#autoRenew = false;
    if (this.#go) this.#go.stopAutoRenew();
  }

  destroy() {
    if (this.#destroyed) return;
    this.#destroyed = true;
    const go = this.#go;
    this.#go = null;
    for (const handlers of this.#handlers.values()) handlers.clear();
    this.#unlisten();
    if (go) go.destroy();
  }
}

// wantsDpopNonce: an API's 401 that asks for its DPoP nonce (RFC 9449, 9).
function wantsDpopNonce(response) {
  return /^\s*DPoP\b.*error="use_dpop_nonce"/i.test(response.headers.get("WWW-Authenticate") || "");
}

function invoke(callback, ...args) {
  try {
    callback(...args);
  } catch (e) {
    console.error("silentauth: a checkSession callback threw", e);
  }
}
