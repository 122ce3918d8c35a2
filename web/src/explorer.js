// The explorer page: sliders → the engine's /api/simulate → redraw; "fit" → /api/fit; "your data"
// → /api/report. The page computes no statistic: the ICC, the variance curve, the wave means, the
// estimates and the test all come from the server.
(function () {
  'use strict';
  const C = window.LmmCharts;
  const R = window.LmmReport;
  const PARAMS = ['intercept', 'slope', 'sd_intercept', 'sd_slope', 'cor', 'sigma', 'persons', 'waves'];
  const state = { seed: 1, simView: null, varView: null, inFlight: false, queued: false, inputAt: null, queuedAt: null, redraws: [], simulations: 0 };
  window.lmmExplorer = state;

  const $ = (id) => document.getElementById(id);

  function params() {
    const p = { seed: state.seed };
    for (const k of PARAMS) p[k] = Number($('s-' + k).value);
    return p;
  }

  function showValues() {
    for (const k of PARAMS) $('v-' + k).textContent = $('s-' + k).value;
    $('seed-label').textContent = 'seed ' + state.seed;
  }

  async function post(path, body) {
    const res = await fetch(path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    const data = await res.json();
    if (!res.ok) throw new Error(data.error || res.statusText);
    return data;
  }

  function setNumber(id, v, digits) {
    const e = $(id);
    e.setAttribute('data-value', JSON.stringify(v));
    e.textContent = R.fmt(v, digits);
  }

  // Rows for the one-path trajectories chart: each person's rows in order (k), then a break (y null).
  function brokenRows(sim) {
    const rows = [];
    let k = 0;
    for (let i = 0; i < sim.y.length; i++) {
      rows.push({ k: k++, time: sim.time[i], y: sim.y[i] });
      if (i + 1 === sim.y.length || sim.person[i + 1] !== sim.person[i]) rows.push({ k: k++, time: sim.time[i], y: null });
    }
    return rows;
  }

  // The engine's simulation as the charts' rows, and the ICCs shown.
  function present(sim) {
    const t = sim.truth;
    const variance = [];
    for (let k = 0; k < t.t.length; k++) {
      variance.push({ t: t.t[k], v: t.total[k], part: 'total Var(y_t)' });
      variance.push({ t: t.t[k], v: t.between[k], part: 'between persons' });
    }
    setNumber('icc-baseline', t.icc_baseline, 3);
    setNumber('icc-mean', t.icc_mean, 3);
    return {
      sim: brokenRows(sim),
      means: C.rowsOf({ time: sim.wave_times, mean: sim.wave_mean }),
      truth: C.rowsOf({ time: sim.wave_times, mean: sim.population }),
      variance,
    };
  }

  // One request in flight at a time; slider moves meanwhile coalesce into one more request.
  async function simulate() {
    if (state.inFlight) {
      state.queued = true;
      return;
    }
    state.inFlight = true;
    const startedFor = state.inputAt;
    try {
      const sim = await post('/api/simulate', params());
      const d = present(sim);
      await Promise.all([
        state.simView.data('sim', d.sim).data('means', d.means).data('truth', d.truth).runAsync(),
        state.varView.data('variance', d.variance).runAsync(),
      ]);
      state.simulations++;
      document.body.setAttribute('data-simulations', String(state.simulations));
      if (startedFor !== null) {
        const ms = performance.now() - startedFor;
        state.redraws.push(ms);
        $('latency').textContent = `redrawn ${ms.toFixed(0)} ms after the slider moved (${sim.y.length} rows)`;
      }
      $('fit-results').classList.add('stale');
    } catch (err) {
      console.error('lmm explore: ' + err.message);
    } finally {
      state.inFlight = false;
      state.inputAt = null;
      if (state.queued) {
        state.queued = false;
        state.inputAt = state.queuedAt;
        simulate();
      }
    }
  }

  // The redraw time is measured from the first slider move not yet drawn.
  function onInput() {
    const now = performance.now();
    if (state.inFlight) {
      if (!state.queued) state.queuedAt = now;
    } else {
      state.inputAt = now;
    }
    showValues();
    simulate();
  }

  function comparisonTable(res) {
    const rows = res.comparison.map((c, i) =>
      R.el('tr', { 'data-param': c.key }, [
        R.el('th', { scope: 'row', text: c.parameter }),
        R.numCell(res, `comparison.${i}.true`, 4),
        R.numCell(res, `comparison.${i}.estimate`, 4),
        c.std_error === null ? R.el('td', { class: 'num muted', text: '' }) : R.numCell(res, `comparison.${i}.std_error`, 3),
      ]));
    return R.table('Estimates beside the true values', ['', 'true', 'estimate', 'std. error'], rows, 'estimates');
  }

  function lrtTable(res) {
    const l = res.lrt;
    const rows = [0, 1].map((k) =>
      R.el('tr', {}, [
        R.el('th', { scope: 'row', text: k === 0 ? 'random intercept' : 'random intercept and slope' }),
        R.numCell(res, `lrt.npar.${k}`),
        R.numCell(res, `lrt.aic.${k}`),
        R.numCell(res, `lrt.bic.${k}`),
        R.numCell(res, `lrt.loglik.${k}`),
        R.numCell(res, `lrt.deviance.${k}`),
        k === 1 ? R.numCell(res, 'lrt.chisq', 4) : R.el('td'),
        k === 1 ? R.numCell(res, 'lrt.df') : R.el('td'),
        k === 1 ? R.numCell(res, 'lrt.p', 3) : R.el('td'),
      ]));
    return R.el('div', {}, [
      R.table('Likelihood-ratio test (both refitted by ML, as lme4\'s anova())', ['', 'npar', 'AIC', 'BIC', 'logLik', 'deviance', 'Chisq', 'Df', 'Pr(>Chisq)'], rows, 'lrt'),
      R.el('p', { class: 'muted', text: 'The variance of the slopes is tested on the boundary of its range (it cannot be negative), so this p-value is conservative (Stram & Lee 1994).' }),
    ]);
  }

  async function fit() {
    const btn = $('fit');
    btn.disabled = true;
    $('fit-status').textContent = 'fitting…';
    const model = document.querySelector('input[name=model]:checked').value;
    try {
      const t0 = performance.now();
      const res = await post('/api/fit', Object.assign(params(), { model }));
      const out = $('fit-results');
      out.replaceChildren();
      out.classList.remove('stale');
      out.setAttribute('data-model', res.model);
      out.append(R.el('p', { class: 'muted', text: `${res.fit.formula}: ${res.fit.method}, ${res.fit.nobs} observations, ${res.fit.ngroups.id} persons${res.fit.singular ? ' — singular fit: ' + res.fit.singular_reasons.join('; ') : ''}` }));
      out.append(R.el('div', { class: 'grid2' }, [comparisonTable(res), lrtTable(res)]));
      const fig = R.el('figure', { class: 'lmm-chart', 'data-chart': 'fit-shrinkage' }, [R.el('div', { class: 'vis' }),
        R.el('figcaption', { text: 'Each person\'s own least-squares line (hollow, sized by observations) pulled toward the population (cross) by the model (dots).' })]);
      out.append(fig);
      if (res.shrinkage.available) {
        const r = await window.vegaEmbed(fig.firstChild, C.shrinkage(res.shrinkage), C.embedOptions('lmm-shrinkage'));
        state.shrinkView = r.view;
      }
      fig.setAttribute('data-rendered', '1');
      $('fit-status').textContent = `fitted in ${(performance.now() - t0).toFixed(0)} ms`;
      document.body.setAttribute('data-fits', String((Number(document.body.getAttribute('data-fits')) || 0) + 1));
    } catch (err) {
      $('fit-status').textContent = 'failed: ' + err.message;
      console.error('lmm explore: fit failed: ' + err.message);
    } finally {
      btn.disabled = false;
    }
  }

  async function analyze() {
    const file = $('csv-file').files[0];
    const formula = $('formula-input').value.trim();
    $('user-error').textContent = '';
    const out = $('user-report');
    out.replaceChildren();
    if (!file) {
      $('user-error').textContent = 'Choose a CSV file first.';
      return;
    }
    if (!formula) {
      $('user-error').textContent = 'Write a formula, e.g. y ~ time + (time | id).';
      return;
    }
    $('analyze').disabled = true;
    try {
      const csv = await file.text();
      const doc = await post('/api/report', { csv, formula, name: file.name });
      out.append(R.el('h2', { text: doc.fit.formula + ' — ' + doc.source }));
      await R.render(doc, out);
      out.setAttribute('data-ready', '1');
    } catch (err) {
      $('user-error').textContent = err.message;
    } finally {
      $('analyze').disabled = false;
    }
  }

  async function start() {
    showValues();
    const d = present(await post('/api/simulate', params()));
    const a = await window.vegaEmbed($('sim-chart'), C.simulated(d), C.embedOptions('lmm-simulated'));
    const b = await window.vegaEmbed($('var-chart'), C.explorerVariance(d.variance), C.embedOptions('lmm-variance'));
    state.simView = a.view;
    state.varView = b.view;
    for (const k of PARAMS) $('s-' + k).addEventListener('input', onInput);
    $('resample').addEventListener('click', () => {
      state.seed++;
      onInput();
    });
    $('fit').addEventListener('click', fit);
    $('analyze').addEventListener('click', analyze);
    document.body.setAttribute('data-simulations', '0');
    document.body.setAttribute('data-ready', '1');
  }

  start().catch((err) => console.error('lmm explore: ' + err));
})();
