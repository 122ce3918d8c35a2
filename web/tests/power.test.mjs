// Opens an `lmm power --out` page in headless Chromium, offline: the curve is drawn as SVG (one
// point and one interval per sample size, the target line), no console error or request leaving
// the file, and the page's data and table are `lmm power --json`'s.
//
//   node web/tests/power.test.mjs --lmm build/lmm --out build/browser/power [--chromium /usr/bin/chromium]
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { execFileSync } from 'node:child_process';
import { args, check, finish, launch, watch, lmmJson, firstDifference } from './lib.mjs';

const opt = args({ lmm: undefined, out: undefined, chromium: '/usr/bin/chromium' });
fs.mkdirSync(opt.out, { recursive: true });
const html = path.join(opt.out, 'curve.html');
fs.rmSync(html, { force: true });
const argv = ['power', '--persons', '20,40,80', '--waves', '0,1,2,3', '--nsim', '20', '--group-effect', '1', '--seed', '4'];
execFileSync(opt.lmm, [...argv, '--out', html], { stdio: 'pipe' });
const json = lmmJson(opt.lmm, [...argv, '--json']);

const browser = await launch(opt.chromium);
try {
  const url = pathToFileURL(path.resolve(html)).href;
  const page = await browser.context.newPage();
  const problems = watch(page, (u) => u === url);
  await page.goto(url);
  await page.waitForSelector('body[data-ready]', { timeout: 60000 });
  check((await page.getAttribute('body', 'data-ready')) === '1', 'the page says the chart rendered');
  const doc = await page.evaluate(() => window.LMM_POWER);
  // Seconds differ between the two runs; everything else is the same simulation.
  for (const p of [...doc.curve, ...json.curve]) delete p.seconds;
  const diff = firstDifference(doc, json);
  check(diff === null, `embedded curve equals lmm power --json${diff ? ' (differs at ' + diff + ')' : ''}`);
  const svg = await page.$$eval('#chart svg', (s) => s.length);
  check(svg === 1, 'the curve is drawn as SVG');
  const points = await page.$$eval('#chart svg g.mark-symbol path', (p) => p.length);
  check(points === 3, `one point per sample size (${points})`);
  const rules = await page.$$eval('#chart svg g.mark-rule.role-mark line', (l) => l.length);
  check(rules === 4, `three intervals and the target line (${rules})`);
  const rows = await page.$$eval('#table tbody tr', (r) => r.map((x) => x.firstChild.textContent));
  check(rows.join(',') === '20,40,80', `the table lists the sizes (${rows})`);
  check(problems.length === 0, `no console errors or requests${problems.length ? ': ' + problems.join('; ') : ''}`);
} finally {
  await browser.close();
}
finish('power');
