#!/usr/bin/env node
// Migration benchmark on the local lab (needs root, `npm run build`; brings the lab up if needed).
// For the compute service with STATE_MB of 16, 64 and 256: deploy it for mu1 on edge1, send tasks so
// that its state changes, migrate it edge1 -> edge2 (the 100 Mbit/s edge link) with each strategy
// (delta with the pages, rsync and xdelta3 codecs, and full), and print per run: downtime (measured by
// the probe on the user's machine), total time, bytes moved during the downtime, the pre-migration image,
// and where the downtime went (the result's breakdown): CRIU's own dump and restore (from its logs), the
// container runtime around them (runc's checkpoint, Docker's restore path), the delta (computed at the
// source and applied at the destination), the transfer, and edgectl's own remaining time. Then the
// ratios delta/full, and the goal for the delta: its downtime at most 1.5 x CRIU's own dump+restore
// plus the delta at link speed. Earlier goals: delta downtime <= 0.5 x full at 64 MB; bytes
// during the downtime <= 2% of the pre-migration image.
// Every run is made once per session delay (BENCH_SESSION_DELAYS, default "0,2000": `lab up
// --session-delay`, every new SSH session on every lab host waits that long, as with a slow login shell):
// the last table compares them (goal: delta downtime within 5% whatever the delay).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import { benchPage } from './lib/bench-page.mjs';
import { root, edgectl as run } from './lib/edgectl.mjs';

const sizes = (process.env.BENCH_STATE_MB ?? '16,64,256').split(',').map(Number);
const tasksBetween = Number(process.env.BENCH_TASKS ?? 50);
const LINK_BPS = 100e6; // edge1 <-> edge2 in hosts.yml
const dir = mkdtempSync(join(tmpdir(), 'edgectl-bench-'));
const state = join(dir, 'state.db');

const edgectl = (args, hosts) => run(args, { hosts, state });

function inventory(stateMb) {
  const doc = parseDocument(
    readFileSync(`${root}hosts.yml`, 'utf8').replaceAll(' .edgectl/lab/', ` ${root}.edgectl/lab/`),
  );
  doc.setIn(['services', 1, 'env', 'STATE_MB'], String(stateMb));
  doc.setIn(['services', 1, 'limits', 'memMB'], Math.max(512, stateMb * 3));
  const file = join(dir, `hosts-${stateMb}.yml`);
  writeFileSync(file, doc.toString());
  return file;
}

const RUNS = [
  { strategy: 'delta', codec: 'pages' },
  { strategy: 'delta', codec: 'rsync' },
  { strategy: 'delta', codec: 'xdelta3' },
  { strategy: 'full' },
].filter((r) =>
  (process.env.BENCH_RUNS ?? 'pages,rsync,xdelta3,full').split(',').includes(r.codec ?? r.strategy),
);
// The lab's default (2 s session starts, as on a fresh machine); BENCH_SESSION_DELAYS=0,2000 compares.
const delays = (process.env.BENCH_SESSION_DELAYS ?? '2000').split(',').map(Number);
// Docker's own checkpoint and restore vary by about ±15% from run to run here: each run is repeated and
// the summaries use the median.
const repeat = Number(process.env.BENCH_REPEAT ?? 3);
const median = (xs) => {
  const v = xs.filter((x) => x !== null && x !== undefined).sort((a, b) => a - b);
  return v.length === 0 ? undefined : v[Math.floor((v.length - 1) / 2)];
};
/** The median run of a configuration (by downtime), or undefined. */
const pick = (delay, mb, strategy) => {
  const runs = rows.filter((r) => r.delay === delay && r.mb === mb && r.strategy === strategy);
  const m = median(runs.map((r) => r.downtimeMs));
  return runs.find((r) => r.downtimeMs === m);
};
const rows = [];
/** The migrations' link as their results describe it: its latency both ways and how it was emulated. */
let linkLatency = [];
const page = await benchPage('migrate', {
  title: 'Live migration (bench:migrate)',
  command: 'npm run bench:migrate',
});
try {
  for (const delay of delays) {
    edgectl(['lab', 'up', '--session-delay', String(delay)], `${root}hosts.yml`);
    for (const mb of sizes) {
      const hosts = inventory(mb);
      edgectl(['provision'], hosts);
      edgectl(['undeploy', '--user', 'mu1'], hosts);
      edgectl(['deploy', '--user', 'mu1', '--service', 'compute', '--host', 'edge1'], hosts);
      let at = 'edge1';
      for (const { strategy, codec } of RUNS.flatMap((r) => Array.from({ length: repeat }, () => r))) {
        edgectl(['offload', '--user', 'mu1', '--count', String(tasksBetween)], hosts);
        const to = at === 'edge1' ? 'edge2' : 'edge1';
        const how = ['--strategy', strategy, ...(codec ? ['--codec', codec] : [])];
        const m = edgectl(['migrate', '--user', 'mu1', '--to', to, ...how], hosts);
        linkLatency = m.latency ?? linkLatency;
        at = to;
        const phase = (n) => m.phases.find((p) => p.name === n);
        const linkMs = (m.bytesDuringDowntime * 8 * 1000) / LINK_BPS;
        const b = m.breakdown;
        const criuMs =
          b && b.criuDumpMs !== null && b.criuRestoreMs !== null ? b.criuDumpMs + b.criuRestoreMs : null;
        rows.push({
          delay,
          mb,
          strategy: m.strategy + (m.codec ? `/${m.codec}` : ''),
          checkpointer: m.checkpointer,
          downtimeMs: m.downtimeMs,
          totalMs: m.totalMs,
          bytesDuringDowntime: m.bytesDuringDowntime,
          preBytes: phase('pre-checkpoint')?.bytes ?? null,
          finalBytes: phase('checkpoint')?.bytes ?? null,
          b,
          linkMs,
          // The delta's goal: 1.5 x CRIU's own dump+restore, plus the delta at link speed.
          goalMs: criuMs === null ? null : 1.5 * criuMs + linkMs,
          overhead: b ? b.edgectlMs : null,
        });
        process.stderr.write(
          `  session delay ${delay} ms, ${mb} MB ${rows.at(-1).strategy}: downtime ${m.downtimeMs?.toFixed(0)} ms\n`,
        );
      }
      edgectl(['undeploy', '--user', 'mu1'], hosts);
    }
  }
} finally {
  try {
    edgectl(['provision'], `${root}hosts.yml`);
  } catch {}
  rmSync(dir, { recursive: true, force: true });
}

const f = (v, d = 0) => (v === null || v === undefined ? '-' : Number(v).toFixed(d));
const mbytes = (v) =>
  v === null || v === undefined
    ? '-'
    : v >= 1e6
      ? `${(v / 1e6).toFixed(1)} MB`
      : `${(v / 1e3).toFixed(1)} kB`;
/** Whether a downtime meets the delta's goal; if not, how many times CRIU's own time it is (less the link). */
const meets = (downtimeMs, r) =>
  r.goalMs === null || downtimeMs === null
    ? '-'
    : downtimeMs <= r.goalMs
      ? 'yes'
      : `no (${f((downtimeMs - r.linkMs) / ((r.goalMs - r.linkMs) / 1.5), 2)}x)`;
const table = [
  [
    'session delay',
    'state',
    'strategy',
    'downtime ms',
    'CRIU dump',
    'CRIU restore',
    'runtime',
    'delta',
    'transfer',
    'path',
    'edgectl',
    'sent in downtime',
    'at link speed',
    'goal ms',
    'goal met',
    'less path',
    'total ms',
    'pre image',
  ],
  ...rows.map((r) => [
    `${r.delay} ms`,
    `${r.mb} MB`,
    r.strategy,
    f(r.downtimeMs),
    f(r.b?.criuDumpMs),
    f(r.b?.criuRestoreMs),
    f(r.b?.runtimeMs),
    f(r.b?.deltaMs),
    f(r.b?.transferMs),
    f(r.b?.pathMs),
    f(r.b?.edgectlMs),
    mbytes(r.bytesDuringDowntime),
    f(r.linkMs),
    f(r.goalMs),
    meets(r.downtimeMs, r),
    meets(r.downtimeMs === null ? null : r.downtimeMs - (r.b?.pathMs ?? 0), r),
    f(r.totalMs),
    mbytes(r.preBytes ?? r.finalBytes),
  ]),
];
const widths = table[0].map((_, i) => Math.max(...table.map((row) => String(row[i]).length)));
for (const row of table) page.log(row.map((c, i) => String(c).padEnd(widths[i])).join('  '));

page.log(
  `All in ms. Checkpoints by ${[...new Set(rows.map((r) => r.checkpointer))].join(', ')}. CRIU dump/restore: CRIU's own time, from its logs; runtime: runc's checkpoint and Docker's restore around CRIU; delta: computing it at the source and applying it at the destination; path: the probe's first answer after the gap, its own time on the user's path (a fresh connection and the request: about two round trips); edgectl: the rest of the downtime (the writable layer, placing the images, commands, the host learning the container's MAC). Goal: downtime <= 1.5 x (CRIU dump + restore) + the delta at link speed; "no (Nx)": the downtime less the link time is N x CRIU's; "less path": the same for the downtime less the first answer's time on the user's path.`,
);
page.log(`\nRatios delta / full (median runs of ${repeat}):`);
const ratios = [['state, codec', 'downtime', 'bytes in downtime', 'bytes in downtime / pre image']];
for (const delay of delays)
  for (const mb of sizes) {
    const full = pick(delay, mb, 'full');
    const codecs = [...new Set(rows.filter((r) => r.strategy.startsWith('delta')).map((r) => r.strategy))];
    for (const d of codecs.map((c) => pick(delay, mb, c))) {
      if (!full || !d) continue;
      ratios.push([
        `${delay} ms, ${mb} MB ${d.strategy}`,
        f(d.downtimeMs / full.downtimeMs, 2),
        f(d.bytesDuringDowntime / full.bytesDuringDowntime, 4),
        `${f((100 * d.bytesDuringDowntime) / d.preBytes, 3)}%`,
      ]);
    }
  }
const w2 = ratios[0].map((_, i) => Math.max(...ratios.map((row) => String(row[i]).length)));
for (const row of ratios) page.log(row.map((c, i) => String(c).padEnd(w2[i])).join('  '));
if (delays.length > 1) {
  const [base, ...others] = delays;
  page.log(`\nDowntime (median of ${repeat}) with each session delay against ${base} ms:`);
  const cmp = [
    [
      'state, strategy',
      ...delays.map((d) => `${d} ms`),
      ...others.map((d) => `${d} vs ${base}`),
      ...delays.map((d) => `overhead % at ${d} ms`),
    ],
  ];
  for (const mb of sizes)
    for (const strategy of [...new Set(rows.map((r) => r.strategy))]) {
      const at = (d) => pick(d, mb, strategy)?.downtimeMs;
      if (at(base) === undefined) continue;
      cmp.push([
        `${mb} MB ${strategy}`,
        ...delays.map((d) => f(at(d))),
        ...others.map((d) => `${at(d) > at(base) ? '+' : ''}${f((100 * (at(d) - at(base))) / at(base), 1)}%`),
        ...delays.map((d) => {
          const r = pick(d, mb, strategy);
          return r?.overhead == null ? '-' : f((100 * r.overhead) / r.downtimeMs, 1);
        }),
      ]);
    }
  const w3 = cmp[0].map((_, i) => Math.max(...cmp.map((row) => String(row[i]).length)));
  for (const row of cmp) page.log(row.map((c, i) => String(c).padEnd(w3[i])).join('  '));
}
const latencyText =
  linkLatency
    .map(
      (l) => `${l.from}->${l.to} ${l.latencyMs} ms ${l.emulated ? `emulated (${l.method})` : 'NOT emulated'}`,
    )
    .join(', ') || 'unknown';
page.log(`\nlink: edge1 <-> edge2, 100 Mbit/s; latency: ${latencyText}.`);
page.write();
