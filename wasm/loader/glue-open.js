/* Go's wasm_exec.js runs inside this function, so that it leaves nothing on
 * the page: it would define globalThis.fs, process, path and Go where they
 * are missing, and a library that checks `typeof process` would then see a
 * fake Node. What it defines is taken off again as soon as it has run, and
 * put back only while Go starts (see silentauthGlue.run). */
const silentauthGlue = (() => {
  const GLUE_KEYS = ["fs", "process", "path", "Go"];
  /** @type {(PropertyDescriptor | undefined)[]} */
  const found = GLUE_KEYS.map((k) => Object.getOwnPropertyDescriptor(globalThis, k));
  // The glue writes Go's output with a bare `fs`: this is the binding it finds.
  /** @type {any} */
  let fs;
