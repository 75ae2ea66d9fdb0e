/**
 * The baselines' rule, written once: where cloud, nearest and random put a user's service when the user is
 * on a base station. `plan --planner P` and `experiment run` (its reactive controller, and every planner's
 * first placement) both ask here, so a planner's name means one rule.
 *
 * The paper's meanings (section V): cloud always uses the cloud server; nearest the server co-located with
 * the base station (the strongest-RSSI one: which base station is not this rule's to choose); random a
 * server drawn at random. Capacity counts the same way for all three: a server has room when what its other
 * users take plus this user's demand fits its capacity (cpus and memMB).
 * - cloud: the cloud server, with room or not (there is no other cloud);
 * - nearest: the co-located server if it has room, else the nearest server with room (by round trip from
 *   the base station's host), else the co-located one (or nearest) anyway;
 * - random: one draw among the servers with room reachable from the base station, else among all of them.
 * A choice without room says so (`full`), for the caller to warn. Servers no route joins to the base
 * station's host are never chosen: the user could not reach its service there.
 */
import { type Inventory, route, serverHosts } from '../inventory/index.js';

export const BASELINES = ['cloud', 'nearest', 'random'] as const;
export type BaselineName = (typeof BASELINES)[number];

export function isBaseline(planner: string): planner is BaselineName {
  return (BASELINES as readonly string[]).includes(planner);
}

export interface Resources {
  cpus: number;
  memMB: number;
}

/** What the rule reads of the testbed: a PlanInput has this shape, and so does baselineTopology(inv). */
export interface BaselineTopology {
  basestations: readonly { name: string; host: string; server: string | null }[];
  servers: readonly { name: string; role: string; capacity: Resources }[];
  /** Round trips between base station hosts and servers, either direction; a missing pair has no route. */
  links: readonly { a: string; b: string; rttMs: number }[];
}

export interface BaselineRequest {
  planner: BaselineName;
  /** The base station the user is (or will be) on. */
  bs: string;
  /** What the user's service takes. */
  demand: Resources;
  /** What the other users' services take on each server (a server left out: nothing). */
  used: ReadonlyMap<string, Resources>;
  /** The seeded random source: random draws exactly once per call, the others never. */
  random: () => number;
}

export interface BaselineChoice {
  server: string;
  /** The server had no room for the user: the rule puts it there anyway. */
  full: boolean;
}

/** Lets a sum within rounding of a capacity count as fitting. */
const EPS = 1e-9;

/** The server a baseline puts the user's service on, or null when none can serve that base station. */
export function baselineServer(topo: BaselineTopology, req: BaselineRequest): BaselineChoice | null {
  const site = topo.basestations.find((b) => b.name === req.bs);
  // The draw is taken first, whatever follows, so that a run's sequence of draws does not depend on it.
  const draw = req.planner === 'random' ? req.random() : 0;
  if (!site) return null;
  const rtt = (server: string): number | undefined => {
    if (server === site.host) return 0;
    return topo.links.find(
      (l) => (l.a === site.host && l.b === server) || (l.a === server && l.b === site.host),
    )?.rttMs;
  };
  const reachable = topo.servers.filter((s) => rtt(s.name) !== undefined);
  const fits = (s: BaselineTopology['servers'][number]) => {
    const u = req.used.get(s.name) ?? { cpus: 0, memMB: 0 };
    return (
      u.cpus + req.demand.cpus <= s.capacity.cpus + EPS &&
      u.memMB + req.demand.memMB <= s.capacity.memMB + EPS
    );
  };
  const choice = (s: BaselineTopology['servers'][number] | undefined): BaselineChoice | null =>
    s ? { server: s.name, full: !fits(s) } : null;
  if (req.planner === 'cloud') return choice(reachable.find((s) => s.role === 'cloud'));
  if (req.planner === 'random') {
    const open = reachable.filter(fits);
    const pool = open.length > 0 ? open : reachable;
    return choice(pool[Math.min(pool.length - 1, Math.floor(draw * pool.length))]);
  }
  // nearest: by round trip from the base station, the co-located server first (file order on a tie).
  const byDistance = reachable
    .map((s, i) => ({ s, i, rtt: s.name === site.server ? -1 : (rtt(s.name) as number) }))
    .sort((a, b) => a.rtt - b.rtt || a.i - b.i)
    .map((x) => x.s);
  return choice(byDistance.find(fits) ?? byDistance[0]);
}

/** Whether `server` has room for `demand` beside what `used` takes there (false: no such server). */
export function hasRoom(
  topo: Pick<BaselineTopology, 'servers'>,
  server: string,
  demand: Resources,
  used: ReadonlyMap<string, Resources>,
): boolean {
  const s = topo.servers.find((x) => x.name === server);
  if (!s) return false;
  const u = used.get(server) ?? { cpus: 0, memMB: 0 };
  return u.cpus + demand.cpus <= s.capacity.cpus + EPS && u.memMB + demand.memMB <= s.capacity.memMB + EPS;
}

/** The resources taken per server by a list of placements (host, demand). */
export function usedBy(
  placements: readonly { host: string | null; demand: Resources }[],
): Map<string, Resources> {
  const used = new Map<string, Resources>();
  for (const p of placements) {
    if (!p.host) continue;
    const u = used.get(p.host) ?? { cpus: 0, memMB: 0 };
    used.set(p.host, { cpus: u.cpus + p.demand.cpus, memMB: u.memMB + p.demand.memMB });
  }
  return used;
}

/**
 * The rule's view of hosts.yml: base stations with their co-located servers, servers with their capacity,
 * and the configured round trip of the route from each base station's host to each server. The experiment
 * uses it (the same every run); `plan` gives its PlanInput, whose round trips are measured where they were.
 */
export function baselineTopology(inv: Inventory): BaselineTopology {
  const servers = serverHosts(inv);
  const links: { a: string; b: string; rttMs: number }[] = [];
  for (const host of new Set(inv.basestations.map((b) => b.host)))
    for (const s of servers) {
      const r = host === s.name ? { rttMs: 0 } : route(inv, host, s.name);
      if (r) links.push({ a: host, b: s.name, rttMs: r.rttMs });
    }
  return {
    basestations: inv.basestations.map((b) => ({ name: b.name, host: b.host, server: b.server ?? null })),
    servers: servers.map((h) => ({
      name: h.name,
      role: h.role,
      capacity: { cpus: h.capacity?.cpus ?? 0, memMB: h.capacity?.memMB ?? 0 },
    })),
    links,
  };
}
