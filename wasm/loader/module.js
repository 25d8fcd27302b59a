/* silentauth.mjs tail: the ES module's exports. */

// Written literally so bundlers see new URL(..., import.meta.url) and ship the wasm.
const defaultWasmUrl = new URL("./silentauth.wasm", import.meta.url).href;

export function createClient(options) {
  return createClientWith(defaultWasmUrl, options);
}

export const stats = runtimeStats;

export { SilentAuthError, isSilentAuthError };

export default { createClient, stats, SilentAuthError, isSilentAuthError };
