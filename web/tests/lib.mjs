// Shared by the browser tests: arguments, a headless Chromium (Debian's, driven by playwright-core)
// with a fresh profile, and a record of everything the page complains about.
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';

export function args(defaults) {
  const out = Object.assign({}, defaults);
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const m = /^--([a-z-]+)$/.exec(argv[i]);
    if (!m || i + 1 >= argv.length) fail(`bad argument ${argv[i]}`);
    out[m[1]] = argv[++i];
  }
  for (const [k, v] of Object.entries(out)) if (v === undefined) fail(`--${k} is required`);
  return out;
}

let failures = 0;
export function check(ok, what) {
  if (ok) {
    console.log(`  ok   ${what}`);
  } else {
    failures++;
    console.log(`  FAIL ${what}`);
  }
  return ok;
}
export function fail(what) {
  console.error(`FAIL ${what}`);
  process.exit(1);
}
export function finish(name) {
  if (failures) {
    console.log(`${name}: ${failures} check(s) failed`);
    process.exit(1);
  }
  console.log(`${name}: all checks passed`);
}

export const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

// A fresh --user-data-dir per run (launchPersistentContext passes it to Chromium), removed on close.
export async function launch(executablePath) {
  if (!fs.existsSync(executablePath))
    fail(`no Chromium at ${executablePath}: install Debian's chromium (scripts/install-deps does) or pass --chromium`);
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'lmm-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath, headless: true, args: CHROMIUM_ARGS, acceptDownloads: true,
    viewport: { width: 1280, height: 900 },
  });
  return {
    context,
    async close() {
      await context.close();
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}

// Console errors and warnings, uncaught exceptions, and requests to anywhere not allowed.
export function watch(page, allowed) {
  const problems = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`uncaught: ${e.message}`));
  page.on('requestfailed', (r) => {
    if (allowed(r.url())) problems.push(`request failed: ${r.url()} ${r.failure() && r.failure().errorText}`);
  });
  page.route('**/*', (route) => {
    const url = route.request().url();
    if (allowed(url)) return route.continue();
    problems.push(`blocked request to ${url}`);
    return route.abort();
  });
  return problems;
}

export function lmmJson(lmm, argv) {
  return JSON.parse(execFileSync(lmm, argv, { encoding: 'utf8', maxBuffer: 1 << 28 }));
}

// The value at "a.b.0.c" in an object.
export function at(obj, key) {
  let v = obj;
  for (const part of key.split('.')) v = v === null || v === undefined ? undefined : v[part];
  return v;
}

// Exact deep equality of two JSON values; returns the first path that differs, or null.
export function firstDifference(a, b, where = '') {
  if (typeof a !== typeof b || Array.isArray(a) !== Array.isArray(b) || (a === null) !== (b === null))
    return where || '(root)';
  if (a === null || typeof a !== 'object') return a === b ? null : where;
  const ka = Object.keys(a).sort(), kb = Object.keys(b).sort();
  if (ka.join('\u0000') !== kb.join('\u0000')) return `${where} (keys ${ka} vs ${kb})`;
  for (const k of ka) {
    const d = firstDifference(a[k], b[k], where ? `${where}.${k}` : k);
    if (d) return d;
  }
  return null;
}

// Checks the table cells that show engine numbers: data-value is the exact JSON value at data-key
// in `sources` ({fit, plots, ...}), and the text is that value rounded to data-digits digits.
export async function checkNumberCells(root, sources, label) {
  const cells = await root.$$eval('[data-key]', (els) =>
    els.map((e) => ({ key: e.getAttribute('data-key'), value: e.getAttribute('data-value'), digits: Number(e.getAttribute('data-digits')), text: e.textContent })));
  let bad = 0;
  for (const c of cells) {
    const expected = at(sources, c.key);
    if (expected === undefined || JSON.stringify(expected) !== c.value) {
      bad++;
      console.log(`       ${c.key}: page has ${c.value}, engine has ${JSON.stringify(expected)}`);
      continue;
    }
    if (expected === null) {
      if (c.text !== 'NA') bad++;
      continue;
    }
    const shown = Number(c.text);
    const tol = 0.51 * Math.pow(10, 1 - c.digits) * Math.abs(expected);
    if (!(Math.abs(shown - expected) <= tol)) {
      bad++;
      console.log(`       ${c.key}: shows "${c.text}" for ${expected}`);
    }
  }
  check(cells.length > 0 && bad === 0, `${label}: ${cells.length} numbers shown equal the engine's (${bad} differ)`);
  return cells;
}

// Every chart in `root`: drawn as SVG with marks. Returns {name: number of mark elements}.
export async function chartMarks(root) {
  return root.$$eval('figure.lmm-chart', (figs) => {
    const out = {};
    for (const f of figs) {
      const name = f.getAttribute('data-chart');
      const svg = f.querySelector('svg');
      out[name] = {
        rendered: f.getAttribute('data-rendered') === '1' && !!svg,
        marks: svg ? svg.querySelectorAll('g.role-mark path, g.role-mark line, g.role-mark rect').length : 0,
        symbols: svg ? svg.querySelectorAll('g.mark-symbol path').length : 0,
        lines: svg ? svg.querySelectorAll('g.mark-line path').length : 0,
        actions: [...f.querySelectorAll('.vega-actions a')].map((a) => a.textContent.trim()),
      };
    }
    return out;
  });
}

// Writes a report with `lmm ...reportArgv --out html`, opens it, checks that it rendered, that the
// embedded fit is `lmm ...fitArgv`'s JSON exactly and that its number cells show it. Returns
// {page, problems (the watch list), doc (the embedded document), fitJson, keys (of the cells)}.
export async function openReport(browser, lmm, reportArgv, fitArgv, html) {
  fs.rmSync(html, { force: true });
  execFileSync(lmm, [...reportArgv, '--out', html], { stdio: 'pipe' });
  const fitJson = lmmJson(lmm, fitArgv);
  const url = pathToFileURL(path.resolve(html)).href;
  const page = await browser.context.newPage();
  const problems = watch(page, (u) => u === url);
  await page.goto(url);
  await page.waitForSelector('body[data-ready]', { timeout: 60000 });
  check((await page.getAttribute('body', 'data-ready')) === '1', 'the page says every chart rendered');
  // The fit in the page is `lmm fit --json`'s, exactly; the tables show it.
  const doc = await page.evaluate(() => window.LMM_REPORT);
  const diff = firstDifference(doc.fit, fitJson);
  check(diff === null, `embedded fit equals lmm fit --json${diff ? ' (differs at ' + diff + ')' : ''}`);
  const cells = await checkNumberCells(await page.$('main'), { fit: fitJson, plots: doc.plots }, 'tables');
  return { page, problems, doc, fitJson, keys: new Set(cells.map((x) => x.key)) };
}
