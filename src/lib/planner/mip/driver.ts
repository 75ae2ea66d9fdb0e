/**
 * What every MIP solver does around its engine (a Backend): explain infeasibility up front; presolve;
 * a greedy incumbent improved by the Lagrangian heuristic, with the Lagrangian bound; reduced-cost fixing
 * against that incumbent; the engine on what is left, warm-started with the incumbent; then the answer
 * mapped back, checked against the original problem, and the status, bound and gap reported as proven.
 */
import { checkAssignment } from './check.js';
import { flatten } from './flat.js';
import { construct, gapOf, greedyAssign, improve } from './greedy.js';
import { explainInfeasible } from './infeasible.js';
import { KL_MAX_PAIRS, knapsackLagrange, pairCount } from './kl.js';
import { lagrange } from './lagrange.js';
import type { AssignmentProblem, SolveOptions, SolveResult, Solver, SolveStatus } from './problem.js';
import { compose, costFixing, expand, identity, presolve, type Reduction, restrict } from './reduce.js';

/** Default time limit of the MIP solvers. */
export const DEFAULT_TIME_LIMIT_MS = 10_000;
/** Default relative gap: optimal up to rounding. */
export const DEFAULT_REL_GAP = 1e-6;

export interface MipSolveOptions extends SolveOptions {
  /**
   * Presolve, Lagrangian incumbent and bound, reduced-cost fixing before the engine (default true).
   * Off, the engine gets the whole problem and no start (for tests and comparisons).
   */
  reduce?: boolean;
}

export interface BackendContext {
  timeLimitMs: number;
  relGap: number;
  signal?: AbortSignal;
  /** A feasible choice of this problem to start from, if known. */
  start: number[] | null;
}

export interface BackendAnswer {
  /** 'optimal' within relGap, 'feasible' (a limit stopped it), 'infeasible' (proven), 'timeout' (nothing). */
  status: SolveStatus;
  /** Per user of the problem it was given: the option index. Not yet checked. */
  choice?: number[];
  /** An upper bound on that problem's optimum, or null. */
  bound: number | null;
  message?: string;
}

/** A MIP engine: solves the (reduced) problem it is given, honestly reporting what it proved. */
export interface Backend {
  readonly name: string;
  run(problem: AssignmentProblem, ctx: BackendContext): Promise<BackendAnswer>;
}

/** The shares of the time limit the two Lagrangians may take before the engine starts, and their caps (ms). */
const LP_LAGRANGE_SHARE = 0.1;
const LP_LAGRANGE_MAX_MS = 500;
const KL_SHARE = 0.3;
const KL_MAX_MS = 3000;
/**
 * Large problems (past KL_MAX_PAIRS): the LP Lagrangian's share and cap, and how long before the
 * engine's end the local search alongside it stops.
 */
const LARGE_LP_LAGRANGE_SHARE = 0.15;
const LARGE_LP_LAGRANGE_MAX_MS = 1500;
const LARGE_ENGINE_LEAD_SHARE = 0.05;
/** Kept back from the engine's time limit: a share of it, and 1 ms per this many columns. */
const HANDOFF_SHARE = 0.03;
const HANDOFF_COLUMNS_PER_MS = 250;

/** A Solver that also takes MipSolveOptions. */
export interface MipSolver extends Solver {
  solve(problem: AssignmentProblem, options?: MipSolveOptions): Promise<SolveResult>;
}

export function mipSolver(name: string, pick: (problem: AssignmentProblem) => Backend): MipSolver {
  return { name, solve: (problem, options) => solveWith(name, pick, problem, options) };
}

export async function solveWith(
  name: string,
  pick: (problem: AssignmentProblem) => Backend,
  problem: AssignmentProblem,
  options: MipSolveOptions = {},
): Promise<SolveResult> {
  const t0 = performance.now();
  const timeLimitMs = options.timeLimitMs ?? DEFAULT_TIME_LIMIT_MS;
  const deadline = t0 + timeLimitMs;
  const relGap = options.relGap ?? DEFAULT_REL_GAP;
  const signal = options.signal;
  signal?.throwIfAborted();
  const done = (r: Omit<SolveResult, 'solver' | 'solveMs' | 'gap'>, solver = name): SolveResult => ({
    solver,
    ...r,
    gap: gapOf(r.objective, r.bound),
    solveMs: performance.now() - t0,
  });
  const reason = explainInfeasible(problem);
  if (reason !== undefined)
    return done({ status: 'infeasible', objective: null, bound: null, message: reason });

  let red: Reduction = identity(problem);
  let incumbent: number[] | null = null;
  let bound: number | null = null;
  const notes: string[] = [];
  // The engine on a reduction of the problem, from a start; it runs in its worker (HiGHS, and
  // javascript-lp-solver past a few dozen variables) while this thread goes on.
  const startEngine = (on: Reduction, start: number[] | null) => {
    const backend = pick(on.problem);
    const columns = on.problem.users.reduce((a, u) => a + u.options.length, 0);
    // Kept back: building and handing the model over, which the engine's clock does not count, and
    // checking its answer (measured: HiGHS ran 9.63 s of a 10 s limit at 1000x50x50, 150k columns, and
    // the solve took 10.52 s).
    const handoffMs = HANDOFF_SHARE * timeLimitMs + columns / HANDOFF_COLUMNS_PER_MS;
    const answer = backend.run(on.problem, {
      timeLimitMs: Math.max(1, deadline - performance.now() - handoffMs),
      relGap,
      ...(signal ? { signal } : {}),
      start: start === null ? null : restrict(on, start),
    });
    return { backend, answer, on };
  };
  let engine: ReturnType<typeof startEngine> | undefined;
  if (options.reduce !== false) {
    red = presolve(problem);
    if (red.infeasible !== undefined) {
      return done({ status: 'infeasible', objective: null, bound: null, message: red.infeasible });
    }
    const f = flatten(red.problem);
    const greedy = construct(f);
    if (pairCount(f) > KL_MAX_PAIRS && red.problem.users.length > 0) {
      // Large: the knapsack bound is too slow here (its knapsacks hit their node limit) and the engine
      // is slow to find anything good (HiGHS: nothing better than -13.8M in 30 s at 1000x50x50, where
      // local search reaches 4.8M) but its cuts can beat the LP bound (500x50x50: 3.5% below it in 9 s).
      // So it starts now on the presolved problem, in its worker, while this thread computes the LP
      // bound and improves the incumbent until shortly before the engine has to answer.
      engine = startEngine(red, greedy === null ? null : expand(red, greedy.toChoice()));
      const lg = lagrange(f, {
        incumbent: greedy,
        deadline:
          performance.now() + Math.min(LARGE_LP_LAGRANGE_MAX_MS, LARGE_LP_LAGRANGE_SHARE * timeLimitMs),
        relGap,
      });
      bound = lg.bound + red.fixedValue;
      if (lg.best !== null) {
        improve(lg.best, deadline - (HANDOFF_SHARE + LARGE_ENGINE_LEAD_SHARE) * timeLimitMs);
        incumbent = expand(red, lg.best.toChoice());
      }
      notes.push(
        `presolve left ${red.problem.users.length} of ${problem.users.length} users; ` +
          `LP bound ${round(bound)} (${lg.iterations} iterations); knapsack bound skipped (too many ` +
          `user-server pairs); ${engine.backend.name} ran alongside the local search`,
      );
    } else {
      if (greedy !== null) improve(greedy, performance.now() + Math.min(50, 0.05 * timeLimitMs));
      const lg = lagrange(f, {
        incumbent: greedy,
        deadline: performance.now() + Math.min(LP_LAGRANGE_MAX_MS, LP_LAGRANGE_SHARE * timeLimitMs),
        relGap,
      });
      const klMs = Math.min(KL_MAX_MS, KL_SHARE * timeLimitMs);
      const kl = knapsackLagrange(f, {
        pi: lg.top,
        mu: lg.bsPrice,
        incumbent: lg.best,
        deadline: performance.now() + klMs,
        fixingMs: klMs / 2,
        relGap,
      });
      bound = Math.min(lg.bound, kl.bound) + red.fixedValue;
      notes.push(
        `presolve left ${red.problem.users.length} of ${problem.users.length} users; ` +
          `bounds: LP ${round(lg.bound + red.fixedValue)} (${lg.iterations} iterations), ` +
          `knapsack Lagrangian ${round(kl.bound + red.fixedValue)} (${kl.iterations})`,
      );
      if (kl.best !== null) {
        incumbent = expand(red, kl.best.toChoice());
        const z = kl.bestValue;
        if (gapOf(z + red.fixedValue, bound)! <= relGap) {
          return finish(done, problem, incumbent, bound, 'optimal', [
            ...notes,
            'the heuristic assignment is within relGap of the bound: no engine needed',
          ]);
        }
        const lpKeep = costFixing(f, lg.bound, lg.reduced, z);
        const klKeep = kl.keep;
        const inner = presolve(
          red.problem,
          (u, o) => lpKeep(u, o) && (klKeep === null || klKeep[f.start[u]! + o] === 1),
        );
        if (inner.infeasible === undefined) {
          const options = red.problem.users.reduce((a, u) => a + u.options.length, 0);
          red = compose(red, inner);
          const kept = red.problem.users.reduce((a, u) => a + u.options.length, 0);
          notes.push(`fixing kept ${kept} of ${options} options, ${red.problem.users.length} users`);
        } else {
          notes.push(`fixing skipped: ${inner.infeasible}`);
        }
      }
    }
  }
  signal?.throwIfAborted();
  if (engine === undefined && red.problem.users.length === 0) {
    // Presolve fixed every user (its capacity checks passed), or there was no user at all.
    return finish(done, problem, expand(red, []), bound, 'optimal', [...notes, 'every user is fixed']);
  }

  engine ??= startEngine(red, incumbent);
  const { backend } = engine;
  red = engine.on;
  const ans = await engine.answer;
  if (ans.message) notes.push(`${backend.name}: ${ans.message}`);
  if (ans.bound !== null)
    bound = bound === null ? ans.bound + red.fixedValue : Math.min(bound, ans.bound + red.fixedValue);

  let choice: number[] | null = null;
  let failed: string | undefined;
  if (ans.choice !== undefined) {
    choice = expand(red, ans.choice);
    const check = checkAssignment(problem, choice);
    if (!check.ok) {
      failed = `${backend.name}'s answer breaks constraints: ${check.violations.join('; ')}`;
      choice = null;
    }
  } else if (ans.status === 'error') failed = `${backend.name} failed: ${ans.message ?? 'no reason given'}`;
  if (failed !== undefined) {
    // An engine that misbehaves (javascript-lp-solver at a tight time limit) costs the proof, not the
    // plan: the checked heuristic incumbent stands, and the message says why.
    const fallback = incumbent ?? greedyAssign(problem, { timeLimitMs: Math.min(1000, timeLimitMs / 10) });
    if (fallback === null)
      return done({ status: 'error', objective: null, bound, message: failed }, backend.name);
    return finish(
      done,
      problem,
      fallback,
      bound,
      'feasible',
      [...notes, `${failed}; the heuristic incumbent is used`],
      backend.name,
    );
  }
  switch (ans.status) {
    case 'infeasible':
      if (incumbent !== null) {
        return done(
          {
            status: 'error',
            objective: null,
            bound,
            message: `${backend.name} says infeasible, yet an assignment was found`,
          },
          backend.name,
        );
      }
      return done(
        {
          status: 'infeasible',
          objective: null,
          bound: null,
          message:
            `${backend.name} proved that no assignment meets every server's capacity and every base station's ` +
            `maxUsers together (each alone can be met); ${notes.join('; ')}`,
        },
        backend.name,
      );
    case 'error':
      return done(
        { status: 'error', objective: null, bound, message: ans.message ?? `${backend.name} failed` },
        backend.name,
      );
    default: {
      const best = better(problem, choice, incumbent);
      if (best === null) {
        return done({ status: 'timeout', objective: null, bound, message: notes.join('; ') }, backend.name);
      }
      if (best === incumbent && choice !== best) notes.push('the answer is the heuristic incumbent');
      return finish(
        done,
        problem,
        best,
        bound,
        ans.status === 'optimal' ? 'optimal' : 'feasible',
        notes,
        backend.name,
      );
    }
  }
}

/** Of two checked choices, the one of higher objective (null if neither). */
function better(problem: AssignmentProblem, a: number[] | null, b: number[] | null): number[] | null {
  if (a === null) return b;
  if (b === null) return a;
  return checkAssignment(problem, a).objective! >= checkAssignment(problem, b).objective! ? a : b;
}

function finish(
  done: (r: Omit<SolveResult, 'solver' | 'solveMs' | 'gap'>, solver?: string) => SolveResult,
  problem: AssignmentProblem,
  choice: number[],
  bound: number | null,
  status: SolveStatus,
  notes: string[],
  solver?: string,
): SolveResult {
  const check = checkAssignment(problem, choice);
  if (!check.ok) {
    return done(
      {
        status: 'error',
        objective: null,
        bound,
        message: `assignment breaks constraints: ${check.violations.join('; ')}`,
      },
      solver,
    );
  }
  const objective = check.objective!;
  // A bound below the checked objective can only be rounding: never report a negative gap.
  let b = bound === null ? (status === 'optimal' ? objective : null) : bound;
  if (b !== null && b < objective) {
    if (objective - b > 1e-6 * Math.max(1, Math.abs(objective))) {
      notes.push(`the bound ${b} was below the checked objective ${objective}: no bound reported`);
      b = null;
    } else b = objective;
  }
  return done({ status, choice, objective, bound: b, message: notes.join('; ') }, solver);
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
