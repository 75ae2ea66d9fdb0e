#!/usr/bin/env node
// Placement-planner MIP benchmark (needs `npm run build`; no lab, no root). Random but plausible
// instances from the testbed's size (5 users x 3 APs x 4 servers) to 1000x50x50:
// - APs on a line (up to 5) or a grid, 100 m apart; an edge server at each AP (round robin) and a cloud;
// - users around a home AP (popular APs draw more: weight 1/sqrt(rank)), each hearing its 2 to 5
//   nearest APs within range (the others undecodable, 3d);
// - demands of 0.25-2 cpus and 256-2048 memMB; edge machines of three sizes scaled together to hold
//   BENCH_TIGHTNESS (default 1.0) of all the demand, so the popular ones overflow (binding); the cloud
//   holds everything, 20-40 ms away; base stations take 1.5x their share of users;
// - each user runs where the last plan put it (near its home AP where that fit, else the cloud); an
//   option's value is the delay its tasks save over 120 s against that (radio rate from the distance,
//   wired hops, the server's speed) minus the downtime of migrating there (the dirty tenth of its state
//   over the link, waited for by every task meanwhile): many are negative.
// Per size and solver: solve time, status, objective, the gap proven against the best bound any solver
// gave, the solver's own gap, and its message (what presolve, the bounds and the fixing did).
// Goals: the testbed size under 20 ms; 100x20x20 proven optimal under 1 s; 1000x50x50
// within 1% of the bound under 10 s (checked on solver auto).
// BENCH_SIZES (e.g. "5x3x4,100x20x20"), BENCH_SOLVERS (default "greedy,lp-solver,highs,auto"),
// BENCH_TIME_LIMIT_MS (default 10000), BENCH_SEED (default 1), BENCH_RUNS (timing runs of the small
// sizes, default 20), BENCH_TIGHTNESS.
import { existsSync } from 'node:fs';
import { benchPage } from './lib/bench-page.mjs';
import { root } from './lib/edgectl.mjs';

if (!existsSync(`${root}dist/lib/planner/mip/index.js`)) {
  console.error('dist/ is missing the planner: run `npm run build` first');
  process.exit(1);
}
const page = await benchPage('plan', {
  title: 'The placement solvers (bench:plan)',
  command: 'npm run bench:plan',
});
const { solve, closeEngines } = await import(`${root}dist/lib/planner/mip/index.js`);
const { seededRandom } = await import(`${root}dist/lib/util/random.js`);

const sizes = (process.env.BENCH_SIZES ?? '5x3x4,20x5x5,50x10x10,100x20x20,200x20x20,500x50x50,1000x50x50')
  .split(',')
  .map((s) => s.split('x').map(Number));
const names = (process.env.BENCH_SOLVERS ?? 'greedy,lp-solver,highs,auto').split(',');
const timeLimitMs = Number(process.env.BENCH_TIME_LIMIT_MS ?? 10_000);
const seed0 = Number(process.env.BENCH_SEED ?? 1);
/** The share of all demand the edge servers can hold together. */
const tightness = Number(process.env.BENCH_TIGHTNESS ?? 1.0);
const runs = Number(process.env.BENCH_RUNS ?? 20);
/**
 * javascript-lp-solver is not tried above this many (user, option) options: its first LP alone takes
 * longer than the time limit there (it would only be terminated at the limit), and its model is a
 * JSON object per variable.
 */
const LP_SOLVER_MAX_OPTIONS = Number(process.env.BENCH_LP_SOLVER_MAX_OPTIONS ?? 20_000);

function instance(nUsers, nAps, nServers, seed) {
  const rnd = seededRandom(seed);
  const pick = (xs) => xs[Math.floor(rnd() * xs.length)];
  const gauss = () => Math.sqrt(-2 * Math.log(1 - rnd())) * Math.cos(2 * Math.PI * rnd());
  const SPACING = 100;
  const RANGE = 1.6 * SPACING;
  const cols = nAps <= 5 ? nAps : Math.ceil(Math.sqrt(nAps));
  const aps = Array.from({ length: nAps }, (_, i) => ({
    x: (i % cols) * SPACING,
    y: Math.floor(i / cols) * SPACING,
  }));
  const hops = (a, b) => Math.abs(aps[a].x - aps[b].x) / SPACING + Math.abs(aps[a].y - aps[b].y) / SPACING;
  const cloud = nServers >= 2 ? nServers - 1 : -1;
  const servers = Array.from({ length: nServers }, (_, s) => ({
    id: s === cloud ? 'cloud' : `edge${s + 1}`,
    ap: s === cloud ? -1 : s % nAps,
    speed: s === cloud ? 2 : 0.7 + 0.6 * rnd(),
    cloudMs: 20 + 20 * rnd(),
  }));
  /** One-way wired latency from an AP to a server (ms). */
  const wired = (b, s) => (s === cloud ? servers[s].cloudMs : 0.3 + 1.5 * hops(b, servers[s].ap));
  /** Link speed between two servers for a migration (Mbit/s). */
  const link = (a, s) => (a === s ? Number.POSITIVE_INFINITY : a === cloud || s === cloud ? 50 : 100);

  // Popular APs (a station, a campus gate): the home AP's weight falls as 1/sqrt(rank), so servers near
  // the popular ones overflow while others idle.
  const popularity = aps.map((_, i) => 1 / Math.sqrt(1 + ((i * 7) % nAps)));
  const totalPopularity = popularity.reduce((a, b) => a + b, 0);
  const homeAp = () => {
    let x = rnd() * totalPopularity;
    for (let i = 0; i < nAps; i++) {
      x -= popularity[i];
      if (x <= 0) return i;
    }
    return nAps - 1;
  };
  const users = [];
  for (let u = 0; u < nUsers; u++) {
    const home = homeAp();
    const pos = { x: aps[home].x + 0.45 * SPACING * gauss(), y: aps[home].y + 0.45 * SPACING * gauss() };
    const dist = aps.map((a) => Math.hypot(a.x - pos.x, a.y - pos.y));
    const byDistance = aps.map((_, i) => i).sort((a, b) => dist[a] - dist[b]);
    const maxHeard = 2 + Math.floor(rnd() * 4); // 2..5
    const heard = byDistance.filter((b, i) => i < 2 || (dist[b] <= RANGE && i < maxHeard)).slice(0, maxHeard);
    users.push({
      home,
      dist,
      heard,
      taskKB: 20 + 480 * rnd(),
      computeMs: 5 + 45 * rnd(),
      tasksPerS: 1 + 9 * rnd(),
      stateMB: pick([16, 64, 128, 256]),
      demand: [pick([0.25, 0.5, 0.5, 1, 1, 2]), pick([256, 512, 512, 1024, 2048])],
    });
  }
  // Edge machines of three sizes, scaled together so that they hold TIGHTNESS of all the demand (the
  // cloud holds it all, far away).
  const total = [0, 1].map((r) => users.reduce((a, u) => a + u.demand[r], 0));
  const machines = servers.map(() =>
    pick([
      [4, 8192],
      [8, 16384],
      [16, 32768],
    ]),
  );
  const edgeTotal = [0, 1].map((r) =>
    servers.reduce((a, s, i) => a + (s.id === 'cloud' ? 0 : machines[i][r]), 0),
  );
  const capacity = servers.map((s, i) =>
    s.id === 'cloud'
      ? [...total]
      : [0, 1].map((r) => Math.round(((machines[i][r] * tightness * total[r]) / edgeTotal[r]) * 100) / 100),
  );
  // Where each user's container runs now: the last plan's choice, which fit: one of the three edge
  // servers nearest its home AP with room left, else the cloud. Users have walked since (their
  // position is around the home AP, not at it), so staying is no longer always best.
  const used = servers.map(() => [0, 0]);
  const edgesNear = (b) =>
    servers
      .map((_, i) => i)
      .filter((i) => i !== cloud)
      .sort((x, y) => hops(b, servers[x].ap) - hops(b, servers[y].ap))
      .slice(0, 3);
  for (const user of users) {
    const room = (i) => [0, 1].every((r) => used[i][r] + user.demand[r] <= capacity[i][r]);
    user.current = edgesNear(user.home).find(room) ?? Math.max(cloud, 0);
    for (let r = 0; r < 2; r++) used[user.current][r] += user.demand[r];
  }
  const horizonS = 120;
  return {
    resources: ['cpus', 'memMB'],
    servers: servers.map((s, i) => ({ id: s.id, capacity: capacity[i] })),
    basestations: aps.map((_, i) => ({ id: `ap${i + 1}`, maxUsers: Math.ceil((1.5 * nUsers) / nAps) + 1 })),
    users: users.map((user, u) => {
      // 802.11n-like: 65 Mbit/s close, falling with distance, 6.5 at the edge of range.
      const rate = (b) => Math.max(6.5, 65 * (1 - user.dist[b] / (1.8 * RANGE)));
      const delay = (b, s) =>
        (user.taskKB * 8) / rate(b) + 2 * wired(b, s) + user.computeMs / servers[s].speed;
      const baseline = delay(user.home, user.current);
      const options = [];
      for (const b of user.heard) {
        for (let s = 0; s < nServers; s++) {
          const gain = horizonS * user.tasksPerS * (baseline - delay(b, s));
          // Delta migration: the dirty part of the state (a tenth) crosses the link during the downtime,
          // and every task arriving meanwhile waits (on average half of it).
          const downtimeMs =
            s === user.current ? 0 : 300 + (0.1 * user.stateMB * 8 * 1000) / link(user.current, s);
          const cost = user.tasksPerS * (downtimeMs / 1000) * (downtimeMs / 2);
          options.push({ bs: b, server: s, value: Math.round((gain - cost) * 100) / 100 });
        }
      }
      return { id: `mu${u + 1}`, demand: user.demand, options };
    }),
  };
}

const fmt = (x, d = 1) => (typeof x === 'number' && Number.isFinite(x) ? x.toFixed(d) : '-');
const pct = (x) => (typeof x === 'number' && Number.isFinite(x) ? `${(100 * x).toFixed(3)}%` : '-');
function table(rows) {
  const w = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  for (const r of rows) page.log(r.map((c, i) => String(c).padEnd(w[i])).join('  '));
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];

const rows = [
  ['size', 'options', 'solver', 'status', 'ms', 'objective', 'gap to best bound', 'own gap', 'note'],
];
const goals = [];
for (const [n, a, s] of sizes) {
  const label = `${n}x${a}x${s}`;
  const problem = instance(n, a, s, seed0 + n * 7919 + a * 31 + s);
  const options = problem.users.reduce((x, u) => x + u.options.length, 0);
  const results = [];
  for (const name of names) {
    if (name === 'lp-solver' && options > LP_SOLVER_MAX_OPTIONS) {
      results.push({ name, skipped: true });
      continue;
    }
    const small = options <= 200;
    let r;
    let first;
    const times = [];
    // Small instances: the median of several runs after the first (which pays for the JIT and, for
    // HiGHS, the worker's start) is the time; the first is shown too.
    for (let i = 0; i < (small ? runs + 1 : 1); i++) {
      r = await solve(problem, { solver: name, timeLimitMs });
      if (i === 0) first = r.solveMs;
      if (!small || i > 0) times.push(r.solveMs);
    }
    results.push({ name, r, ms: median(times), runs: times.length, first });
  }
  const bounds = results.flatMap((x) => (x.r && x.r.bound !== null ? [x.r.bound] : []));
  const best = bounds.length > 0 ? Math.min(...bounds) : null;
  for (const x of results) {
    if (x.skipped) {
      rows.push([
        label,
        options,
        x.name,
        'skipped',
        '-',
        '-',
        '-',
        '-',
        `more than ${LP_SOLVER_MAX_OPTIONS} options`,
      ]);
      continue;
    }
    const { r } = x;
    const gap =
      best === null || r.objective === null ? null : (best - r.objective) / Math.max(1, Math.abs(best));
    rows.push([
      label,
      options,
      x.name === r.solver ? x.name : `${x.name} (${r.solver})`,
      r.status,
      `${fmt(x.ms)}${x.runs > 1 ? ` (median of ${x.runs}, first ${fmt(x.first)})` : ''}`,
      fmt(r.objective, 2),
      pct(gap),
      pct(r.gap),
      (r.message ?? '').slice(0, 160),
    ]);
    x.gap = gap;
  }
  const auto = results.find((x) => x.name === 'auto' && x.r);
  if (auto) {
    const { r } = auto;
    if (label === '5x3x4')
      goals.push([
        'testbed size under 20 ms',
        `${fmt(auto.ms)} ms, ${r.status}`,
        auto.ms < 20 ? 'met' : 'NOT met',
      ]);
    if (label === '100x20x20')
      goals.push([
        '100x20x20 proven optimal under 1 s',
        `${fmt(r.solveMs)} ms, ${r.status}, own gap ${pct(r.gap)}`,
        r.status === 'optimal' && r.solveMs < 1000 ? 'met' : 'NOT met',
      ]);
    if (label === '1000x50x50')
      goals.push([
        '1000x50x50 within 1% of the bound under 10 s',
        `${fmt(r.solveMs)} ms, gap to best bound ${pct(auto.gap)}`,
        auto.gap !== null && auto.gap <= 0.01 && r.solveMs < 10_000 ? 'met' : 'NOT met',
      ]);
  }
}
await closeEngines();
page.log(`\ntime limit ${timeLimitMs} ms, seed ${seed0}; gaps are (bound - objective) / max(1, |bound|)\n`);
table(rows);
if (goals.length > 0) {
  page.log('\nGoals, solver auto:\n');
  table([['goal', 'measured', ''], ...goals]);
}
page.write();
