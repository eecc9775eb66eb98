// Starts the respondent app. A file rather than Trunk's inline loader, so the page's
// Content-Security-Policy can forbid inline scripts (script-src 'self'). Trunk writes the
// hashed names of the wasm-bindgen module and the wasm file into this script's tag.
//
// The study configuration and survey are asked for at once, while the app itself downloads
// and compiles; the app takes these two requests over (web/src/app.rs, `load`).
const early = (url) => {
  const p = fetch(url, { cache: "no-cache" });
  p.catch(() => {}); // a failure is the app's to report, when it looks
  return p;
};
window.plpPrefetch = { study: early("study.json"), survey: early("survey.json") };
const tag = document.querySelector("script[data-js][data-wasm]");
const { default: init } = await import(tag.dataset.js);
await init({ module_or_path: tag.dataset.wasm });
