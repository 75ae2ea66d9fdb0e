/** Reading a host's network state back, and measuring throughput between two hosts, over SSH. */
import { readFileSync } from 'node:fs';
import type { Executor } from '../../src/lib/remote/types.js';
import { repoRoot } from './cli.js';

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

/** The small TCP program tests and benches run on testbed hosts (`node -e`, over SSH). */
const TCP = readFileSync(`${repoRoot}scripts/net/tcp.cjs`, 'utf8');
const tcp = (mode: string, address: string, port: number, n: number) => [
  process.execPath,
  '-e',
  TCP,
  mode,
  address,
  String(port),
  String(n),
];

/** Bulk TCP from one host to another for `seconds`; the receiver's measured rate in bits per second. */
export async function bulkRate(
  from: Executor,
  to: Executor,
  toAddress: string,
  port: number,
  seconds: number,
): Promise<number> {
  const receiving = to.run(tcp('receive', toAddress, port, seconds), {
    timeoutMs: (seconds + 20) * 1000,
  });
  await new Promise((r) => setTimeout(r, 500));
  const sent = await from.run(tcp('send', toAddress, port, seconds), {
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

/** Round trips of one byte over a TCP connection from one host to another (user level, like an application). */
export async function tcpRtts(
  from: Executor,
  to: Executor,
  toAddress: string,
  port: number,
  count: number,
): Promise<number[]> {
  const serving = to.run(tcp('echo', toAddress, port, 60), {
    timeoutMs: 70_000,
  });
  await new Promise((r) => setTimeout(r, 500));
  const r = await from.run(tcp('ping', toAddress, port, count), {
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
