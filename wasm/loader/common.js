/* silentauth loader, shared by the script (silentauth.js) and the ES module
 * (silentauth.mjs). It follows Go's wasm_exec.js in both files. */

// wasm_exec.js assigns globalThis.Go; keep ours in case another Go program on
// the page loads its own (possibly different) glue later.
const SilentauthGo = globalThis.Go;

// One Go runtime per page, whichever copy of the loader got there first: the
// promise of its bridge lives under a registry symbol every copy can find.
const RUNTIME = Symbol.for("silentauth.runtime");
// The key wasm/main.go writes its bridge to. Symbols cannot be set from
// syscall/js, hence a string; the loader deletes it once it has it.
const BRIDGE_KEY = "__silentauth_bridge_v1";
const EVENTS = ["renewed", "renew_error", "session_ended"];

// sdkError makes an Error with the OAuth-style properties API.md promises,
// from whatever Go or the browser rejected with.
function sdkError(e) {
  if (e instanceof Error && typeof e.error === "string") return e;
  if (e && typeof e === "object" && typeof e.error === "string") {
    const err = new Error(e.error_description || e.error);
    err.error = e.error;
    err.error_description = e.error_description || "";
    if (e.state) err.state = e.state;
    return err;
  }
  const err = new Error(e instanceof Error ? e.message : String(e));
  err.error = "unexpected_error";
  err.error_description = err.message;
  if (e instanceof Error) err.cause = e;
  return err;
}

function codedError(code, description, cause) {
  const err = new Error(description);
  err.error = code;
  err.error_description = description;
  if (cause !== undefined) err.cause = cause;
  return err;
}

async function instantiateWasm(url, importObject) {
  let response;
  try {
    response = await fetch(url, { credentials: "same-origin" });
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

async function startRuntime(url) {
  const go = new SilentauthGo();
  const instance = await instantiateWasm(url, go.importObject);
  // run() returns when the program exits; main blocks forever, so an exit
  // means a crash, and the next createClient should start afresh.
  const exited = go.run(instance);
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
  if (!existing) return { running: false, liveFuncs: 0, liveFrames: 0, wasmMemoryBytes: 0 };
  const bridge = await existing;
  const s = bridge.stats();
  return {
    running: true,
    liveFuncs: s.liveFuncs,
    liveFrames: s.liveFrames,
    wasmMemoryBytes: bridge.memory ? bridge.memory.buffer.byteLength : 0,
  };
}
let runtime;

function loadRuntime(url) {
  const existing = globalThis[RUNTIME];
  if (existing) return existing;
  runtime = startRuntime(url);
  globalThis[RUNTIME] = runtime;
  // A failed load (offline, wrong wasmUrl) must not stick: let a later call retry.
  runtime.catch(() => { if (globalThis[RUNTIME] === runtime) delete globalThis[RUNTIME]; });
  return runtime;
}

function resolveWasmUrl(options, defaultUrl) {
  const base = (typeof document !== "undefined" && document.baseURI) || globalThis.location.href;
  return new URL(options && options.wasmUrl ? options.wasmUrl : defaultUrl, base).href;
}

async function createClientWith(defaultWasmUrl, options) {
  if (options !== undefined && (options === null || typeof options !== "object")) {
    throw codedError("invalid_configuration", "createClient needs an options object");
  }
  const bridge = await loadRuntime(resolveWasmUrl(options, defaultWasmUrl));
  const client = new Client();
  let goClient;
  try {
    goClient = await bridge.createClient(options || {}, client._emit);
  } catch (e) {
    throw sdkError(e);
  }
  client._attach(goClient);
  return client;
}

class Client {
  #go = null;
  #destroyed = false;
  #handlers = new Map(EVENTS.map((name) => [name, new Set()]));

  constructor() {
    // Go calls this for every event. Handlers run in a microtask, not inside
    // Go's call, so that a handler may call back into the client freely.
    this._emit = (name, payload) => {
      queueMicrotask(() => this.#dispatch(name, payload));
    };
    Object.defineProperty(this, "_emit", { enumerable: false });
  }

  _attach(goClient) {
    this.#go = goClient;
  }

  #dispatch(name, payload) {
    const handlers = this.#handlers.get(name);
    if (!handlers) return;
    const value = payload && typeof payload === "object" && typeof payload.error === "string" ? sdkError(payload) : payload;
    for (const handler of [...handlers]) {
      try {
        handler(value);
      } catch (e) {
        console.error(`silentauth: a "${name}" handler threw`, e);
      }
    }
  }

  // #call runs a Go method, turning its rejection into an SDK Error.
  async #call(method, ...args) {
    if (this.#destroyed) throw codedError("destroyed", "the client was destroyed");
    try {
      return await this.#go[method](...args);
    } catch (e) {
      throw sdkError(e);
    }
  }

  checkSession(params, callback) {
    if (typeof params === "function") {
      callback = params;
      params = undefined;
    }
    const result = this.#call("checkSession", params);
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
    if (this.#destroyed) return null;
    return this.#go.getUser() || null;
  }

  loginWithRedirect(params) {
    return this.#call("loginWithRedirect", params).then(() => undefined);
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
  // with invalid_configuration before anything is sent, and a 401 that came
  // from elsewhere (after a redirect) renews nothing.
  async fetch(input, init) {
    const request = new Request(input, init);
    const refused = (url) => (this.#destroyed ? null : this.#go.checkApiUrl(String(url)));
    const problem = refused(request.url);
    if (problem) throw sdkError(problem);
    const send = (token) => {
      const headers = new Headers(request.headers);
      headers.set("Authorization", `Bearer ${token}`);
      // A clone per attempt, so a request body can be sent twice.
      return fetch(new Request(request.clone(), { headers }));
    };
    const response = await send(await this.getTokenSilently());
    if (response.status !== 401 || (response.url && refused(response.url))) return response;
    const renewed = await this.checkSession();
    if (!renewed || !renewed.accessToken) return response;
    return send(renewed.accessToken);
  }

  on(event, handler) {
    const handlers = this.#handlers.get(event);
    if (!handlers) throw new TypeError(`silentauth: unknown event "${event}"; events are ${EVENTS.join(", ")}`);
    if (typeof handler !== "function") throw new TypeError("silentauth: an event handler must be a function");
    handlers.add(handler);
    return () => this.off(event, handler);
  }

  off(event, handler) {
    const handlers = this.#handlers.get(event);
    if (handlers) handlers.delete(handler);
  }

  startAutoRenew() {
    if (!this.#destroyed) this.#go.startAutoRenew();
  }

  stopAutoRenew() {
    if (!this.#destroyed) this.#go.stopAutoRenew();
  }

  destroy() {
    if (this.#destroyed) return;
    this.#destroyed = true;
    const go = this.#go;
    this.#go = null;
    for (const handlers of this.#handlers.values()) handlers.clear();
    if (go) go.destroy();
  }
}

function invoke(callback, ...args) {
  try {
    callback(...args);
  } catch (e) {
    console.error("silentauth: a checkSession callback threw", e);
  }
}
