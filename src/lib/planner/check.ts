/**
 * The judge of an outside planner's answer, as mip/check.ts is of a solver's: every decision is checked
 * against the placement problem before anything is carried out. Each user at most once (3b; a user left
 * out stays where it is), the base station and server exist, the user can decode the base station (3d),
 * the servers' capacities (3c) and the base stations' user limits (3e) hold with every user counted
 * where it will be (the ones left out where they are), a route joins the base station's host and the
 * server (and the user's server and the new one, for the migration), and given trigger times are finite,
 * in order and not in the past. A chosen pair comes with the candidate it is (plan.ts: its estimates).
 */
import type { PlannerAnswer } from './custom.js';
import type { PlanInput, PlanUser } from './input.js';
import { fits } from './mip/check.js';
import { type Candidate, candidates, outlook, type UserOutlook } from './plan.js';

/** How far in the past a given trigger time may be (ms): the planner's own run time, and clocks read apart. */
export const PAST_TOLERANCE_MS = 1000;

export interface Valued {
  outlook: UserOutlook;
  candidates: Candidate[];
}

export interface GivenTriggers {
  preMigrationAt?: number;
  migrationAt?: number;
  handoverAt?: number;
}

export interface CheckedChoice {
  user: string;
  /** The user's index in input.users. */
  index: number;
  candidate: Candidate;
  /** The outlook the candidate was valued with (at t', or now when the pair is decodable only now). */
  outlook: UserOutlook;
  triggers: GivenTriggers;
}

export interface AnswerCheck {
  ok: boolean;
  violations: string[];
  chosen: CheckedChoice[];
}

/** Every user's outlook and candidates (as plan() computes them). */
export function valueAll(input: PlanInput, nowMs: number): Valued[] {
  return input.users.map((u) => {
    const o = outlook(input, u, nowMs);
    return { outlook: o, candidates: candidates(input, o) };
  });
}

const fmt = (v: number) => `${Math.round(v * 10) / 10}`;

/** Checks an answer (already valid by its schema) against the plan input; violations name the decision and the user. */
export function checkAnswer(
  input: PlanInput,
  answer: PlannerAnswer,
  options: { nowMs?: number; valued?: readonly Valued[] } = {},
): AnswerCheck {
  const nowMs = options.nowMs ?? input.atMs;
  const valued = options.valued ?? valueAll(input, nowMs);
  const violations: string[] = [];
  const chosen: CheckedChoice[] = [];
  const seen = new Map<string, number>();
  for (const [i, d] of answer.decisions.entries()) {
    const at = `decisions[${i}] (${d.user})`;
    const index = input.users.findIndex((u) => u.name === d.user);
    const u = input.users[index];
    const v = valued[index];
    if (!u || !v) {
      violations.push(`decisions[${i}]: no user ${d.user} in the plan input`);
      continue;
    }
    const before = seen.get(d.user);
    if (before !== undefined) {
      violations.push(`${at}: the user already has decisions[${before}]`);
      continue;
    }
    seen.set(d.user, i);
    const bs = input.basestations.find((b) => b.name === d.bs);
    if (!bs) {
      violations.push(`${at}: no base station ${d.bs}`);
      continue;
    }
    if (!input.servers.some((s) => s.name === d.server)) {
      violations.push(`${at}: no server ${d.server}`);
      continue;
    }
    let o = v.outlook;
    let c = v.candidates.find((x) => x.bs === d.bs && x.server === d.server);
    // Decodable where it is now, though not where it will be: valued now (the planner may mean "stay for now").
    if (!c && (u.rssi[d.bs] ?? Number.NEGATIVE_INFINITY) >= bs.pathLoss.minRssiDbm) {
      o = { ...v.outlook, rssi: u.rssi, evalAtMs: nowMs };
      c = candidates(input, o).find((x) => x.bs === d.bs && x.server === d.server);
    }
    if (!c) {
      violations.push(`${at}: ${whyNot(input, u, v.outlook, d.bs, d.server)}`);
      continue;
    }
    const t = triggerViolations(d.triggers ?? undefined, nowMs, u, d);
    for (const m of t.violations) violations.push(`${at}: ${m}`);
    chosen.push({ user: d.user, index, candidate: c, outlook: o, triggers: t.given });
  }
  // 3c and 3e: every user where it will be; those left out where they are.
  const where = new Map(chosen.map((c) => [c.user, { bs: c.candidate.bs, server: c.candidate.server }]));
  const placed = input.users.map((u) => ({ u, ...(where.get(u.name) ?? { bs: u.bs, server: u.server }) }));
  const answered = new Set(chosen.map((c) => c.user));
  for (const s of input.servers) {
    const on = placed.filter((p) => p.server === s.name);
    // Only a server the answer puts someone on is the answer's to overfill.
    if (!on.some((p) => answered.has(p.u.name))) continue;
    for (const r of ['cpus', 'memMB'] as const) {
      const used = on.reduce((sum, p) => sum + p.u.demand[r], 0);
      if (!fits(used, s.capacity[r]))
        violations.push(
          `server ${s.name}: ${r} ${fmt(used)} > capacity ${fmt(s.capacity[r])} (${on.map((p) => p.u.name).join(', ')})`,
        );
    }
  }
  for (const b of input.basestations) {
    const on = placed.filter((p) => p.bs === b.name);
    if (on.some((p) => answered.has(p.u.name)) && on.length > b.maxUsers)
      violations.push(
        `base station ${b.name}: ${on.length} users > maxUsers ${b.maxUsers} (${on.map((p) => p.u.name).join(', ')})`,
      );
  }
  return { ok: violations.length === 0, violations, chosen };
}

/** Why (bs, server) is no candidate of the user: undecodable (3d), or no route. */
function whyNot(input: PlanInput, u: PlanUser, o: UserOutlook, bsName: string, server: string): string {
  const bs = input.basestations.find((b) => b.name === bsName);
  const then = o.rssi[bsName];
  const now = u.rssi[bsName];
  if (bs && !((then ?? -Infinity) >= bs.pathLoss.minRssiDbm))
    return `${u.name} cannot decode ${bsName} (RSSI ${then === undefined ? 'unknown' : `${fmt(then)} dBm`} where it will be, ${now === undefined ? 'unknown' : `${fmt(now)} dBm`} now; minRssiDbm ${bs.pathLoss.minRssiDbm})`;
  const joined = (a: string, b: string) =>
    a === b || input.links.some((l) => (l.a === a && l.b === b) || (l.a === b && l.b === a));
  if (bs && !joined(bs.host, server)) return `no route between ${bsName}'s host ${bs.host} and ${server}`;
  if (u.server && !joined(u.server, server))
    return `no route between its server ${u.server} and ${server} to migrate over`;
  return `${bsName}/${server} cannot serve ${u.name} (no finite delay estimate)`;
}

function triggerViolations(
  t: { preMigrationAt?: number | null; migrationAt?: number | null; handoverAt?: number | null } | undefined,
  nowMs: number,
  u: PlanUser,
  d: { bs: string; server: string },
): { violations: string[]; given: GivenTriggers } {
  const violations: string[] = [];
  const given: GivenTriggers = {};
  if (!t) return { violations, given };
  const migrate = u.server !== null && d.server !== u.server;
  const handover = d.bs !== u.bs;
  for (const k of ['preMigrationAt', 'migrationAt', 'handoverAt'] as const) {
    const x = t[k];
    if (x === undefined || x === null) continue;
    if (!Number.isFinite(x)) violations.push(`triggers.${k} is not a finite number`);
    else if (x < nowMs - PAST_TOLERANCE_MS)
      violations.push(`triggers.${k} is ${fmt((nowMs - x) / 1000)} s before the plan's instant nowMs`);
    else if (k === 'handoverAt' ? !handover : !migrate)
      violations.push(
        `triggers.${k} is given, but ${k === 'handoverAt' ? 'its base station' : 'its server'} does not change`,
      );
    else given[k] = x;
  }
  if (
    given.preMigrationAt !== undefined &&
    given.migrationAt !== undefined &&
    given.preMigrationAt > given.migrationAt
  )
    violations.push('triggers.preMigrationAt is after triggers.migrationAt');
  return { violations, given };
}
