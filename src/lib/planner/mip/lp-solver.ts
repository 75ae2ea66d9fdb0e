/**
 * The javascript-lp-solver engine: one binary variable per (user, option), in pure JavaScript. The
 * fastest engine on a few dozen variables (3 ms on the testbed's 44, where HiGHS takes 20-50 ms); its
 * branch-and-bound has no warm start and only LP bounds, so past about a hundred variables it falls
 * behind HiGHS by orders of magnitude (measured: 20x5x5, 240 variables, not finished in 10 s; HiGHS
 * 46 ms). Its `timeout` is checked between branch-and-bound nodes only, so its first LP cannot be
 * stopped: above a few dozen variables it runs in a worker thread (worker.ts), terminated at the time
 * limit (plus a grace) if it has not returned by then.
 * What it returns is verified, never rounded: when it stops on its timeout it may hand back the current
 * LP relaxation, fractional, flagged feasible; that is reported as no answer.
 */
import lpSolverModule, { type Model } from 'javascript-lp-solver';
import type { Backend, BackendAnswer, BackendContext } from './driver.js';
import { mipSolver } from './driver.js';
import type { AssignmentProblem } from './problem.js';
import { bindingRows } from './rows.js';
import { EngineWorker } from './worker.js';

// Its types declare an ES default export in a CommonJS package, so TypeScript (NodeNext) sees the default
// import as the whole module; at run time Node loads its .mjs build, whose default is the solver.
const solver = lpSolverModule as unknown as typeof lpSolverModule.default;

/** Values closer than this to 0 or 1 count as that integer (the solver's own precision is 1e-9). */
const INTEGRALITY_TOL = 1e-6;

export function lpModel(problem: AssignmentProblem, timeoutMs: number): Model {
  const { users } = problem;
  const { serverRows, bsRows } = bindingRows(problem);
  const constraints: Model['constraints'] = {};
  const variables: Model['variables'] = {};
  const binaries: Record<string, 1> = {};
  const rowsOf = new Map<number, number[]>();
  for (const [s, r] of serverRows) rowsOf.set(s, [...(rowsOf.get(s) ?? []), r]);
  const bsBinding = new Set(bsRows);
  users.forEach((user, u) => {
    constraints[`u${u}`] = { equal: 1 };
    user.options.forEach((o, i) => {
      const v: Record<string, number> = { value: o.value, [`u${u}`]: 1 };
      for (const r of rowsOf.get(o.server) ?? []) {
        if ((user.demand[r] ?? 0) !== 0) v[`s${o.server}_${r}`] = user.demand[r]!;
      }
      if (bsBinding.has(o.bs)) v[`b${o.bs}`] = 1;
      variables[`x${u}_${i}`] = v;
      binaries[`x${u}_${i}`] = 1;
    });
  });
  for (const [s, r] of serverRows) constraints[`s${s}_${r}`] = { max: problem.servers[s]!.capacity[r] ?? 0 };
  for (const b of bsRows) constraints[`b${b}`] = { max: problem.basestations[b]!.maxUsers };
  return {
    optimize: 'value',
    opType: 'max',
    constraints,
    variables,
    binaries,
    // Its presolve zeroes the cost of the variables it fixes (dist/index.cjs applyPresolveReductions): off.
    options: { timeout: Math.max(1, Math.floor(timeoutMs)), tolerance: 0, presolve: false },
  };
}

/** Up to this many variables the solver runs on the event loop (measured: at most 200 ms at 88). */
export const LP_INLINE_MAX_VARIABLES = 60;

/** The extra time the worker gets past the time limit before it is terminated. */
const GRACE_MS = 500;

const WORKER_SOURCE = `
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const solver = require(workerData.path);
parentPort.on('message', (job) => {
  try {
    const t0 = performance.now();
    const out = solver.Solve(job.model);
    parentPort.postMessage({ id: job.id, type: 'done', out, ms: performance.now() - t0 });
  } catch (e) {
    parentPort.postMessage({ id: job.id, type: 'error', message: String((e && e.stack) || e) });
  }
});
`;

const worker = new EngineWorker(WORKER_SOURCE, 'javascript-lp-solver');

/** Ends the idle javascript-lp-solver worker, if any. */
export function closeLpSolver(): Promise<void> {
  return worker.close();
}

type LpOut = Record<string, number | boolean | undefined>;

export const lpBackend: Backend = {
  name: 'lp-solver',
  async run(problem: AssignmentProblem, ctx: BackendContext): Promise<BackendAnswer> {
    ctx.signal?.throwIfAborted();
    const model = lpModel(problem, ctx.timeLimitMs);
    const variables = Object.keys(model.variables).length;
    let out: LpOut;
    let ms: number;
    if (variables <= LP_INLINE_MAX_VARIABLES) {
      const t0 = performance.now();
      out = solver.Solve(model) as LpOut;
      ms = performance.now() - t0;
    } else {
      const outcome = await worker.run<{ out: LpOut; ms: number }>({ model }, [], {
        deadlineMs: ctx.timeLimitMs + GRACE_MS,
        ...(ctx.signal ? { signal: ctx.signal } : {}),
      });
      if (outcome.kind === 'error') return { status: 'error', bound: null, message: outcome.message };
      if (outcome.kind === 'deadline') {
        return {
          status: 'timeout',
          bound: null,
          message: `still in its first LP or between nodes at the time limit: terminated ${GRACE_MS} ms later`,
        };
      }
      out = outcome.value.out;
      ms = outcome.value.ms;
    }
    return interpret(problem, out, ms, ctx.timeLimitMs);
  },
};

function interpret(problem: AssignmentProblem, out: LpOut, ms: number, timeLimitMs: number): BackendAnswer {
  // The solver does not say whether its timeout stopped it: a run that used (about) its whole time did.
  // Its clock is Date.now(), in whole ms.
  const timedOut = ms + 2 >= timeLimitMs * 0.95;
  if (out['feasible'] !== true) {
    return timedOut
      ? { status: 'timeout', bound: null, message: `no answer in ${Math.round(ms)} ms` }
      : { status: 'infeasible', bound: null };
  }
  const choice: number[] = [];
  for (let u = 0; u < problem.users.length; u++) {
    let one = -1;
    for (let i = 0; i < problem.users[u]!.options.length; i++) {
      const x = Number(out[`x${u}_${i}`] ?? 0);
      if (Math.abs(x) <= INTEGRALITY_TOL) continue;
      if (Math.abs(x - 1) > INTEGRALITY_TOL || one >= 0) {
        const what = `a fractional answer (x${u}_${i} = ${x}) flagged feasible`;
        return timedOut
          ? {
              status: 'timeout',
              bound: null,
              message: `stopped by its timeout after ${Math.round(ms)} ms with ${what}`,
            }
          : { status: 'error', bound: null, message: `returned ${what}` };
      }
      one = i;
    }
    if (one < 0) {
      return { status: 'error', bound: null, message: `returned no option for user ${problem.users[u]!.id}` };
    }
    choice.push(one);
  }
  if (timedOut) {
    return {
      status: 'feasible',
      choice,
      bound: null,
      message: `stopped by its timeout after ${Math.round(ms)} ms`,
    };
  }
  // Finished its search with tolerance 0: optimal; its bound is the answer's value (the driver checks it).
  const value = choice.reduce((a, o, u) => a + problem.users[u]!.options[o]!.value, 0);
  return { status: 'optimal', choice, bound: value };
}

export const lpSolver = mipSolver('lp-solver', () => lpBackend);
