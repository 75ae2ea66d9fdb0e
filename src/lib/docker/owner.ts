/**
 * Who owns a container edgectl finds on a server. Every container it creates for a user carries labels
 * with the testbed, the user and the identity of the state database that created it (its instance id),
 * and nothing is removed that those labels (or that database's own placement record) do not prove to be
 * ours: another testbed's service on the same servers, or the same testbed driven from a second state
 * database, is refused with its owner named, never removed as a "leftover".
 */
import type Docker from 'dockerode';
import { EdgectlError, ExitCode } from '../errors.js';
import type { Inventory } from '../inventory/index.js';

export const LABEL = {
  testbed: 'io.edgectl.testbed',
  user: 'io.edgectl.user',
  service: 'io.edgectl.service',
  /** The instance id of the state database that created the container (StateDb.instanceId). */
  database: 'io.edgectl.database',
} as const;

/** Who a container of a user's service belongs to. */
export interface Owner {
  testbed: string;
  user: string;
  /** The state database's instance id. */
  database: string;
}

/**
 * The container name of a user's service. Testbed and user names cannot hold a "." (inventory NAME_RE:
 * lower-case letters, digits and "-"), so no two (testbed, user) pairs share a name: with "-" between
 * them, testbed `paper` with user `fig3-mu1` and testbed `paper-fig3` with user `mu1` did.
 */
export function containerName(inv: Pick<Inventory, 'testbed'>, user: string): string {
  return `edgectl.${inv.testbed}.${user}`;
}

export function ownerOf(inv: Pick<Inventory, 'testbed'>, database: string, user: string): Owner {
  return { testbed: inv.testbed, user, database };
}

/** The labels that say who owns a container. */
export function ownerLabels(o: Owner): Record<string, string> {
  return { [LABEL.testbed]: o.testbed, [LABEL.user]: o.user, [LABEL.database]: o.database };
}

/** What a container's labels say of its owner (a field is missing when its label is). */
export function labelledOwner(labels: Record<string, string> | null | undefined): Partial<Owner> {
  const l = labels ?? {};
  return {
    ...(l[LABEL.testbed] !== undefined ? { testbed: l[LABEL.testbed] } : {}),
    ...(l[LABEL.user] !== undefined ? { user: l[LABEL.user] } : {}),
    ...(l[LABEL.database] !== undefined ? { database: l[LABEL.database] } : {}),
  };
}

/**
 * Whether `want` may remove a container with these labels (pure). `recorded`: its id is the one `want`'s
 * database recorded as the user's placement; that record proves ownership (a container made before the
 * database label existed has none), unless the label names another database. Otherwise all three labels
 * must be `want`'s.
 */
export function mayRemove(
  labels: Record<string, string> | null | undefined,
  want: Owner,
  recorded = false,
): boolean {
  const found = labelledOwner(labels);
  if (recorded) return found.database === undefined || found.database === want.database;
  return found.testbed === want.testbed && found.user === want.user && found.database === want.database;
}

function describeOwner(o: Partial<Owner>): string {
  if (o.testbed === undefined && o.user === undefined && o.database === undefined)
    return 'nobody edgectl knows';
  return [
    o.testbed !== undefined ? `testbed ${o.testbed}` : 'no testbed',
    o.user !== undefined ? `user ${o.user}` : 'no user',
    o.database !== undefined ? `state database ${o.database}` : 'no state database',
  ].join(', ');
}

/** A container edgectl would have removed belongs to another testbed, user or state database. */
export class NotOwnedError extends EdgectlError {
  constructor(
    readonly container: string,
    readonly host: string,
    readonly found: Partial<Owner>,
    readonly want: Owner,
  ) {
    const ours = describeOwner(want);
    let hint: string;
    if (found.database === undefined)
      hint = `it has no ${LABEL.database} label (not made by this edgectl, or by one older than the label): if it is yours, remove it by hand (on ${host}: docker rm -f ${container}), then try again`;
    else if (found.testbed !== undefined && found.testbed !== want.testbed)
      hint = `it is testbed ${found.testbed}'s: use that testbed's hosts.yml (-f) to undeploy it, or give ${want.user} another server`;
    else if (found.database !== want.database)
      hint = `it was deployed from another state database (instance id ${found.database}, in its meta table; this one is ${want.database}): undeploy or migrate it with that database (--state FILE), or give ${want.user} another server`;
    else hint = `its labels name another user: undeploy that user's service first`;
    super(
      'NOT_OWNED',
      ExitCode.usage,
      `the container ${container} on ${host} belongs to ${describeOwner(found)}, not to ${ours}: edgectl removes nothing it cannot prove it owns`,
      { hint, details: { container, host, found, want } },
    );
  }
}

/**
 * A container by name or id, if `want` owns it (undefined: there is none); NotOwnedError when it is
 * someone else's. `recordedId`: the id `want`'s database recorded as the user's placement.
 */
export async function ownedContainer(
  docker: Docker,
  ref: string,
  want: Owner,
  where: { host: string; recordedId?: string | undefined },
): Promise<Docker.ContainerInspectInfo | undefined> {
  const info = await docker
    .getContainer(ref)
    .inspect()
    .catch((err: { statusCode?: number }) => {
      if (err.statusCode === 404) return undefined;
      throw err;
    });
  if (!info) return undefined;
  const labels = info.Config?.Labels;
  if (!mayRemove(labels, want, where.recordedId !== undefined && info.Id === where.recordedId))
    throw new NotOwnedError(info.Name?.replace(/^\//, '') || ref, where.host, labelledOwner(labels), want);
  return info;
}

/**
 * Removes a container that `want` owns (by name or id); 'absent' when there is none. Removal is by the
 * id that was inspected, so a name taken by another container meanwhile is not what goes. Throws
 * NotOwnedError, touching nothing, when the container is someone else's.
 */
export async function removeOwnedContainer(
  docker: Docker,
  ref: string,
  want: Owner,
  where: { host: string; recordedId?: string | undefined },
): Promise<'removed' | 'absent'> {
  const info = await ownedContainer(docker, ref, want, where);
  if (!info) return 'absent';
  await docker
    .getContainer(info.Id)
    .remove({ force: true })
    .catch((err: { statusCode?: number }) => {
      if (err.statusCode !== 404) throw err;
    });
  return 'removed';
}
