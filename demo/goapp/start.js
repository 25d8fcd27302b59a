// Runs goapp.wasm with Go's own wasm_exec.js glue, once the page is parsed
// (the app writes into #log and listens on #login).
addEventListener("DOMContentLoaded", async () => {
  const go = new Go();
  const { instance } = await WebAssembly.instantiateStreaming(fetch("/goapp.wasm"), go.importObject);
  go.run(instance);
});
