  /* End of Go's wasm_exec.js. */
  /** @type {Record<string, any>} */
  const g = globalThis;
  /** @type {Record<string, any>} */
  const glue = {};
  for (const k of GLUE_KEYS) glue[k] = g[k];
  fs = glue.fs;

  // restore puts the page's globals back as they were before the glue ran.
  const restore = () => {
    GLUE_KEYS.forEach((k, i) => {
      const d = found[i];
      if (d) Object.defineProperty(globalThis, k, d);
      else delete g[k];
    });
  };
  restore();

  return {
    /** The glue's Go class, never the page's globalThis.Go. */
    Go: glue.Go,
    /**
     * run starts the program. Go's syscall package reads fs and process from
     * the global object while it initialises, which happens before run()
     * first returns; they are there for that moment only.
     * @param {any} go
     * @param {WebAssembly.Instance} instance
     * @returns {Promise<void>}
     */
    run(go, instance) {
      for (const k of ["fs", "process", "path"]) if (!(k in g)) g[k] = glue[k];
      try {
        return go.run(instance);
      } finally {
        restore();
      }
    },
  };
})();
