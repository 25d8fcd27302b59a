/* silentauth page side of the SharedWorker placement (engine: "shared-worker"),
 * shared by both loaders. The Go engine runs in silentauth-worker.js; this
 * page keeps only what needs a document: the hidden iframe the engine asks
 * for, redirects, and page signals. Messages are JSON text of protocol
 * version 1 (jsbridge/wire/hub/protocol.go is the engine's reading of them). */

const PROTOCOL = 1;
const ENGINES = ["auto", "shared-worker", "page"];
// A port that does not answer a ping within this long is a worker the
// browser ended: the page starts a new one and sends again what was pending.
const PING_MS = 2000;
const DEAD_MS = 3000;
const TX_PREFIX = "silentauth.tx.";
// jsbridge.FrameTitle: tests and the prestart find the iframe by it.
const FRAME_TITLE = "silentauth session check";

// engineOf reads options.engine; "auto" resolves to the page for now: the
// worker is chosen only when asked for by name.
function engineOf(options) {
  const e = options && options.engine !== undefined ? options.engine : "auto";
  if (!ENGINES.includes(e)) {
    throw codedError("invalid_configuration", `engine: expected "auto", "shared-worker" or "page", got ${JSON.stringify(e)}`);
  }
  if (e !== "auto") return e;
  if (options && options.debug) console.debug('silentauth: engine "auto": the engine runs in the page (engine: "shared-worker" runs it in a SharedWorker)');
  return "page";
}

/** @type {Map<string, WorkerConnection>} */
const connections = new Map();

function workerUrlFor(defaultWorkerUrl, wasmUrl) {
  const u = new URL(defaultWorkerUrl);
  u.searchParams.set("wasm", wasmUrl);
  return u.href;
}

async function createWorkerClient(workerUrl, options) {
  if (typeof SharedWorker !== "function") {
    throw codedError("invalid_configuration", 'engine: "shared-worker" needs SharedWorker, which this browser lacks (use engine: "page")');
  }
  let conn = connections.get(workerUrl);
  if (!conn) {
    conn = new WorkerConnection(workerUrl);
    connections.set(workerUrl, conn);
  }
  const opts = { ...(options || {}) };
  delete opts.engine;
  delete opts.wasmUrl;
  const client = new WorkerClient(conn, opts);
  await client._bind();
  return client;
}

class WorkerConnection {
  constructor(url) {
    this.url = url;
    this.nextId = 0;
    /** @type {Map<number, any>} */
    this.calls = new Map();
    /** @type {Set<WorkerClient>} */
    this.clients = new Set();
    /** @type {Map<number, {iframe: HTMLIFrameElement, onMessage: (e: MessageEvent) => void}>} */
    this.frames = new Map();
    this.pingSent = 0;
    this.timer = 0;
    this.port = null;
    this.onPageHide = () => this.bye();
    this.onPageShow = (/** @type {PageTransitionEvent} */ e) => { if (e.persisted) this.restart(); };
    this.onSignal = () => this.post({ t: "signal", visible: !document.hidden, wake: !document.hidden });
    this.onOffline = () => this.post({ t: "signal", visible: !document.hidden, wake: false });
    addEventListener("pagehide", this.onPageHide);
    addEventListener("pageshow", this.onPageShow);
    document.addEventListener("visibilitychange", this.onSignal);
    addEventListener("focus", this.onSignal);
    addEventListener("online", this.onSignal);
    addEventListener("offline", this.onOffline);
    this.start();
  }

  start() {
    let worker;
    try {
      worker = new SharedWorker(this.url, { name: "silentauth" });
    } catch (e) {
      this.fail(codedError("invalid_configuration", `could not start the shared worker ${this.url.split("?")[0]}: ${e && e.message}`, e));
      return;
    }
    worker.onerror = () => this.fail(codedError("invalid_configuration", `the shared worker ${this.url.split("?")[0]} failed to load (served from this origin? worker-src allows it?)`));
    this.port = worker.port;
    this.port.onmessage = (e) => this.receive(e.data);
    this.port.start();
    this.pingSent = 0;
    this.post({ t: "hello", visible: !document.hidden });
    clearInterval(this.timer);
    this.timer = setInterval(() => this.ping(), PING_MS);
  }

  post(msg) {
    if (!this.port) return;
    this.port.postMessage(JSON.stringify({ v: PROTOCOL, ...msg }));
  }

  // ping finds a worker the browser ended: its port stays open but silent.
  ping() {
    if (this.clients.size === 0 && this.calls.size === 0) return;
    if (this.pingSent && Date.now() - this.pingSent >= DEAD_MS) {
      console.debug("silentauth: the shared worker stopped answering; starting a new one");
      this.restart();
      return;
    }
    if (!this.pingSent) {
      this.pingSent = Date.now();
      this.post({ t: "ping" });
    }
  }

  // restart connects to a new worker, binds every client again and sends
  // again every call that had no answer.
  restart() {
    if (this.port) {
      this.port.onmessage = null;
      this.port.close();
    }
    for (const id of [...this.frames.keys()]) this.closeFrame(id);
    this.start();
    const waiting = [...this.calls.values()];
    this.calls.clear();
    for (const c of this.clients) c._rebind();
    for (const call of waiting) this.send(call);
  }

  bye() {
    this.post({ t: "bye" });
    for (const id of [...this.frames.keys()]) this.closeFrame(id);
  }

  fail(err) {
    clearInterval(this.timer);
    this.port = null;
    connections.delete(this.url);
    removeEventListener("pagehide", this.onPageHide);
    removeEventListener("pageshow", this.onPageShow);
    document.removeEventListener("visibilitychange", this.onSignal);
    removeEventListener("focus", this.onSignal);
    removeEventListener("online", this.onSignal);
    removeEventListener("offline", this.onOffline);
    for (const call of this.calls.values()) call.reject(err);
    this.calls.clear();
  }

  // request sends msg and resolves with the engine's reply. client, when
  // given, is asked for its handle at every send (a new worker, a new handle).
  request(msg, client) {
    return new Promise((resolve, reject) => {
      this.send({ msg, client, resolve, reject, id: 0 });
    });
  }

  send(call) {
    call.id = ++this.nextId;
    this.calls.set(call.id, call);
    if (call.client && !call.client._handle) {
      // Bound again once the new worker answers create.
      call.client._afterBind(() => this.send(call));
      this.calls.delete(call.id);
      return;
    }
    this.post({ ...call.msg, id: call.id, ...(call.client ? { client: call.client._handle } : {}) });
  }

  receive(text) {
    if (typeof text !== "string") return;
    let m;
    try {
      m = JSON.parse(text);
    } catch {
      return;
    }
    if (!m || typeof m !== "object" || m.v !== PROTOCOL) return;
    switch (m.t) {
      case "pong":
        this.pingSent = 0;
        break;
      case "failed":
        this.fail(codedError("invalid_configuration", `the shared worker could not start the engine: ${m.error}`));
        break;
      case "reply": {
        const call = this.calls.get(m.id);
        if (!call) return;
        this.calls.delete(m.id);
        if (m.error) call.reject(sdkError(m.error));
        else call.resolve(m);
        break;
      }
      case "event":
        for (const c of this.clients) if (c._handle === m.client) c._event(m.name, m.payload);
        break;
      case "log":
        // The engine's debug lines and warnings, where the page's developer looks.
        if (typeof m.line === "string") (m.level === "warn" ? console.warn : console.debug)(`silentauth: ${m.line}`);
        break;
      case "openFrame":
        if (typeof m.frame === "number" && typeof m.url === "string") this.openFrame(m.frame, m.url);
        break;
      case "closeFrame":
        this.closeFrame(m.frame);
        break;
      case "navigate":
        if (typeof m.url === "string") location.assign(m.url);
        break;
      case "replaceLocation":
        if (typeof m.url === "string") history.replaceState(history.state, "", m.url);
        break;
      case "storage":
        if (typeof m.key !== "string" || !m.key.startsWith(TX_PREFIX)) return;
        try {
          if (typeof m.value === "string") sessionStorage.setItem(m.key, m.value);
          else sessionStorage.removeItem(m.key);
        } catch {
          // Storage blocked: the callback will report invalid_state.
        }
        break;
    }
  }

  // openFrame adds the hidden iframe the engine asked for and passes every
  // window message while it is open to the engine, which decides what to
  // accept (origin, source, type, state, nonce and signature are Go's).
  openFrame(id, url) {
    if (this.frames.has(id)) return;
    // As the in-page engine makes it (jsbridge/frame.go): hidden through the
    // CSSOM, and no referrer, since the page's URL is not the server's business.
    const iframe = document.createElement("iframe");
    for (const [k, v] of [["title", FRAME_TITLE], ["aria-hidden", "true"], ["tabindex", "-1"], ["width", "0"], ["height", "0"], ["referrerpolicy", "no-referrer"]]) {
      iframe.setAttribute(k, v);
    }
    iframe.style.cssText = "display:none;width:0;height:0;border:0;position:absolute";
    const onMessage = (/** @type {MessageEvent} */ e) => {
      let data;
      let problem = "";
      try {
        data = JSON.stringify(e.data);
        if (data === undefined) problem = "not serialisable";
        else if (data.length > 256 * 1024) {
          problem = `${data.length} bytes of JSON`;
          data = undefined;
        }
      } catch (err) {
        problem = `not serialisable: ${err && err.message}`;
      }
      this.post({ t: "frame", frame: id, kind: "message", origin: e.origin, fromFrame: e.source === iframe.contentWindow, ...(data !== undefined ? { data } : { problem }) });
    };
    addEventListener("message", onMessage);
    let navigated = false;
    // Inserting fires "load" for about:blank; only loads after src count.
    iframe.addEventListener("load", () => navigated && this.post({ t: "frame", frame: id, kind: "load" }));
    this.frames.set(id, { iframe, onMessage });
    (document.body || document.documentElement).appendChild(iframe);
    navigated = true;
    iframe.src = url;
  }

  closeFrame(id) {
    const f = this.frames.get(id);
    if (!f) return;
    this.frames.delete(id);
    removeEventListener("message", f.onMessage);
    f.iframe.remove();
  }
}

// workerStats is stats() of the engine this page's clients use (or used:
// after destroy, what the engine still holds is what a leak test asks),
// or null when the page never connected to one.
function workerStats() {
  const all = [...connections.values()];
  const conn = all.find((c) => c.clients.size > 0) || all.find((c) => c.port);
  return conn ? conn.request({ t: "stats" }).then((r) => r.value) : null;
}

// txStorage is this page's redirect transactions, sent with the redirect
// calls: the engine's sessionStorage is the calling page's.
function txStorage() {
  const out = {};
  try {
    for (let i = 0; i < sessionStorage.length; i++) {
      const k = sessionStorage.key(i);
      if (k && k.startsWith(TX_PREFIX)) out[k] = sessionStorage.getItem(k);
    }
  } catch {
    // Storage blocked: nothing to send.
  }
  return out;
}

// WorkerClient is Client's API served by the engine in the worker.
class WorkerClient {
  #conn;
  #options;
  #destroyed = false;
  #user = null;
  #handlers = new Map(EVENTS.map((name) => [name, new Set()]));
  /** @type {(() => void)[]} */
  #waiting = [];

  constructor(conn, options) {
    this.#conn = conn;
    this.#options = options;
    this._handle = "";
  }

  async _bind() {
    const r = await this.#conn.request({ t: "create", options: this.#options });
    this._handle = r.value.client;
    this.#user = r.user || null;
    this.#conn.clients.add(this);
    for (const fn of this.#waiting.splice(0)) fn();
  }

  _rebind() {
    this._handle = "";
    this.#conn.clients.delete(this);
    this._bind().catch((e) => console.warn("silentauth: could not bind the client to the new shared worker", e));
  }

  _afterBind(fn) {
    this.#waiting.push(fn);
  }

  _event(name, payload) {
    if (name === "renewed" && payload && payload.idTokenPayload) this.#user = payload.idTokenPayload;
    if (name === "session_ended") this.#user = null;
    const value = payload && typeof payload.error === "string" ? sdkError(payload) : payload;
    const handlers = this.#handlers.get(name);
    if (!handlers) return;
    for (const handler of [...handlers]) {
      try {
        handler(value);
      } catch (e) {
        console.error(`silentauth: a "${name}" handler threw`, e);
      }
    }
  }

  async #call(method, extra) {
    if (this.#destroyed) throw codedError("destroyed", "the client was destroyed");
    if ("params" in extra) extra = { ...extra, params: plain(extra.params) };
    const r = await this.#conn.request({ t: "call", method, ...extra }, this);
    this.#user = r.user || null;
    return r.value;
  }

  checkSession(params, callback) {
    if (typeof params === "function") {
      callback = params;
      params = undefined;
    }
    const result = this.#call("checkSession", { params });
    if (typeof callback !== "function") return result;
    result.then(
      (r) => invoke(callback, null, r),
      (e) => invoke(callback, e),
    );
    return undefined;
  }

  getTokenSilently(params) {
    return this.#call("getTokenSilently", { params });
  }

  getUser() {
    return this.#destroyed ? null : this.#user;
  }

  loginWithRedirect(params) {
    return this.#call("loginWithRedirect", { params, storage: txStorage() }).then(() => undefined);
  }

  handleRedirectCallback(url) {
    return this.#call("handleRedirectCallback", { url: url === undefined ? location.href : String(url), storage: txStorage() });
  }

  logout(params) {
    return this.#call("logout", { params, storage: txStorage() }).then(() => undefined);
  }

  // loginWithPopup needs the window opened inside the click, in this page,
  // and an engine that drives it from there: the page engine has that.
  loginWithPopup() {
    return Promise.reject(
      codedError("invalid_configuration", 'loginWithPopup is not available with engine: "shared-worker" yet; create this client with engine: "page" to use it'),
    );
  }

  // fetch is Client.fetch as the page engine does it: the engine gives the
  // headers (renewing if needed, a fresh DPoP proof when the token is bound)
  // and refuses URLs outside apiOrigins; a redirect is returned, never
  // followed with the token; an API's DPoP nonce goes back to the engine,
  // and a use_dpop_nonce refusal is sent once more with it.
  async fetch(input, init) {
    const request = new Request(input, init);
    await this.#call("checkApiUrl", { url: request.url });
    const allowed = (url) => this.#call("checkApiUrl", { url: String(url) }).then(() => true, () => false);
    const send = async () => {
      const auth = await this.getAuthHeaders(request.url, { method: request.method });
      const headers = new Headers(request.headers);
      for (const [name, value] of Object.entries(auth)) headers.set(name, value);
      const redirect = request.redirect === "error" ? "error" : "manual";
      const response = await fetch(new Request(request.clone(), { headers, redirect }));
      const nonce = response.headers.get("DPoP-Nonce");
      if (nonce && !(response.url && !(await allowed(response.url)))) {
        await this.#call("noteDpopNonce", { url: request.url, params: { nonce } }).catch(() => {});
      }
      return response;
    };
    let response = await send();
    if (response.status !== 401 || (response.url && !(await allowed(response.url)))) return response;
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
    const href = new URL(String(url), globalThis.location.href).href;
    return this.#call("getAuthHeaders", { url: href, params: { method: String(method).toUpperCase() } });
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
    if (!this.#destroyed) this.#call("startAutoRenew", {}).catch(() => {});
  }

  stopAutoRenew() {
    if (!this.#destroyed) this.#call("stopAutoRenew", {}).catch(() => {});
  }

  destroy() {
    if (this.#destroyed) return;
    this.#destroyed = true;
    for (const handlers of this.#handlers.values()) handlers.clear();
    this.#conn.clients.delete(this);
    if (this._handle) this.#conn.post({ t: "release", client: this._handle });
  }
}

// plain copies params now, as the in-page engine reads them at the call;
// what is not a plain object is refused here, as the engine would.
function plain(params) {
  if (params === undefined || params === null) return undefined;
  if (typeof params !== "object" || Array.isArray(params)) {
    throw codedError("invalid_configuration", `params: expected an object, got ${Array.isArray(params) ? "an array" : typeof params}`);
  }
  try {
    return JSON.parse(JSON.stringify(params));
  } catch (e) {
    throw codedError("invalid_configuration", `params: ${e && e.message}`, e);
  }
}
