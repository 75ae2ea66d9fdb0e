/**
 * The placement problem of the paper (3a-3e) in solver-neutral form: every user picks exactly one option, a
 * (base station, server) pair with a value (its delay gain minus its downtime cost, eq. 1-2); options whose
 * base station the user cannot decode are simply absent (3d). The chosen options' demands must fit every
 * server's capacity per resource (3c), and at most maxUsers users may pick a base station (3e).
 * A multidimensional knapsack with assignment constraints (NP-hard), maximised.
 */

export interface ProblemServer {
  id: string;
  /** What is free for the users of this problem, one number per resource (problem.resources order). */
  capacity: number[];
}

export interface ProblemBasestation {
  id: string;
  /** 3e: at most this many of the problem's users on it. */
  maxUsers: number;
}

export interface ProblemOption {
  /** Index into problem.basestations. */
  bs: number;
  /** Index into problem.servers. */
  server: number;
  /** Gain minus cost (the objective's coefficient); may be negative. */
  value: number;
}

export interface ProblemUser {
  id: string;
  /** What the user's container takes of a server, one number per resource. */
  demand: number[];
  /** Its candidate pairs (3d already applied). At least one, or the problem is infeasible. */
  options: ProblemOption[];
}

export interface AssignmentProblem {
  /** Resource names, e.g. ["cpus", "memMB"]. */
  resources: string[];
  servers: ProblemServer[];
  basestations: ProblemBasestation[];
  users: ProblemUser[];
}

export type SolveStatus =
  /** Proven optimal (within the relative gap asked for). */
  | 'optimal'
  /** A checked, feasible assignment, not proven optimal (time limit). */
  | 'feasible'
  /** Proven that no assignment satisfies the constraints. */
  | 'infeasible'
  /** No feasible assignment found in time. */
  | 'timeout'
  | 'error';

export interface SolveResult {
  solver: string;
  status: SolveStatus;
  /** Per user (problem.users order), the index of the chosen option; undefined without an assignment. */
  choice?: number[];
  /** The assignment's objective (recomputed from the problem, never taken from the solver). */
  objective: number | null;
  /** The best upper bound known (LP relaxation, solver's dual bound), or null. */
  bound: number | null;
  /** (bound - objective) / max(1, |bound|), or null. */
  gap: number | null;
  solveMs: number;
  /** Why it is infeasible, what went wrong, what the solver said. */
  message?: string;
}

export interface SolveOptions {
  /** Give up (with the best checked assignment, if any) after this long. */
  timeLimitMs?: number;
  /** Stop once proven within this relative gap (default 1e-6: optimal). */
  relGap?: number;
  signal?: AbortSignal;
}

export interface Solver {
  readonly name: string;
  solve(problem: AssignmentProblem, options?: SolveOptions): Promise<SolveResult>;
}
