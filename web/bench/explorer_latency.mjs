// How long the explorer takes from a slider move to the redrawn charts (simulation by the engine
// through the API, then Vega's redraw), for 200 persons x 5 waves. A benchmark, not a test:
//
//   node web/bench/explorer_latency.mjs --lmm build/lmm [--chromium /usr/bin/chromium] [--moves 60]
//
// Prints the median, 90th percentile and maximum over the moves (each waits for the previous redraw).
import { spawn } from 'node:child_process';
import { args, launch } from '../tests/lib.mjs';

const opt = args({ lmm: undefined, chromium: '/usr/bin/chromium', moves: '60' });
const server = spawn(opt.lmm, ['explore', '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
const base = await new Promise((resolve) => {
  let out = '';
  server.stdout.on('data', (d) => {
    out += d;
    const m = /(http:\/\/127\.0\.0\.1:\d+\/)/.exec(out);
    if (m) resolve(m[1]);
  });
});
const browser = await launch(opt.chromium);
try {
  const page = await browser.context.newPage();
  await page.goto(base);
  await page.waitForSelector('body[data-ready="1"]');
  const p = await page.evaluate(() => [document.getElementById('s-persons').value, document.getElementById('s-waves').value]);
  const times = [];
  for (let i = 0; i < Number(opt.moves); i++) {
    const value = String(4 + (i % 16) * 0.5);
    const before = await page.evaluate(() => window.lmmExplorer.redraws.length);
    await page.locator('#s-sd_intercept').fill(value);
    await page.waitForFunction((n) => window.lmmExplorer.redraws.length > n && !window.lmmExplorer.inFlight, before);
    times.push(await page.evaluate(() => window.lmmExplorer.redraws[window.lmmExplorer.redraws.length - 1]));
  }
  times.sort((a, b) => a - b);
  const q = (f) => times[Math.min(times.length - 1, Math.floor(f * times.length))];
  console.log(`explorer redraw after a slider move, ${p[0]} persons x ${p[1]} waves, ${times.length} moves:`);
  console.log(`  median ${q(0.5).toFixed(1)} ms, 90th percentile ${q(0.9).toFixed(1)} ms, max ${times[times.length - 1].toFixed(1)} ms`);
} finally {
  await browser.close();
  server.kill('SIGTERM');
}
