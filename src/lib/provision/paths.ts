/**
 * A user's radio path at run time: which base station its traffic goes through. Provisioning made one
 * MARK rule per user in the mu host's EDGECTL-MU chain; a handover replaces that rule in place
 * (`iptables -R`), one atomic change, so the user's packets never see a moment without a path.
 */
import { EdgectlError, ExitCode } from '../errors.js';
import { getBasestation, getHost, getUser, type Inventory } from '../inventory/index.js';
import { parseChain, readTableArgv, ruleArgv } from '../netem/iptables.js';
import { runChecked, type SshPool } from '../remote/index.js';
import type { Executor } from '../remote/types.js';
import { basestationTable, MU_MARK_CHAIN, userMarkRule } from './plan.js';

const spec = { table: 'mangle' as const, chain: MU_MARK_CHAIN, hook: 'OUTPUT', rules: [] };

export class PathError extends EdgectlError {
  constructor(message: string) {
    super('USER_PATH', ExitCode.remote, message, { hint: 'run edgectl provision first' });
  }
}

/** The argv that points rule number `position` (1-based) of the chain at base station `bsIndex`. */
export function switchUserArgv(
  inv: Inventory,
  userName: string,
  bsIndex: number,
  position: number,
): string[] {
  const user = getUser(inv, userName);
  return ruleArgv({ ...spec, rules: [] }, userMarkRule(user, basestationTable(bsIndex)), '-R', position);
}

/** The base station a user's traffic goes through now, read from its mu host (through `exec` when given:
 * a shell already open there). */
export async function currentBasestation(
  inv: Inventory,
  pool: SshPool,
  userName: string,
  exec?: Executor,
): Promise<string> {
  const { table } = await readUserRule(inv, pool, userName, exec);
  const bs = inv.basestations[table - basestationTable(0)];
  if (!bs)
    throw new PathError(`user ${userName}'s rule points at table ${table}, which is no base station's`);
  return bs.name;
}

async function readUserRule(
  inv: Inventory,
  pool: SshPool,
  userName: string,
  exec?: Executor,
): Promise<{ position: number; table: number }> {
  const user = getUser(inv, userName);
  const dump = (await runChecked(exec ?? pool.executor(getHost(inv, user.host)), readTableArgv('mangle')))
    .stdout;
  const rules = parseChain(dump, spec).rules;
  const index = rules.findIndex((r) => r.startsWith(`-s ${user.address}/32 `));
  if (index < 0) throw new PathError(`no path rule for user ${userName} on ${user.host}`);
  const mark = /--set-xmark (0x[0-9a-f]+)\//.exec(rules[index] ?? '')?.[1];
  return { position: index + 1, table: Number(mark) };
}

/** Points a user's traffic at another base station: one in-place rule replacement on its mu host. */
export async function setUserBasestation(
  inv: Inventory,
  pool: SshPool,
  userName: string,
  bsName: string,
): Promise<{ from: string; to: string }> {
  getBasestation(inv, bsName);
  const bsIndex = inv.basestations.findIndex((b) => b.name === bsName);
  const user = getUser(inv, userName);
  const { position, table } = await readUserRule(inv, pool, userName);
  const from = inv.basestations[table - basestationTable(0)]?.name ?? `table ${table}`;
  await runChecked(pool.executor(getHost(inv, user.host)), switchUserArgv(inv, userName, bsIndex, position), {
    what: `switching ${userName} to ${bsName}`,
  });
  return { from, to: bsName };
}
