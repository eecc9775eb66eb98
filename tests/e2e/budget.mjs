// The respondent app's budget, measured (a benchmark, not a test: it prints, it does not
// fail). `npm run budget` after `trunk build --release`.
//
// - Bundle: the release wasm and JavaScript in dist/ (wasm-bindgen's module and boot.js),
//   each gzip -9, in KB (1 KB = 1000 bytes), against 200 KB.
// - First render: headless Chromium (Debian's /usr/bin/chromium) loads dist/ from a local
//   static server, in a fresh browser context each time (empty cache); the time from
//   navigation start to the first page heading of the survey being in the DOM, median of
//   RUNS loads, against 500 ms; also with the CPU slowed 4x, as a slow phone would be. The
//   server publishes dist/demo/'s study.json and survey.json at the top, as `plp serve` does
//   a study's (without them the app first asks for study.json, then falls back to the demo).
//   The machine's load average is printed too: on a shared machine the figure moves with it.
//
//   PLP_E2E_DIST   the built app (default: ../../dist)
//   RUNS           loads per figure (default 9)

import { chromium } from "playwright-core";
import { createServer } from "node:http";
import { readFileSync, readdirSync, existsSync, statSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { loadavg, cpus } from "node:os";
import { join, dirname, extname } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const dist = process.env.PLP_E2E_DIST || join(here, "../../dist");
const runs = Number(process.env.RUNS || 9);
const BUNDLE_KB = 200;
const RENDER_MS = 500;

if (!existsSync(join(dist, "index.html"))) {
  console.error(`no ${dist}/index.html: run \`trunk build --release\` first`);
  process.exit(1);
}

// ---- bundle size
// Exactly `gzip -9` (zlib level 9 in Node gives slightly different figures).
const gz = (f) => execFileSync("gzip", ["-9", "-c", join(dist, f)], { maxBuffer: 1 << 26 }).length;
const files = readdirSync(dist).filter((f) => f.endsWith(".wasm") || f.endsWith(".js"));
let total = 0;
for (const f of files) {
  const raw = statSync(join(dist, f)).size;
  const z = gz(f);
  total += z;
  console.log(`  ${f.padEnd(40)} ${(raw / 1000).toFixed(1).padStart(7)} KB raw ${(z / 1000).toFixed(1).padStart(7)} KB gzip -9`);
}
console.log(`bundle (wasm + js, gzip -9): ${(total / 1000).toFixed(1)} KB of ${BUNDLE_KB} KB ${total / 1000 <= BUNDLE_KB ? "(within budget)" : "(OVER BUDGET)"}`);

// ---- first render
const types = { ".html": "text/html", ".js": "text/javascript", ".wasm": "application/wasm", ".css": "text/css", ".json": "application/json" };
const server = createServer((req, res) => {
  const path = decodeURIComponent(new URL(req.url, "http://x").pathname);
  const published = path === "/study.json" || path === "/survey.json";
  const file = join(dist, path === "/" ? "index.html" : published ? `demo${path}` : path);
  if (!file.startsWith(dist) || !existsSync(file) || !statSync(file).isFile()) {
    res.writeHead(404, { "content-type": "text/plain" });
    return res.end("not found");
  }
  res.writeHead(200, { "content-type": types[extname(file)] ?? "application/octet-stream" });
  res.end(readFileSync(file));
});
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const url = `http://127.0.0.1:${server.address().port}/`;

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});

// Runs before any of the page's scripts: notes when the first <h1> enters the DOM.
const probe = () => {
  const seen = () => {
    if (!window.__plpFirstHeading && document.querySelector("h1")) {
      window.__plpFirstHeading = performance.now();
    }
  };
  new MutationObserver(seen).observe(document, { childList: true, subtree: true });
};

async function firstRender(throttle) {
  const context = await browser.newContext();
  const page = await context.newPage();
  if (throttle > 1) {
    const cdp = await context.newCDPSession(page);
    await cdp.send("Emulation.setCPUThrottlingRate", { rate: throttle });
  }
  await page.addInitScript(probe);
  await page.goto(url);
  await page.waitForFunction(() => window.__plpFirstHeading !== undefined, null, { timeout: 30000 });
  const t = await page.evaluate(() => window.__plpFirstHeading);
  await context.close();
  return t;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};

try {
  console.log(`load average: ${loadavg().map((x) => x.toFixed(2)).join(" ")} on ${cpus().length} cores`);
  await firstRender(1); // warm the browser process itself
  for (const throttle of [1, 4]) {
    const times = [];
    for (let i = 0; i < runs; i++) times.push(await firstRender(throttle));
    const m = median(times);
    const label = throttle === 1 ? "first render" : "first render, CPU slowed 4x";
    console.log(
      `${label}: median ${m.toFixed(0)} ms of ${runs} loads (min ${Math.min(...times).toFixed(0)}, max ${Math.max(...times).toFixed(0)})` +
        (throttle === 1 ? ` against ${RENDER_MS} ms ${m <= RENDER_MS ? "(within budget)" : "(OVER BUDGET)"}` : ""),
    );
  }
} finally {
  await browser.close();
  server.close();
}
