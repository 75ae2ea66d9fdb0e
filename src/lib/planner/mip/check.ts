/**
 * The one judge of an assignment: every solver's answer passes through checkAssignment before it is
 * returned, and the objective reported is always recomputed here (never taken from a solver).
 */
import type { AssignmentProblem } from './problem.js';

/**
 * Slack allowed on a capacity, relative to it (plus an absolute 1e-9): demands summed in a different order
 * differ in the last bits, and a solver's rows are met to about 1e-9 too. Far below any real demand.
 */
export const CAPACITY_EPS = 1e-9;

export interface AssignmentCheck {
  ok: boolean;
  /** The assignment's objective, or null when the choice is not even a valid index per user. */
  objective: number | null;
  violations: string[];
}

/** The sum of the chosen options' values; assumes every index is valid (see checkAssignment). */
export function objectiveOf(problem: AssignmentProblem, choice: readonly number[]): number {
  let sum = 0;
  for (let u = 0; u < problem.users.length; u++) {
    const option = problem.users[u]?.options[choice[u] ?? -1];
    if (option === undefined) throw new Error(`user ${u} has no option ${choice[u]}`);
    sum += option.value;
  }
  return sum;
}

/** Whether `used` fits in `capacity`, with the slack above. */
export function fits(used: number, capacity: number): boolean {
  return used <= capacity + CAPACITY_EPS * Math.max(1, Math.abs(capacity));
}

/**
 * Checks a choice against every constraint: one integer, in-range option index per user (3b), each
 * server's capacity per resource (3c), each base station's maxUsers (3e). Violations are sentences that
 * name the user, server or base station.
 */
export function checkAssignment(problem: AssignmentProblem, choice: readonly number[]): AssignmentCheck {
  const violations: string[] = [];
  const { users, servers, basestations, resources } = problem;
  if (choice.length !== users.length) {
    violations.push(`${choice.length} choices for ${users.length} users`);
  }
  const used = servers.map(() => resources.map(() => 0));
  const onBs = basestations.map(() => 0);
  let objective = 0;
  let complete = true;
  for (let u = 0; u < users.length; u++) {
    const user = users[u]!;
    const c = choice[u];
    if (c === undefined || !Number.isInteger(c) || c < 0 || c >= user.options.length) {
      violations.push(`user ${user.id}: option ${c} is not an index in 0..${user.options.length - 1}`);
      complete = false;
      continue;
    }
    const option = user.options[c]!;
    objective += option.value;
    const load = used[option.server];
    if (load === undefined || option.bs < 0 || option.bs >= basestations.length) {
      violations.push(
        `user ${user.id}: option ${c} names server ${option.server} or base station ${option.bs}`,
      );
      complete = false;
      continue;
    }
    for (let r = 0; r < resources.length; r++) load[r]! += user.demand[r] ?? 0;
    onBs[option.bs]! += 1;
  }
  for (let s = 0; s < servers.length; s++) {
    const server = servers[s]!;
    for (let r = 0; r < resources.length; r++) {
      const load = used[s]![r]!;
      const capacity = server.capacity[r] ?? 0;
      if (!fits(load, capacity)) {
        violations.push(`server ${server.id}: ${resources[r]} ${round(load)} > capacity ${round(capacity)}`);
      }
    }
  }
  for (let b = 0; b < basestations.length; b++) {
    const bs = basestations[b]!;
    if (onBs[b]! > bs.maxUsers)
      violations.push(`base station ${bs.id}: ${onBs[b]} users > maxUsers ${bs.maxUsers}`);
  }
  return { ok: violations.length === 0, objective: complete ? objective : null, violations };
}

function round(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}
