/**
 * `edgectl status`: where each user stands, from the state database (where its service was put) checked
 * against the hosts themselves (is the container there, on which base station is the user's traffic, does
 * its agent run), plus the local lab when the inventory describes one. Read-only: nothing is locked, written
 * or repaired here. A host that cannot be reached costs its row a field and an error, never the whole answer.
 */
import type Docker from 'dockerode';
import { reachDocker } from '../docker/deploy.js';
import { errorMessage } from '../errors.js';
import { getHost, getUser, type Inventory } from '../inventory/index.js';
import { type LabOptions, type LabStatus, labStatus } from '../lab/lab.js';
import { agentStatusArgv, parseAgentStatus } from '../mu/agent-status.js';
import { currentBasestation } from '../provision/paths.js';
import { runChecked, type SshPool } from '../remote/index.js';
import { type Placement, readState } from '../state/index.js';

/** What docker says of the container (its State.Status), 'absent' when it is gone, null when unknown. */
export type ContainerState =
  | 'running'
  | 'paused'
  | 'restarting'
  | 'created'
  | 'exited'
  | 'dead'
  | 'removing'
  | 'absent';

export interface UserStatus {
  user: string;
  /** The service deployed for the user (the state database's), else the one hosts.yml gives it. */
  service: string;
  /** The machine that plays the user (its mu host). */
  host: string;
  /** The base station its traffic goes through now, read from its mu host; null when unknown. */
  basestation: string | null;
  /** The server its service was deployed to (state database); null when it has none. */
  server: string | null;
  container: {
    name: string;
    id: string;
    /** null: the server could not be asked (see errors). */
    state: ContainerState | null;
    /** The service's endpoint on the server's data address. */
    endpoint: { address: string; port: number };
    sinceMs: number;
  } | null;
  /** The user's agent (`edgectl mu run`) on its host: running (with its pid), or null when unknown. */
  agent: { running: boolean | null; pid?: number };
  /** What could not be checked, and why (an unreachable host, a user never provisioned). */
  errors: string[];
}

export interface StatusResult {
  testbed: string;
  /** The local lab of this inventory; null for a rack (no `lab:` section). */
  lab: Pick<LabStatus, 'up' | 'hosts'> | null;
  /** The state database read (null: there is none yet, so nothing was deployed from it). */
  state: string | null;
  users: UserStatus[];
}

export interface StatusRequest {
  /** Only these users (default: every user of hosts.yml). */
  users?: string[];
  /** The state database file; it is opened read-only and never created. */
  stateFile: string;
  lab?: LabOptions;
}

const STATES = new Set<string>(['running', 'paused', 'restarting', 'created', 'exited', 'dead', 'removing']);

async function containerState(docker: Docker, id: string): Promise<ContainerState> {
  try {
    const info = await docker.getContainer(id).inspect();
    const s = info.State.Status;
    return STATES.has(s) ? (s as ContainerState) : info.State.Running ? 'running' : 'exited';
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode === 404) return 'absent';
    throw err;
  }
}

/** The first line of an error, for a table cell. */
function short(err: unknown): string {
  return (errorMessage(err).split('\n')[0] ?? '').trim();
}

async function userStatus(
  inv: Inventory,
  pool: SshPool,
  name: string,
  placement: Placement | undefined,
): Promise<UserStatus> {
  const user = getUser(inv, name);
  const muHost = getHost(inv, user.host);
  const errors: string[] = [];
  const [bs, agent, container] = await Promise.all([
    currentBasestation(inv, pool, user.name).catch((err: unknown) => {
      errors.push(`base station: ${short(err)}`);
      return null;
    }),
    runChecked(pool.executor(muHost), agentStatusArgv(inv.testbed, user.name), {
      timeoutMs: 15_000,
      what: 'the agent check',
    })
      .then((r) => {
        const pid = parseAgentStatus(r.stdout);
        return pid === undefined ? { running: false } : { running: true, pid };
      })
      .catch((err: unknown) => {
        errors.push(`agent: ${short(err)}`);
        return { running: null };
      }),
    placement === undefined
      ? Promise.resolve(null)
      : (async (): Promise<ContainerState | null> => {
          try {
            const docker = await reachDocker(pool, getHost(inv, placement.host));
            return await containerState(docker, placement.containerId);
          } catch (err) {
            errors.push(`container: ${short(err)}`);
            return null;
          }
        })(),
  ]);
  return {
    user: user.name,
    service: placement?.service ?? user.service,
    host: muHost.name,
    basestation: bs,
    server: placement?.host ?? null,
    container:
      placement === undefined
        ? null
        : {
            name: placement.container,
            id: placement.containerId,
            state: container,
            endpoint: { address: placement.address, port: placement.port },
            sinceMs: placement.sinceMs,
          },
    agent,
    errors,
  };
}

/** Where every user (or the asked ones) stands; unreachable hosts are reported in their rows. */
export async function testbedStatus(
  inv: Inventory,
  pool: SshPool,
  req: StatusRequest,
): Promise<StatusResult> {
  const names = req.users && req.users.length > 0 ? req.users : inv.users.map((u) => u.name);
  for (const name of names) getUser(inv, name); // an unknown user is a usage error, before any check
  // Read-only and never created: status on a fresh checkout must not leave a database behind.
  let placements = new Map<string, Placement>();
  const state = readState(req.stateFile);
  if (state) {
    try {
      placements = new Map(state.placements.list().map((p) => [p.user, p]));
    } finally {
      state.close();
    }
  }
  const [lab, users] = await Promise.all([
    inv.lab === undefined
      ? Promise.resolve(null)
      : labStatus(inv, req.lab).then((s) => ({ up: s.up, hosts: s.hosts })),
    Promise.all(names.map((name) => userStatus(inv, pool, name, placements.get(name)))),
  ]);
  return { testbed: inv.testbed, lab, state: state ? req.stateFile : null, users };
}
