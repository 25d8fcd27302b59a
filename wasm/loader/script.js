/* silentauth.js tail: the global `silentauth`. */

// Only known while this script runs; afterwards currentScript is another one.
const currentScript = typeof document !== "undefined" ? /** @type {HTMLScriptElement | null} */ (document.currentScript) : null;
const scriptUrl = (currentScript && currentScript.src) || globalThis.location.href;
const defaultWasmUrl = new URL("silentauth.wasm", scriptUrl).href;
const defaultWorkerUrl = new URL("silentauth-worker.js", scriptUrl).href;

globalThis.silentauth = Object.freeze({
  createClient: (options) => createClientWith(defaultWasmUrl, options, defaultWorkerUrl),
  stats: runtimeStats,
  SilentAuthError,
  isSilentAuthError,
});
