/**
 * tc: pure builders of the per-destination shaping tree edgectl puts on an interface, and parsers of
 * what `tc` reports back, so that provisioning can tell whether the live tree is the one it wants.
 *
 * Everything edgectl makes hangs under a root HTB qdisc with the reserved handle `ec00:`; a root qdisc
 * with another handle is somebody else's and is left alone (or reported).
 */
import { formatIpv4 } from '../inventory/index.js';

export const ROOT_HANDLE = 'ec00:';
/** The default class: traffic to destinations without a class of their own passes unshaped. */
export const DEFAULT_CLASS = 'ec00:1';
const DEFAULT_RATE_BPS = 10_000_000_000;
/** A quantum between one MTU and HTB's 200000 limit silences "quantum is big" for any rate. */
const QUANTUM = 60_000;

export interface ShapedFlow {
  /** What the flow is (a peer's name, a user's name), for messages only. */
  label: string;
  /** `dst` matches the destination address, `src` the source address. */
  match: 'dst' | 'src';
  /** An address with prefix: "198.18.1.10/32". */
  cidr: string;
  rateBps: number;
  /** One-way delay to add with netem (0: none). */
  delayMs: number;
}

export interface ShapingSpec {
  dev: string;
  flows: ShapedFlow[];
  /** Whether to put a netem delay under the classes (false where the kernel has no netem). */
  netem: boolean;
}

/** tc's rate syntax in bits per second, exact ("75000000bit" is what we mean by 75mbit). */
export function tcRate(bps: number): string {
  return `${Math.round(bps)}bit`;
}

export function classId(index: number): string {
  return `ec00:${(0x10 + index).toString(16)}`;
}

export function netemHandle(index: number): string {
  return `${(0xed00 + index).toString(16)}:`;
}

/** An HTB class at a rate (its ceiling too: no borrowing from the default class). */
function htbClassArgv(op: 'replace' | 'change', dev: string, id: string, bps: number, ceil = true): string[] {
  return [
    'tc',
    'class',
    op,
    'dev',
    dev,
    'parent',
    ROOT_HANDLE,
    'classid',
    id,
    'htb',
    'rate',
    tcRate(bps),
    ...(ceil ? ['ceil', tcRate(bps)] : []),
    'quantum',
    String(QUANTUM),
  ];
}

/**
 * Sets the rate of flow number `index` of a tree already built (a user's radio rate following its
 * RSSI): `change` fails rather than create a class that is not there.
 */
export function flowRateArgv(dev: string, index: number, bps: number): string[] {
  return htbClassArgv('change', dev, classId(index), Math.max(MIN_RATE_BPS, bps));
}

/** HTB cannot take a rate of 0: a user out of range is capped to this instead (it cannot decode anyway). */
export const MIN_RATE_BPS = 8_000;

/** The commands that build the whole tree from scratch (a `replace` of the root drops any old tree). */
export function shapingArgv(spec: ShapingSpec): string[][] {
  const { dev } = spec;
  const cmds: string[][] = [
    ['tc', 'qdisc', 'replace', 'dev', dev, 'root', 'handle', ROOT_HANDLE, 'htb', 'default', '1'],
    htbClassArgv('replace', dev, DEFAULT_CLASS, DEFAULT_RATE_BPS, false),
  ];
  spec.flows.forEach((flow, i) => {
    const id = classId(i);
    cmds.push(htbClassArgv('replace', dev, id, flow.rateBps));
    if (spec.netem && flow.delayMs > 0) {
      cmds.push([
        'tc',
        'qdisc',
        'replace',
        'dev',
        dev,
        'parent',
        id,
        'handle',
        netemHandle(i),
        'netem',
        'delay',
        `${flow.delayMs}ms`,
        'limit',
        '100000',
      ]);
    }
    cmds.push([
      'tc',
      'filter',
      'add',
      'dev',
      dev,
      'parent',
      ROOT_HANDLE,
      'protocol',
      'ip',
      'prio',
      '1',
      'u32',
      'match',
      'ip',
      flow.match,
      flow.cidr,
      'flowid',
      id,
    ]);
  });
  return cmds;
}

/** Removing the root qdisc removes the whole tree; the kernel puts the device's default back. */
export function unshapeArgv(dev: string): string[] {
  return ['tc', 'qdisc', 'del', 'dev', dev, 'root'];
}

export const readQdiscsArgv = (dev: string) => ['tc', '-j', 'qdisc', 'show', 'dev', dev];
/** iproute2 6.1 prints HTB classes as text even with -j, so classes are read as text. */
export const readClassesArgv = (dev: string) => ['tc', 'class', 'show', 'dev', dev];
export const readFiltersArgv = (dev: string) => [
  'tc',
  '-j',
  'filter',
  'show',
  'dev',
  dev,
  'parent',
  ROOT_HANDLE,
];

/** The parts of a tree that matter, in a form both sides can be compared in. */
export interface TcTree {
  root: { kind: string; handle: string } | null;
  classes: { id: string; rateBps: number }[];
  netem: { parent: string; delayMs: number }[];
  filters: { flowid: string; match: 'dst' | 'src'; cidr: string }[];
}

/** The tree a spec asks for. */
export function wantedTree(spec: ShapingSpec): TcTree {
  return normalise({
    root: { kind: 'htb', handle: ROOT_HANDLE },
    classes: [
      { id: DEFAULT_CLASS, rateBps: DEFAULT_RATE_BPS },
      ...spec.flows.map((f, i) => ({ id: classId(i), rateBps: Math.round(f.rateBps) })),
    ],
    netem: spec.netem
      ? spec.flows.flatMap((f, i) => (f.delayMs > 0 ? [{ parent: classId(i), delayMs: f.delayMs }] : []))
      : [],
    filters: spec.flows.map((f, i) => ({ flowid: classId(i), match: f.match, cidr: f.cidr })),
  });
}

function normalise(tree: TcTree): TcTree {
  const by =
    <T>(key: (t: T) => string) =>
    (a: T, b: T) =>
      key(a).localeCompare(key(b));
  return {
    root: tree.root,
    classes: [...tree.classes].sort(by((c) => c.id)),
    netem: [...tree.netem].sort(by((n) => n.parent)),
    filters: [...tree.filters].sort(by((f) => `${f.flowid} ${f.match} ${f.cidr}`)),
  };
}

const UNITS: Record<string, number> = {
  '': 1,
  k: 1e3,
  K: 1e3,
  m: 1e6,
  M: 1e6,
  g: 1e9,
  G: 1e9,
  t: 1e12,
  T: 1e12,
};

/** "75Mbit", "10Gbit", "1200bit", "75000Kbit" -> bits per second. */
export function parseTcRate(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)([kKmMgGtT]?)bit$/.exec(text);
  if (!m) return undefined;
  return Math.round(Number(m[1]) * (UNITS[m[2] ?? ''] ?? 1));
}

interface QdiscJson {
  kind: string;
  handle: string;
  root?: boolean;
  parent?: string;
  options?: { delay?: { delay?: number } | number };
}

interface FilterJson {
  kind?: string;
  options?: { flowid?: string; match?: { value?: string; mask?: string; off?: number } };
}

function maskToPrefix(mask: string): number {
  return (Number.parseInt(mask, 16) >>> 0).toString(2).replace(/0+$/, '').length;
}

/** Reads the tree back from `tc -j qdisc show`, `tc class show` and `tc -j filter show ... parent ec00:`. */
export function parseTree(qdiscJson: string, classText: string, filterJson: string): TcTree {
  const qdiscs = (qdiscJson.trim() ? JSON.parse(qdiscJson) : []) as QdiscJson[];
  const root = qdiscs.find((q) => q.root);
  const tree: TcTree = {
    root: root ? { kind: root.kind, handle: root.handle } : null,
    classes: [],
    netem: [],
    filters: [],
  };
  if (tree.root?.handle !== ROOT_HANDLE) return normalise(tree);
  for (const q of qdiscs) {
    if (q.kind !== 'netem' || !q.parent) continue;
    const d = q.options?.delay;
    // iproute2 reports the delay in seconds (a number, or an object with `delay`).
    const seconds = typeof d === 'number' ? d : (d?.delay ?? 0);
    tree.netem.push({ parent: q.parent, delayMs: Math.round(seconds * 1e6) / 1e3 });
  }
  for (const line of classText.split('\n')) {
    const m = /^class htb (\S+) .*?\brate (\S+)/.exec(line.trim());
    const rate = m?.[2] ? parseTcRate(m[2]) : undefined;
    if (m?.[1] && rate !== undefined) tree.classes.push({ id: m[1], rateBps: rate });
  }
  const filters = (filterJson.trim() ? JSON.parse(filterJson) : []) as FilterJson[];
  for (const f of filters) {
    const o = f.options;
    if (f.kind !== 'u32' || !o?.flowid || !o.match?.value || !o.match.mask) continue;
    const match = o.match.off === 16 ? 'dst' : o.match.off === 12 ? 'src' : undefined;
    if (!match) continue;
    const cidr = `${formatIpv4(Number.parseInt(o.match.value, 16) >>> 0)}/${maskToPrefix(o.match.mask)}`;
    tree.filters.push({ flowid: o.flowid, match, cidr });
  }
  return normalise(tree);
}

export function sameTree(a: TcTree, b: TcTree): boolean {
  return JSON.stringify(normalise(a)) === JSON.stringify(normalise(b));
}
