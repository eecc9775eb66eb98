// End-to-end tests of the respondent app in real headless Chromium (Debian's /usr/bin/chromium,
// driven by playwright-core). Run by .ci/web, which builds dist/ with Trunk, creates a study,
// serves both with `plp serve --web dist` and sets:
//
//   PLP_E2E_URL     the app's address (http://127.0.0.1:PORT/)
//   PLP_E2E_STUDY   the study folder being served
//   PLP_E2E_PLP     the plp binary
//   PLP_E2E_DIST    the built app (served again by a bare static server for the demo test)
//   PLP_E2E_OUT     where screenshots and downloads go (not committed)
//   PLP_PASSPHRASE  the study key's passphrase
//
// Respondents are driven from the published survey definition: a plan gives every question
// an answer, the driver answers whatever the app shows (branching decides), remembers what
// it typed, and the CLI must give exactly that back (ingest, then a preview export).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { execFileSync } from "node:child_process";
import { createServer } from "node:http";
import { readFileSync, mkdirSync, existsSync, statSync } from "node:fs";
import { join, dirname, extname } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const BASE = need("PLP_E2E_URL");
const STUDY = need("PLP_E2E_STUDY");
const PLP = need("PLP_E2E_PLP");
const DIST = process.env.PLP_E2E_DIST || join(here, "../../dist");
const OUT = process.env.PLP_E2E_OUT || join(here, "../../target/e2e");
const ORIGIN = new URL(BASE).origin;
const AXE = readFileSync(join(here, "node_modules/axe-core/axe.min.js"), "utf8");
const AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"];
mkdirSync(OUT, { recursive: true });

function need(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run the tests with bash .ci/web`);
  return v;
}

/** Runs plp on the served study and returns its standard output. */
function plp(...args) {
  return execFileSync(PLP, ["--study", STUDY, ...args], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });
}

let browser;
// The survey definition as the server publishes it (top-level await: the plans need it).
const survey = await (await fetch(new URL("survey.json", BASE))).json();
/** Every request any page made, across all tests: [url, test name]. */
const requests = [];
/** What each submitted respondent typed: { label, answers: {key: value} }. */
const submitted = [];

before(async () => {
  browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
});

after(async () => {
  await browser?.close();
});

/**
 * A fresh context (its own storage) and page, recording requests and console errors.
 * `allowErrors` lists console messages that are expected (a refused upload logs one).
 */
async function open(t, { allowErrors = [], url = BASE, ...options } = {}) {
  const context = await browser.newContext({
    viewport: { width: 1024, height: 900 },
    acceptDownloads: true,
    ...options,
  });
  const page = await context.newPage();
  const errors = [];
  const origin = new URL(url).origin;
  page.on("request", (r) => requests.push([r.url(), origin, t.name]));
  page.on("console", (m) => {
    if (m.type() === "error" && !allowErrors.some((a) => m.text().includes(a))) {
      errors.push(m.text());
    }
  });
  page.on("pageerror", (e) => errors.push(`uncaught: ${e.message}`));
  await page.goto(url);
  await page.waitForSelector("h1");
  return {
    page,
    context,
    errors,
    close: async () => {
      await context.close();
      assert.deepEqual(errors, [], "the page logged errors");
    },
  };
}

async function heading(page) {
  return (await page.textContent("h1")).trim();
}

/** axe-core on the page as it is: zero WCAG 2.0/2.1 A and AA violations. */
async function axe(page, what) {
  // DevTools evaluation is not subject to the page's CSP (an injected <script> would be).
  await page.evaluate(AXE);
  const result = await page.evaluate(
    (tags) => window.axe.run(document, { runOnly: { type: "tag", values: tags } }),
    AXE_TAGS,
  );
  const v = result.violations.map(
    (x) => `${x.id} (${x.impact}): ${x.help}\n    ${x.nodes.map((n) => n.target.join(" ")).join("\n    ")}`,
  );
  assert.deepEqual(v, [], `axe violations on ${what}`);
  return result.passes.length;
}

// ---------------------------------------------------------------------------------------
// What respondents answer

/**
 * The answer plan of a respondent: branch choices, a variant number that varies the other
 * answers, and the pair code and memorable word.
 */
function plan({ seed, code, word, branch }) {
  const answers = {};
  for (const section of survey.sections) {
    for (const q of section.questions) {
      const n = q.number + seed;
      const opts = q.options?.map((o) => o.id) ?? [];
      if (branch[q.id] !== undefined) {
        answers[q.id] = branch[q.id];
        continue;
      }
      switch (q.kind) {
        case "single":
          answers[q.id] = opts[n % opts.length];
          break;
        case "multiple": {
          const pick = new Set([opts[n % opts.length], opts[(n + 2) % opts.length]]);
          if (seed === 1 && opts.includes("other")) pick.add("other");
          answers[q.id] = opts.filter((o) => pick.has(o));
          if (answers[q.id].includes("other")) {
            answers[`${q.id}_other`] = `Other for ${q.id}: “naïve” café, 100% & <b>`;
          }
          break;
        }
        case "rating":
          // Seed 2 leaves optional ratings blank.
          if (!q.required && seed === 2) break;
          answers[q.id] = q.min + (n % (q.max - q.min + 1));
          break;
        case "short_text":
        case "long_text":
          // Optional text is blank now and then (a blank answer is never sent).
          if (!q.required && (q.number + seed) % 3 === 0) break;
          answers[q.id] =
            q.kind === "long_text"
              ? `Long answer to ${q.id} (respondent ${seed}): first line, "quoted", 1,2,3;\nsecond line — ünïcødé ✓`
              : `Short ${q.id} r${seed}`;
          break;
      }
    }
  }
  return { seed, code, word, answers };
}

// Different branches: q8 role changed yes/no, q20 attended/not, q29 good match/not,
// q49 successful/not (definitely/somewhat lead to q50, not particularly/definitely not to q51).
const RESPONDENT_A = plan({
  seed: 1,
  code: "k",
  // NFKC and lower-casing happen in the browser (String.prototype.normalize, toLowerCase)
  // and in plp natively: fullwidth letters, a ligature, a no-break space, a final sigma.
  word: "Ｐｕｒｐｌｅ\u00a0 ＫＥＴＴＬＥ ﬁsh",
  branch: { q3: "bme", q4: "lt3", q8: "yes", q18: "yes", q20: "multiple", q29: "yes", q32: "yes", q33: "no", q34: "yes", q35: "no", q49: "somewhat", q53: "partly", q61: "no" },
});
const RESPONDENT_B = plan({
  seed: 2,
  code: "K",
  word: "Gravel ΟΔΟΣ",
  branch: { q3: "senior_leader", q4: "3to6", q8: "no", q18: "no", q20: "no", q29: "no", q32: "no", q49: "definitely_not", q53: "yes", q61: "yes" },
});
const RESPONDENT_C = plan({
  seed: 3,
  code: "zq",
  word: "lantern 42",
  branch: { q3: "both", q4: "6to9", q8: "yes", q20: "all", q29: "no", q49: "neither", q61: "not_fully" },
});

/** The section whose title is the page's heading. */
async function currentSection(page) {
  const h = await heading(page);
  const s = survey.sections.find((x) => x.title === h);
  assert.ok(s, `the page "${h}" is not a section of the survey`);
  return s;
}

async function visible(page, id) {
  return (await page.$(`#${id}`)) !== null;
}

/** The id of a question's first control, as the app draws it. */
function controlId(q) {
  return ["single", "multiple", "rating"].includes(q.kind) ? `q-${q.id}-1` : `q-${q.id}`;
}

/** The 1-based index of an option (or scale point) in a question's controls. */
function optionIndex(q, value) {
  if (q.kind === "rating") return value - q.min + 1;
  const i = q.options.findIndex((o) => o.id === value);
  assert.ok(i >= 0, `${q.id} has no option ${value}`);
  return i + 1;
}

// ---- the mouse driver ----

async function mouseAnswer(page, q, r, typed) {
  const a = r.answers[q.id];
  switch (q.kind) {
    case "pair_code":
      await page.fill(`#q-${q.id}`, r.code);
      return;
    case "memorable_word":
      await page.fill(`#q-${q.id}`, r.word);
      await page.fill(`#q-${q.id}-again`, r.word.toUpperCase());
      return;
    case "single":
    case "rating":
      if (a === undefined) return;
      await page.click(`label[for="q-${q.id}-${optionIndex(q, a)}"]`);
      break;
    case "multiple":
      for (const o of a) await page.check(`#q-${q.id}-${optionIndex(q, o)}`);
      if (a.includes("other")) {
        await page.fill(`#q-${q.id}-other`, r.answers[`${q.id}_other`]);
        typed[`${q.id}_other`] = r.answers[`${q.id}_other`];
      }
      break;
    default:
      if (a === undefined) return;
      await page.fill(`#q-${q.id}`, a);
  }
  typed[q.id] = a;
}

// ---- the keyboard driver: Tab, Shift+Tab, Space, Enter, arrow keys and typing only ----

/** Presses Tab until the focused element satisfies `pred` (run in the page). */
async function tabTo(page, pred, arg, what) {
  for (let i = 0; i < 300; i++) {
    if (await page.evaluate(pred, arg)) return;
    await page.keyboard.press("Tab");
  }
  assert.fail(`Tab never reached ${what}`);
}

const focusIs = (id) => document.activeElement?.id === id;
const focusOnButton = (text) =>
  document.activeElement?.tagName === "BUTTON" && document.activeElement.textContent.trim().startsWith(text);

async function tabToId(page, id) {
  await tabTo(page, focusIs, id, `#${id}`);
}

async function keyboardAnswer(page, q, r, typed) {
  const a = r.answers[q.id];
  switch (q.kind) {
    case "pair_code":
      await tabToId(page, `q-${q.id}`);
      await page.keyboard.type(r.code);
      return;
    case "memorable_word":
      await tabToId(page, `q-${q.id}`);
      await page.keyboard.type(r.word);
      await page.keyboard.press("Tab");
      await page.keyboard.type(r.word);
      return;
    case "single":
    case "rating": {
      if (a === undefined) return;
      // Tab stops once in a radio group, on its first button when none is chosen; the
      // arrow keys then move the choice.
      await tabToId(page, `q-${q.id}-1`);
      const i = optionIndex(q, a);
      const checked = (k) => page.waitForFunction((id) => document.getElementById(id)?.checked, `q-${q.id}-${k}`);
      if (i === 1) {
        await page.keyboard.press("Space");
        await checked(1);
      }
      // One key at a time, as a person would: each choice re-renders the page.
      for (let k = 2; k <= i; k++) {
        await page.keyboard.press("ArrowDown");
        await checked(k);
      }
      assert.ok(await page.isChecked(`#q-${q.id}-${i}`), `${q.id}: ${a} is chosen by keyboard`);
      break;
    }
    case "multiple":
      for (const o of a) {
        const id = `q-${q.id}-${optionIndex(q, o)}`;
        await tabToId(page, id);
        await page.keyboard.press("Space");
        await page.waitForFunction((id) => document.getElementById(id)?.checked, id);
      }
      if (a.includes("other")) {
        await tabToId(page, `q-${q.id}-other`);
        await page.keyboard.type(r.answers[`${q.id}_other`]);
        typed[`${q.id}_other`] = r.answers[`${q.id}_other`];
      }
      break;
    default:
      if (a === undefined) return;
      await tabToId(page, `q-${q.id}`);
      await page.keyboard.type(a);
  }
  typed[q.id] = a;
}

/**
 * Answers the questions shown on the current page (branching shows more as it goes), in
 * page order, then goes on. Returns the section answered.
 */
async function answerPage(page, r, typed, keyboard) {
  const section = await currentSection(page);
  for (const q of section.questions) {
    if (!(await visible(page, controlId(q)))) continue;
    if (keyboard) await keyboardAnswer(page, q, r, typed);
    else await mouseAnswer(page, q, r, typed);
  }
  if (keyboard) {
    await tabTo(page, focusOnButton, "Next", "the Next button");
    await page.keyboard.press("Enter");
  } else {
    await page.click("form button[type=submit]");
  }
  await page.waitForFunction((t) => document.querySelector("h1")?.textContent.trim() !== t, section.title);
  return section;
}

/** Consent on the information sheet. */
async function start(page, keyboard) {
  assert.equal(await heading(page), "Information for participants");
  if (keyboard) {
    await tabToId(page, "consent");
    await page.keyboard.press("Space");
    await tabTo(page, focusOnButton, "Start the survey", "the Start button");
    await page.keyboard.press("Enter");
  } else {
    await page.check("#consent");
    await page.click("text=Start the survey");
  }
  await page.waitForFunction(() => document.querySelector("h1")?.textContent.trim() !== "Information for participants");
}

const REVIEW = "Check your answers before you submit them";

/** Answers pages until the review page. */
async function fillToReview(page, r, typed, keyboard, stopAfter) {
  for (let guard = 0; guard < 40; guard++) {
    if ((await heading(page)) === REVIEW) return;
    const s = await answerPage(page, r, typed, keyboard);
    if (stopAfter && s.id === stopAfter) return;
  }
  assert.fail("the survey never reached the review page");
}

async function submit(page, keyboard) {
  assert.equal(await heading(page), REVIEW);
  if (keyboard) {
    await tabTo(page, focusOnButton, "Submit my answers", "the Submit button");
    await page.keyboard.press("Enter");
  } else {
    await page.click("text=Submit my answers");
  }
  await page.waitForFunction(() => {
    const h = document.querySelector("h1")?.textContent.trim();
    return h && h !== "Check your answers before you submit them" && h !== "Sending…";
  });
}

/** Everything in web storage, as text. */
async function storageDump(page) {
  return page.evaluate(() => {
    const out = [];
    for (const s of [localStorage, sessionStorage]) {
      for (let i = 0; i < s.length; i++) out.push(`${s.key(i)}=${s.getItem(s.key(i))}`);
    }
    return out;
  });
}

// ---------------------------------------------------------------------------------------
// The tests

test("the information sheet loads under the CSP with no errors, and passes axe", async (t) => {
  const res = await fetch(BASE);
  const csp = res.headers.get("content-security-policy");
  assert.match(csp, /default-src 'self'/);
  assert.match(csp, /connect-src 'self'/);
  assert.doesNotMatch(csp, /'unsafe-inline'|'unsafe-eval'|https?:/);
  const html = await res.text();
  assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/i, "no inline script");

  const p = await open(t);
  assert.equal(await heading(p.page), "Information for participants");
  assert.match(await p.page.textContent("main"), /Information sheet, version \d/);
  assert.equal(await p.page.$(".demo-banner"), null, "a served study is not the demo");
  await axe(p.page, "the information sheet");

  // Start without consent: the error summary shows, takes focus, links to the box.
  await p.page.click("text=Start the survey");
  await p.page.waitForSelector("#error-summary");
  assert.equal(await p.page.evaluate(() => document.activeElement.id), "error-summary");
  await axe(p.page, "the information sheet with an error");
  await p.close();
});

test("a question page with errors shown passes axe, and its error links reach the fields", async (t) => {
  const p = await open(t);
  await start(p.page, false);
  assert.equal(await p.page.evaluate(() => document.activeElement.id), "page-heading", "focus moves to the heading");
  await p.page.click("form button[type=submit]");
  await p.page.waitForSelector("#error-summary li");
  const links = await p.page.$$eval("#error-summary a", (as) => as.map((a) => a.getAttribute("href")));
  assert.deepEqual(links, ["#q-q1", "#q-q2", "#q-q3-1"]);
  assert.equal(await p.page.getAttribute("#q-q1", "aria-invalid"), "true");
  await axe(p.page, "a question page with errors shown");
  await p.page.click('#error-summary a[href="#q-q2"]');
  assert.equal(await p.page.evaluate(() => document.activeElement.id), "q-q2");
  // Usable at 375 px wide: nothing scrolls sideways.
  await p.page.setViewportSize({ width: 375, height: 800 });
  assert.ok(await p.page.evaluate(() => document.documentElement.scrollWidth <= 375), "no horizontal scrolling at 375 px");
  await p.close();
});

test("respondent A (mouse): reload mid-survey restores an unreadable draft; review, submit, receipt pass axe", async (t) => {
  const p = await open(t);
  const typed = {};
  await start(p.page, false);
  await fillToReview(p.page, RESPONDENT_A, typed, false, "joining");
  const at = await heading(p.page);

  // Nothing readable is kept on the device.
  const stored = await storageDump(p.page);
  assert.ok(stored.length >= 2, `a draft and its key are kept: ${stored}`);
  const secrets = [RESPONDENT_A.word, "Ｐｕｒｐｌｅ", "purple", "kettle", typed.q13, "bme_network", "senior", '"q', "{", "lt3"];
  for (const s of stored) {
    for (const x of secrets.filter(Boolean)) {
      assert.ok(!s.toLowerCase().includes(x.toLowerCase()), `web storage holds "${x}": ${s}`);
    }
  }

  await p.page.reload();
  await p.page.waitForSelector("h1");
  // The word is never saved: the app asks for it again, then returns where we were.
  assert.equal(await heading(p.page), survey.sections[0].title);
  assert.match(await p.page.textContent("main"), /Welcome back/);
  assert.equal(await p.page.inputValue("#q-q1"), RESPONDENT_A.code);
  assert.equal(await p.page.inputValue("#q-q2"), "");
  assert.ok(await p.page.isChecked(`#q-q3-${optionIndex(survey.sections[0].questions[2], "bme")}`));
  await p.page.fill("#q-q2", RESPONDENT_A.word);
  await p.page.fill("#q-q2-again", RESPONDENT_A.word);
  await p.page.click("form button[type=submit]");
  await p.page.waitForFunction((t) => document.querySelector("h1")?.textContent.trim() === t, at);
  // Earlier answers are still there: go back one page and look.
  await p.page.click("text=Back");
  await p.page.waitForFunction((t) => document.querySelector("h1")?.textContent.trim() !== t, at);
  const joining = survey.sections.find((s) => s.id === "joining");
  assert.equal(await heading(p.page), joining.title);
  for (const o of typed.q14) assert.ok(await p.page.isChecked(`#q-q14-${optionIndex(joining.questions[0], o)}`));
  assert.equal(await p.page.inputValue("#q-q14-other"), typed.q14_other);

  await fillToReview(p.page, RESPONDENT_A, typed, false);
  // The review page lists every answer.
  const review = await p.page.textContent("main");
  assert.match(review, /Not shown \(it stays on this device\)/);
  assert.ok(review.includes(typed.q13), "the review shows the typed text");
  await axe(p.page, "the review page");

  await submit(p.page, false);
  assert.equal(await heading(p.page), "Thank you: your answers were sent");
  const receipt = (await p.page.textContent("#receipt-code")).trim();
  assert.match(receipt, /^[0-9a-f]{4}(-[0-9a-f]{4}){4}$/);
  assert.deepEqual(await storageDump(p.page), [], "nothing is left on the device after submitting");
  await axe(p.page, "the receipt page");
  await p.page.screenshot({ path: join(OUT, "receipt.png"), fullPage: true });
  submitted.push({ label: "A", r: RESPONDENT_A, typed, receipt });
  await p.close();
});

test("respondent B completes the survey with the keyboard alone", async (t) => {
  const p = await open(t);
  const typed = {};
  await start(p.page, true);
  await fillToReview(p.page, RESPONDENT_B, typed, true);
  await submit(p.page, true);
  assert.equal(await heading(p.page), "Thank you: your answers were sent");
  const receipt = (await p.page.textContent("#receipt-code")).trim();
  submitted.push({ label: "B", r: RESPONDENT_B, typed, receipt });
  await p.close();
});

test("a failed upload keeps the sealed envelope and offers retry and download", async (t) => {
  const p = await open(t, { allowErrors: ["503"] });
  const typed = {};
  await start(p.page, false);
  await fillToReview(p.page, RESPONDENT_C, typed, false);
  let posted = null;
  await p.page.route("**/api/v1/envelopes", (route) => {
    posted = route.request().postData();
    return route.fulfill({ status: 503, contentType: "application/json", body: '{"error":"the inbox cannot be written"}' });
  });
  await submit(p.page, false);
  assert.equal(await heading(p.page), "Not sent yet: nothing is lost");
  assert.match(await p.page.textContent("main"), /HTTP 503/);
  const receipt = (await p.page.textContent("#receipt-code")).trim();
  const env = JSON.parse(posted);
  assert.equal(env.format, "plp-envelope/1");

  // Kept on the device (sealed: the storage holds no answer text).
  const kept = await storageDump(p.page);
  assert.equal(kept.length, 1);
  assert.ok(kept[0].includes(posted), "the sealed envelope is kept");
  assert.ok(!kept[0].includes(RESPONDENT_C.word) && !kept[0].includes("lantern"));

  // Download: the same envelope, byte for byte.
  const [download] = await Promise.all([p.page.waitForEvent("download"), p.page.click("text=Save the sealed file")]);
  assert.match(download.suggestedFilename(), /\.plp\.json$/);
  const file = join(OUT, download.suggestedFilename());
  await download.saveAs(file);
  assert.equal(readFileSync(file, "utf8"), posted);

  // It survives a reload, then a retry sends it.
  await p.page.reload();
  await p.page.waitForSelector("#receipt-code");
  assert.equal(await heading(p.page), "Not sent yet: nothing is lost");
  assert.equal((await p.page.textContent("#receipt-code")).trim(), receipt);
  await p.page.unroute("**/api/v1/envelopes");
  await p.page.click("text=Try sending again");
  await p.page.waitForFunction(() => document.querySelector("h1")?.textContent.trim() === "Thank you: your answers were sent");
  assert.deepEqual(await storageDump(p.page), []);
  submitted.push({ label: "C", r: RESPONDENT_C, typed, receipt, file });
  await p.close();
});

/** The export's cells for what a respondent typed, by column; free text by key. */
function expectedCells(typed) {
  const cells = {};
  const text = {};
  for (const s of survey.sections) {
    for (const q of s.questions) {
      const a = typed[q.id];
      switch (q.kind) {
        case "single":
          cells[q.id] = a === undefined ? "" : String(optionIndex(q, a));
          break;
        case "rating":
          cells[q.id] = a === undefined ? "" : String(a);
          break;
        case "multiple":
          for (const o of q.options) cells[`${q.id}_${o.id}`] = a === undefined ? "" : a.includes(o.id) ? "1" : "0";
          if (typed[`${q.id}_other`] !== undefined) text[`${q.id}_other`] = typed[`${q.id}_other`];
          break;
        case "short_text":
        case "long_text":
          if (a !== undefined) text[q.id] = a;
          break;
      }
    }
  }
  return { cells, text };
}

/** A small RFC 4180 CSV reader (quoted fields, doubled quotes, newlines in quotes). */
function parseCsv(s) {
  const rows = [];
  let row = [];
  let f = "";
  let q = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (q) {
      if (c === '"' && s[i + 1] === '"') (f += '"'), i++;
      else if (c === '"') q = false;
      else f += c;
    } else if (c === '"') q = true;
    else if (c === ",") row.push(f), (f = "");
    else if (c === "\n" || (c === "\r" && s[i + 1] === "\n")) {
      if (c === "\r") i++;
      row.push(f), rows.push(row), (row = []), (f = "");
    } else f += c;
  }
  if (f !== "" || row.length) row.push(f), rows.push(row);
  const [head, ...body] = rows;
  return body.map((r) => Object.fromEntries(head.map((h, i) => [h, r[i]])));
}

test("the CLI opens the envelopes to exactly the answers typed", () => {
  assert.equal(submitted.length, 3, "three respondents submitted");
  const ingest = plp("ingest");
  // The downloaded copy of C is the same envelope: a duplicate, not a new response.
  plp("ingest", submitted[2].file);
  const status = JSON.parse(plp("status", "--json"));
  const out = join(OUT, "export-preview");
  plp("export", "--preview", "--out", out);
  const files = existsSync(out) ? out : assert.fail(`no export in ${out}: ${ingest}`);
  const individual = parseCsv(readFileSync(join(files, readdir(files, "individual")), "utf8"));
  const free = parseCsv(readFileSync(join(files, readdir(files, "free_text")), "utf8"));
  assert.equal(individual.length, 3, `three respondents in the export (status: ${JSON.stringify(status)})`);
  for (const s of submitted) {
    const { cells, text } = expectedCells(s.typed);
    const q4 = cells.q4;
    const rows = individual.filter((r) => r.q4 === q4);
    assert.equal(rows.length, 1, `respondent ${s.label} is in the export once`);
    const row = rows[0];
    for (const [col, want] of Object.entries(cells)) {
      assert.equal(row[col], want, `respondent ${s.label}, ${col}`);
    }
    const got = Object.fromEntries(
      free.filter((f) => f.person_id === row.person_id).map((f) => [f.question, f.text]),
    );
    assert.deepEqual(got, text, `respondent ${s.label}: free text`);
  }
  // The memorable words the browser hashed are the ones plp hashes natively.
  for (const [word, side] of [["purple kettle fish", "A"], ["GRAVEL οδος", "B"]]) {
    assert.match(plp("withdraw", "--word", word, "--dry-run"), new RegExp(`would destroy 1 response\\(s\\) of one person \\(side ${side}\\)`, "i"));
  }
  // A and B gave the same pair code in different cases and different roles: one pair.
  const a = individual.find((r) => r.q4 === "1");
  const b = individual.find((r) => r.q4 === "2");
  assert.equal(a.pair_id, b.pair_id, "A and B are linked by their pair code");
});

function readdir(dir, prefix) {
  const names = execFileSync("ls", [dir], { encoding: "utf8" }).split("\n");
  const f = names.find((n) => n.includes(prefix) && n.endsWith(".csv"));
  assert.ok(f, `no ${prefix} csv in ${dir}: ${names}`);
  return f;
}

test("the withdrawal page seals a request that the CLI records", async (t) => {
  const p = await open(t);
  await p.page.click("text=Withdraw my answers");
  await p.page.waitForFunction(() => document.querySelector("h1")?.textContent.trim() === "Withdraw my answers");
  assert.match(await p.page.textContent("main"), /only until the analysis begins/);
  await p.page.click("text=Send my withdrawal request");
  await p.page.waitForSelector("#error-summary li");
  await axe(p.page, "the withdrawal page with an error");
  await p.page.fill("#withdraw-code", "zq");
  await p.page.fill("#withdraw-word", "LANTERN   42");
  await p.page.click("text=Send my withdrawal request");
  await p.page.waitForFunction(() => document.querySelector("h1")?.textContent.trim() === "Your withdrawal request was sent");
  await axe(p.page, "the withdrawal receipt");
  await p.close();

  const before = JSON.parse(plp("status", "--json"));
  const out = plp("ingest");
  const after = JSON.parse(plp("status", "--json"));
  assert.match(out, /withdrawal: responses destroyed\s+1\b/, out);
  assert.notDeepEqual(after, before, "the withdrawal changed the store");
  const preview = join(OUT, "export-after-withdrawal");
  plp("export", "--preview", "--out", preview);
  const rows = parseCsv(readFileSync(join(preview, readdir(preview, "individual")), "utf8"));
  assert.deepEqual(rows.map((r) => r.q4).sort(), ["1", "2"], "respondent C's answers were destroyed");
});

test("the built-in demonstration runs when no study is served, and offers a file", async (t) => {
  assert.ok(statSync(join(DIST, "index.html")).isFile());
  const types = { ".html": "text/html", ".js": "text/javascript", ".wasm": "application/wasm", ".css": "text/css", ".json": "application/json" };
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url, "http://x").pathname);
    const file = join(DIST, path === "/" ? "index.html" : path);
    if (!file.startsWith(DIST) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404, { "content-type": "text/plain" });
      return res.end("not found");
    }
    res.writeHead(200, { "content-type": types[extname(file)] ?? "application/octet-stream" });
    res.end(readFileSync(file));
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${server.address().port}/`;
  try {
    // study.json is a 404 here, which Chromium logs.
    const p = await open(t, { url, allowErrors: ["404"] });
    await p.page.waitForSelector(".demo-banner");
    assert.match(await p.page.textContent(".demo-banner"), /Demonstration/);
    const typed = {};
    await start(p.page, false);
    await fillToReview(p.page, RESPONDENT_B, typed, false);
    await submit(p.page, false);
    assert.equal(await heading(p.page), "Your answers are sealed: save them as a file");
    const [download] = await Promise.all([p.page.waitForEvent("download"), p.page.click("text=Save the sealed file")]);
    const env = JSON.parse(readFileSync(await download.path(), "utf8"));
    assert.equal(env.study_id, "plp-demo");
    await p.close();
  } finally {
    server.close();
  }
});

test("no page made a request to any host but the one serving it", () => {
  assert.ok(requests.length > 20, `requests were recorded (${requests.length})`);
  // Each page's requests go to the origin that served it (the demo test has its own).
  const elsewhere = requests.filter(([u, origin]) => {
    const url = new URL(u);
    if (url.protocol === "blob:" || url.protocol === "data:") return false;
    return url.origin !== origin;
  });
  assert.ok(requests.some(([u]) => new URL(u).origin === ORIGIN && u.endsWith("/api/v1/envelopes")), "envelopes were posted");
  assert.deepEqual(elsewhere, []);
});
