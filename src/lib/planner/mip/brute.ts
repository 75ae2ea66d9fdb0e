/**
 * Exhaustive search, for tests: every combination of options, depth first, cut where a partial
 * assignment already breaks a row. Small instances only.
 */
import { fits } from './check.js';
import type { AssignmentProblem } from './problem.js';

/** Above this many combinations bruteForce refuses. */
export const BRUTE_FORCE_LIMIT = 1e6;

export interface BruteForceResult {
  /** An optimal choice, or null when no assignment exists. */
  choice: number[] | null;
  objective: number | null;
}

export function bruteForce(problem: AssignmentProblem): BruteForceResult {
  const { users, servers, basestations, resources } = problem;
  const combinations = users.reduce((a, u) => a * u.options.length, 1);
  if (combinations > BRUTE_FORCE_LIMIT) {
    throw new Error(`brute force over ${combinations} combinations (more than ${BRUTE_FORCE_LIMIT})`);
  }
  const used = servers.map(() => resources.map(() => 0));
  const onBs = basestations.map(() => 0);
  const choice: number[] = [];
  let best: number[] | null = null;
  let bestValue = Number.NEGATIVE_INFINITY;
  const visit = (u: number, value: number): void => {
    if (u === users.length) {
      if (value > bestValue) {
        bestValue = value;
        best = [...choice];
      }
      return;
    }
    const user = users[u]!;
    user.options.forEach((o, i) => {
      const load = used[o.server]!;
      if (onBs[o.bs]! + 1 > basestations[o.bs]!.maxUsers) return;
      if (
        !resources.every((_, r) =>
          fits(load[r]! + (user.demand[r] ?? 0), servers[o.server]!.capacity[r] ?? 0),
        )
      ) {
        return;
      }
      onBs[o.bs]! += 1;
      resources.forEach((_, r) => {
        load[r]! += user.demand[r] ?? 0;
      });
      choice.push(i);
      visit(u + 1, value + o.value);
      choice.pop();
      resources.forEach((_, r) => {
        load[r]! -= user.demand[r] ?? 0;
      });
      onBs[o.bs]! -= 1;
    });
  };
  visit(0, 0);
  return best === null ? { choice: null, objective: null } : { choice: best, objective: bestValue };
}
