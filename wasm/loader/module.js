/* silentauth.mjs tail: the ES module's exports. */

// Written literally so bundlers see new URL(..., import.meta.url) and ship the wasm.
const defaultWasmUrl = new URL("./silentauth.wasm", import.meta.url).href;
const defaultWorkerUrl = new URL("./silentauth-worker.js", import.meta.url).href;

/** @type {import("silentauth").SilentAuth["createClient"]} */
export function createClient(options) {
  return createClientWith(defaultWasmUrl, options, defaultWorkerUrl);
}

/** @type {import("silentauth").SilentAuth["stats"]} */
export const stats = runtimeStats;

export { SilentAuthError, isSilentAuthError };

/** @type {import("silentauth").SilentAuth} */
const silentauth = { createClient, stats, SilentAuthError, isSilentAuthError };
export default silentauth;
