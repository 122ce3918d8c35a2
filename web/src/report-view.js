// Lays out a report document ({fit, plots} from the engine) as tables and Vega-Lite charts.
// Numbers are shown as the engine gave them (rounded for display only); each table cell carries the
// exact value and where it came from (data-key, data-value) so a test can check it.
(function (global) {
  'use strict';

  const C = global.LmmCharts;

  // Display rounding: `digits` significant digits, scientific notation for very small or large values.
  function fmt(v, digits) {
    digits = digits || 6;
    if (v === null || v === undefined) return 'NA';
    if (typeof v !== 'number') return String(v);
    if (v === 0) return '0';
    const a = Math.abs(v);
    if (a < 1e-4 || a >= 1e7) return v.toExponential(digits - 1).replace(/\.?0+e/, 'e');
    return String(Number(v.toPrecision(digits)));
  }

  function el(tag, attrs, children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'text') e.textContent = v;
      else if (k === 'class') e.className = v;
      else e.setAttribute(k, v);
    }
    for (const c of children || []) if (c !== null && c !== undefined) e.append(c);
    return e;
  }

  // A table cell showing a number from the document at `key` ("fit.fixed.0.estimate").
  function numCell(doc, key, digits) {
    let v = doc;
    for (const part of key.split('.')) v = v === null || v === undefined ? undefined : v[part];
    const td = el('td', { class: 'num', 'data-key': key, 'data-digits': String(digits || 6) });
    td.setAttribute('data-value', v === undefined ? 'undefined' : JSON.stringify(v));
    td.textContent = v === undefined ? '—' : fmt(v, digits);
    return td;
  }

  function table(caption, headers, rows, cls) {
    return el('table', { class: 'lmm-table ' + (cls || '') }, [
      caption ? el('caption', { text: caption }) : null,
      el('thead', {}, [el('tr', {}, headers.map((h) => el('th', { text: h })))]),
      el('tbody', {}, rows),
    ]);
  }

  function fixedTable(doc) {
    const fit = doc.fit;
    const hasDf = fit.fixed.some((f) => f.df !== undefined);
    const rows = fit.fixed.map((f, i) =>
      el('tr', {}, [
        el('th', { scope: 'row', text: f.term }),
        numCell(doc, `fit.fixed.${i}.estimate`),
        numCell(doc, `fit.fixed.${i}.std_error`),
        hasDf ? numCell(doc, `fit.fixed.${i}.df`) : el('td', { class: 'num muted', text: '—' }),
        numCell(doc, `fit.fixed.${i}.t`),
        hasDf ? numCell(doc, `fit.fixed.${i}.p`, 3) : el('td', { class: 'num muted', text: '—' }),
      ]));
    const t = table('Fixed effects', ['', 'Estimate', 'Std. Error', 'df', 't value', 'Pr(>|t|)'], rows, 'fixed');
    const box = el('div', {}, [t]);
    if (!hasDf)
      box.append(el('p', { class: 'muted', text: 'df and p-values were not computed for this fit (as lme4 gives none).' }));
    else if (fit.ddf === 'Kenward-Roger')
      box.append(el('p', { class: 'muted', text: 'Std. errors, df and p: Kenward-Roger (1997), as pbkrtest.' }));
    else
      box.append(el('p', { class: 'muted', text: 'df: Satterthwaite\'s approximation (Kuznetsova et al. 2017), as lmerTest.' }));
    return box;
  }

  function randomTable(doc) {
    const rows = [];
    doc.fit.random.forEach((r, i) => {
      if (r.term2 !== undefined) return;
      rows.push(el('tr', {}, [
        el('th', { scope: 'row', text: r.group }),
        el('td', { text: r.term1 === null ? '' : r.term1 }),
        numCell(doc, `fit.random.${i}.variance`),
        numCell(doc, `fit.random.${i}.sd`),
      ]));
    });
    const cors = [];
    doc.fit.random.forEach((r, i) => {
      if (r.term2 === undefined) return;
      cors.push(el('tr', {}, [
        el('th', { scope: 'row', text: r.group }),
        el('td', { text: r.term1 + ' , ' + r.term2 }),
        numCell(doc, `fit.random.${i}.cor`, 4),
      ]));
    });
    const box = el('div', {}, [table('Random effects', ['Groups', 'Name', 'Variance', 'Std.Dev.'], rows, 'random')]);
    if (cors.length) box.append(table('Correlations of random effects', ['Groups', 'Terms', 'Corr'], cors, 'cor'));
    return box;
  }

  function statsTable(doc) {
    const f = doc.fit;
    const reml = f.method === 'REML';
    const rows = [
      el('tr', {}, [el('th', { text: 'Method' }), el('td', { text: f.method })]),
      el('tr', {}, [el('th', { text: 'Observations' }), numCell(doc, 'fit.nobs')]),
    ];
    for (const g of Object.keys(f.ngroups))
      rows.push(el('tr', {}, [el('th', { text: 'Levels of ' + g }), numCell(doc, 'fit.ngroups.' + g)]));
    rows.push(
      el('tr', {}, [el('th', { text: reml ? 'REML criterion' : 'Deviance' }), numCell(doc, reml ? 'fit.reml_criterion' : 'fit.deviance')]),
      el('tr', {}, [el('th', { text: 'log-likelihood' }), numCell(doc, 'fit.loglik')]),
      el('tr', {}, [el('th', { text: 'AIC' }), numCell(doc, 'fit.aic')]),
      el('tr', {}, [el('th', { text: 'BIC' }), numCell(doc, 'fit.bic')]),
      el('tr', {}, [el('th', { text: 'Residual SD σ' }), numCell(doc, 'fit.sigma')]),
      el('tr', {}, [el('th', { text: 'Parameters' }), numCell(doc, 'fit.npar')]),
      el('tr', {}, [el('th', { text: 'Optimizer' }), el('td', { text: `${f.optimizer.algorithm}: ${f.optimizer.stop_reason}, ${f.optimizer.evaluations} evaluations` })]),
    );
    return table('Fit', ['', ''], rows, 'stats');
  }

  function iccTable(doc) {
    const row = (label, k, what) => el('tr', {}, [el('th', { text: label }), numCell(doc, 'fit.' + k, 4), el('td', { class: 'muted', text: what })]);
    return el('div', {}, [
      table('Variance partition (Nakagawa et al. 2017, as performance::icc and r2_nakagawa)', ['', '', ''], [
        row('ICC (adjusted)', 'icc_adjusted', 'share of the random effects in the variance not explained by the fixed effects'),
        row('ICC (unadjusted)', 'icc_unadjusted', 'share of the random effects in the total variance'),
        row('R² marginal', 'r2_marginal', 'variance explained by the fixed effects'),
        row('R² conditional', 'r2_conditional', 'variance explained by fixed and random effects together'),
      ], 'icc'),
      el('p', { class: 'muted', text: 'The ICC partitions variance (how alike two observations of the same unit are); it is not variance explained. For random-slope models it averages over the observed values of the slope variable; see the variance-over-time plot below.' }),
    ]);
  }

  function notesList(doc) {
    const notes = doc.plots.notes;
    if (!notes.length)
      return el('p', { class: 'ok', text: 'No warnings: the optimizer converged, no variance is on its boundary, no rows were dropped.' });
    return el('ul', { class: 'notes' }, notes.map((n) =>
      el('li', { class: 'note note-' + n.kind }, [el('strong', { text: n.message }), n.explanation ? el('span', { text: ' — ' + n.explanation }) : null])));
  }

  // Embeds one chart in a figure; returns the figure and pushes the embed's promise.
  function chart(name, spec, caption, pending, views) {
    const vis = el('div', { class: 'vis' });
    const fig = el('figure', { class: 'lmm-chart', 'data-chart': name }, [vis, el('figcaption', { text: caption })]);
    pending.push(
      global.vegaEmbed(vis, spec, C.embedOptions('lmm-' + name)).then((res) => {
        views[name] = res.view;
        fig.setAttribute('data-rendered', '1');
        return res;
      }));
    return fig;
  }

  // A cell for a value found by the caller (a level name with a dot cannot be walked as a key).
  function valueCell(key, v, digits) {
    const td = el('td', { class: 'num', 'data-key': key, 'data-digits': String(digits || 6) });
    td.setAttribute('data-value', v === undefined ? 'undefined' : JSON.stringify(v));
    td.textContent = v === undefined ? '—' : fmt(v, digits);
    return td;
  }

  const STRUCTURE_NAMES = { ar1: 'AR(1)', car1: 'Continuous AR(1)', cs: 'Compound symmetry', us: 'General (unstructured)' };

  // The structure's estimates (fit.correlation, fit.residual_sd_ratios, fit.residual_sd) with the
  // Wald intervals of fit.confint_residual where the fit has them.
  function residualTables(doc) {
    const f = doc.fit;
    const c = f.correlation || {};
    const wald = {};
    (f.confint_residual || []).forEach((iv) => { wald[iv.parameter] = iv; });
    const ci = (name) => wald[name] ? `${fmt(wald[name].lower, 3)} to ${fmt(wald[name].upper, 3)}` : '';
    const out = [];
    if (c.structure === 'ar1' || c.structure === 'car1' || c.structure === 'cs') {
      const k = c.structure === 'cs' ? 'rho' : 'phi';
      out.push(table('Correlation structure: ' + STRUCTURE_NAMES[c.structure], ['', 'Estimate', '95% Wald interval'], [
        el('tr', {}, [el('th', { text: k === 'rho' ? 'ρ (within-group correlation)' : 'φ (correlation at lag 1)' }), numCell(doc, 'fit.correlation.' + k, 4), el('td', { class: 'muted', text: ci(k) })]),
      ], 'residual-structure'));
    } else if (c.structure === 'us') {
      out.push(table('Correlation structure: ' + STRUCTURE_NAMES.us, ['', '', 'Correlation'],
        c.cor.map((p, i) => el('tr', {}, [el('th', { text: p.visit1 }), el('th', { text: p.visit2 }), numCell(doc, `fit.correlation.cor.${i}.cor`, 4)])),
        'residual-structure'));
    }
    const levels = Object.keys(f.residual_sd_ratios || {});
    if (levels.length)
      out.push(table('Residual SD by ' + doc.plots.residual_structure.sd_by, ['Level', 'SD ratio', 'SD', '95% Wald interval (ratio)'],
        levels.map((l) => el('tr', {}, [el('th', { text: l }), valueCell('fit.residual_sd_ratios.' + l, f.residual_sd_ratios[l], 4),
          valueCell('fit.residual_sd.' + l, f.residual_sd[l], 4), el('td', { class: 'muted', text: ci('sd_ratio:' + l) })])), 'residual-sd'));
    return el('div', { class: 'grid2' }, out);
  }

  function residualSection(doc, ch) {
    const r = doc.plots.residual_structure;
    const children = [residualTables(doc)];
    const plots = [];
    if (r.has_acf)
      plots.push(ch('residual-acf', C.acf(r.acf),
        `Autocorrelation of the normalized residuals (nlme's ACF(m, resType = "normalized")): lag k pairs rows k apart within each ${r.acf.group}${r.structure === 'ar1' || r.structure === 'car1' ? ' in ' + doc.plots.residual_structure.time_name + ' order' : ''}. The band is ±1.96/√n, n the pairs at that lag (nlme's plot(ACF(m), alpha = 0.05)); with the structure right, the bars stay mostly inside it.`));
    else
      children.push(el('p', { class: 'muted', text: 'Autocorrelation not drawn: ' + r.acf_reason + '.' }));
    if (r.times.length)
      plots.push(ch('residual-matrix', C.residualMatrix(r),
        `The fitted residual correlation matrix of ${r.matrix_group} ${r.matrix_level} (the ${r.matrix_group} with the most rows) over its ${r.time_name === 'row' ? 'rows' : r.time_name + ' values'}; the tooltip gives the covariance σ²DRD too.`));
    else
      children.push(el('p', { class: 'muted', text: 'No correlation structure: the residuals are independent, with the SDs above.' }));
    if (plots.length) children.push(el('div', { class: 'grid2' }, plots));
    return section('residual', 'Residual structure', children);
  }

  function section(id, title, children) {
    return el('section', { id, class: 'lmm-section' }, [el('h2', { text: title }), ...children]);
  }

  // The section the design calls for (the engine decides it: plots.design): trajectories over time
  // for a longitudinal design, per-group regression lines for a cross-sectional nested one, the
  // groups' means for a factorial one. All use the section id "trajectories" (the navigation's link).
  function designSection(doc, ch, opts) {
    const p = doc.plots;
    const d = p.design;
    const tr = p.trajectories;
    const why = el('p', { class: 'muted design', 'data-design': d.kind, text: 'Design: ' + designName(d.kind) + ' — ' + d.reason + '.' });
    if (d.kind === 'longitudinal')
      return section('trajectories', 'Individual trajectories', [why,
        ch('trajectories', C.trajectories(tr, { shown: opts.shown }),
          `Thin lines: each ${tr.group}'s observed ${tr.y_name} over ${tr.x_name}; thicker lines of the same colour: that ${tr.group}'s fitted line (fixed effects plus its conditional modes); black: the population line (fixed effects only)${tr.population_curves.length > 1 ? ', one per group' : ''}. The slider shows more of the ${tr.persons.length} ${tr.group} levels, in a random order.`)]);
    if (d.kind === 'nested_cross_sectional')
      return section('trajectories', `Regression lines by ${tr.group}`, [why,
        ch('group-lines', C.groupLines(tr, { shown: opts.shown }),
          `Points: observed ${tr.y_name} against ${tr.x_name}, coloured by ${tr.group}; lines of the same colour: each ${tr.group}'s regression line on ${tr.x_name} from the model (fixed effects plus its conditional modes), at that ${tr.group}'s own means of the other covariates; black: the population line at the means of the other covariates${tr.population_curves.length > 1 ? ', one per group of the categorical predictors' : ''}. The slider shows more of the ${tr.persons.length} ${tr.group} levels, in a random order.`)]);
    const gm = p.group_means;
    return section('trajectories', `Means by ${gm.group}`, [why,
      ch('group-means', C.groupMeans(gm),
        `Per level of ${gm.group} (${gm.levels.length} shown, sorted by the model's mean): each observation of ${gm.y_name} (ticks), its observed mean, and the mean of the model's fitted values with (fixed + random) and without (fixed only) the level's conditional modes; the gap between the last two is the level's random effect.`)]);
  }

  function designName(kind) {
    return kind === 'longitudinal' ? 'longitudinal (repeated measures over time)'
      : kind === 'nested_cross_sectional' ? 'cross-sectional, nested (units within groups)' : 'factorial (no numeric covariate within groups)';
  }

  // The words for the between-group variance in this design.
  function betweenWords(doc) {
    return doc.plots.design.kind === 'longitudinal' ? 'between persons' : 'between levels of ' + doc.plots.design.group;
  }

  // Renders the whole report into `root`. Resolves to {views} when every chart has been drawn.
  function render(doc, root, opts) {
    opts = opts || {};
    const pending = [];
    const views = {};
    const p = doc.plots;
    const tr = p.trajectories;
    const ch = (name, spec, caption) => chart(name, spec, caption, pending, views);

    root.append(section('summary', 'Model summary', [
      el('div', { class: 'grid2' }, [fixedTable(doc), randomTable(doc)]),
      el('div', { class: 'grid2' }, [statsTable(doc), iccTable(doc)]),
      el('h3', { text: 'Warnings' }),
      notesList(doc),
    ]));

    root.append(designSection(doc, ch, opts));

    const sh = p.shrinkage;
    root.append(section('shrinkage', 'Shrinkage', sh.available
      ? [ch('shrinkage', C.shrinkage(sh),
          sh.coef_names.length >= 2
            ? `Each ${sh.group}'s own least-squares estimates (hollow circles, sized by its number of observations) and the model's (dots); the tapering trail points from the first to the second. Black crosses: the population estimate. Estimates from few or noisy observations are pulled furthest.`
            : `Each ${sh.group}'s own estimate and the model's, linked; the dashed line is the population estimate. With a random intercept only, the own estimate is the ${sh.group}'s mean of ${tr.y_name} and the model's is the mean of its fitted values, so both include the fixed effects at that ${sh.group}'s own covariate values.`)]
      : [el('p', { class: 'muted', text: 'Not drawn: ' + sh.reason + '.' })]));

    const vc = p.variance_curve;
    const partChildren = [
      ch('partition', C.partition(doc.fit.variance_partition),
        'The variance of ' + tr.y_name + ' split into its parts (Nakagawa et al. 2017, as performance): the random effects (their average contribution over the observed rows), the residual, and the fixed effects\' predictions.'),
    ];
    if (vc.available) {
      partChildren.push(el('div', { class: 'grid2' }, [
        ch('variance-curve', C.varianceCurve(vc, null, betweenWords(doc)),
          `Var(y | ${vc.x_name} = t) = τ00 + 2tτ01 + t²τ11 + σ²: the total variance at each ${vc.x_name} and its part ${betweenWords(doc)}.`),
        ch('icc-curve', C.iccCurve(vc), `The ICC at each ${vc.x_name}: between / total.`),
      ]));
    } else {
      partChildren.push(el('p', { class: 'muted', text: `Variance over ${vc.x_name || 'a covariate'} not drawn: ` + vc.reason + '.' }));
    }
    root.append(section('variance', 'Variance partition', partChildren));

    if (p.residual_structure && p.residual_structure.available) root.append(residualSection(doc, ch));

    const diag = [
      el('div', { class: 'grid2' }, [
        ch('residuals-fitted', C.residualsVsFitted(p.diagnostics), 'Residuals against fitted values: look for curvature or a funnel.'),
        ch('qq-residuals', C.qq(p.residual_qq, 'residual'), 'Normal QQ plot of the residuals, with the line through the quartiles.'),
      ]),
    ];
    p.random_effects.forEach((re, k) => {
      diag.push(el('h3', { text: `Random effect: ${re.term} | ${re.group}` }));
      diag.push(el('div', { class: 'grid2' }, [
        ch('caterpillar-' + k, C.caterpillar(re), `Conditional modes of ${re.term} for each level of ${re.group}, sorted, with 95% conditional intervals (lme4's condVar).`),
        ch('qq-ranef-' + k, C.qq(re.qq, re.term), `Normal QQ plot of the conditional modes of ${re.term}.`),
      ]));
    });
    root.append(section('diagnostics', 'Diagnostics', diag));

    return Promise.all(pending).then(() => ({ views }));
  }

  global.LmmReport = { render, fmt, el, numCell, table };
})(window);
