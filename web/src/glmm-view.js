// Lays out a GLMM report document ({fit: `lmm fit --family ... --json`, plots: GlmmPlotData}) with
// the LMM report's helpers (LmmReport) and charts (LmmCharts). No statistic is computed here.
(function (global) {
  'use strict';

  const C = global.LmmCharts;
  const R = global.LmmReport;
  const el = R.el;
  const q = C.q;

  function fixedTable(doc) {
    const rows = doc.fit.fixed.map((f, i) => el('tr', {}, [
      el('th', { scope: 'row', text: f.term }),
      R.numCell(doc, `fit.fixed.${i}.estimate`),
      R.numCell(doc, `fit.fixed.${i}.std_error`),
      R.numCell(doc, `fit.fixed.${i}.z`),
      R.numCell(doc, `fit.fixed.${i}.p`, 3),
    ]));
    return el('div', {}, [
      R.table(`Fixed effects (${doc.fit.link} scale)`, ['', 'Estimate', 'Std. Error', 'z value', 'Pr(>|z|)'], rows, 'fixed'),
      el('p', { class: 'muted', text: 'Wald z tests, as glmer\'s summary.' }),
    ]);
  }

  function randomTable(doc) {
    const rows = [];
    doc.fit.random.forEach((r, i) => {
      const cor = r.term2 !== undefined;
      rows.push(el('tr', {}, [
        el('th', { scope: 'row', text: r.group }),
        el('td', { text: cor ? r.term1 + ' , ' + r.term2 : (r.term1 === null ? '' : r.term1) }),
        cor ? el('td', { class: 'num muted', text: 'corr' }) : R.numCell(doc, `fit.random.${i}.variance`),
        R.numCell(doc, cor ? `fit.random.${i}.cor` : `fit.random.${i}.sd`, cor ? 4 : 6),
      ]));
    });
    return R.table('Random effects (link scale)', ['Groups', 'Name', 'Variance', 'Std.Dev. / Corr'], rows, 'random');
  }

  function statsTable(doc) {
    const f = doc.fit;
    const row = (label, key, digits) => el('tr', {}, [el('th', { text: label }), R.numCell(doc, 'fit.' + key, digits)]);
    const rows = [
      el('tr', {}, [el('th', { text: 'Family (link)' }), el('td', { text: `${f.family} (${f.link}), nAGQ = ${f.nAGQ}` })]),
      row('Observations', 'nobs'),
    ];
    for (const g of Object.keys(f.ngroups)) rows.push(row('Levels of ' + g, 'ngroups.' + g));
    rows.push(row('log-likelihood', 'loglik'), row('AIC', 'aic'), row('BIC', 'bic'), row('Deviance', 'deviance'),
      row('Pearson χ² / residual df', 'dispersion_ratio', 4));
    if (f.r2_marginal != null)
      rows.push(row('ICC (adjusted, latent scale)', 'icc_adjusted', 4), row('R² marginal (latent)', 'r2_marginal', 4),
        row('R² conditional (latent)', 'r2_conditional', 4),
        el('tr', {}, [el('th', { text: 'Distribution-specific variance' }), el('td', { text: f.variance_distribution_name })]));
    rows.push(el('tr', {}, [el('th', { text: 'Optimizer' }), el('td', { text: `${f.optimizer}, ${f.evaluations} evaluations` })]));
    return R.table('Fit', ['', ''], rows, 'stats');
  }

  function notesList(doc) {
    const notes = doc.plots.notes;
    if (!notes.length) return el('p', { class: 'ok', text: 'No warnings.' });
    return el('ul', { class: 'notes' }, notes.map((n) =>
      el('li', { class: 'note note-' + n.kind }, [el('strong', { text: n.message }), n.explanation ? el('span', { text: ' — ' + n.explanation }) : null])));
  }

  // Fitted means over x: each shown person's conditional curve (thin, coloured), the population
  // curve per stratum (black), the observed means per x (circles sized by their count).
  function curvesSpec(p, shown) {
    const tr = p.curves;
    const rows = C.rowsOf({ p: tr.person, x: tr.x, fitted: tr.fitted }).filter((r) => r.p < shown);
    for (const r of rows) r.person = tr.persons[r.p];
    const pop = [], obs = [];
    for (const c of tr.population_curves) c.x.forEach((x, k) => pop.push({ x, y: c.y[k], stratum: c.stratum || 'all' }));
    for (const o of p.observed) o.x.forEach((x, k) => obs.push({ x, y: o.mean[k], n: o.n[k], stratum: o.stratum || 'all' }));
    const x = q('x', tr.x_name);
    const y = q('y', 'fitted ' + p.scale + ' of ' + tr.y_name);
    return C.base({
      description: 'Fitted ' + p.scale + ' over ' + tr.x_name,
      layer: [
        { data: { values: rows }, mark: { type: 'line', strokeWidth: 1, opacity: 0.6 },
          encoding: { x, y: q('fitted', y.title), detail: { field: 'person' }, color: { field: 'person', type: 'nominal', legend: null, scale: { scheme: 'tableau20' } },
            tooltip: [{ field: 'person', title: tr.group }, q('x', tr.x_name), q('fitted', 'fitted', { format: '.4~g' })] } },
        { data: { values: pop }, mark: { type: 'line', strokeWidth: 3.5, color: '#111' },
          encoding: { x, y, strokeDash: { field: 'stratum', type: 'nominal', title: 'population curve' } } },
        { data: { values: obs }, mark: { type: 'point', filled: false, color: '#d62728' },
          encoding: { x, y, shape: { field: 'stratum', type: 'nominal', title: 'observed mean' }, size: q('n', 'rows', { legend: null }),
            tooltip: [{ field: 'stratum' }, q('x', tr.x_name), q('y', 'observed mean', { format: '.4~g' }), q('n', 'n')] } },
      ],
    });
  }

  // arm::binnedplot: mean residual per bin of fitted values, with ±2 SE.
  function binnedSpec(b) {
    const rows = C.rowsOf({ x: b.x_mean, y: b.y_mean, se: b.two_se, n: b.n });
    for (const r of rows) r.neg = r.se === null ? null : -r.se;
    const x = q('x', 'mean fitted probability in bin');
    return C.base({
      description: 'Binned residuals',
      layer: [
        { data: { values: [{ zero: 0 }] }, mark: { type: 'rule', color: '#999' }, encoding: { y: q('zero') } },
        { data: { values: rows }, layer: [
          { mark: { type: 'line', color: '#999', strokeDash: [4, 3] }, encoding: { x, y: q('se') } },
          { mark: { type: 'line', color: '#999', strokeDash: [4, 3] }, encoding: { x, y: q('neg') } },
          { mark: { type: 'point', filled: true, color: '#1f3b73' },
            encoding: { x, y: q('y', 'mean residual (y − fitted)'), tooltip: [q('x', 'fitted', { format: '.4~g' }), q('y', 'mean residual', { format: '.4~g' }), q('se', '2 SE', { format: '.4~g' }), q('n', 'rows')] } },
        ] },
      ],
    });
  }

  function pearsonSpec(pr) {
    return C.base({
      description: 'Pearson residuals against fitted counts',
      layer: [
        { data: { values: [{ zero: 0 }] }, mark: { type: 'rule', color: '#999' }, encoding: { y: q('zero') } },
        { data: { values: C.rowsOf({ x: pr.fitted, y: pr.residual }) }, mark: { type: 'point', filled: true, size: 12, opacity: 0.5 },
          encoding: { x: q('x', 'fitted expected count', { scale: { type: 'log' } }), y: q('y', 'Pearson residual') } },
      ],
    });
  }

  function render(doc, root) {
    const pending = [];
    const views = {};
    const p = doc.plots;
    const ch = (name, spec, caption) => {
      const vis = el('div', { class: 'vis' });
      const fig = el('figure', { class: 'lmm-chart', 'data-chart': name }, [vis, el('figcaption', { text: caption })]);
      pending.push(global.vegaEmbed(vis, spec, C.embedOptions('lmm-' + name)).then((res) => {
        views[name] = res.view;
        fig.setAttribute('data-rendered', '1');
      }));
      return fig;
    };
    const section = (id, title, children) => el('section', { id, class: 'lmm-section' }, [el('h2', { text: title }), ...children]);
    root.append(section('summary', 'Model summary', [
      el('div', { class: 'grid2' }, [fixedTable(doc), randomTable(doc)]),
      statsTable(doc), el('h3', { text: 'Warnings' }), notesList(doc),
    ]));
    const tr = p.curves;
    if (tr.persons.length) {
      const shown = Math.min(20, tr.persons.length);
      root.append(section('trajectories', 'Fitted ' + p.scale + ' over ' + tr.x_name, [ch('glmm-curves', curvesSpec(p, shown),
        `Thin lines: the fitted ${p.scale} of ${shown} of the ${tr.persons.length} levels of ${tr.group} (a random sample), fixed effects plus their conditional modes; black: the population curve (random effects at zero, averaged over the rows at each ${tr.x_name})${tr.population_curves.length > 1 ? ', one per group' : ''}; red circles: the observed mean of ${tr.y_name} at each ${tr.x_name}, sized by the number of rows.`)]));
    }
    const diag = [];
    if (doc.fit.family === 'binomial')
      diag.push(ch('glmm-binned', binnedSpec(p.binned), `Binned residuals (as arm::binnedplot): the rows cut into ${p.binned.n.length} bins of fitted probability; each point is a bin's mean of y − fitted, the dashed lines ±2 standard errors. About 95% of the points should fall inside; the fitted values include the conditional modes, whose shrinkage tilts the extreme bins outwards.`));
    else
      diag.push(ch('glmm-pearson', pearsonSpec(p.pearson), 'Pearson residuals (y − μ)/√μ against the fitted expected counts: a spread growing beyond ±2 suggests overdispersion.'));
    p.random_effects.forEach((re, k) => diag.push(el('h3', { text: `Random effect: ${re.term} | ${re.group}` }),
      ch('caterpillar-' + k, C.caterpillar(re), `Conditional modes of ${re.term} (link scale) for each level of ${re.group}, sorted, with 95% intervals from the conditional SDs.`)));
    root.append(section('diagnostics', 'Diagnostics', diag));
    return Promise.all(pending).then(() => ({ views }));
  }

  global.LmmGlmmReport = { render };
})(window);
