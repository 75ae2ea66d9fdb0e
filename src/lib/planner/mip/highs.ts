/**
 * The HiGHS engine (the `highs` package: HiGHS compiled to WebAssembly), in a worker thread (worker.ts)
 * so the event loop keeps running while it works and a time limit or an AbortSignal can always stop it.
 *
 * The model goes over as sparse arrays (highs.createModel with a CSC matrix: no LP text to print and
 * parse, 150k columns at 1000x50x50), with the driver's incumbent as a start (setSolution). HiGHS honours
 * time_limit itself; the deadline (limit + grace) only matters when it does not (its presolve is not
 * interruptible): the worker is then terminated and the last incumbent it reported is used.
 */
import type { Backend, BackendAnswer, BackendContext } from './driver.js';
import { mipSolver } from './driver.js';
import type { AssignmentProblem } from './problem.js';
import { bindingRows } from './rows.js';
import { EngineWorker } from './worker.js';

/** HiGHS's integrality tolerance is 1e-6 (mip_feasibility_tolerance): values within it are integers. */
const INTEGRALITY_TOL = 1e-5;

/** The extra time the worker gets past the time limit before it is terminated. */
const GRACE_MS = 1000;

/** The worker: loads HiGHS once, then solves jobs; posts improving incumbents as their columns at 1. */
const WORKER_SOURCE = `
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const ready = require(workerData.path)();
const ones = (x) => {
  const out = [];
  for (let j = 0; j < x.length; j++) if (x[j] > 0.5) out.push(j);
  return Int32Array.from(out);
};
const finite = (x) => (typeof x === 'number' && Number.isFinite(x) ? x : null);
parentPort.on('message', async (job) => {
  let model;
  try {
    const highs = await ready;
    const c = highs.constants;
    const d = job.model;
    model = highs.createModel({
      ...d,
      sense: c.objectiveSense.maximize,
      integrality: new Int32Array(d.numCols).fill(c.variableType.integer),
    });
    model.options.set(job.options);
    if (job.start) model.setSolution({ colValue: job.start });
    const run = model.run({
      [c.callbackType.mipImprovingSolution](event) {
        const x = event.data.mip_solution;
        if (x) parentPort.postMessage({ id: job.id, type: 'incumbent', ones: ones(x) });
      },
    });
    const primal = Number(model.info.get('primal_solution_status'));
    const colValue = primal === c.solutionStatus.feasible ? model.getSolution().colValue : null;
    parentPort.postMessage(
      {
        id: job.id,
        type: 'done',
        modelStatus: run.modelStatus,
        colValue,
        dualBound: finite(Number(model.info.get('mip_dual_bound'))),
        gap: finite(Number(model.info.get('mip_gap'))),
        runTime: model.getRunTime(),
      },
      colValue ? [colValue.buffer] : [],
    );
  } catch (e) {
    parentPort.postMessage({ id: job.id, type: 'error', message: String((e && e.stack) || e) });
  } finally {
    if (model) model.dispose();
  }
});
`;

const worker = new EngineWorker(WORKER_SOURCE, 'highs');

/** Ends the idle HiGHS worker, if any (it is unref'd: a process does not wait for it anyway). */
export function closeHighs(): Promise<void> {
  return worker.close();
}

/** The HiGHS model of the problem: one binary column per (user, option), rows for users and binding rows. */
type F64 = Float64Array<ArrayBuffer>;
type I32 = Int32Array<ArrayBuffer>;

export interface HighsModelData {
  numCols: number;
  numRows: number;
  colCost: F64;
  colLower: F64;
  colUpper: F64;
  rowLower: F64;
  rowUpper: F64;
  matrix: { format: 'csc'; numRows: number; numCols: number; starts: I32; indices: I32; values: F64 };
}

export interface BuiltModel {
  data: HighsModelData;
  /** First column of each user (users' options are consecutive columns); length users + 1. */
  colStart: Int32Array;
}

export function highsModel(problem: AssignmentProblem): BuiltModel {
  const { users } = problem;
  const { serverRows, bsRows } = bindingRows(problem);
  const n = users.length;
  const rowOfServer = new Map<number, Array<[number, number]>>(); // server -> [resource, row]
  serverRows.forEach(([s, r], i) => {
    rowOfServer.set(s, [...(rowOfServer.get(s) ?? []), [r, n + i]]);
  });
  const rowOfBs = new Map<number, number>();
  bsRows.forEach((b, i) => {
    rowOfBs.set(b, n + serverRows.length + i);
  });
  const numRows = n + serverRows.length + bsRows.length;
  const colStart = new Int32Array(n + 1);
  for (let u = 0; u < n; u++) colStart[u + 1] = colStart[u]! + users[u]!.options.length;
  const numCols = colStart[n]!;
  const starts = new Int32Array(numCols + 1);
  const indices: number[] = [];
  const values: number[] = [];
  const colCost = new Float64Array(numCols);
  let j = 0;
  for (let u = 0; u < n; u++) {
    const user = users[u]!;
    for (const o of user.options) {
      colCost[j] = o.value;
      indices.push(u);
      values.push(1);
      for (const [r, row] of rowOfServer.get(o.server) ?? []) {
        const d = user.demand[r] ?? 0;
        if (d !== 0) {
          indices.push(row);
          values.push(d);
        }
      }
      const bsRow = rowOfBs.get(o.bs);
      if (bsRow !== undefined) {
        indices.push(bsRow);
        values.push(1);
      }
      starts[++j] = indices.length;
    }
  }
  const rowLower = new Float64Array(numRows).fill(Number.NEGATIVE_INFINITY);
  const rowUpper = new Float64Array(numRows);
  for (let u = 0; u < n; u++) {
    rowLower[u] = 1;
    rowUpper[u] = 1;
  }
  serverRows.forEach(([s, r], i) => {
    rowUpper[n + i] = problem.servers[s]!.capacity[r] ?? 0;
  });
  bsRows.forEach((b, i) => {
    rowUpper[n + serverRows.length + i] = problem.basestations[b]!.maxUsers;
  });
  return {
    data: {
      numCols,
      numRows,
      colCost,
      colLower: new Float64Array(numCols),
      colUpper: new Float64Array(numCols).fill(1),
      rowLower,
      rowUpper,
      matrix: {
        format: 'csc',
        numRows,
        numCols,
        starts,
        indices: Int32Array.from(indices),
        values: Float64Array.from(values),
      },
    },
    colStart,
  };
}

/** The choice encoded by column values, verified integral (one column at 1 per user), or why not. */
export function choiceOf(colStart: Int32Array, x: ArrayLike<number>): number[] | string {
  const choice: number[] = [];
  for (let u = 0; u + 1 < colStart.length; u++) {
    let one = -1;
    for (let j = colStart[u]!; j < colStart[u + 1]!; j++) {
      const v = x[j]!;
      if (Math.abs(v) <= INTEGRALITY_TOL) continue;
      if (Math.abs(v - 1) > INTEGRALITY_TOL) return `column ${j} (user ${u}) is ${v}, not 0 or 1`;
      if (one >= 0) return `user ${u} has two options at 1`;
      one = j - colStart[u]!;
    }
    if (one < 0) return `user ${u} has no option at 1`;
    choice.push(one);
  }
  return choice;
}

/** HiGHS model status codes (highs.constants.modelStatus). */
const STATUS = {
  7: 'Optimal',
  8: 'Infeasible',
  9: 'Infeasible or unbounded',
  11: 'Bound on objective reached',
  12: 'Target for objective reached',
  13: 'Time limit reached',
  14: 'Iteration limit reached',
  16: 'Solution limit reached',
  17: 'Interrupted',
} as Record<number, string>;

interface DoneMessage {
  id: number;
  type: 'done';
  modelStatus: number;
  colValue: Float64Array | null;
  dualBound: number | null;
  gap: number | null;
  runTime: number;
}

function interpret(built: BuiltModel, m: DoneMessage): BackendAnswer {
  const said = `${STATUS[m.modelStatus] ?? `model status ${m.modelStatus}`} in ${Math.round(m.runTime * 1000)} ms`;
  if (m.modelStatus === 8 || m.modelStatus === 9) {
    // 9: presolve could not tell infeasible from unbounded; binary columns cannot be unbounded.
    return { status: 'infeasible', bound: null, message: said };
  }
  if (!(m.modelStatus in STATUS)) return { status: 'error', bound: null, message: said };
  const bound = m.dualBound;
  if (m.colValue === null) {
    return { status: m.modelStatus === 7 ? 'error' : 'timeout', bound, message: `${said}, no solution` };
  }
  const choice = choiceOf(built.colStart, m.colValue);
  if (typeof choice === 'string') return { status: 'error', bound, message: `${said}, but ${choice}` };
  return {
    status: m.modelStatus === 7 ? 'optimal' : 'feasible',
    choice,
    bound,
    message: m.gap === null ? said : `${said}, gap ${m.gap.toExponential(2)}`,
  };
}

export const highsBackend: Backend = {
  name: 'highs',
  async run(problem: AssignmentProblem, ctx: BackendContext): Promise<BackendAnswer> {
    ctx.signal?.throwIfAborted();
    const built = highsModel(problem);
    let start: F64 | null = null;
    if (ctx.start !== null) {
      start = new Float64Array(built.data.numCols);
      ctx.start.forEach((o, u) => {
        start![built.colStart[u]! + o] = 1;
      });
    }
    const d = built.data;
    let last: Int32Array | undefined;
    const outcome = await worker.run<DoneMessage>(
      {
        model: d,
        start,
        options: {
          output_flag: false,
          time_limit: Math.max(0.001, ctx.timeLimitMs / 1000),
          mip_rel_gap: ctx.relGap,
        },
      },
      [
        d.colCost.buffer,
        d.colLower.buffer,
        d.colUpper.buffer,
        d.rowLower.buffer,
        d.rowUpper.buffer,
        d.matrix.starts.buffer,
        d.matrix.indices.buffer,
        d.matrix.values.buffer,
        ...(start ? [start.buffer] : []),
      ],
      {
        deadlineMs: ctx.timeLimitMs + GRACE_MS,
        ...(ctx.signal ? { signal: ctx.signal } : {}),
        onProgress: (m) => {
          if (m['type'] === 'incumbent') last = m['ones'] as Int32Array;
        },
      },
    );
    if (outcome.kind === 'error')
      return { status: 'error', bound: null, message: `HiGHS failed: ${outcome.message}` };
    if (outcome.kind === 'done') return interpret(built, outcome.value);
    const said = `did not stop at its time limit: terminated ${GRACE_MS} ms later`;
    if (last === undefined) return { status: 'timeout', bound: null, message: said };
    const x = new Float64Array(d.numCols);
    for (const j of last) x[j] = 1;
    const choice = choiceOf(built.colStart, x);
    return typeof choice === 'string'
      ? { status: 'error', bound: null, message: `${said}; its last incumbent: ${choice}` }
      : { status: 'feasible', choice, bound: null, message: `${said}, with its last incumbent` };
  },
};

export const highsSolver = mipSolver('highs', () => highsBackend);
