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
// jsbridge.PopupName and the popup's size, as the in-page engine opens it:
// a second loginWithPopup while one is open reuses that window.
const POPUP_NAME = "silentauth-login";
const POPUP_WIDTH = 500;
const POPUP_HEIGHT = 640;
// How often the page looks at popup.closed: a closed window fires no event
// in its opener (checksession's popupPoll).
const POPUP_POLL_MS = 500;
// popup_blocked's description, as jsbridge.OpenPopup words it.
const POPUP_BLOCKED =
  "the browser blocked the login popup: call loginWithPopup directly from a click or key handler, before any await, or allow popups for this site";

// A new worker whose script has not answered a ping within this long is
// taken for one that cannot start: "auto" runs the engine in the page.
const START_MS = 5000;
// The marks of a start failure: the cause, in words, for the debug line.
const START_FAILURE = Symbol("silentauth.workerStart");

// AUTO_TRIES_WORKER: whether "auto" tries the SharedWorker first (and falls
// back to the page where it cannot start). Off until the worker placement
// does what the page does for the default: answer an anonymous visitor
// without loading the runtime (the signed-in marker), the head start, and
// naming the CSP directive behind a failure.
const AUTO_TRIES_WORKER = false;

// engineOf reads options.engine: "auto" (the default), "shared-worker" or "page".
function engineOf(options) {
  const e = options && options.engine !== undefined ? options.engine : "auto";
  if (!ENGINES.includes(e)) {
    throw codedError("invalid_configuration", `engine: expected "auto", "shared-worker" or "page", got ${JSON.stringify(e)}`);
  }
  return e;
}

/** @type {Map<string, WorkerConnection>} */
const connections = new Map();
// Worker URLs that could not start on this page, with the cause: later
// "auto" clients go to the page at once instead of trying again.
/** @type {Map<string, string>} */
const startFailures = new Map();

function workerUrlFor(defaultWorkerUrl, wasmUrl) {
  const u = new URL(defaultWorkerUrl);
  u.searchParams.set("wasm", wasmUrl);
  return u.href;
}

// startError is the rejection of a worker that cannot start: for
// engine: "shared-worker" the error itself, for "auto" the page's cue.
function startError(cause, err) {
  const e = codedError("invalid_configuration", `engine: "shared-worker": the SharedWorker cannot run the engine: ${cause}`, err);
  Object.defineProperty(e, START_FAILURE, { value: cause });
  return e;
}

// startFailureOf is the cause of a worker that could not start, or "" for
// any other error (a configuration the engine refused, say).
function startFailureOf(e) {
  return (e && e[START_FAILURE]) || "";
}

// workerClientOrCause is createWorkerClient for engine: "auto": a client
// in the worker, or the reason the engine must run in the page instead.
async function workerClientOrCause(workerUrl, options) {
  const known = startFailures.get(workerUrl);
  if (known) return { cause: known };
  try {
    return { client: await createWorkerClient(workerUrl, options) };
  } catch (e) {
    const cause = startFailureOf(e);
    if (!cause) throw e;
    startFailures.set(workerUrl, cause);
    return { cause };
  }
}

async function createWorkerClient(workerUrl, options) {
  if (typeof SharedWorker !== "function") throw startError("this browser has no SharedWorker");
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
    /** @type {Map<number, {win: Window, origin: string, onMessage: (e: MessageEvent) => void, timer: number, closedSent: boolean}>} */
    this.popups = new Map();
    this.nextPopup = 0;
    this.pingSent = 0;
    this.timer = 0;
    this.port = null;
    /** @type {SharedWorker | null} */
    this.worker = null;
    // Set once the first worker's script answered: from then on a silent
    // port is a worker the browser ended, not one that cannot start.
    this.started = false;
    this.startTimer = 0;
    // The failure that ended this connection; later calls get it at once.
    this.failure = null;
    this.unlistenCsp = () => {};
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
    const where = this.url.split("?")[0];
    // A CSP that blocks the worker shows only as an error event; the
    // violation says which directive.
    const seq = cspSeq;
    if (!this.started) {
      this.unlistenCsp();
      this.unlistenCsp = cspListen();
    }
    let worker;
    try {
      worker = new SharedWorker(this.url, { name: "silentauth" });
    } catch (e) {
      this.failStart(seq, `constructing it threw ${(e && e.name) || "an error"}: ${e && e.message}`, e);
      return;
    }
    this.worker = worker;
    worker.onerror = () => this.failStart(seq, `its script ${where} failed to load (is it served from this origin, as JavaScript?)`);
    this.port = worker.port;
    this.port.onmessage = (e) => this.receive(e.data);
    this.port.start();
    this.post({ t: "hello", visible: !document.hidden });
    // The script answers pings itself: a first pong says it runs.
    this.pingSent = Date.now();
    this.post({ t: "ping" });
    if (!this.started) {
      clearTimeout(this.startTimer);
      this.startTimer = setTimeout(() => this.failStart(seq, `its script ${where} did not answer within ${START_MS / 1000} s`), START_MS);
    }
    clearInterval(this.timer);
    this.timer = setInterval(() => this.ping(), PING_MS);
  }

  // failStart ends a connection whose worker cannot start, naming the CSP
  // directive that blocked it when the page reported one.
  failStart(seq, cause, err) {
    if (this.failure) return;
    cspSettle(seq).then(() => {
      const v = cspLog.find((x) => x.seq > seq && ["worker-src", "child-src", "script-src", "default-src"].includes(x.directive) && !["eval", "wasm-eval", "inline"].includes(x.blockedURI));
      const why = v ? `the Content-Security-Policy's ${v.directive} blocks ${this.url.split("?")[0]}; add 'self' to worker-src` : cause;
      this.fail(startError(why, err));
    });
  }

  post(msg) {
    if (!this.port) return;
    this.port.postMessage(JSON.stringify({ v: PROTOCOL, ...msg }));
  }

  // ping finds a worker the browser ended: its port stays open but silent.
  ping() {
    if (!this.started) return; // the start has its own bound
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
    this.closePort();
    for (const id of [...this.frames.keys()]) this.closeFrame(id);
    this.start();
    if (this.failure) return;
    const waiting = [...this.calls.values()];
    this.calls.clear();
    for (const c of this.clients) c._rebind();
    for (const call of waiting) this.send(call);
  }

  closePort() {
    if (this.worker) this.worker.onerror = null;
    this.worker = null;
    if (!this.port) return;
    this.port.onmessage = null;
    this.port.close();
    this.port = null;
  }

  bye() {
    this.post({ t: "bye" });
    for (const id of [...this.frames.keys()]) this.closeFrame(id);
    for (const id of [...this.popups.keys()]) this.closePopup(id);
  }

  fail(err) {
    if (this.failure) return;
    this.failure = err;
    clearInterval(this.timer);
    clearTimeout(this.startTimer);
    this.unlistenCsp();
    // A worker that answers after all must not keep a client for this
    // page: bye lets go of everything the page created there.
    this.bye();
    this.closePort();
    if (connections.get(this.url) === this) connections.delete(this.url);
    removeEventListener("pagehide", this.onPageHide);
    removeEventListener("pageshow", this.onPageShow);
    document.removeEventListener("visibilitychange", this.onSignal);
    removeEventListener("focus", this.onSignal);
    removeEventListener("online", this.onSignal);
    removeEventListener("offline", this.onOffline);
    for (const call of this.calls.values()) call.reject(err);
    this.calls.clear();
    for (const id of [...this.popups.keys()]) this.closePopup(id);
  }

  // request sends msg and resolves with the engine's reply. client, when
  // given, is asked for its handle at every send (a new worker, a new handle).
  request(msg, client) {
    return new Promise((resolve, reject) => {
      this.send({ msg, client, resolve, reject, id: 0 });
    });
  }

  send(call) {
    if (this.failure) {
      call.reject(this.failure);
      return;
    }
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
        if (!this.started) {
          this.started = true;
          clearTimeout(this.startTimer);
          this.unlistenCsp();
        }
        break;
      case "failed":
        // The wasm did not start in the worker; the page may still run it.
        this.fail(startError(`the engine did not start in it: ${m.error}`));
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
      case "navigatePopup":
        if (typeof m.popup === "number" && typeof m.url === "string") this.navigatePopup(m.popup, m.url);
        break;
      case "closePopup":
        this.closePopup(m.popup);
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

  // The popup of loginWithPopup opens here, in the click's handler, blank:
  // the engine in the worker builds the authorize URL, and waiting for it
  // would use up the click's user activation. The engine then sends
  // navigatePopup; the page passes it only the messages from that window,
  // from the server's origin, of type authorization_response, and says when
  // the window reads closed. The engine checks the answer as for an iframe.
  //
  // openPopup returns the new popup's number, or 0 when the browser refused.
  openPopup() {
    let win = null;
    try {
      win = window.open("", POPUP_NAME, popupFeatures());
    } catch {
      win = null;
    }
    if (!win) return 0;
    const id = ++this.nextPopup;
    const entry = { win, origin: "", onMessage: null, timer: 0, closedSent: false };
    entry.onMessage = (/** @type {MessageEvent} */ e) => {
      if (!entry.origin || e.origin !== entry.origin || e.source !== win) return;
      if (!e.data || typeof e.data !== "object" || e.data.type !== "authorization_response") return;
      let data;
      let problem = "";
      try {
        data = JSON.stringify(e.data);
        if (data.length > 256 * 1024) {
          problem = `${data.length} bytes of JSON`;
          data = undefined;
        }
      } catch (err) {
        problem = `not serialisable: ${err && err.message}`;
      }
      this.post({ t: "popup", popup: id, kind: "message", origin: e.origin, ...(data !== undefined ? { data } : { problem }) });
    };
    addEventListener("message", entry.onMessage);
    entry.timer = setInterval(() => this.checkPopup(id), POPUP_POLL_MS);
    this.popups.set(id, entry);
    return id;
  }

  // checkPopup tells the engine once that the window reads closed (closed
  // by the user, or cut off by Cross-Origin-Opener-Policy, which reads the same).
  checkPopup(id) {
    const p = this.popups.get(id);
    if (!p || p.closedSent) return;
    let closed = true;
    try {
      closed = p.win.closed;
    } catch {
      // Unreadable: it cannot answer either.
    }
    if (!closed) return;
    p.closedSent = true;
    clearInterval(p.timer);
    this.post({ t: "popup", popup: id, kind: "closed" });
  }

  navigatePopup(id, url) {
    const p = this.popups.get(id);
    if (!p) return;
    // An engine that asks afresh (a new worker after the old one was ended)
    // is told again if the window is closed.
    p.closedSent = false;
    try {
      p.origin = new URL(url).origin;
      // replace: no about:blank entry left in the popup's history.
      p.win.location.replace(url);
    } catch {
      // A window that cannot be sent anywhere will not answer either.
      p.closedSent = true;
      clearInterval(p.timer);
      this.post({ t: "popup", popup: id, kind: "closed" });
      return;
    }
    this.checkPopup(id);
  }

  closePopup(id) {
    const p = this.popups.get(id);
    if (!p) return;
    this.popups.delete(id);
    clearInterval(p.timer);
    removeEventListener("message", p.onMessage);
    try {
      p.win.close();
    } catch {
      // Already gone.
    }
  }
}

// popupFeatures centres the popup over this window, as jsbridge does.
function popupFeatures() {
  const left = Math.round((screenX || 0) + Math.max(0, ((outerWidth || 0) - POPUP_WIDTH) / 2));
  const top = Math.round((screenY || 0) + Math.max(0, ((outerHeight || 0) - POPUP_HEIGHT) / 2));
  return `popup,width=${POPUP_WIDTH},height=${POPUP_HEIGHT},left=${left},top=${top}`;
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

  // loginWithPopup opens the window now, before anything is awaited, while
  // the click's user activation lasts; the engine sends it to the server
  // once it has built the authorize URL. The window is closed, and its
  // listener and timer removed, however the call ends.
  loginWithPopup(params) {
    if (this.#destroyed) return Promise.reject(codedError("destroyed", "the client was destroyed"));
    try {
      params = plain(params);
    } catch (e) {
      return Promise.reject(e);
    }
    const popup = this.#conn.openPopup();
    if (!popup) {
      return Promise.reject(codedError("popup_blocked", POPUP_BLOCKED));
    }
    return this.#call("loginWithPopup", { params, popup }).finally(() => this.#conn.closePopup(popup));
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
