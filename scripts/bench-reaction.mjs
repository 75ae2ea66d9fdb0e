#!/usr/bin/env node
// Reactive migrations on the local lab (needs root, `npm run build`, `lab up` and `provision` done: the
// quick start leaves the lab so). What a baseline planner pays when it reacts to a handover: the user
// mu1 is handed over and, at the same instant (the paper's baselines are "triggered when BS handover is
// triggered"), its simple service starts migrating to the server next to the new base station, in this
// process, over the same library calls and warm SSH connections an experiment uses. Per link, over
// BENCH_REPEAT runs (default 3), it prints:
// - the reaction delay: the migration's start (at the handover's trigger) to the final checkpoint's start:
//   everything the migration does before its downtime (preparing the destination, the pre-checkpoint, the
//   sessions of its data channels and of the probe, the pre-transfer). An experiment's baselines start it
//   as the handover's link goes down; here the handover is asked for at the same instant through
//   `edgectl mu handover` on the user's machine, whose own session start delays its link-down;
// - the pre-transfer's throughput: the pre-migration image's bytes over the time its send took (the
//   channel's session already open), against the link's bandwidth (hosts.yml); the goal is
//   at least 60% of it for 5 MB or more;
// - the migration's outage as the user's probe saw it, with its parts: CRIU's dump and restore (from
//   their logs), runc and Docker around them, the codec, the transfer, the first answer on the user's
//   path, and the rest (edgectl's own).
// Links: edge (edge1 -> edge2: 100 Mbit/s, 50 ms each way) and cloud (edge1 -> cloud: 75 Mbit/s, 150 ms);
// BENCH_LINKS=edge,cloud picks. Every figure is min / median / max over the runs; the machine's load
// (2 shared cores: other work shows in every figure) is printed with them.
import { loadavg } from 'node:os';
import { benchPage } from './lib/bench-page.mjs';
import { edgectl, root } from './lib/edgectl.mjs';

const lib = async (path) => import(`${root}dist/lib/${path}`);
const { loadInventory } = await lib('inventory/index.js');
const { SshPool } = await lib('remote/index.js');
const { openState } = await lib('state/index.js');
const { deploy, undeploy } = await lib('docker/deploy.js');
const { handoverUser } = await lib('mu/controller.js');
const { Migration } = await lib('migration/pipeline.js');

const repeat = Number(process.env.BENCH_REPEAT ?? 3);
const LINKS = [
  { name: 'edge', from: 'edge1', to: 'edge2', bsFrom: 'ap1', bsTo: 'ap2', bps: 100e6 },
  { name: 'cloud', from: 'edge1', to: 'cloud', bsFrom: 'ap1', bsTo: 'ap2', bps: 75e6 },
].filter((l) => (process.env.BENCH_LINKS ?? 'edge,cloud').split(',').includes(l.name));

const hostsFile = `${root}hosts.yml`;
const inv = await loadInventory(hostsFile);
const state = openState(`${root}.edgectl/state.db`);
const pool = new SshPool();
const user = 'mu1';
const rows = [];

function stats(xs) {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  return { min: v[0], med: v[Math.floor((v.length - 1) / 2)], max: v.at(-1), n: v.length };
}
const f0 = (x) => (x === undefined || x === null ? '-' : x.toFixed(0));
const cell = (s, f = f0) => (s ? `${f(s.min)} / ${f(s.med)} / ${f(s.max)}` : '-');

const page = await benchPage('reaction', {
  title: 'How fast a baseline reacts (bench:reaction)',
  command: 'npm run bench:reaction',
});
try {
  edgectl(['hosts', 'check'], { hosts: hostsFile });
  for (const link of LINKS) {
    for (let i = 0; i < repeat; i++) {
      await undeploy(inv, pool, state, user, { forget: true });
      await handoverUser(inv, pool, state, { user, to: link.bsFrom, blackoutMs: 0 });
      await deploy(inv, pool, state, { user, service: 'simple', host: link.from });
      edgectl(['offload', '--user', user, '--count', '5'], { hosts: hostsFile });
      const load = loadavg()[0];
      let checkpointAt = null;
      const migration = new Migration(inv, pool, state, {
        user,
        to: link.to,
        onPhase: (e) => {
          if (e.name === 'checkpoint' && e.status === 'start') checkpointAt = Date.now();
        },
      });
      // The handover and the migration start together; the handover's link-down is its own instant.
      const [ho, m] = await Promise.all([
        handoverUser(inv, pool, state, { user, to: link.bsTo }),
        migration.migrate(),
      ]);
      const pre = m.phases.find((p) => p.name === 'pre-transfer');
      const sendMs = pre?.parts?.send ?? pre?.durationMs ?? null;
      const mbps = pre?.bytes && sendMs ? (pre.bytes * 8) / (sendMs / 1000) / 1e6 : null;
      const b = m.breakdown ?? {};
      rows.push({
        link: link.name,
        load,
        reactionMs: checkpointAt === null ? null : checkpointAt - m.startedEpochMs,
        handoverLagMs: ho.atMs - m.startedEpochMs,
        preBytes: pre?.bytes ?? null,
        preSendMs: sendMs,
        preChannelWaitMs: pre?.parts?.channel ?? null,
        preMbps: mbps,
        preShare: mbps === null ? null : (100 * mbps * 1e6) / link.bps,
        prepareMs: m.phases.find((p) => p.name === 'prepare')?.durationMs ?? null,
        preCheckpointMs: m.phases.find((p) => p.name === 'pre-checkpoint')?.durationMs ?? null,
        outageMs: m.downtimeMs,
        ...b,
      });
      console.error(
        `[bench:reaction] ${link.name} ${i + 1}/${repeat}: reaction ${f0(rows.at(-1).reactionMs)} ms, pre-transfer ${f0(pre?.bytes / 1e3)} kB in ${f0(sendMs)} ms (${f0(mbps)} Mbit/s), outage ${f0(m.downtimeMs)} ms`,
      );
    }
  }
} finally {
  await undeploy(inv, pool, state, user, { forget: true }).catch(() => {});
  await handoverUser(inv, pool, state, { user, to: 'ap1', blackoutMs: 0 }).catch(() => {});
  state.close();
  await pool.closeAll();
}

const by = (link, key) => stats(rows.filter((r) => r.link === link).map((r) => r[key]));
page.md(
  `simple service, ${repeat} runs per link; each figure min / median / max; load average at the runs' starts ${cell(stats(rows.map((r) => r.load)), (x) => x.toFixed(1))}\n`,
);
page.md(
  '| link | reaction delay (ms) | prepare (ms) | pre-checkpoint (ms) | channel wait (ms) | pre-transfer send (ms) | pre-migration image (kB) | throughput (Mbit/s) | of the link |',
);
page.md('|---|---|---|---|---|---|---|---|---|');
for (const l of LINKS)
  page.md(
    `| ${l.name} (${l.from} -> ${l.to}, ${l.bps / 1e6} Mbit/s) | ${cell(by(l.name, 'reactionMs'))} | ${cell(by(l.name, 'prepareMs'))} | ${cell(by(l.name, 'preCheckpointMs'))} | ${cell(by(l.name, 'preChannelWaitMs'))} | ${cell(by(l.name, 'preSendMs'))} | ${cell(by(l.name, 'preBytes'), (x) => (x / 1e3).toFixed(0))} | ${cell(by(l.name, 'preMbps'))} | ${cell(by(l.name, 'preShare'), (x) => `${x.toFixed(0)}%`)} |`,
  );
page.md("\nThe migration's outage (probe) and its parts (ms):\n");
page.md('| link | outage | CRIU dump | CRIU restore | runc + Docker | codec | transfer | path | edgectl |');
page.md('|---|---|---|---|---|---|---|---|---|');
for (const l of LINKS)
  page.md(
    `| ${l.name} | ${cell(by(l.name, 'outageMs'))} | ${cell(by(l.name, 'criuDumpMs'))} | ${cell(by(l.name, 'criuRestoreMs'))} | ${cell(by(l.name, 'runtimeMs'))} | ${cell(by(l.name, 'deltaMs'))} | ${cell(by(l.name, 'transferMs'))} | ${cell(by(l.name, 'pathMs'))} | ${cell(by(l.name, 'edgectlMs'))} |`,
  );
const share = stats(rows.filter((r) => (r.preBytes ?? 0) >= 5e6).map((r) => r.preShare));
page.md(
  `\nGoal: pre-transfer at least 60% of the link's bandwidth for 5 MB or more: ${share ? `${share.min.toFixed(0)}-${share.max.toFixed(0)}% measured, ${share.min >= 60 ? 'met' : 'not met'}` : 'no such run'}.`,
);
page.write();
