/* silentauth-worker.js tail: the SharedWorker in which one Go engine serves
 * every page of the origin that asks for engine: "shared-worker". It follows
 * Go's wasm_exec.js, scoped by glue-open.js and glue-close.js. Pages speak
 * the protocol of jsbridge/wire/hub; this file only carries the text between
 * their ports and the hub, and answers pings, which say the worker is alive. */

const WORKER_BRIDGE_KEY = "__silentauth_bridge_v1";
const wasmUrl = new URL(new URL(self.location.href).searchParams.get("wasm") || "./silentauth.wasm", self.location.href).href;
let nextPage = 0;

async function startEngine() {
  const go = new silentauthGlue.Go();
  go.env = { SILENTAUTH_BRIDGE_KEY: WORKER_BRIDGE_KEY };
  const response = await fetch(wasmUrl, { credentials: "same-origin" });
  if (!response.ok) throw new Error(`could not load ${wasmUrl}: HTTP ${response.status}`);
  const type = (response.headers.get("Content-Type") || "").split(";")[0].trim().toLowerCase();
  const { instance } =
    type === "application/wasm" && typeof WebAssembly.instantiateStreaming === "function"
      ? await WebAssembly.instantiateStreaming(response, go.importObject)
      : await WebAssembly.instantiate(await response.arrayBuffer(), go.importObject);
  silentauthGlue.run(go, instance);
  const bridge = self[WORKER_BRIDGE_KEY];
  delete self[WORKER_BRIDGE_KEY];
  if (!bridge || typeof bridge.startHub !== "function") throw new Error("the Go runtime registered no hub");
  const hub = bridge.startHub(instance.exports.mem);
  if (hub instanceof Error) throw hub;
  return hub;
}

const engine = startEngine();
engine.catch((e) => console.error("silentauth: the shared worker could not start the engine", e));
// Once the engine runs, pongs say so: a page then leaves the first silent
// request to it instead of starting one ahead (the head start). exchange:
// this engine takes the code exchange a head start sent early (an older
// one would send its own, and the page's would have spent the code).
let up = false;
engine.then(() => { up = true; }, () => {});

self.onconnect = (event) => {
  const port = event.ports[0];
  const id = String(++nextPage);
  let hub = null;
  const early = [];
  port.onmessage = (e) => {
    const text = e.data;
    if (typeof text !== "string") return;
    // Pings are answered here, so that a busy engine is not taken for a dead one.
    if (text.startsWith('{"v":1,"t":"ping"')) {
      port.postMessage(up ? '{"v":1,"t":"pong","up":true,"exchange":true}' : '{"v":1,"t":"pong","exchange":true}');
      return;
    }
    if (hub) hub.receive(id, text);
    else early.push(text);
  };
  // Where the browser tells that a port's page is gone, the hub hears it
  // too; elsewhere pages say bye on pagehide.
  port.addEventListener("close", () => hub && hub.disconnect(id));
  port.start();
  engine.then(
    (h) => {
      hub = h;
      hub.connect(id, (text) => port.postMessage(text));
      for (const text of early.splice(0)) hub.receive(id, text);
    },
    (e) => port.postMessage(JSON.stringify({ v: 1, t: "failed", error: String((e && e.message) || e) })),
  );
};
