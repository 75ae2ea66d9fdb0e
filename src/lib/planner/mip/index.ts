/**
 * The MIP layer of the placement planner: solvers of the assignment problem (problem.ts) by name, and
 * solve(), which picks one ('auto') and explains infeasibility before any solver runs.
 */
import { type MipSolveOptions, type MipSolver, mipSolver } from './driver.js';
import { greedySolver } from './greedy.js';
import { closeHighs, highsBackend, highsSolver } from './highs.js';
import { closeLpSolver, lpBackend, lpSolver } from './lp-solver.js';
import type { AssignmentProblem, SolveResult, Solver } from './problem.js';

export { type AssignmentCheck, checkAssignment, objectiveOf } from './check.js';
export { DEFAULT_REL_GAP, DEFAULT_TIME_LIMIT_MS, type MipSolveOptions, type MipSolver } from './driver.js';
export { greedyAssign, greedySolver, trivialBound } from './greedy.js';
export { highsSolver } from './highs.js';
export { explainInfeasible } from './infeasible.js';
export { lpSolver } from './lp-solver.js';
export type * from './problem.js';

/** Ends the engines' idle worker threads (they are unref'd: a process does not wait for them anyway). */
export async function closeEngines(): Promise<void> {
  await Promise.all([closeHighs(), closeLpSolver()]);
}

export const solvers = {
  'lp-solver': lpSolver,
  highs: highsSolver,
  greedy: greedySolver,
} as const satisfies Record<string, Solver>;

export type SolverName = keyof typeof solvers;

/**
 * The 'auto' engine: javascript-lp-solver while the problem left after reduction is at most this many
 * (user, option) variables (no worker to start, no WebAssembly to load), HiGHS above.
 * Measured with the engines alone (median of 7 instances of the bench's family, tmp scripts): 44
 * variables: javascript-lp-solver 3 ms, HiGHS 56 ms; 88: 20 ms and 69 ms (worst 200 and 176); 170:
 * 454 ms and 33 ms; 240: javascript-lp-solver not done in 10 s, HiGHS 46 ms.
 */
export const AUTO_LP_SOLVER_MAX_VARIABLES = 100;

export const autoSolver: MipSolver = mipSolver('auto', (problem) =>
  problem.users.reduce((a, u) => a + u.options.length, 0) <= AUTO_LP_SOLVER_MAX_VARIABLES
    ? lpBackend
    : highsBackend,
);

export interface PlanSolveOptions extends MipSolveOptions {
  /** A name of `solvers`, or 'auto' (default). */
  solver?: string;
}

/**
 * Solves the problem with the named solver ('auto': javascript-lp-solver for testbed-sized problems,
 * HiGHS for large ones). Every solver first looks for a reason the problem cannot be solved (users with
 * no option, base stations or servers too small for the users that can only reach them: infeasible.ts)
 * and returns status 'infeasible' with that reason in `message` before it solves anything.
 */
export async function solve(
  problem: AssignmentProblem,
  options: PlanSolveOptions = {},
): Promise<SolveResult> {
  const name = options.solver ?? 'auto';
  const solver =
    name === 'auto' ? autoSolver : Object.hasOwn(solvers, name) ? solvers[name as SolverName] : undefined;
  if (solver === undefined) {
    throw new Error(`unknown solver ${name}: one of auto, ${Object.keys(solvers).join(', ')}`);
  }
  return solver.solve(problem, options);
}
