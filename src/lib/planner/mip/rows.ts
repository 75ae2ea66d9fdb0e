/**
 * Which capacity and base-station rows can bind: a row with room for every user that has an option on
 * it can never be violated, and the engines are not given it (fewer rows, the same optimum).
 */
import { fits } from './check.js';
import type { AssignmentProblem } from './problem.js';

export interface BindingRows {
  /** [server, resource] pairs. */
  serverRows: Array<[number, number]>;
  bsRows: number[];
}

export function bindingRows(problem: AssignmentProblem): BindingRows {
  const { users, servers, basestations, resources } = problem;
  const need = servers.map(() => resources.map(() => 0));
  const count = basestations.map(() => 0);
  for (const user of users) {
    for (const s of new Set(user.options.map((o) => o.server))) {
      resources.forEach((_, r) => {
        need[s]![r]! += user.demand[r] ?? 0;
      });
    }
    for (const b of new Set(user.options.map((o) => o.bs))) count[b]! += 1;
  }
  const serverRows: Array<[number, number]> = [];
  servers.forEach((server, s) => {
    resources.forEach((_, r) => {
      if (!fits(need[s]![r]!, server.capacity[r] ?? 0)) serverRows.push([s, r]);
    });
  });
  const bsRows = basestations.flatMap((b, i) => (count[i]! > b.maxUsers ? [i] : []));
  return { serverRows, bsRows };
}
