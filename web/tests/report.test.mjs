// Opens `lmm report` pages in headless Chromium, offline: every plot drawn as SVG with marks, no
// console error or warning, no request leaving the file; the numbers in the page equal
// `lmm fit --json`'s; the plots are the design's (trajectories, per-group lines or group means,
// never a row-index axis) and their control shows more levels; SVG and PNG export work.
//
//   node web/tests/report.test.mjs --lmm build/lmm --data tests/data --out build/browser \
//        [--chromium /usr/bin/chromium] [--screenshots docs]
import fs from 'node:fs';
import path from 'node:path';
import { args, check, finish, launch, openReport, chartMarks } from './lib.mjs';

const opt = args({ lmm: undefined, data: undefined, out: undefined, chromium: '/usr/bin/chromium', screenshots: '' });
fs.mkdirSync(opt.out, { recursive: true });

// Level names that would break a page that pasted them into HTML or a <script> unescaped.
const hostileCsv = path.join(opt.out, 'hostile.csv');
{
  const names = ['</script><script>window.pwned=1</script>', '<!--x', 'a&b "q"', "o'k", 'ü€', 'plain'];
  let csv = 'who,t,y\n';
  names.forEach((n, i) => { for (let t = 0; t < 4; t++) csv += `"${n.replace(/"/g, '""')}",${t},${(10 + 2 * i + t * (1 + i / 5) + ((i * 7 + t * 3) % 5) / 2).toFixed(2)}\n`; });
  fs.writeFileSync(hostileCsv, csv);
}

const CASES = [
  { name: 'hostile_names', path: hostileCsv, formula: 'y ~ t + (1 | who)' },
  { name: 'growth200', file: 'growth200.csv', formula: 'y ~ time * group + (time | id)', screenshot: 'report.png',
    design: 'longitudinal', screenshots: { 'report-longitudinal.png': 'trajectories' } },
  // Students in schools (High School and Beyond) and Yates' split-plot oats, from nlme
  // (tests/data/designs/make_design_data.R).
  { name: 'hsb_nested', file: 'designs/hsb.csv', formula: 'MathAch ~ SES + MEANSES + Sector + (SES | School)',
    design: 'nested_cross_sectional', between: 'between levels of School',
    screenshots: { 'report-nested.png': 'trajectories', 'report-nested-shrinkage.png': 'shrinkage' } },
  { name: 'oats_split_plot', file: 'designs/oats.csv', formula: 'yield ~ N * Variety + (1 | Block/Variety)',
    design: 'factorial', screenshots: { 'report-splitplot.png': 'trajectories' } },
  { name: 'sleepstudy', file: 'sleepstudy.csv', formula: 'Reaction ~ Days + (Days | Subject)' },
  { name: 'sleepstudy_intercept', file: 'sleepstudy.csv', formula: 'Reaction ~ Days + (1 | Subject)' },
  { name: 'penicillin_crossed', file: 'penicillin.csv', formula: 'diameter ~ 1 + (1 | plate) + (1 | sample)' },
  { name: 'dyestuff2_singular', file: 'dyestuff2.csv', formula: 'Yield ~ 1 + (1 | Batch)' },
  // Residual structures (nlme's corAR1 in an lme; corSymm with varIdent in a gls, the MMRM).
  { name: 'ovary_ar1', file: 'residual/data/ovary.csv', formula: 'follicles ~ s1 + c1 + (1 | Mare)', args: ['--residual', 'ar1(t | Mare)'] },
  { name: 'mmrm_us', file: 'residual/data/trial2.csv', formula: 'y ~ trt * visit',
    args: ['--residual', 'us(visit | id)', '--residual-sd-by', 'visit'] },
];

// The charts a document must have, from what the engine sent.
function expectedCharts(doc) {
  const kind = doc.plots.design.kind;
  const first = kind === 'longitudinal' ? 'trajectories' : kind === 'nested_cross_sectional' ? 'group-lines' : 'group-means';
  const names = [first, 'partition', 'residuals-fitted', 'qq-residuals'];
  if (doc.plots.shrinkage.available) names.push('shrinkage');
  if (doc.plots.variance_curve.available) names.push('variance-curve', 'icc-curve');
  doc.plots.random_effects.forEach((_, k) => names.push('caterpillar-' + k, 'qq-ranef-' + k));
  const r = doc.plots.residual_structure;
  if (r.available && r.has_acf) names.push('residual-acf');
  if (r.available && r.times.length) names.push('residual-matrix');
  return names.sort();
}

// The residual structure's section: its estimates in the table, one ACF point per lag, one cell
// per pair of times in the heat map, and the navigation link.
async function checkResidual(page, doc, fitJson, keys, marks) {
  const r = doc.plots.residual_structure;
  const link = await page.$('nav a[href="#residual"]');
  check(r.available === (fitJson.correlation !== undefined) && (link !== null) === r.available,
    `residual structure section ${r.available ? 'present' : 'absent'} with its navigation link`);
  if (!r.available) return;
  const c = fitJson.correlation;
  if (c.phi !== undefined) check(keys.has('fit.correlation.phi'), 'φ is in the table');
  if (c.cor !== undefined) check(c.cor.every((_, i) => keys.has(`fit.correlation.cor.${i}.cor`)), `the ${c.cor.length} correlations are in the table`);
  for (const l of Object.keys(fitJson.residual_sd_ratios))
    check(keys.has('fit.residual_sd_ratios.' + l) && keys.has('fit.residual_sd.' + l), `SD ratio and SD of ${l} in the table`);
  const pts = await page.$$eval('figure[data-chart=residual-acf] svg g.mark-symbol.role-mark path', (t) => t.length);
  check(pts === r.acf.lag.length, `ACF: ${pts} points for lags 0..${r.acf.lag.length - 1}`);
  const cells = await page.$$eval('figure[data-chart=residual-matrix] svg g.mark-rect.role-mark path', (t) => t.length);
  check(cells === r.times.length ** 2, `residual matrix: ${cells} cells for ${r.times.length} ${r.time_name} values`);
}

// The plots the design calls for, and never an axis over the row order: longitudinal data get
// trajectories (observed and fitted lines per person), students in schools points and each school's
// regression line, a split plot the levels' means; the words are the design's.
async function checkDesign(page, doc, marks, c) {
  const d = doc.plots.design;
  if (c.design) check(d.kind === c.design, `design: ${d.kind} (${d.reason})`);
  const titles = await page.$$eval('figure.lmm-chart svg g.role-axis-title text', (t) => t.map((x) => x.textContent));
  check(!titles.some((t) => /^(observation|row|index)( |$)/i.test(t)), `no axis over the row order (axis titles: ${[...new Set(titles)].join(', ')})`);
  check((await page.$eval('p.design', (p) => p.getAttribute('data-design'))) === d.kind, 'the page names the design');
  const text = await page.$eval('main', (m) => m.textContent);
  if (c.between) {
    check(text.includes(c.between) && !text.includes('between persons'), `the words are the design's ("${c.between}", never "between persons")`);
    const legend = await page.$$eval('figure[data-chart=variance-curve] svg text', (t) => t.map((x) => x.textContent));
    check(legend.includes(c.between), `variance-over-${d.x_name} legend says "${c.between}"`);
  }
  const tr = doc.plots.trajectories;
  const curves = tr.population_curves.length;
  if (d.kind === 'factorial') {
    const gm = doc.plots.group_means;
    const m = { symbols: await page.$$eval('figure[data-chart=group-means] svg g.mark-symbol.role-mark path', (t) => t.length) };
    check(m.symbols === 3 * gm.levels.length, `group means: ${m.symbols} mean markers for ${gm.levels.length} levels (observed, fixed + random, fixed only)`);
    const ticks = await page.$$eval('figure[data-chart=group-means] svg g.mark-rect.role-mark path', (t) => t.length);
    check(ticks === gm.point_y.length, `group means: ${ticks} observations drawn for ${gm.point_y.length}`);
    check(marks['group-means'].lines === 0, 'group means: no line joins rows');
    return;
  }
  const name = d.kind === 'longitudinal' ? 'trajectories' : 'group-lines';
  const perLevel = d.kind === 'longitudinal' ? 2 : 1;  // observed and fitted lines / the level's regression line
  const kept = Math.max(...tr.person) + 1;
  const first = Math.min(12, kept);
  check(marks[name].lines === perLevel * first + curves, `${name}: ${first} levels, ${perLevel} line(s) each, ${curves} population line(s)`);
  const xTitle = await page.$$eval(`figure[data-chart=${name}] svg g.role-axis-title text`, (t) => t.map((x) => x.textContent));
  check(xTitle.includes(d.x_name), `${name}: the x axis is ${d.x_name}`);
  if (d.kind === 'nested_cross_sectional') {
    const pts = await page.$$eval('figure[data-chart=group-lines] svg g.mark-symbol.role-mark path', (t) => t.length);
    const want = tr.person.filter((p) => p < first).length;
    check(pts === want, `group lines: ${pts} students drawn as points for ${want}`);
    // Population lines: straight segments over the grid, one x per grid point, increasing.
    check(tr.population_curves.every((pc) => pc.x.every((v, k) => k === 0 || v > pc.x[k - 1])), 'population lines run left to right (no zig-zag)');
  }
  const more = Math.min(kept, first + 8);
  await page.locator(`figure[data-chart=${name}] .vega-bindings input[type=range]`).fill(String(more));
  await page.waitForFunction(([sel, n]) => document.querySelectorAll(sel).length === n,
    [`figure[data-chart=${name}] svg g.mark-line path`, perLevel * more + curves], { timeout: 10000 }).then(
    () => check(true, `${name}: the control shows ${more} levels`), () => check(false, `${name}: the control shows ${more} levels`));
}

const browser = await launch(opt.chromium);
try {
  for (const c of CASES) {
    console.log(`report: ${c.name} (${c.formula})`);
    const data = c.path || path.join(opt.data, c.file);
    const extra = c.args || [];
    const { page, problems, doc, fitJson, keys } = await openReport(browser, opt.lmm,
      ['report', data, c.formula, ...extra], ['fit', data, c.formula, ...extra, '--json'], path.join(opt.out, c.name + '.html'));
    check(fitJson.fixed.every((_, i) => keys.has(`fit.fixed.${i}.estimate`) && keys.has(`fit.fixed.${i}.std_error`) && keys.has(`fit.fixed.${i}.t`)),
      'every fixed effect is in the table');
    check(fitJson.random.every((r, i) => keys.has(`fit.random.${i}.${r.term2 !== undefined ? 'cor' : 'sd'}`)),
      'every variance component is in the table');
    for (const k of ['loglik', 'aic', 'bic', 'sigma', 'nobs']) check(keys.has('fit.' + k), `fit statistic ${k} is shown`);
    check(['icc_adjusted', 'r2_marginal', 'r2_conditional'].every((k) => [...keys].some((x) => x.endsWith('.' + k))), 'ICC and R² are shown');
    const notes = await page.$$eval('ul.notes li', (l) => l.length);
    check(notes === doc.plots.notes.length, `${doc.plots.notes.length} warning(s) explained`);
    if (fitJson.singular) check(await page.$('li.note-singular') !== null, 'the singular fit is explained');

    // The caterpillar plots' conditional modes and SDs are the fit's ranef[] (when the fit has it).
    if (Array.isArray(fitJson.ranef) && doc.plots.random_effects.length) {
      let compared = 0, differ = 0;
      for (const re of doc.plots.random_effects)
        re.levels.forEach((level, i) => {
          const base = re.group.replace(/\.\d+$/, '');
          const r = fitJson.ranef.find((x) => String(x.level) === level && (x.group === re.group || x.group === base) && x[re.term] !== undefined);
          if (!r) return differ++;
          compared++;
          const near = (a, b) => Math.abs(a - b) <= 1e-9 * (1 + Math.abs(b));
          if (!near(re.value[i], r[re.term]) || !near(re.condsd[i], r['condsd_' + re.term])) differ++;
        });
      check(compared > 0 && differ === 0, `caterpillar values equal the fit's ranef[] (${compared} compared, ${differ} differ)`);
    } else if (!Array.isArray(fitJson.ranef)) {
      console.log('  note: this lmm fit --json has no ranef[]; caterpillar values checked by the C++ tests only');
    }

    // Every chart drawn, with marks, and with the SVG and PNG export actions.
    const marks = await chartMarks(page);
    const want = expectedCharts(doc);
    check(JSON.stringify(Object.keys(marks).sort()) === JSON.stringify(want), `charts present: ${want.join(', ')}`);
    for (const [name, m] of Object.entries(marks)) {
      check(m.rendered && m.marks > 0, `${name}: SVG with ${m.marks} mark elements`);
      check(m.actions.some((a) => /SVG/.test(a)) && m.actions.some((a) => /PNG/.test(a)), `${name}: can be saved as SVG and PNG`);
    }
    doc.plots.random_effects.forEach((re, k) =>
      check(marks['caterpillar-' + k].symbols === re.levels.length,
        `caterpillar ${re.term}|${re.group}: ${marks['caterpillar-' + k].symbols} points for ${re.levels.length} levels`));

    await checkResidual(page, doc, fitJson, keys, marks);
    if (doc.fit.random.some((r) => r.group !== 'Residual')) await checkDesign(page, doc, marks, c);

    // Export: the shrinkage (or trajectories) chart saved as SVG and as PNG.
    if (c.name === 'sleepstudy') {
      for (const [label, magic] of [['SVG', '<svg'], ['PNG', '\x89PNG']]) {
        const fig = page.locator('figure[data-chart=trajectories]');
        if ((await fig.locator('details').getAttribute('open')) === null) await fig.locator('details summary').click();
        // vega-embed makes the image on mousedown and puts it in the link; a person's click lasts
        // long enough for that, a synthetic one needs to wait for it.
        const link = fig.locator(`.vega-actions a:has-text("${label}")`);
        await link.dispatchEvent('mousedown');
        await link.evaluate((a) => new Promise((resolve) => {
          const poll = () => (a.href.startsWith('data:') || a.href.startsWith('blob:') ? resolve() : setTimeout(poll, 20));
          poll();
        }));
        const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
        const file = path.join(opt.out, `${c.name}-trajectories.${label.toLowerCase()}`);
        await download.saveAs(file);
        const head = fs.readFileSync(file).subarray(0, 8).toString('latin1');
        check(head.startsWith(magic), `trajectories saved as ${label} (${fs.statSync(file).size} bytes)`);
      }
    }

    await page.screenshot({ path: path.join(opt.out, c.name + '.png'), fullPage: true });
    const shots = Object.assign(c.screenshot ? { [c.screenshot]: 'trajectories' } : {}, c.screenshots || {});
    if (opt.screenshots)
      for (const [file, id] of Object.entries(shots)) {
        await page.evaluate((i) => document.getElementById(i).scrollIntoView(), id);
        await page.screenshot({ path: path.join(opt.screenshots, file), fullPage: false });
        console.log(`  wrote ${path.join(opt.screenshots, file)}`);
      }
    if (c.name === 'hostile_names') {
      check(await page.evaluate(() => window.pwned === undefined), 'a level name cannot run script');
      const labels = await page.$$eval('figure[data-chart=caterpillar-0] svg text', (t) => t.map((x) => x.textContent));
      // Vega-Lite shortens long axis labels with an ellipsis (labelLimit), so the long one is
      // checked by its start.
      check(labels.some((t) => t.startsWith('</script><script>')) && labels.includes('<!--x') && labels.includes('a&b "q"') &&
        labels.includes("o'k") && labels.includes('ü€'), `level names are shown as written: ${JSON.stringify(labels.slice(0, 12))}`);
    }
    check(problems.length === 0, `no console errors or warnings, no network requests${problems.length ? ':\n       ' + problems.join('\n       ') : ''}`);
    await page.close();
  }
} finally {
  await browser.close();
}
finish('report.test');
