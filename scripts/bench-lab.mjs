#!/usr/bin/env node
// Wall time of the local lab's life cycle on the repository's hosts.yml (goal: a fresh `lab up`,
// image loading included, under 90 s). Needs root and a build (`npm run build`).
// Rows: fresh up (after `lab down --purge`: images must be built/loaded), repeated up (lab already
// up: nothing to do), down, warm up (after a plain down: images still in the data roots), down.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { benchPage } from './lib/bench-page.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const hosts = process.env.EDGECTL_HOSTS ?? `${root}hosts.yml`;
const rounds = Number(process.env.BENCH_ROUNDS ?? 2);
const page = await benchPage('lab', {
  title: "The lab's life cycle (bench:lab)",
  command: 'npm run bench:lab',
});

function edgectl(...args) {
  const started = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [`${root}bin/run.js`, ...args, '-f', hosts, '--json'], {
    encoding: 'utf8',
  });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  if (r.status !== 0) {
    console.error(`edgectl ${args.join(' ')} failed (${r.status}):\n${r.stderr}`);
    process.exit(1);
  }
  return { ms, result: JSON.parse(r.stdout).result };
}

const rows = new Map();
const record = (name, ms) => rows.set(name, [...(rows.get(name) ?? []), ms]);
for (let i = 0; i < rounds; i++) {
  edgectl('lab', 'down', '--purge');
  record('lab up (fresh: empty data roots, images loaded)', edgectl('lab', 'up').ms);
  record('lab up (already up)', edgectl('lab', 'up').ms);
  record('lab down', edgectl('lab', 'down').ms);
  record('lab up (warm: images kept in data roots)', edgectl('lab', 'up').ms);
  record('lab down (after warm up)', edgectl('lab', 'down').ms);
}

const header = ['step', 'runs', 'min s', 'median s', 'max s'];
const cells = [header];
for (const [name, times] of rows) {
  const sorted = [...times].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)];
  cells.push([
    name,
    String(sorted.length),
    (sorted[0] / 1000).toFixed(2),
    (median / 1000).toFixed(2),
    (sorted.at(-1) / 1000).toFixed(2),
  ]);
}
const widths = header.map((_, i) => Math.max(...cells.map((r) => r[i].length)));
for (const r of cells) page.log(r.map((c, i) => c.padEnd(widths[i])).join('  '));
const fresh = Math.max(...rows.get('lab up (fresh: empty data roots, images loaded)'));
page.log(
  `\nGoal: fresh lab up < 90 s. Slowest fresh lab up: ${(fresh / 1000).toFixed(1)} s (${fresh < 90_000 ? 'met' : 'NOT met'}).`,
);
page.write();
