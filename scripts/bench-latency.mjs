#!/usr/bin/env node
// Link latency benchmark on the local lab (needs root and `npm run build`; brings the lab up and
// provisions it). For the edge1 -> edge2 link (100 Mbit/s, 50 ms) and the edge1 -> cloud link
// (75 Mbit/s, 150 ms), with latency emulated as `provision` chose (edgectl-delay where there is no netem):
// - user-level TCP round trips (median of BENCH_PINGS) against hosts.yml;
// - bulk TCP for BENCH_SECONDS and the CPU edgectl-delay used meanwhile on the receiver (which holds the
//   data) and on the sender (which holds the ACKs), user and system time, in % of one core;
// - the same transfer with both helpers stopped (the rules' --queue-bypass lets packets pass undelayed)
//   and the whole machine's busy CPU in both cases.
// Goal: the helper under 5% of one core at 100 Mbit/s.
// The system time of a helper is mostly the kernel's own work on the packets it releases: a verdict
// re-injects the packet, and the rest of its receive path (IP, TCP, the socket; on the ACK side the
// sender's transmit through HTB) runs inside that system call, where it would otherwise run in softirq.
import { readFileSync } from 'node:fs';
import { benchPage } from './lib/bench-page.mjs';
import { edgectl, root } from './lib/edgectl.mjs';

const { loadInventory, getHost, route } = await import(`${root}dist/lib/inventory/index.js`);
const { SshPool } = await import(`${root}dist/lib/remote/index.js`);
const { helperFiles } = await import(`${root}dist/lib/netem/nfqueue.js`);

const seconds = Number(process.env.BENCH_SECONDS ?? 10);
const pings = Number(process.env.BENCH_PINGS ?? 20);
const hostsFile = `${root}hosts.yml`;
const TCP = readFileSync(`${root}scripts/net/tcp.cjs`, 'utf8');
const tcp = (mode, address, p, n) => [process.execPath, '-e', TCP, mode, address, p, String(n)];

const inv = await loadInventory(hostsFile);
const pool = new SshPool();
const exec = (name) => pool.executor(getHost(inv, name));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
let port = 7600;

/** utime and stime (clock ticks) of a host's edgectl-delay, and the host's busy ticks (all CPUs). */
async function sample(host) {
  const { pidfile } = helperFiles(inv.testbed, host);
  // The stat line from its state on (the command name in parentheses may hold spaces), then the ticks.
  const script = `p=$(cat "$1" 2>/dev/null); s=; [ -n "$p" ] && s=$(cat "/proc/$p/stat" 2>/dev/null); echo "stat \${s##*) }"; getconf CLK_TCK; head -n 1 /proc/stat`;
  const r = await exec(host).run(['sh', '-c', script, 'sample', pidfile]);
  const [stat = '', tck = '100', cpu = ''] = r.stdout.trim().split('\n');
  const f = stat.split(' ').slice(1);
  // After "pid (comm) ": state is field 3, utime field 14, stime field 15.
  const utime = Number(f[11] ?? Number.NaN);
  const stime = Number(f[12] ?? Number.NaN);
  const c = cpu.split(/\s+/).slice(1).map(Number);
  const busy = (c[0] ?? 0) + (c[1] ?? 0) + (c[2] ?? 0) + (c[5] ?? 0) + (c[6] ?? 0);
  return { utime, stime, busy, tck: Number(tck) };
}

async function bulk(from, to) {
  const address = getHost(inv, to).dataAddress;
  const p = String(port++);
  const receiving = exec(to).run(tcp('receive', address, p, seconds), {
    timeoutMs: (seconds + 30) * 1000,
  });
  await new Promise((r) => setTimeout(r, 500));
  const before = await Promise.all([sample(to), sample(from)]);
  const t0 = performance.now();
  const sent = await exec(from).run(tcp('send', address, p, seconds), {
    timeoutMs: (seconds + 30) * 1000,
  });
  const got = await receiving;
  const wall = (performance.now() - t0) / 1000;
  const after = await Promise.all([sample(to), sample(from)]);
  if (sent.code !== 0) throw new Error(`bulk sender failed: ${sent.stderr}`);
  const { bytes, ms } = JSON.parse(got.stdout.trim().split('\n').at(-1));
  const pct = (i, k) => (100 * (after[i][k] - before[i][k])) / after[i].tck / wall;
  return {
    mbps: (bytes * 8) / (ms / 1000) / 1e6,
    rxUser: pct(0, 'utime'),
    rxSys: pct(0, 'stime'),
    txUser: pct(1, 'utime'),
    txSys: pct(1, 'stime'),
    machine: pct(0, 'busy'),
  };
}

async function rtt(from, to) {
  const address = getHost(inv, to).dataAddress;
  const p = String(port++);
  const serving = exec(to).run(tcp('echo', address, p, 60), {
    timeoutMs: 70_000,
  });
  await new Promise((r) => setTimeout(r, 500));
  const r = await exec(from).run(tcp('ping', address, p, pings), {
    timeoutMs: 60_000,
  });
  await serving;
  return median(JSON.parse(r.stdout.trim().split('\n').at(-1)));
}

const f = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '-');
function table(rows) {
  const w = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  for (const r of rows) page.log(r.map((c, i) => String(c).padEnd(w[i])).join('  '));
}

const page = await benchPage('latency', {
  title: 'Link latency without netem (bench:latency)',
  command: 'npm run bench:latency',
});
try {
  edgectl(['lab', 'up']);
  const prov = edgectl(['provision']);
  const method = Object.fromEntries(prov.hosts.map((h) => [h.name, h.latencyMethod]));
  const links = [
    ['edge1', 'edge2'],
    ['edge1', 'cloud'],
  ];
  const rows = [
    [
      'link',
      'latency',
      'method (rx)',
      'RTT want',
      'RTT got',
      'Mbit/s',
      'rx helper user%',
      'rx helper sys%',
      'tx helper user%',
      'tx helper sys%',
      'rx helper per 100 Mbit/s',
      'machine busy%',
    ],
  ];
  const bypass = [['link', 'Mbit/s', 'machine busy%', 'RTT got']];
  for (const [a, b] of links) {
    const r = route(inv, a, b);
    const got = await rtt(a, b);
    const x = await bulk(a, b);
    rows.push([
      `${a} -> ${b} (${r.bandwidthBps / 1e6} Mbit/s)`,
      `${r.latencyMs} ms`,
      method[b] ?? 'none',
      `${r.rttMs} ms`,
      `${f(got)} ms`,
      f(x.mbps),
      f(x.rxUser, 2),
      f(x.rxSys, 2),
      f(x.txUser, 2),
      f(x.txSys, 2),
      `${f(((x.rxUser + x.rxSys) * 100) / x.mbps, 2)}%`,
      f(x.machine),
    ]);
  }
  page.log(`\nbulk TCP for ${seconds} s, CPU in % of one core (${pings} round trips for the RTT median):\n`);
  table(rows);
  // The same transfers with both ends' helpers stopped: packets pass the rules undelayed (--queue-bypass).
  for (const [a, b] of links) {
    for (const h of [a, b]) {
      const { pidfile } = helperFiles(inv.testbed, h);
      await exec(h).run(['sh', '-c', 'kill "$(cat "$1")"; sleep 0.3', 'stop', pidfile]);
    }
    const got = await rtt(a, b);
    const x = await bulk(a, b);
    bypass.push([`${a} -> ${b}`, f(x.mbps), f(x.machine), `${f(got)} ms`]);
    edgectl(['provision']);
  }
  page.log('\nthe same with the helpers of both ends stopped (no delay, packets bypass the queues):\n');
  table(bypass);
  page.log(
    '\ngoal: edgectl-delay under 5% of one core at 100 Mbit/s (rx helper on edge2). Its system time is mostly the\n' +
      "kernel's own receive path of the packets it releases (IP, TCP, the socket), which a verdict runs in its\n" +
      'system call; without the helper that work runs in softirq. The user time is the helper itself.',
  );
} finally {
  await pool.closeAll();
}
page.write();
