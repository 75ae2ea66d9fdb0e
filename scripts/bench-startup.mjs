#!/usr/bin/env node
// Start-up time of the built CLI (goal: median under 400 ms). Run `npm run build` first.
// Prints a table: one row per invocation kind, with min, median, p90 and max over N runs.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { benchPage } from './lib/bench-page.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const runs = Number(process.env.BENCH_RUNS ?? 15);
if (!existsSync(`${root}/dist/commands`)) {
  console.error('dist/ is missing: run `npm run build` first');
  process.exit(1);
}
const page = await benchPage('startup', {
  title: 'Start-up time of the CLI (bench:startup)',
  command: 'npm run bench:startup',
});

const cases = [
  ['edgectl --version', ['--version']],
  ['edgectl --help', ['--help']],
  ['edgectl hosts check --help', ['hosts', 'check', '--help']],
];

const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
const rows = [];
for (const [name, args] of cases) {
  const times = [];
  for (let i = 0; i < runs + 1; i++) {
    const started = process.hrtime.bigint();
    const r = spawnSync(process.execPath, [`${root}/bin/run.js`, ...args], { encoding: 'utf8' });
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    if (r.status !== 0) {
      console.error(`${name} failed (${r.status}): ${r.stderr}`);
      process.exit(1);
    }
    if (i > 0) times.push(ms); // the first run warms the file cache
  }
  times.sort((a, b) => a - b);
  rows.push([name, runs, times[0], quantile(times, 0.5), quantile(times, 0.9), times.at(-1)]);
}

const header = ['command', 'runs', 'min ms', 'median ms', 'p90 ms', 'max ms'];
const cells = [
  header,
  ...rows.map((r) =>
    r.map((v) => (typeof v === 'number' && !Number.isInteger(v) ? v.toFixed(0) : String(v))),
  ),
];
const widths = header.map((_, i) => Math.max(...cells.map((r) => r[i].length)));
for (const r of cells) page.log(r.map((c, i) => c.padEnd(widths[i])).join('  '));
const worst = Math.max(...rows.map((r) => r[3]));
page.log(
  `\nGoal: median start-up < 400 ms. Worst median: ${worst.toFixed(0)} ms (${worst < 400 ? 'met' : 'NOT met'}).`,
);
page.write();
