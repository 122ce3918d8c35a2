// Opens `lmm report --family ...` pages in headless Chromium, offline: every plot drawn, no
// console error or network request; the fit in the page is `lmm fit --family ... --json`'s, the
// tables show it, the caterpillars are its ranef[], and the charts draw every value sent (observed
// means, bins, Pearson residuals).
//
//   node web/tests/glmm_report.test.mjs --lmm build/lmm --data tests/data --out build/browser/glmm
import fs from 'node:fs';
import path from 'node:path';
import { args, check, finish, launch, openReport, chartMarks } from './lib.mjs';

const opt = args({ lmm: undefined, data: undefined, out: undefined, chromium: '/usr/bin/chromium' });
fs.mkdirSync(opt.out, { recursive: true });

const CASES = [
  { name: 'binary_growth', file: 'glmm/data/binary_growth500.csv', formula: 'y ~ time * group + (1 | id)', family: 'binomial' },
  { name: 'poisson_offset', file: 'glmm/data/exposure_counts.csv', formula: 'count ~ x + offset(log_exposure) + (1 | site)', family: 'poisson' },
];

async function checkCharts(page, doc, marks) {
  const p = doc.plots;
  const want = [p.curves.persons.length ? 'glmm-curves' : null, doc.fit.family === 'binomial' ? 'glmm-binned' : 'glmm-pearson',
    ...p.random_effects.map((_, k) => 'caterpillar-' + k)].filter((x) => x).sort();
  check(JSON.stringify(Object.keys(marks).sort()) === JSON.stringify(want), `charts present: ${want.join(', ')}`);
  for (const [name, m] of Object.entries(marks)) check(m.rendered && m.marks > 0, `${name}: SVG with ${m.marks} mark elements`);
  if (marks['glmm-curves']) {
    const obs = p.observed.reduce((s, o) => s + o.x.length, 0);
    const pts = await page.$$eval('figure[data-chart=glmm-curves] svg g.mark-symbol.role-mark path', (t) => t.length);
    check(pts === obs, `fitted curves: ${pts} observed means drawn for ${obs}`);
    const shown = Math.min(20, p.curves.persons.length);
    check(marks['glmm-curves'].lines === shown + p.curves.population_curves.length,
      `fitted curves: ${shown} persons' curves and ${p.curves.population_curves.length} population curve(s)`);
  }
  if (marks['glmm-binned']) check(marks['glmm-binned'].symbols === p.binned.n.length, `binned residuals: ${p.binned.n.length} bins drawn`);
  if (marks['glmm-pearson']) check(marks['glmm-pearson'].symbols === p.pearson.fitted.length, `Pearson residuals: ${p.pearson.fitted.length} points drawn`);
  p.random_effects.forEach((re, k) => check(marks['caterpillar-' + k].symbols === re.levels.length, `caterpillar ${re.term}|${re.group}: ${re.levels.length} levels`));
}

function checkCaterpillars(doc, fitJson) {
  let compared = 0, differ = 0;
  for (const re of doc.plots.random_effects)
    re.levels.forEach((level, i) => {
      const r = fitJson.ranef.find((x) => String(x.level) === level && x.group === re.group);
      if (!r) return differ++;
      compared++;
      if (re.value[i] !== r[re.term] || re.condsd[i] !== r['condsd_' + re.term]) differ++;
    });
  check(compared > 0 && differ === 0, `caterpillar values equal the fit's ranef[] (${compared} compared, ${differ} differ)`);
}

const browser = await launch(opt.chromium);
try {
  for (const c of CASES) {
    console.log(`glmm report: ${c.name} (${c.formula}, ${c.family})`);
    const data = path.join(opt.data, c.file);
    const { page, problems, doc, fitJson, keys } = await openReport(browser, opt.lmm,
      ['report', data, c.formula, '--family', c.family], ['fit', data, c.formula, '--family', c.family, '--json'],
      path.join(opt.out, c.name + '.html'));
    check(fitJson.fixed.every((_, i) => ['estimate', 'std_error', 'z', 'p'].every((k) => keys.has(`fit.fixed.${i}.${k}`))), 'every fixed effect with z and p');
    check(fitJson.random.every((r, i) => keys.has(`fit.random.${i}.${r.term2 !== undefined ? 'cor' : 'sd'}`)), 'every variance component');
    for (const k of ['loglik', 'aic', 'bic', 'deviance', 'nobs']) check(keys.has('fit.' + k), `fit statistic ${k} is shown`);
    check((await page.$$eval('ul.notes li', (l) => l.length)) === doc.plots.notes.length, `${doc.plots.notes.length} note(s) shown`);
    const dangling = await page.$$eval('nav a', (as) => as.filter((a) => !document.querySelector(a.getAttribute('href'))).map((a) => a.textContent));
    check(dangling.length === 0, `every navigation link has its section${dangling.length ? ' (not: ' + dangling.join(', ') + ')' : ''}`);
    checkCaterpillars(doc, fitJson);
    await checkCharts(page, doc, await chartMarks(page));
    await page.screenshot({ path: path.join(opt.out, c.name + '.png'), fullPage: true });
    check(problems.length === 0, `no console errors or warnings, no network requests${problems.length ? ':\n       ' + problems.join('\n       ') : ''}`);
    await page.close();
  }
} finally {
  await browser.close();
}
finish('glmm_report.test');
