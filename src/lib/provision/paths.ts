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
import { basestationTable, MU_MARK_CHAIN, markOfUserRule, userMarkRule } from './plan.js';

const spec = { table: 'mangle' as const, chain: MU_MARK_CHAIN, hook: 'OUTPUT', rules: [] };

export class PathError extends EdgectlError {
  constructor(message: string) {
    super('USER_PATH', ExitCode.remote, message, { hint: 'run edgectl provision first' });
  }
}

/** The argv that points rule number `position` (1-based) of the chain at routing table `table`. */
export function switchUserArgv(
  user: { name: string; address: string },
  table: number,
  position: number,
): string[] {
  return ruleArgv({ ...spec, rules: [] }, userMarkRule(user, table), '-R', position);
}

/** Where a user's MARK rule sits in a `iptables -t mangle -S` dump and the table it points at. */
export function findUserRule(
  mangleDump: string,
  address: string,
): { position: number; table: number } | undefined {
  const rules = parseChain(mangleDump, spec).rules;
  const index = rules.findIndex((r) => r.startsWith(`-s ${address}/32 `));
  const table = markOfUserRule(rules[index] ?? '');
  return index < 0 || table === undefined ? undefined : { position: index + 1, table };
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
  const found = findUserRule(dump, user.address);
  if (!found) throw new PathError(`no path rule for user ${userName} on ${user.host}`);
  return found;
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
  await runChecked(
    pool.executor(getHost(inv, user.host)),
    switchUserArgv(user, basestationTable(bsIndex), position),
    {
      what: `switching ${userName} to ${bsName}`,
    },
  );
  return { from, to: bsName };
}
