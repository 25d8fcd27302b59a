/* silentauth.js tail: the global `silentauth`. */

// Only known while this script runs; afterwards currentScript is another one.
const scriptUrl = (typeof document !== "undefined" && document.currentScript && document.currentScript.src) || globalThis.location.href;
const defaultWasmUrl = new URL("silentauth.wasm", scriptUrl).href;

globalThis.silentauth = Object.freeze({
  createClient: (options) => createClientWith(defaultWasmUrl, options),
  stats: runtimeStats,
  SilentAuthError,
  isSilentAuthError,
});
