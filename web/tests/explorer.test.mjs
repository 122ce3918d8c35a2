// Starts `lmm explore --port 0` and uses it in headless Chromium as a person would: moves sliders
// and checks the ICC shown is the formula's value, runs "fit" and checks the estimates appear, with
// both models, and opens a CSV through the page. Also: the server serves nothing but its page and
// API, answers bad requests with a message, and stops on SIGTERM.
//
//   node web/tests/explorer.test.mjs --lmm build/lmm --data tests/data --out build/browser \
//        [--chromium /usr/bin/chromium] [--screenshots docs]
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { args, check, fail, finish, launch, watch, lmmJson, firstDifference, checkNumberCells, chartMarks } from './lib.mjs';

const opt = args({ lmm: undefined, data: undefined, out: undefined, chromium: '/usr/bin/chromium', screenshots: '' });
fs.mkdirSync(opt.out, { recursive: true });

// ---- start the server and read its address ----
const server = spawn(opt.lmm, ['explore', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
let stderr = '';
server.stderr.on('data', (d) => (stderr += d));
const base = await new Promise((resolve) => {
  let out = '';
  const timer = setTimeout(() => resolve(null), 15000);
  server.stdout.on('data', (d) => {
    out += d;
    const m = /(http:\/\/127\.0\.0\.1:\d+\/)/.exec(out);
    if (m) {
      clearTimeout(timer);
      resolve(m[1]);
    }
  });
  server.on('exit', () => resolve(null));
});
if (!base) fail(`lmm explore printed no address (stderr: ${stderr})`);
const port = Number(new URL(base).port);
console.log(`explorer: ${base}`);

// A raw HTTP/1.1 request, so that paths reach the server exactly as written.
function raw(request) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(request));  // the server closes (Connection: close)
    let data = '';
    s.on('data', (d) => (data += d));
    s.on('end', () => resolve(data));
    s.on('error', reject);
  });
}
const statusOf = (response) => Number((/^HTTP\/1\.[01] (\d{3})/.exec(response) || [])[1]);

// The true ICCs of the growth model for given slider values (the test's own arithmetic).
function trueIcc(p) {
  const t00 = p.sd_intercept ** 2, t11 = p.sd_slope ** 2, t01 = p.cor * p.sd_intercept * p.sd_slope, s2 = p.sigma ** 2;
  let mean = 0;
  for (let t = 0; t < p.waves; t++) mean += (t00 + 2 * t * t01 + t * t * t11) / p.waves;
  return { baseline: t00 / (t00 + s2), mean: mean / (mean + s2) };
}

const browser = await launch(opt.chromium);
try {
  // ---- what the server answers ----
  check(statusOf(await raw(`GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`)) === 200, 'GET / serves the page');
  for (const p of ['/../../../../etc/passwd', '/%2e%2e/%2e%2e/etc/passwd', '/etc/passwd', '/index.html', '/web/src/explorer.js', '/api/../../CMakeLists.txt']) {
    const r = await raw(`GET ${p} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`);
    check(statusOf(r) === 404 && !/root:|cmake_minimum_required/.test(r), `GET ${p}: 404, nothing from the file system`);
  }
  check(statusOf(await raw(`GET / HTTP/1.1\r\nHost: evil.example:${port}\r\nConnection: close\r\n\r\n`)) === 403, 'a foreign Host header is refused (DNS rebinding)');
  const post = async (p, body) => {
    const r = await fetch(base + p.slice(1), { method: 'POST', headers: { 'Content-Type': 'application/json' }, body });
    return { status: r.status, json: await r.json() };
  };
  let r = await post('/api/simulate', '{not json');
  check(r.status === 400 && /not valid JSON/.test(r.json.error), 'malformed JSON: 400 with a message');
  r = await post('/api/simulate', JSON.stringify({ cor: 2 }));
  check(r.status === 400 && /correlation/.test(r.json.error), `an impossible correlation: 400 "${r.json.error}"`);
  r = await post('/api/report', JSON.stringify({ csv: 'a,b\n1,2\n', formula: 'a ~ b + (1 | c)' }));
  check(r.status === 400 && typeof r.json.error === 'string', `a bad upload: 400 "${r.json.error}"`);
  r = await post('/api/report', JSON.stringify({ path: '/etc/passwd', formula: 'x ~ 1 + (1 | y)' }));
  check(r.status === 400 && /choose a CSV/.test(r.json.error), 'a file path instead of content is not read');

  // ---- the page ----
  const page = await browser.context.newPage();
  const problems = watch(page, (u) => u.startsWith(base));
  await page.goto(base);
  await page.waitForSelector('body[data-ready="1"]', { timeout: 30000 });

  const sliders = async () => page.evaluate(() => {
    const p = {};
    for (const k of ['intercept', 'slope', 'sd_intercept', 'sd_slope', 'cor', 'sigma', 'persons', 'waves'])
      p[k] = Number(document.getElementById('s-' + k).value);
    return p;
  });
  const shown = async (id) => JSON.parse(await page.getAttribute('#' + id, 'data-value'));
  const near = (a, b) => Math.abs(a - b) <= 1e-12 * Math.max(1, Math.abs(b));

  let p = await sliders();
  let want = trueIcc(p);
  check(near(await shown('icc-baseline'), want.baseline) && near(await shown('icc-mean'), want.mean),
    `initial ICC shown ${await shown('icc-baseline')} / ${await shown('icc-mean')} = formula ${want.baseline} / ${want.mean}`);
  // The trajectories are one path with a subpath (an "M") per person.
  const trajectories = () => page.$eval('figure[data-chart=simulated] svg g.mark-line path', (e) => (e.getAttribute('d').match(/M/g) || []).length);
  let marks = await chartMarks(page);
  check(marks.simulated.lines === 3 && await trajectories() === p.persons, `simulated: ${await trajectories()} trajectories for ${p.persons} persons, mean and true lines`);
  check(marks.variance.lines === 2, 'variance over time: total and between lines');

  // Move sliders; each time the ICC shown becomes the formula's value for the new settings.
  for (const [id, value] of [['sd_intercept', '12'], ['cor', '-0.5'], ['sigma', '7.5'], ['waves', '8']]) {
    const before = Number(await page.getAttribute('body', 'data-simulations'));
    await page.locator('#s-' + id).fill(value);
    await page.waitForFunction((n) => Number(document.body.getAttribute('data-simulations')) > n, before, { timeout: 10000 });
    await page.waitForFunction(() => !window.lmmExplorer.inFlight && !window.lmmExplorer.queued);
    p = await sliders();
    want = trueIcc(p);
    const got = { baseline: await shown('icc-baseline'), mean: await shown('icc-mean') };
    check(near(got.baseline, want.baseline) && near(got.mean, want.mean),
      `${id} → ${value}: ICC shown ${got.baseline.toFixed(6)} / ${got.mean.toFixed(6)} = formula ${want.baseline.toFixed(6)} / ${want.mean.toFixed(6)}`);
    const text = await page.textContent('#icc-baseline');
    check(Math.abs(Number(text) - want.baseline) <= 0.0005, `  and its text "${text}" rounds it`);
  }
  check(await trajectories() === p.persons, `simulated chart follows: ${p.persons} persons`);
  check(await page.evaluate(() => window.lmmExplorer.redraws.length) > 0, 'redraw times are recorded');

  // ---- fit: estimates beside the truth, shrinkage, the likelihood-ratio test ----
  await page.click('#fit');
  await page.waitForSelector('body[data-fits="1"]', { timeout: 60000 });
  const rows = await page.$$eval('table.estimates tbody tr', (trs) => trs.map((tr) => ({
    key: tr.getAttribute('data-param'),
    cells: [...tr.querySelectorAll('td')].map((td) => ({ v: td.getAttribute('data-value'), text: td.textContent })),
  })));
  check(rows.length === 6, `estimates table: ${rows.map((x) => x.key).join(', ')}`);
  const est = Object.fromEntries(rows.map((x) => [x.key, { truth: JSON.parse(x.cells[0].v), est: JSON.parse(x.cells[1].v), se: x.cells[2].v ? JSON.parse(x.cells[2].v) : null }]));
  for (const k of ['intercept', 'slope', 'sd_intercept', 'sd_slope', 'cor', 'sigma'])
    check(est[k] && est[k].truth === p[k] && typeof est[k].est === 'number', `${k}: true ${est[k] && est[k].truth}, estimate ${est[k] && est[k].est}`);
  for (const k of ['intercept', 'slope'])
    check(Math.abs(est[k].est - est[k].truth) < 4 * est[k].se, `${k} estimate within 4 SE of the truth`);
  check(Math.abs(est.sigma.est - p.sigma) < 0.25 * p.sigma, 'σ estimate near the truth');
  const lrtP = JSON.parse(await page.getAttribute('table.lrt [data-key="lrt.p"]', 'data-value'));
  check(typeof lrtP === 'number' && lrtP >= 0 && lrtP <= 1, `likelihood-ratio test p = ${lrtP}`);
  marks = await chartMarks(page);
  check(marks['fit-shrinkage'] && marks['fit-shrinkage'].rendered && marks['fit-shrinkage'].symbols >= 2 * p.persons,
    `shrinkage plot: ${marks['fit-shrinkage'] && marks['fit-shrinkage'].symbols} points for ${p.persons} persons`);
  if (opt.screenshots) {
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: path.join(opt.screenshots, 'explorer.png'), fullPage: false });
    await page.locator('#fit-section').screenshot({ path: path.join(opt.screenshots, 'explorer-fit.png') });
    console.log(`  wrote ${opt.screenshots}/explorer.png and explorer-fit.png`);
  }

  // The switch: random intercept only has no slope SD or correlation.
  await page.check('input[name=model][value=intercept]');
  await page.click('#fit');
  await page.waitForSelector('body[data-fits="2"]', { timeout: 60000 });
  check((await page.getAttribute('#fit-results', 'data-model')) === 'intercept', 'the switch fits the random-intercept model');
  const sdSlope = await page.getAttribute('tr[data-param=sd_slope] td:nth-of-type(2)', 'data-value');
  check(sdSlope === 'null', 'random-intercept model: no slope SD estimate');
  await page.screenshot({ path: path.join(opt.out, 'explorer.png'), fullPage: true });

  // ---- your data: a CSV chosen in the page ----
  const csv = path.join(opt.data, 'sleepstudy.csv');
  const formula = 'Reaction ~ Days + (Days | Subject)';
  await page.setInputFiles('#csv-file', csv);
  await page.fill('#formula-input', formula);
  const [resp] = await Promise.all([
    page.waitForResponse((res) => res.url().endsWith('/api/report')),
    page.click('#analyze'),
  ]);
  const userDoc = await resp.json();
  await page.waitForSelector('#user-report[data-ready="1"]', { timeout: 60000 });
  const fitJson = lmmJson(opt.lmm, ['fit', csv, formula, '--json']);
  const diff = firstDifference(userDoc.fit, fitJson);
  check(diff === null, `uploaded sleepstudy: the fit equals lmm fit --json${diff ? ' (differs at ' + diff + ')' : ''}`);
  await checkNumberCells(await page.$('#user-report'), { fit: fitJson, plots: userDoc.plots }, 'uploaded sleepstudy: tables');
  const userMarks = await page.$$eval('#user-report figure.lmm-chart', (figs) =>
    figs.map((f) => !!f.querySelector('svg g.role-mark path, svg g.role-mark line')));
  check(userMarks.length >= 8 && userMarks.every(Boolean), `uploaded sleepstudy: ${userMarks.length} charts drawn`);
  const before = problems.length;
  await page.fill('#formula-input', 'Reaction ~ Days + (Days | Nobody)');
  await page.click('#analyze');
  await page.waitForFunction(() => document.getElementById('user-error').textContent.length > 0);
  check(/Nobody/.test(await page.textContent('#user-error')), `a bad formula: "${await page.textContent('#user-error')}"`);
  // Chromium logs the deliberate 400 answer as a console error: that one, and only that, is expected.
  const extra = problems.splice(before);
  check(extra.length === 1 && /status of 400/.test(extra[0]), `the bad formula's 400 is the only message it causes (${extra.length})`);

  check(problems.length === 0, `no console errors or warnings, no requests elsewhere${problems.length ? ':\n       ' + problems.join('\n       ') : ''}`);
  await page.close();
} finally {
  await browser.close();
  server.kill('SIGTERM');
}
const code = await new Promise((resolve) => (server.exitCode !== null ? resolve(server.exitCode) : server.on('exit', (c) => resolve(c))));
check(code === 0, `lmm explore stopped on SIGTERM (exit ${code})`);
finish('explorer.test');
