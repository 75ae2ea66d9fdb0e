/** Reading a host's network state back, and measuring throughput between two hosts, over SSH. */
import type { Executor } from '../../src/lib/remote/types.js';

/**
 * Everything provisioning may touch on a host, as text: qdiscs, classes and filters of every interface,
 * the iptables tables, policy rules, every routing table, the addresses.
 */
export async function netSnapshot(exec: Executor): Promise<string> {
  const script = [
    // The lab's hosts share this machine's /sys: list the namespace's own interfaces with ip.
    'for d in $(ip -o link show | cut -d: -f2 | cut -d@ -f1 | sort); do',
    '  echo "== $d"; tc qdisc show dev "$d"; tc class show dev "$d"; tc filter show dev "$d"',
    'done',
    'for t in filter nat mangle; do echo "== iptables $t"; iptables -w -t "$t" -S; done',
    'echo "== rules"; ip rule show',
    'echo "== routes"; ip route show table all | grep -v "^local\\|^broadcast"',
    'echo "== addrs"; ip -o -4 addr show | sed "s/ valid_lft.*//"',
  ].join('\n');
  const r = await exec.run(['sh', '-c', script]);
  // Docker's own containers come and go (their veths): keep only what provisioning owns or could change.
  return r.stdout
    .split('\n')
    .filter((l) => !/^== veth|^qdisc noqueue 0: dev veth/.test(l))
    .join('\n');
}

const RECEIVER = `
const net = require('node:net');
const [host, port, seconds] = process.argv.slice(1);
let bytes = 0, first = 0, last = 0;
const server = net.createServer((s) => {
  s.on('data', (d) => { const now = performance.now(); if (!first) first = now; last = now; bytes += d.length; });
  s.on('end', () => { console.log(JSON.stringify({ bytes, ms: last - first })); process.exit(0); });
});
server.listen(Number(port), host, () => console.error('listening'));
setTimeout(() => { console.log(JSON.stringify({ bytes, ms: last - first, timeout: true })); process.exit(0); }, Number(seconds) * 1000 + 10000);
`;

const SENDER = `
const net = require('node:net');
const [host, port, seconds] = process.argv.slice(1);
const chunk = Buffer.alloc(64 * 1024, 7);
const tryConnect = (left) => {
  const s = net.connect(Number(port), host);
  s.on('error', () => { if (left > 0) setTimeout(() => tryConnect(left - 1), 100); else process.exit(1); });
  s.on('connect', () => {
    const end = Date.now() + Number(seconds) * 1000;
    const pump = () => { while (Date.now() < end) { if (!s.write(chunk)) return s.once('drain', pump); } s.end(); };
    pump();
  });
};
tryConnect(50);
`;

/** Bulk TCP from one host to another for `seconds`; the receiver's measured rate in bits per second. */
export async function bulkRate(
  from: Executor,
  to: Executor,
  toAddress: string,
  port: number,
  seconds: number,
): Promise<number> {
  const receiving = to.run([process.execPath, '-e', RECEIVER, toAddress, String(port), String(seconds)], {
    timeoutMs: (seconds + 20) * 1000,
  });
  await new Promise((r) => setTimeout(r, 500));
  const sent = await from.run([process.execPath, '-e', SENDER, toAddress, String(port), String(seconds)], {
    timeoutMs: (seconds + 20) * 1000,
  });
  if (sent.code !== 0) throw new Error(`sender failed: ${sent.stderr}`);
  const got = await receiving;
  const { bytes, ms } = JSON.parse(got.stdout.trim().split('\n').at(-1) ?? '{}') as {
    bytes: number;
    ms: number;
  };
  return (bytes * 8) / (ms / 1000);
}

const ECHO_SERVER = `
const net = require('node:net');
const [host, port, seconds] = process.argv.slice(1);
const server = net.createServer((s) => {
  s.setNoDelay(true);
  s.on('data', (d) => s.write(d));
  s.on('close', () => process.exit(0));
});
server.listen(Number(port), host, () => console.error('listening'));
setTimeout(() => process.exit(0), Number(seconds) * 1000);
`;

const ECHO_CLIENT = `
const net = require('node:net');
const [host, port, count] = process.argv.slice(1);
const tryConnect = (left) => {
  const s = net.connect(Number(port), host);
  s.on('error', () => { if (left > 0) setTimeout(() => tryConnect(left - 1), 100); else process.exit(1); });
  s.on('connect', () => {
    s.setNoDelay(true);
    const rtts = [];
    let t = 0;
    const ping = () => { t = performance.now(); s.write('x'); };
    s.on('data', () => {
      rtts.push(performance.now() - t);
      if (rtts.length < Number(count)) ping();
      else { console.log(JSON.stringify(rtts)); s.end(); }
    });
    ping();
  });
};
tryConnect(50);
`;

/** Round trips of one byte over a TCP connection from one host to another (user level, like an application). */
export async function tcpRtts(
  from: Executor,
  to: Executor,
  toAddress: string,
  port: number,
  count: number,
): Promise<number[]> {
  const serving = to.run([process.execPath, '-e', ECHO_SERVER, toAddress, String(port), '60'], {
    timeoutMs: 70_000,
  });
  await new Promise((r) => setTimeout(r, 500));
  const r = await from.run([process.execPath, '-e', ECHO_CLIENT, toAddress, String(port), String(count)], {
    timeoutMs: 60_000,
  });
  await serving;
  if (r.code !== 0) throw new Error(`echo client failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '[]') as number[];
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? (sorted[mid] ?? Number.NaN) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}
