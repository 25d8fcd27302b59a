/* silentauth page side of the SharedWorker placement (engine: "shared-worker"),
 * shared by both loaders. The Go engine runs in silentauth-worker.js; this
 * page keeps only what needs a document: the hidden iframe the engine asks
 * for, redirects, and page signals. Messages are JSON text of protocol
 * version 1 (jsbridge/wire/hub/protocol.go is the engine's reading of them). */

const PROTOCOL = 1;
const ENGINES = ["auto", "shared-worker", "page"];
// A port that sends nothing, not even the answer to a ping, for this long
// is a worker the browser ended: the page starts a new one and sends again
// what was pending. The worker answers pings from JavaScript, but not while
// Go runs on its thread: on a starved CPU (a busy phone, a loaded machine)
// that took over 3 s, and a page that restarts a live worker binds its
// clients twice and renews twice. A worker that really ended is rare (the
// browser ends it with its last page, when no page is left to notice).
const PING_MS = 2000;
const DEAD_MS = 10000;
const TX_PREFIX = "silentauth.tx.";
// The response headers the engine reads (platform.ResponseHeaders in Go),
// all an early code exchange's answer carries to the worker.
const EXCHANGE_HEADERS = ["cache-control", "content-type", "expires", "dpop-nonce", "retry-after"];
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
// back to the page where it cannot start). Both placements share what the
// default needs: the anonymous visitor's answer without an engine (the
// signed-in marker), the head start, errors explained by the page's CSP.
const AUTO_TRIES_WORKER = true;

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

// engineError rebuilds, from the worker's message, the Error the engine
// failed with. In the page, Go rejects and emits an Error carrying error,
// error_description (and state, retryAfter), which the Client keeps as the
// SilentAuthError's cause; the worker's answer crosses as plain data, so
// the page side makes the same Error, and both placements give one shape.
function engineError(e) {
  return Object.assign(new Error(e.error_description || e.error), e);
}

// startFailureOf is the cause of a worker that could not start, or "" for
// any other error (a configuration the engine refused, say).
function startFailureOf(e) {
  return (e && e[START_FAILURE]) || "";
}

// workerEngineOrCause is workerEngineFor for engine: "auto": an engine in
// the worker, or the reason it must run in the page instead.
async function workerEngineOrCause(workerUrl, options, emit, markerKey, headStart) {
  const known = startFailures.get(workerUrl);
  if (known) return { cause: known };
  try {
    return { engine: await workerEngineFor(workerUrl, options, emit, markerKey, headStart) };
  } catch (e) {
    const cause = startFailureOf(e);
    if (!cause) throw e;
    startFailures.set(workerUrl, cause);
    return { cause };
  }
}

// workerEngineFor connects to the worker (starting it if no page of the
// origin has) and binds a client of the engine there, emitting to emit.
// headStart, if given, makes the page's head start (prestart): taken on
// this page's first connection where the worker's engine is not running
// yet, so that the first silent request's iframe loads while the engine
// boots, as in the page placement. The engine adopts it and checks its
// answer as any other, or has the page drop it.
async function workerEngineFor(workerUrl, options, emit, markerKey, headStart) {
  if (typeof SharedWorker !== "function") throw startError("this browser has no SharedWorker");
  let conn = connections.get(workerUrl);
  let head = null;
  if (!conn) {
    conn = new WorkerConnection(workerUrl);
    connections.set(workerUrl, conn);
    if (headStart && !(await conn.warm) && !conn.failure) head = conn.head = headStart();
    // A worker that does not take an early code exchange must get the code unspent.
    if (head && !conn.exchanges) head.noExchange();
  }
  const opts = { ...(options || {}) };
  delete opts.engine;
  delete opts.wasmUrl;
  const engine = new WorkerEngine(conn, opts, emit, markerKey, head);
  try {
    await engine._bind();
  } catch (e) {
    if (head) head.discard();
    throw e;
  }
  return engine;
}

class WorkerConnection {
  constructor(url) {
    this.url = url;
    this.nextId = 0;
    /** @type {Map<number, any>} */
    this.calls = new Map();
    /** @type {Set<WorkerEngine>} */
    this.clients = new Set();
    /** @type {Map<number, {iframe: HTMLIFrameElement, onMessage: ((e: MessageEvent) => void) | null, head: any}>} */
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
    // The page's head start, while the engine may adopt it; warm settles
    // at the first pong: true where the worker's engine already runs.
    this.head = null;
    this.warm = new Promise((resolve) => { this.onWarm = resolve; });
    // Set at the first pong: the worker takes the head start's early code exchange.
    this.exchanges = false;
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
    this.onWarm(false);
    if (this.head) this.head.discard();
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
    this.pingSent = 0; // any message says the worker is alive
    switch (m.t) {
      case "pong":
        if (!this.started) this.exchanges = m.exchange === true;
        this.onWarm(m.up === true);
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
        if (m.error && typeof m.error === "object") call.reject(sdkError(engineError(m.error)));
        else if (m.error) call.reject(sdkError(m.error));
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
      case "adoptFrame":
        if (typeof m.frame === "number" && typeof m.url === "string") this.adoptFrame(m.frame, m.url);
        break;
      case "dropHead":
        if (this.head) this.head.dropRequest();
        break;
      case "takeExchange":
        if (typeof m.xid === "number" && typeof m.url === "string" && typeof m.body === "string") this.giveExchange(m.xid, m.url, m.body);
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
      case "marker":
        // The engine's signed-in marker, kept where the loader reads it.
        if (typeof m.key === "string" && m.key.startsWith(MARKER_PREFIX)) writeMarker(m.key, typeof m.value === "string" ? m.value : null);
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
    const onMessage = this.frameMessages(id, () => iframe);
    addEventListener("message", onMessage);
    let navigated = false;
    // Inserting fires "load" for about:blank; only loads after src count.
    iframe.addEventListener("load", () => navigated && this.post({ t: "frame", frame: id, kind: "load" }));
    this.frames.set(id, { iframe, onMessage, head: null });
    (document.body || document.documentElement).appendChild(iframe);
    navigated = true;
    iframe.src = url;
  }

  // adoptFrame makes the head start's iframe the engine's frame id: what it
  // posted before is delivered first. Where it is gone (its timeout
  // passed), the page opens url in an iframe of its own.
  adoptFrame(id, url) {
    if (this.frames.has(id)) return;
    let iframe = null;
    const head = this.head;
    iframe = head ? head.attach(this.frameMessages(id, () => iframe), () => this.post({ t: "frame", frame: id, kind: "load" })) : null;
    if (!iframe) {
      this.openFrame(id, url);
      return;
    }
    this.frames.set(id, { iframe, onMessage: null, head });
  }

  // giveExchange answers the engine's takeExchange with the code exchange
  // the head start sent early, if it is that request: the headers the
  // engine reads and the body as text; the engine checks all of it.
  async giveExchange(xid, url, body) {
    const answer = { t: "exchange", xid };
    try {
      const held = this.head ? this.head.takeExchange(url, body) : null;
      const s = held ? await held : null;
      const r = s ? await s.response : null;
      if (!r) answer.none = true;
      else {
        const headers = {};
        for (const k of EXCHANGE_HEADERS) {
          const v = r.headers.get(k);
          if (v !== null) headers[k] = v;
        }
        Object.assign(answer, { status: r.status, headers, body: await r.text(), sentAt: s.sentAt });
      }
    } catch (err) {
      answer.problem = String((err && err.message) || err) || "fetch failed";
    }
    this.post(answer);
  }

  // frameMessages is the listener that passes every window message to the
  // engine while frame id is open, saying whether it came from its iframe.
  frameMessages(id, iframeOf) {
    return (/** @type {MessageEvent} */ e) => {
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
      const iframe = iframeOf();
      this.post({ t: "frame", frame: id, kind: "message", origin: e.origin, fromFrame: !!iframe && e.source === iframe.contentWindow, ...(data !== undefined ? { data } : { problem }) });
    };
  }

  closeFrame(id) {
    const f = this.frames.get(id);
    if (!f) return;
    this.frames.delete(id);
    if (f.onMessage) removeEventListener("message", f.onMessage);
    // The head start's listeners go with its iframe.
    if (f.head) f.head.detach();
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

// WorkerEngine is the engine behind a Client when it runs in the worker:
// the methods the page's Go client has, each a message to the engine. The
// Client around it does what both placements share: the anonymous
// visitor's answer, errors as SilentAuthErrors explained by the page's CSP
// violations, events, fetch, and destroy.
class WorkerEngine {
  #conn;
  #options;
  #emit;
  #user = null;
  /** @type {(() => void)[]} */
  #waiting = [];

  #head;

  constructor(conn, options, emit, markerKey, head) {
    this.#conn = conn;
    this.#options = options;
    this.#emit = emit;
    this.#head = head;
    this._ownsHead = !!head;
    this._handle = "";
    this._markerKey = markerKey;
  }

  async _bind() {
    // The marker as this page sees it: the worker has none of its own.
    const marker = this._markerKey ? readMarker(this._markerKey) : null;
    /** @type {Record<string, unknown>} */
    const msg = { t: "create", options: this.#options };
    if (this._markerKey) msg.markerKey = this._markerKey;
    if (typeof marker === "string") msg.marker = marker;
    // The head start's request goes with the first create only; one whose
    // iframe is not in yet is not waited for long (its discovery is slow).
    const head = this.#head;
    this.#head = null;
    if (head) {
      let timer;
      const req = await Promise.race([head.takeRequest(), new Promise((resolve) => { timer = setTimeout(resolve, PRESTART_GATE_MS, null); })]);
      clearTimeout(timer);
      if (req) msg.head = this.#conn.exchanges ? { ...req, exchange: true } : req;
      else head.dropRequest();
    }
    const r = await this.#conn.request(msg);
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
    this.#emit(name, payload && typeof payload === "object" && typeof payload.error === "string" ? engineError(payload) : payload);
  }

  async #call(method, extra) {
    if ("params" in extra) extra = { ...extra, params: plain(extra.params) };
    const r = await this.#conn.request({ t: "call", method, ...extra }, this);
    this.#user = r.user || null;
    return r.value;
  }

  checkSession(params) {
    return this.#call("checkSession", { params });
  }

  getTokenSilently(params) {
    return this.#call("getTokenSilently", { params });
  }

  getUser() {
    return this.#user;
  }

  loginWithRedirect(params) {
    return this.#call("loginWithRedirect", { params, storage: txStorage() });
  }

  handleRedirectCallback(url) {
    return this.#call("handleRedirectCallback", { url, storage: txStorage() });
  }

  logout(params) {
    return this.#call("logout", { params, storage: txStorage() });
  }

  // loginWithPopup opens the window now, before anything is awaited, while
  // the click's user activation lasts (the Client calls this without an
  // await in between); the engine sends it to the server once it has built
  // the authorize URL. The window is closed, and its listener and timer
  // removed, however the call ends.
  loginWithPopup(params) {
    const copy = plain(params);
    const popup = this.#conn.openPopup();
    if (!popup) return Promise.reject(codedError("popup_blocked", POPUP_BLOCKED));
    return this.#call("loginWithPopup", { params: copy, popup }).finally(() => this.#conn.closePopup(popup));
  }

  // checkApiUrl is null for a URL the token may go to, else the refusal.
  checkApiUrl(url) {
    return this.#call("checkApiUrl", { url }).then(() => null, (e) => e);
  }

  noteDpopNonce(url, nonce) {
    this.#call("noteDpopNonce", { url, params: { nonce } }).catch(() => {});
  }

  getAuthHeaders(url, method) {
    return this.#call("getAuthHeaders", { url, params: { method } });
  }

  startAutoRenew() {
    this.#call("startAutoRenew", {}).catch(() => {});
  }

  stopAutoRenew() {
    this.#call("stopAutoRenew", {}).catch(() => {});
  }

  destroy() {
    // What the engine did not take of the head start.
    if (this._ownsHead && this.#conn.head) this.#conn.head.discard();
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
