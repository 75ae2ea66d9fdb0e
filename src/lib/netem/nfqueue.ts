/**
 * Link latency without netem: pure builders and parsers for edgectl-delay (native/edgectl-delay.c), the
 * helper that holds each packet of a netfilter queue for that queue's delay.
 *
 * A wired host delays what it receives: one mangle PREROUTING rule per peer (in the chain EDGECTL-DELAY)
 * sends the packets arriving on the data interface from that peer's address to the queue of the route's
 * one-way latency (one queue per distinct delay), with --queue-bypass, so that packets pass undelayed
 * whenever no helper serves the queue. One helper per host serves all of its queues. Queuing on the
 * receiving side matters: held at the sender's OUTPUT, a packet still counts against its socket and TCP
 * small queues throttle bulk transfers to a few Mbit/s.
 */
import type { ChainSpec, RuleSpec } from './iptables.js';

/** How a host emulates its links' latency: netem under its HTB classes, or edgectl-delay on arrival. */
export type LatencyMethod = 'netem' | 'nfqueue';
export type LatencyMode = 'auto' | LatencyMethod;
export const LATENCY_MODES: readonly LatencyMode[] = ['auto', 'netem', 'nfqueue'];

/** The method a host gets: auto prefers netem (no helper process), then edgectl-delay. */
export function chooseLatency(
  mode: LatencyMode,
  netem: boolean | null,
  nfqueue: boolean | null,
): LatencyMethod | null {
  if ((mode === 'auto' || mode === 'netem') && netem) return 'netem';
  if ((mode === 'auto' || mode === 'nfqueue') && nfqueue) return 'nfqueue';
  return null;
}

/** Where scripts/install-host-deps.sh installs the helper. */
export const DELAY_BIN = '/usr/local/sbin/edgectl-delay';
export const DELAY_CHAIN = 'EDGECTL-DELAY';
/** Queue numbers edgectl uses: QUEUE_BASE + k for the k-th distinct delay of a host (per network namespace). */
export const QUEUE_BASE = 60400;
/** The queue `hosts check` and provision bind for a moment to learn whether the host can serve queues. */
export const PROBE_QUEUE = 60399;
export const MAX_QUEUES = 64;

export interface DelaySpec {
  queue: number;
  delayUs: number;
  jitterUs: number;
  lossPpm: number;
}

export interface DelayedPeer {
  /** The peer's name, for messages and rule names. */
  label: string;
  /** The peer's data address with prefix: "198.18.1.12/32". */
  cidr: string;
  /** One-way latency of the route from that peer, ms. */
  delayMs: number;
  jitterMs?: number;
  /** Fraction of packets lost, 0..1. */
  loss?: number;
}

export interface DelayPlan {
  dev: string;
  specs: DelaySpec[];
  rules: { label: string; cidr: string; queue: number }[];
}

const key = (s: Omit<DelaySpec, 'queue'>) => `${s.delayUs}:${s.jitterUs}:${s.lossPpm}`;

/** One queue per distinct (delay, jitter, loss), numbered in ascending order; peers without delay get no rule. */
export function delayPlan(dev: string, peers: readonly DelayedPeer[]): DelayPlan {
  const wanted = peers
    .map((p) => ({
      peer: p,
      spec: {
        delayUs: Math.round(p.delayMs * 1000),
        jitterUs: Math.round((p.jitterMs ?? 0) * 1000),
        lossPpm: Math.round((p.loss ?? 0) * 1e6),
      },
    }))
    .filter((w) => w.spec.delayUs > 0 || w.spec.lossPpm > 0);
  const distinct = [...new Map(wanted.map((w) => [key(w.spec), w.spec])).values()].sort(
    (a, b) => a.delayUs - b.delayUs || a.jitterUs - b.jitterUs || a.lossPpm - b.lossPpm,
  );
  if (distinct.length > MAX_QUEUES)
    throw new RangeError(
      `${distinct.length} distinct link delays on ${dev}; edgectl-delay serves ${MAX_QUEUES}`,
    );
  const specs = distinct.map((s, i) => ({ queue: QUEUE_BASE + i, ...s }));
  const queueOf = new Map(specs.map((s) => [key(s), s.queue]));
  return {
    dev,
    specs,
    rules: wanted.map((w) => ({ label: w.peer.label, cidr: w.peer.cidr, queue: queueOf.get(key(w.spec))! })),
  };
}

export function specArg(s: DelaySpec): string {
  const tail = s.lossPpm > 0 ? `:${s.jitterUs}:${s.lossPpm}` : s.jitterUs > 0 ? `:${s.jitterUs}` : '';
  return `${s.queue}:${s.delayUs}${tail}`;
}

export interface HelperFiles {
  pidfile: string;
  log: string;
}

/** Per testbed and host: the lab's hosts share one file system, and so may real hosts' /run. */
export function helperFiles(testbed: string, host: string): HelperFiles {
  const dir = `/run/edgectl/delay/${testbed}`;
  return { pidfile: `${dir}/${host}.pid`, log: `${dir}/${host}.log` };
}

/** The helper's own command line, as /proc/PID/cmdline shows it once it runs. */
export function helperArgv(plan: DelayPlan, files: HelperFiles): string[] {
  return [DELAY_BIN, '--daemon', '--pidfile', files.pidfile, '--log', files.log, ...plan.specs.map(specArg)];
}

/** Starts the helper in the background; exits non-zero (with the helper's words) when a queue cannot be served. */
export function startHelperArgv(plan: DelayPlan, files: HelperFiles): string[] {
  // After the shift: $1 the helper, ... $6 its log (where it says why it failed, --daemon or not).
  return [
    'sh',
    '-c',
    'mkdir -p "$(dirname "$1")" && shift && { "$@" || { c=$?; tail -n 3 "$6" >&2; exit "$c"; }; }',
    'delay-start',
    files.pidfile,
    ...helperArgv(plan, files),
  ];
}

/**
 * Stops the helper named by the pidfile: by that pid, and only when that process is an edgectl-delay
 * (a stale pidfile's pid may belong to another process by now); waits until it is gone (it lets its held
 * packets go first), then removes the pidfile, and the log too with `removeLog`.
 */
export function stopHelperArgv(files: HelperFiles, removeLog = false): string[] {
  const script = [
    'p=$(cat "$1" 2>/dev/null) || p=',
    'case "$p" in ""|*[!0-9]*) ;; *)',
    '  if [ "$(tr "\\0" "\\n" < "/proc/$p/cmdline" 2>/dev/null | head -n 1)" = "$3" ]; then',
    '    kill -TERM "$p" 2>/dev/null',
    '    i=0; while [ $i -lt 50 ] && [ -n "$(cat "/proc/$p/cmdline" 2>/dev/null)" ]; do sleep 0.1; i=$((i+1)); done',
    '    [ -z "$(cat "/proc/$p/cmdline" 2>/dev/null)" ] || kill -KILL "$p" 2>/dev/null',
    '  fi ;;',
    'esac',
    'rm -f "$1"',
    removeLog ? 'rm -f "$2"; rmdir "$(dirname "$1")" 2>/dev/null' : ':',
    'exit 0',
  ].join('\n');
  return ['sh', '-c', script, 'delay-stop', files.pidfile, files.log, DELAY_BIN];
}

const STATE_MARK = '@edgectl-delay';

/** Reads back the helper named by the pidfile (its pid and command line) and the queues bound in this namespace. */
export function readHelperArgv(files: HelperFiles): string[] {
  const script = [
    `echo "${STATE_MARK} pidfile $(cat "$1" 2>/dev/null || echo -)"`,
    'p=$(cat "$1" 2>/dev/null) || p=',
    `case "$p" in ""|*[!0-9]*) ;; *) echo "${STATE_MARK} cmdline"; tr "\\0" "\\n" < "/proc/$p/cmdline" 2>/dev/null ;; esac`,
    `echo "${STATE_MARK} bound"`,
    'cat /proc/net/netfilter/nfnetlink_queue 2>/dev/null',
    'exit 0',
  ].join('\n');
  return ['sh', '-c', script, 'delay-read', files.pidfile];
}

export interface LiveHelper {
  /** Whether a pidfile is there (a dead helper's stays behind). */
  pidfile: boolean;
  pid?: number;
  /** The command line of the process the pidfile names; empty when it is gone (or a zombie). */
  argv: string[];
  /** Queue numbers some program serves in this network namespace. */
  bound: number[];
}

export function parseHelperState(out: string): LiveHelper {
  const live: LiveHelper = { pidfile: false, argv: [], bound: [] };
  let section = '';
  for (const line of out.split('\n')) {
    if (line.startsWith(`${STATE_MARK} `)) {
      const [, what = '', rest = ''] = /^\S+ (\S+) ?(.*)$/.exec(line) ?? [];
      section = what;
      if (what === 'pidfile' && rest !== '-' && rest !== '') {
        live.pidfile = true;
        if (/^\d+$/.test(rest.trim())) live.pid = Number(rest.trim());
      }
      continue;
    }
    if (section === 'cmdline' && line !== '') live.argv.push(line);
    if (section === 'bound') live.bound.push(...parseBoundQueues(line));
  }
  return live;
}

/** Queue numbers from /proc/net/netfilter/nfnetlink_queue (first column of each line). */
export function parseBoundQueues(text: string): number[] {
  return text
    .split('\n')
    .map((l) => /^\s*(\d+)\s+\d+/.exec(l)?.[1])
    .filter((q): q is string => q !== undefined)
    .map(Number);
}

/** Whether the live helper is the one the plan asks for, serving every queue. */
export function helperIsCurrent(plan: DelayPlan, files: HelperFiles, live: LiveHelper): boolean {
  const want = helperArgv(plan, files);
  return (
    JSON.stringify(live.argv) === JSON.stringify(want) &&
    plan.specs.every((s) => live.bound.includes(s.queue))
  );
}

export function delayRule(dev: string, rule: DelayPlan['rules'][number]): RuleSpec {
  return {
    name: `from-${rule.label}`,
    args: ['-i', dev, '-s', rule.cidr, '-j', 'NFQUEUE', '--queue-num', String(rule.queue), '--queue-bypass'],
  };
}

export function delayChain(plan: DelayPlan): ChainSpec {
  return {
    table: 'mangle',
    chain: DELAY_CHAIN,
    hook: 'PREROUTING',
    rules: plan.rules.map((r) => delayRule(plan.dev, r)),
  };
}

/** The queue numbers the live EDGECTL-DELAY chain sends to (from `iptables -t mangle -S`). */
export function chainQueues(tableDump: string): number[] {
  const queues = new Set<number>();
  for (const line of tableDump.split('\n')) {
    if (!line.startsWith(`-A ${DELAY_CHAIN} `)) continue;
    const m = /--queue-num (\d+)/.exec(line);
    if (m?.[1]) queues.add(Number(m[1]));
  }
  return [...queues].sort((a, b) => a - b);
}
