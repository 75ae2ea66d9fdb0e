/**
 * iptables: edgectl keeps each of its rule sets in a chain of its own (EDGECTL-*), reached from a
 * built-in chain by one jump rule, every rule tagged with a comment `edgectl:TAG`. Reading `iptables -S`
 * back tells whether the chain holds exactly the wanted rules; removing the jump and the chain removes
 * everything edgectl put there and nothing else.
 */
import { createHash } from 'node:crypto';

export type Table = 'filter' | 'nat' | 'mangle';

export interface RuleSpec {
  /** Stable name of the rule (a user, a subnet); the comment also carries a hash of the rule itself. */
  name: string;
  args: string[];
  /** What the tag's hash covers when not all of args (e.g. a user's MARK rule without the mark a handover changes). */
  tagArgs?: string[];
}

export interface ChainSpec {
  table: Table;
  chain: string;
  /** The built-in chain that jumps to ours. */
  hook: string;
  rules: RuleSpec[];
}

const JUMP_TAG = 'edgectl:jump';

export function ruleTag(rule: RuleSpec): string {
  const hash = createHash('sha256')
    .update((rule.tagArgs ?? rule.args).join('\0'))
    .digest('hex')
    .slice(0, 8);
  return `edgectl:${rule.name}:${hash}`;
}

export const readTableArgv = (table: Table) => ['iptables', '-w', '-t', table, '-S'];

export interface LiveChain {
  exists: boolean;
  jump: boolean;
  /** The comment tags of the chain's rules, in order. */
  tags: string[];
  /** The chain's rules as `iptables -S` prints them (after `-A CHAIN`). */
  rules: string[];
}

/** Splits an `iptables -S` line into words, honouring its double quotes. */
export function splitRule(line: string): string[] {
  const words: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (let m = re.exec(line); m; m = re.exec(line))
    words.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : (m[2] ?? ''));
  return words;
}

export function parseChain(tableDump: string, spec: Pick<ChainSpec, 'chain' | 'hook'>): LiveChain {
  const live: LiveChain = { exists: false, jump: false, tags: [], rules: [] };
  for (const line of tableDump.split('\n')) {
    const words = splitRule(line.trim());
    if (words[0] === '-N' && words[1] === spec.chain) live.exists = true;
    if (
      words[0] === '-A' &&
      words[1] === spec.hook &&
      words.at(-1) === spec.chain &&
      words.includes(JUMP_TAG)
    ) {
      live.jump = true;
    }
    if (words[0] === '-A' && words[1] === spec.chain) {
      const i = words.indexOf('--comment');
      live.tags.push(i >= 0 ? (words[i + 1] ?? '') : '');
      live.rules.push(words.slice(2).join(' '));
    }
  }
  return live;
}

export function chainIsCurrent(spec: ChainSpec, live: LiveChain): boolean {
  return live.exists && live.jump && JSON.stringify(live.tags) === JSON.stringify(spec.rules.map(ruleTag));
}

function ipt(table: Table, ...args: string[]): string[] {
  return ['iptables', '-w', '-t', table, ...args];
}

export function ruleArgv(
  spec: ChainSpec,
  rule: RuleSpec,
  op: '-A' | '-R' = '-A',
  position?: number,
): string[] {
  return ipt(
    spec.table,
    op,
    spec.chain,
    ...(position ? [String(position)] : []),
    ...rule.args,
    '-m',
    'comment',
    '--comment',
    ruleTag(rule),
  );
}

/** Converges the chain: create it if missing, refill it, add the jump if missing. */
export function chainApplyArgv(spec: ChainSpec, live: LiveChain): string[][] {
  const cmds: string[][] = [];
  cmds.push(live.exists ? ipt(spec.table, '-F', spec.chain) : ipt(spec.table, '-N', spec.chain));
  for (const rule of spec.rules) cmds.push(ruleArgv(spec, rule));
  if (!live.jump)
    cmds.push(ipt(spec.table, '-A', spec.hook, '-m', 'comment', '--comment', JUMP_TAG, '-j', spec.chain));
  return cmds;
}

/** Removes the jump and the chain (only what exists). */
export function chainResetArgv(
  spec: Pick<ChainSpec, 'table' | 'chain' | 'hook'>,
  live: LiveChain,
): string[][] {
  const cmds: string[][] = [];
  if (live.jump)
    cmds.push(ipt(spec.table, '-D', spec.hook, '-m', 'comment', '--comment', JUMP_TAG, '-j', spec.chain));
  if (live.exists) cmds.push(ipt(spec.table, '-F', spec.chain), ipt(spec.table, '-X', spec.chain));
  return cmds;
}

/**
 * A user's radio blackout (the disconnection of a handover): its packets dropped both ways on its mu
 * host, in mangle OUTPUT (what it sends) and INPUT (what reaches it), first in each chain. Tagged
 * `edgectl-blackout:USER` so that whoever finds them left behind knows whose they are and removes them.
 */
export function blackoutTag(user: string): string {
  return `edgectl-blackout:${user}`;
}

export function blackoutArgv(op: '-I' | '-D', user: string, address: string): string[][] {
  const tail = ['-m', 'comment', '--comment', blackoutTag(user), '-j', 'DROP'];
  return [
    ipt('mangle', op, 'OUTPUT', ...(op === '-I' ? ['1'] : []), '-s', `${address}/32`, ...tail),
    ipt('mangle', op, 'INPUT', ...(op === '-I' ? ['1'] : []), '-d', `${address}/32`, ...tail),
  ];
}

/** The `-D` commands for every blackout rule of `user` in a `iptables -t mangle -S` dump (none: []). */
export function blackoutLeftoversArgv(mangleDump: string, user: string): string[][] {
  const tag = blackoutTag(user);
  return mangleDump
    .split('\n')
    .map((line) => splitRule(line.trim()))
    .filter((w) => w[0] === '-A' && w.includes(tag))
    .map((w) => ipt('mangle', '-D', ...w.slice(1)));
}
