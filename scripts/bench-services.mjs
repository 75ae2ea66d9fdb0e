#!/usr/bin/env node
// The vision services on the local lab (needs root, `npm run build`; brings the lab up if needed): the
// numbers of the paper's Table I for face and detect. Per service and repetition: deploy it for mu1 on
// edge1, send warm-up frames (processing time per frame, the service's RSS from its answers), then migrate
// it edge1 -> edge2 with 1 task between the pre-checkpoint and the final checkpoint, and back with 10:
// the pre-migration checkpoint, the delta sent in the downtime, the reduction ratio (1 - delta / pre) and
// the downtime the probe saw. Goal, after the paper's Table I (7.94 MB Openface, 5.60 MB Yolo): a delta
// under 8 MB and a reduction of at least 96% for both.
// Both delta codecs: `pages` (the default) and `xdelta3` (smaller deltas, its encoding in the downtime).
//   BENCH_SERVICES (default face,detect), BENCH_REPEAT (default 3), BENCH_WARMUP (frames, default 5),
//   BENCH_TASKS (tasks between the checkpoints, default "1,10"), BENCH_CODECS (default "pages,xdelta3")
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchPage } from './lib/bench-page.mjs';
import { edgectlAsync, root, edgectl as run } from './lib/edgectl.mjs';

const services = (process.env.BENCH_SERVICES ?? 'face,detect').split(',');
const repeat = Number(process.env.BENCH_REPEAT ?? 3);
const warmup = Number(process.env.BENCH_WARMUP ?? 5);
const between = (process.env.BENCH_TASKS ?? '1,10').split(',').map(Number);
const codecs = (process.env.BENCH_CODECS ?? 'pages,xdelta3').split(',');
const hosts = `${root}hosts.yml`;
const dir = mkdtempSync(join(tmpdir(), 'edgectl-bench-services-'));
const state = join(dir, 'state.db');
const edgectl = (args) => run(args, { hosts, state });

const median = (xs) => {
  const v = xs.filter((x) => typeof x === 'number').sort((a, b) => a - b);
  return v.length === 0 ? null : v[Math.floor((v.length - 1) / 2)];
};
const spread = (xs) => {
  const v = xs.filter((x) => typeof x === 'number');
  return v.length === 0 ? null : [Math.min(...v), Math.max(...v)];
};

const lib = await import(`${root}dist/index.js`);
const page = await benchPage('services', {
  title: 'Vision services (bench:services)',
  command: 'npm run bench:services',
});
const rows = [];
try {
  edgectl(['lab', 'up']);
  edgectl(['provision']);
  const inv = await lib.loadInventory(hosts);
  const pool = new lib.SshPool();
  const db = lib.openState(state);
  try {
    for (const service of services) {
      for (let rep = 0; rep < repeat; rep++) {
        edgectl(['undeploy', '--user', 'mu1']);
        edgectl(['deploy', '--user', 'mu1', '--service', service, '--host', 'edge1']);
        const warm = edgectl(['offload', '--user', 'mu1', '--count', String(warmup)]);
        const ok = warm.tasks.filter((t) => t.ok);
        // The first frame pays for the model's first run (kernels compiled, memory grown): left out.
        const proc = ok.slice(1).map((t) => t.procMs);
        const rss = Math.max(...ok.map((t) => t.result?.rssBytes ?? 0)) || null;
        let at = 'edge1';
        for (const [codec, k] of codecs.flatMap((c) => between.map((n) => [c, n]))) {
          const to = at === 'edge1' ? 'edge2' : 'edge1';
          let sent = 0;
          const m = await lib.migrate(inv, pool, db, {
            user: 'mu1',
            to,
            strategy: 'delta',
            codec,
            // The tasks go between the pre-checkpoint and the final one: what a user sends meanwhile.
            beforeCheckpoint: async () => {
              const r = await edgectlAsync(['offload', '--user', 'mu1', '--count', String(k)], {
                hosts,
                state,
              });
              sent = r.tasks.filter((t) => t.ok).length;
            },
          });
          at = to;
          const pre = m.phases.find((p) => p.name === 'pre-checkpoint')?.bytes ?? null;
          rows.push({
            service,
            codec,
            rep,
            k,
            sent,
            procMs: median(proc),
            rss,
            preBytes: pre,
            deltaBytes: m.bytesDuringDowntime,
            reduction: pre ? 1 - m.bytesDuringDowntime / pre : null,
            downtimeMs: m.downtimeMs,
            digest: m.stateDigest?.digest ? 'same' : (m.stateDigest?.note ?? 'not checked'),
          });
          process.stderr.write(
            `  ${service} #${rep + 1}, ${codec}, ${k} task(s) between: pre ${(pre / 1e6).toFixed(1)} MB, delta ${(m.bytesDuringDowntime / 1e6).toFixed(2)} MB, downtime ${m.downtimeMs?.toFixed(0)} ms\n`,
          );
        }
      }
      edgectl(['undeploy', '--user', 'mu1']);
    }
  } finally {
    db.close();
    await pool.closeAll();
  }
} finally {
  try {
    edgectl(['undeploy', '--user', 'mu1']);
    edgectl(['provision']);
  } catch {}
  rmSync(dir, { recursive: true, force: true });
}

const f = (v, d = 0) => (v === null || v === undefined ? '-' : Number(v).toFixed(d));
const mb = (v) => (v === null || v === undefined ? '-' : (v / 1e6).toFixed(2));
const range = (xs, fmt) => {
  const s = spread(xs);
  return s === null ? '-' : `${fmt(median(xs))} (${fmt(s[0])}-${fmt(s[1])})`;
};
const table = [
  [
    'service',
    'codec',
    'tasks between',
    'proc ms/frame',
    'RSS MB',
    'pre-checkpoint MB',
    'delta MB',
    'reduction',
    'downtime ms',
    'goal met (< 8 MB, >= 96%)',
  ],
];
for (const service of services)
  for (const [codec, k] of codecs.flatMap((c) => between.map((n) => [c, n]))) {
    const rs = rows.filter((r) => r.service === service && r.codec === codec && r.k === k);
    const pct = (v) => `${f(v * 100, 1)}%`;
    const deltaMed = median(rs.map((r) => r.deltaBytes));
    const redMed = median(rs.map((r) => r.reduction));
    table.push([
      service,
      codec,
      String(k),
      range(
        rs.map((r) => r.procMs),
        (v) => f(v),
      ),
      range(
        rs.map((r) => r.rss),
        mb,
      ).replace(/\.\d\d/g, ''),
      range(
        rs.map((r) => r.preBytes),
        (v) => f(v / 1e6, 1),
      ),
      range(
        rs.map((r) => r.deltaBytes),
        mb,
      ),
      range(
        rs.map((r) => r.reduction),
        pct,
      ),
      range(
        rs.map((r) => r.downtimeMs),
        (v) => f(v),
      ),
      deltaMed === null ? '-' : deltaMed < 8e6 && redMed >= 0.96 ? 'yes' : 'no',
    ]);
  }
const widths = table[0].map((_, i) => Math.max(...table.map((row) => String(row[i]).length)));
for (const row of table) page.log(row.map((c, i) => String(c).padEnd(widths[i])).join('  '));
page.log(
  `\nMedian (min-max) over ${repeat} deployments per service. proc: the service's own time per frame (the first frame of each deployment left out); RSS: the service process's resident memory after the warm-up; pre-checkpoint: the image copied ahead; delta: bytes sent during the downtime (by the codec); reduction: 1 - delta / pre-checkpoint; downtime: the gap the probe on the user's machine saw. State digest after every migration: ${[...new Set(rows.map((r) => r.digest))].join(', ')}.`,
);
page.write();
