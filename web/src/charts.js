// Vega-Lite specifications for lmm's plots. Every number drawn comes from the engine's JSON (the
// report document's "plots", or the explorer's API); these functions only reshape it into rows and
// say how to draw it. No statistic is computed here.
(function (global) {
  'use strict';

  const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';
  const WIDTH = 520;
  const HEIGHT = 320;
  const CONFIG = {
    font: 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif',
    view: { stroke: '#ccc' },
    axis: { labelFontSize: 11, titleFontSize: 12, gridColor: '#eee' },
    legend: { labelFontSize: 11, titleFontSize: 12 },
  };

  function base(extra) {
    return Object.assign({ $schema: SCHEMA, width: WIDTH, height: HEIGHT, config: CONFIG }, extra);
  }

  // Columns of equal length to an array of row objects.
  function rowsOf(columns) {
    const keys = Object.keys(columns);
    const n = keys.length ? columns[keys[0]].length : 0;
    const rows = new Array(n);
    for (let i = 0; i < n; i++) {
      const r = {};
      for (const k of keys) r[k] = columns[k][i];
      rows[i] = r;
    }
    return rows;
  }

  const q = (field, title, extra) => Object.assign({ field, type: 'quantitative', title }, extra || {});

  // The population line(s) in black, one dash pattern per stratum.
  function populationLayer(tr, x, what) {
    const pop = [];
    for (const c of tr.population_curves)
      for (let k = 0; k < c.x.length; k++) pop.push({ x: c.x[k], y: c.y[k], stratum: c.stratum || 'all' });
    return {
      data: { name: 'population', values: pop },
      mark: { type: 'line', strokeWidth: 3.5, color: '#111' },
      encoding: {
        x,
        y: q('y', tr.y_name),
        strokeDash: { field: 'stratum', type: 'nominal', title: 'population line' },
        tooltip: [{ field: 'stratum', title: 'population' }, q('x', tr.x_name), q('y', what, { format: '.4~g' })],
      },
    };
  }

  // ---- individual trajectories: observed (thin), fitted (thicker), population (black) ----
  function trajectories(tr, opts) {
    opts = opts || {};
    const rows = rowsOf({ p: tr.person, x: tr.x, y: tr.y, fitted: tr.fitted, stratum: tr.stratum });
    for (const r of rows) r.person = tr.persons[r.p];
    let kept = 0;
    for (const r of rows) kept = Math.max(kept, r.p + 1);
    const shown = Math.min(opts.shown || 12, kept);
    const x = q('x', tr.x_name);
    const color = { field: 'person', type: 'nominal', legend: null, scale: { scheme: 'tableau20' } };
    const tooltip = [
      { field: 'person', title: tr.group },
      q('x', tr.x_name),
      q('y', 'observed ' + tr.y_name, { format: '.4~g' }),
      q('fitted', 'fitted', { format: '.4~g' }),
    ];
    return base({
      description: 'Observed trajectories per ' + tr.group + ' with fitted and population lines',
      params: [
        {
          name: 'shown',
          value: shown,
          bind: { input: 'range', min: 1, max: Math.max(kept, 1), step: 1, name: tr.group + ' shown ' },
        },
      ],
      layer: [
        {
          data: { name: 'observed', values: rows },
          transform: [{ filter: 'datum.p < shown' }],
          layer: [
            {
              mark: { type: 'line', strokeWidth: 1, opacity: 0.55, point: { filled: true, size: 14, opacity: 0.7 } },
              encoding: { x, y: q('y', tr.y_name, { scale: { zero: false } }), detail: { field: 'person' }, color, tooltip },
            },
            {
              mark: { type: 'line', strokeWidth: 1.8 },
              encoding: { x, y: q('fitted', tr.y_name), detail: { field: 'person' }, color, tooltip },
            },
          ],
        },
        populationLayer(tr, x, 'Xβ'),
      ],
    });
  }

  // ---- nested cross-sectional: observed points per level, each level's regression line at its own
  // means of the other covariates (thicker, same colour), the population line(s) in black ----
  function groupLines(tr, opts) {
    opts = opts || {};
    const rows = rowsOf({ p: tr.person, x: tr.x, y: tr.y, stratum: tr.stratum });
    for (const r of rows) r.level = tr.persons[r.p];
    const lines = [];
    for (const l of tr.group_lines)
      for (let k = 0; k < l.x.length; k++) lines.push({ p: l.person, level: tr.persons[l.person], x: l.x[k], y: l.y[k] });
    const kept = tr.group_lines.length;
    const shown = Math.min(opts.shown || 12, kept);
    const x = q('x', tr.x_name);
    const color = { field: 'level', type: 'nominal', legend: null, scale: { scheme: 'tableau20' } };
    return base({
      description: 'Observed ' + tr.y_name + ' and regression lines on ' + tr.x_name + ' per ' + tr.group,
      params: [{ name: 'shown', value: shown, bind: { input: 'range', min: 1, max: Math.max(kept, 1), step: 1, name: tr.group + ' shown ' } }],
      layer: [
        {
          data: { name: 'observed', values: rows },
          transform: [{ filter: 'datum.p < shown' }],
          mark: { type: 'point', filled: true, size: 16, opacity: 0.55 },
          encoding: { x, y: q('y', tr.y_name, { scale: { zero: false } }), color,
            tooltip: [{ field: 'level', title: tr.group }, q('x', tr.x_name), q('y', 'observed ' + tr.y_name, { format: '.4~g' })] },
        },
        {
          data: { name: 'lines', values: lines },
          transform: [{ filter: 'datum.p < shown' }],
          mark: { type: 'line', strokeWidth: 2 },
          encoding: { x, y: q('y', tr.y_name), detail: { field: 'level' }, color,
            tooltip: [{ field: 'level', title: tr.group }, q('x', tr.x_name), q('y', 'fitted line', { format: '.4~g' })] },
        },
        populationLayer(tr, x, 'Xβ at the means'),
      ],
    });
  }

  // ---- factorial: per level its observations, its observed mean and the model's mean ----
  function groupMeans(gm) {
    const points = rowsOf({ k: gm.point_level, y: gm.point_y });
    for (const r of points) r.level = gm.levels[r.k];
    const means = [];
    gm.levels.forEach((level, k) => {
      means.push({ level, y: gm.observed[k], what: 'observed mean', n: gm.nobs[k] });
      means.push({ level, y: gm.fitted[k], what: 'model: fixed + random', n: gm.nobs[k] });
      means.push({ level, y: gm.population[k], what: 'model: fixed only', n: gm.nobs[k] });
    });
    const order = gm.levels.map((level, k) => ({ level, v: gm.fitted[k] })).sort((a, b) => a.v - b.v).map((r) => r.level);
    const yLevel = { field: 'level', type: 'nominal', title: gm.group, sort: order };
    return base({
      width: 460,
      height: { step: 14 },
      description: 'Means of ' + gm.y_name + ' per level of ' + gm.group,
      layer: [
        {
          data: { values: points },
          mark: { type: 'tick', color: '#9ab', thickness: 1.5, size: 9 },
          encoding: { y: yLevel, x: q('y', gm.y_name, { scale: { zero: false } }), tooltip: [{ field: 'level', title: gm.group }, q('y', gm.y_name, { format: '.4~g' })] },
        },
        {
          data: { values: means },
          mark: { type: 'point', filled: true, size: 46, opacity: 0.9 },
          encoding: {
            y: yLevel,
            x: q('y', gm.y_name),
            color: { field: 'what', type: 'nominal', title: null, sort: ['observed mean', 'model: fixed + random', 'model: fixed only'], scale: { range: ['#e45756', '#1f3b73', '#111'] } },
            tooltip: [{ field: 'level', title: gm.group }, { field: 'what' }, q('y', 'mean', { format: '.4~g' }), q('n', 'observations')],
          },
        },
      ],
    });
  }

  // ---- shrinkage: each level's own OLS fit pulled toward the population estimate ----
  function shrinkage(sh) {
    const names = sh.coef_names;
    if (names.length >= 2) {
      const points = sh.levels.map((l) => ({
        level: l.level, n: l.nobs, stratum: l.stratum || 'all',
        ols_a: l.ols[0], ols_b: l.ols[1], blup_a: l.blup[0], blup_b: l.blup[1],
      }));
      // A tapering trail from the OLS estimate (wide) to the BLUP-based one (a point): an arrow.
      const trail = [];
      for (const l of sh.levels) {
        trail.push({ level: l.level, order: 0, a: l.ols[0], b: l.ols[1], w: 5, stratum: l.stratum || 'all' });
        trail.push({ level: l.level, order: 1, a: l.blup[0], b: l.blup[1], w: 0.3, stratum: l.stratum || 'all' });
      }
      const seen = new Set();
      const pop = [];
      for (const l of sh.levels) {
        const key = l.population[0] + ',' + l.population[1];
        if (seen.has(key)) continue;
        seen.add(key);
        pop.push({ a: l.population[0], b: l.population[1], stratum: l.stratum || 'all' });
      }
      const xa = q('a', names[0], { scale: { zero: false } });
      const yb = q('b', names[1], { scale: { zero: false } });
      const strata = new Set(sh.levels.map((l) => l.stratum || 'all'));
      const color = { field: 'stratum', type: 'nominal', title: null, scale: { scheme: 'category10' }, legend: strata.size > 1 ? {} : null };
      const tip = [
        { field: 'level', title: sh.group },
        q('n', 'observations'),
        q('ols_a', 'own fit: ' + names[0], { format: '.4~g' }),
        q('ols_b', 'own fit: ' + names[1], { format: '.4~g' }),
        q('blup_a', 'model: ' + names[0], { format: '.4~g' }),
        q('blup_b', 'model: ' + names[1], { format: '.4~g' }),
      ];
      return base({
        description: 'Shrinkage of per-' + sh.group + ' OLS estimates toward the population',
        resolve: { scale: { size: 'independent' }, legend: { size: 'independent' } },
        layer: [
          {
            data: { values: trail },
            mark: { type: 'trail', opacity: 0.55 },
            encoding: {
              x: xa, y: yb, order: { field: 'order' }, detail: { field: 'level' }, color,
              size: { field: 'w', type: 'quantitative', scale: null, legend: null },
            },
          },
          {
            data: { values: points },
            mark: { type: 'point', filled: false, opacity: 0.9 },
            encoding: {
              x: q('ols_a', names[0]), y: q('ols_b', names[1]), color,
              size: q('n', 'observations', { scale: { range: [15, 220], zero: false }, legend: { format: 'd', tickMinStep: 1 } }),
              tooltip: tip,
            },
          },
          {
            data: { values: points },
            mark: { type: 'point', filled: true, size: 14, opacity: 1 },
            encoding: { x: q('blup_a', names[0]), y: q('blup_b', names[1]), color, tooltip: tip },
          },
          {
            data: { values: pop },
            mark: { type: 'point', shape: 'cross', filled: true, size: 260, color: '#111' },
            encoding: {
              x: xa, y: yb,
              tooltip: [{ field: 'stratum', title: 'population' }, q('a', names[0], { format: '.4~g' }), q('b', names[1], { format: '.4~g' })],
            },
          },
        ],
      });
    }
    // One coefficient: a slope graph from the own fit to the model's value.
    const long = [];
    for (const l of sh.levels) {
      long.push({ level: l.level, stage: 'own fit (OLS)', v: l.ols[0], n: l.nobs, stratum: l.stratum || 'all' });
      long.push({ level: l.level, stage: 'model (BLUP)', v: l.blup[0], n: l.nobs, stratum: l.stratum || 'all' });
    }
    const seen = new Set();
    const pop = [];
    for (const l of sh.levels)
      if (!seen.has(l.population[0])) {
        seen.add(l.population[0]);
        pop.push({ v: l.population[0], stratum: l.stratum || 'all' });
      }
    const xs = { field: 'stage', type: 'ordinal', title: null, sort: ['own fit (OLS)', 'model (BLUP)'], scale: { padding: 0.3 }, axis: { labelAngle: 0 } };
    const strata1 = new Set(sh.levels.map((l) => l.stratum || 'all'));
    const color1 = { field: 'stratum', type: 'nominal', title: null, legend: strata1.size > 1 ? {} : null };
    return base({
      width: 360,
      description: 'Shrinkage of per-' + sh.group + ' OLS estimates toward the population',
      layer: [
        {
          data: { values: long },
          layer: [
            { mark: { type: 'line', opacity: 0.5 }, encoding: { x: xs, y: q('v', names[0], { scale: { zero: false } }), detail: { field: 'level' }, color: color1 } },
            {
              mark: { type: 'point', filled: true, opacity: 0.8 },
              encoding: {
                x: xs, y: q('v', names[0]), color: color1,
                size: q('n', 'observations', { scale: { range: [15, 220], zero: false }, legend: { format: 'd', tickMinStep: 1 } }),
                tooltip: [{ field: 'level', title: sh.group }, { field: 'stage' }, q('v', names[0], { format: '.4~g' }), q('n', 'observations')],
              },
            },
          ],
        },
        { data: { values: pop }, mark: { type: 'rule', strokeDash: [6, 4], color: '#111', strokeWidth: 2 }, encoding: { y: q('v', names[0]) } },
      ],
    });
  }

  // ---- variance partition (the fit's variance_partition): the components stacked ----
  function partition(vp) {
    const rows = [
      { component: 'between: random effects', v: vp.var_random },
      { component: 'within: residual', v: vp.var_residual },
    ];
    if (vp.var_fixed > 0) rows.push({ component: 'fixed effects', v: vp.var_fixed });
    rows.forEach((r, i) => (r.order = i));
    return base({
      height: 90,
      description: 'Variance partition',
      data: { values: rows },
      mark: { type: 'bar' },
      encoding: {
        x: q('v', 'variance', { stack: 'zero' }),
        color: { field: 'component', type: 'nominal', title: null, sort: rows.map((r) => r.component), scale: { scheme: 'tableau10' } },
        order: { field: 'order' },
        tooltip: [{ field: 'component' }, q('v', 'variance', { format: '.4~g' })],
      },
    });
  }

  // ---- Var(y_t) over t and its between-person part ----
  function varianceCurve(vc, yTitle, betweenLabel) {
    const between = betweenLabel || 'between persons';
    const rows = [];
    for (let k = 0; k < vc.t.length; k++) {
      rows.push({ t: vc.t[k], v: vc.total[k], part: 'total Var(y_t)' });
      rows.push({ t: vc.t[k], v: vc.between[k], part: between });
    }
    return base({
      height: 260,
      description: 'Marginal variance over ' + vc.x_name,
      data: { values: rows },
      mark: { type: 'line', strokeWidth: 2.5 },
      encoding: {
        x: q('t', vc.x_name),
        y: q('v', yTitle || 'variance'),
        color: { field: 'part', type: 'nominal', title: null, sort: ['total Var(y_t)', between] },
        tooltip: [{ field: 'part' }, q('t', vc.x_name), q('v', 'variance', { format: '.4~g' })],
      },
    });
  }

  function iccCurve(vc) {
    const rows = rowsOf({ t: vc.t, icc: vc.icc });
    return base({
      height: 260,
      width: 360,
      description: 'ICC over ' + vc.x_name,
      data: { values: rows },
      mark: { type: 'line', strokeWidth: 2.5, color: '#6a3d9a' },
      encoding: {
        x: q('t', vc.x_name),
        y: q('icc', 'ICC(t) = between / total', { scale: { domain: [0, 1] } }),
        tooltip: [q('t', vc.x_name), q('icc', 'ICC', { format: '.3f' })],
      },
    });
  }

  // ---- diagnostics ----
  function residualsVsFitted(d) {
    const rows = rowsOf({ fitted: d.fitted, residual: d.residual });
    return base({
      width: 420,
      height: 300,
      description: 'Residuals against fitted values',
      layer: [
        {
          data: { values: rows },
          mark: { type: 'point', filled: true, size: 12, opacity: 0.45 },
          encoding: { x: q('fitted', 'fitted value', { scale: { zero: false } }), y: q('residual', 'residual'), tooltip: [q('fitted', 'fitted', { format: '.4~g' }), q('residual', 'residual', { format: '.4~g' })] },
        },
        { data: { values: [{ zero: 0 }] }, mark: { type: 'rule', color: '#c00', strokeDash: [4, 3] }, encoding: { y: q('zero') } },
      ],
    });
  }

  function qq(qqData, title) {
    const rows = rowsOf({ theoretical: qqData.theoretical, sample: qqData.sample });
    const line = [
      { theoretical: qqData.line_x[0], sample: qqData.line_y[0] },
      { theoretical: qqData.line_x[1], sample: qqData.line_y[1] },
    ];
    return base({
      width: 300,
      height: 260,
      description: 'Normal QQ plot: ' + title,
      layer: [
        {
          data: { values: rows },
          mark: { type: 'point', filled: true, size: 14, opacity: 0.6 },
          encoding: { x: q('theoretical', 'normal quantile'), y: q('sample', title, { scale: { zero: false } }) },
        },
        { data: { values: line }, mark: { type: 'line', color: '#c00', strokeWidth: 1.5 }, encoding: { x: q('theoretical'), y: q('sample') } },
      ],
    });
  }

  function caterpillar(re) {
    const rows = rowsOf({ level: re.levels, value: re.value, lower: re.lower, upper: re.upper, condsd: re.condsd });
    const many = rows.length > 60;
    const y = { field: 'level', type: 'nominal', title: re.group, sort: { field: 'value' }, axis: many ? { labels: false, ticks: false } : {} };
    const tip = [{ field: 'level', title: re.group }, q('value', re.term, { format: '.4~g' }), q('condsd', 'conditional SD', { format: '.4~g' }), q('lower', '95% lower', { format: '.4~g' }), q('upper', '95% upper', { format: '.4~g' })];
    return base({
      width: 300,
      height: { step: many ? Math.max(1.5, 600 / rows.length) : 12 },
      description: 'Caterpillar plot: ' + re.group + ' ' + re.term,
      layer: [
        { data: { values: [{ zero: 0 }] }, mark: { type: 'rule', color: '#999' }, encoding: { x: q('zero') } },
        {
          data: { values: rows },
          layer: [
            { mark: { type: 'rule', color: '#4c78a8' }, encoding: { y, x: q('lower', re.term + ' (conditional mode, 95% interval)'), x2: { field: 'upper' }, tooltip: tip } },
            { mark: { type: 'point', filled: true, size: many ? 8 : 24, color: '#1f3b73' }, encoding: { y, x: q('value'), tooltip: tip } },
          ],
        },
      ],
    });
  }

  // ---- residual structure: ACF of the normalized residuals, and one group's fitted matrix ----
  function acf(a) {
    const rows = rowsOf({ lag: a.lag, acf: a.acf, bound: a.bound, n: a.n_used });
    for (const r of rows) r.lower = -r.bound;
    const tip = [q('lag', 'lag'), q('acf', 'autocorrelation', { format: '.4f' }), q('bound', 'band ±', { format: '.4f' }), q('n', 'pairs')];
    const x = q('lag', 'lag (rows apart within ' + a.group + ')', { axis: { tickMinStep: 1 } });
    return base({
      width: 420,
      height: 260,
      description: 'Autocorrelation of the normalized residuals by lag',
      layer: [
        { data: { values: rows }, mark: { type: 'area', color: '#4c78a8', opacity: 0.15 }, encoding: { x, y: q('lower', 'autocorrelation', { scale: { domain: [-1, 1] } }), y2: { field: 'bound' } } },
        { data: { values: [{ zero: 0 }] }, mark: { type: 'rule', color: '#999' }, encoding: { y: q('zero') } },
        { data: { values: rows }, mark: { type: 'rule', color: '#1f3b73', strokeWidth: 2 }, encoding: { x, y: q('acf'), y2: { datum: 0 }, tooltip: tip } },
        { data: { values: rows }, mark: { type: 'point', filled: true, size: 36, color: '#1f3b73' }, encoding: { x, y: q('acf'), tooltip: tip } },
      ],
    });
  }

  function residualMatrix(r) {
    const n = r.times.length;
    const rows = [];
    for (let a = 0; a < n; a++)
      for (let b = 0; b < n; b++)
        rows.push({ row: r.times[a], col: r.times[b], cor: r.correlation[a * n + b], cov: r.covariance[a * n + b], ia: a, ib: b });
    const order = r.times.slice();
    const title = r.time_name;
    const cell = Math.max(8, Math.min(40, Math.floor(420 / Math.max(1, n))));
    return base({
      width: { step: cell },
      height: { step: cell },
      description: 'Fitted residual correlation matrix of ' + r.matrix_group + ' ' + r.matrix_level,
      data: { values: rows },
      encoding: {
        x: { field: 'col', type: 'ordinal', title, sort: order },
        y: { field: 'row', type: 'ordinal', title, sort: order },
      },
      layer: [
        {
          mark: { type: 'rect' },
          encoding: {
            color: q('cor', 'correlation', { scale: { domain: [-1, 1], scheme: 'redblue', reverse: true } }),
            tooltip: [{ field: 'row', title: title + ' 1' }, { field: 'col', title: title + ' 2' }, q('cor', 'correlation', { format: '.4f' }), q('cov', 'covariance', { format: '.4~g' })],
          },
        },
        ...(n <= 12 ? [{ mark: { type: 'text', fontSize: 10 }, encoding: { text: q('cor', null, { format: '.2f' }), color: { condition: { test: 'abs(datum.cor) > 0.6', value: 'white' }, value: 'black' } } }] : []),
      ],
    });
  }

  // ---- explorer: simulated trajectories, wave means and the true mean line ----
  // `init` holds the first rows ({sim, means, truth}); later ones replace them by name.
  function simulated(init) {
    return base({
      width: 560,
      height: 340,
      description: 'Simulated trajectories',
      layer: [
        {
          // All persons in one path: rows in person order, a row with y = null between persons
          // breaks the line (one SVG path redraws far faster than one mark per person).
          data: { name: 'sim', values: init.sim },
          mark: { type: 'line', strokeWidth: 0.7, opacity: 0.35, color: '#4c78a8', invalid: 'break-paths-show-domains' },
          encoding: { x: q('time', 'time'), y: q('y', 'y', { scale: { zero: false } }), order: { field: 'k', type: 'quantitative' } },
        },
        {
          data: { name: 'means', values: init.means },
          mark: { type: 'line', strokeWidth: 3, color: '#e45756', point: { filled: true, size: 40 } },
          encoding: { x: q('time', 'time'), y: q('mean', 'y', { scale: { zero: false } }), tooltip: [q('time'), q('mean', 'sample mean', { format: '.4~g' })] },
        },
        {
          data: { name: 'truth', values: init.truth },
          mark: { type: 'line', strokeWidth: 2, strokeDash: [6, 4], color: '#111' },
          encoding: { x: q('time', 'time'), y: q('mean', 'y', { scale: { zero: false } }) },
        },
      ],
    });
  }

  function explorerVariance(rows) {
    return base({
      width: 360,
      height: 240,
      description: 'True variance over time',
      data: { name: 'variance', values: rows },
      mark: { type: 'line', strokeWidth: 2.5 },
      encoding: {
        x: q('t', 'time'),
        y: q('v', 'variance'),
        color: { field: 'part', type: 'nominal', title: null, sort: ['total Var(y_t)', 'between persons'] },
      },
    });
  }

  global.LmmCharts = {
    rowsOf, trajectories, groupLines, groupMeans, shrinkage, partition, varianceCurve, iccCurve,
    residualsVsFitted, qq, caterpillar, acf, residualMatrix, simulated, explorerVariance, base, q,
    embedOptions(name) {
      return {
        renderer: 'svg',
        actions: { export: true, source: false, compiled: false, editor: false },
        downloadFileName: name,
      };
    },
  };
})(window);
