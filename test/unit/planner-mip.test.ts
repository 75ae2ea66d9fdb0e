import { afterAll, describe, expect, it } from 'vitest';
import { bruteForce } from '../../src/lib/planner/mip/brute.js';
import { type MipSolveOptions, solveWith } from '../../src/lib/planner/mip/driver.js';
import { flatten, Residual } from '../../src/lib/planner/mip/flat.js';
import { greedyAssign } from '../../src/lib/planner/mip/greedy.js';
import { highsBackend } from '../../src/lib/planner/mip/highs.js';
import {
  type AssignmentProblem,
  checkAssignment,
  closeEngines,
  explainInfeasible,
  greedySolver,
  highsSolver,
  lpSolver,
  objectiveOf,
  type SolveResult,
  type Solver,
  solve,
  solvers,
} from '../../src/lib/planner/mip/index.js';
import { knapsackLagrange } from '../../src/lib/planner/mip/kl.js';
import { knapsack } from '../../src/lib/planner/mip/knapsack.js';
import { lagrange } from '../../src/lib/planner/mip/lagrange.js';
import { lpBackend } from '../../src/lib/planner/mip/lp-solver.js';
import { compose, costFixing, presolve } from '../../src/lib/planner/mip/reduce.js';

import { seededRandom } from '../../src/lib/util/random.js';

afterAll(closeEngines);

/**
 * A small random instance: up to `maxUsers` users, 1-3 base stations, 1-3 servers, 1-6 options per user
 * (distinct (bs, server) pairs), values from -50 to 100, capacities and maxUsers drawn so that they
 * often bind and sometimes cannot be met.
 */
function randomProblem(seed: number, maxUsers = 6): AssignmentProblem {
  const rnd = seededRandom(seed);
  const int = (n: number) => Math.floor(rnd() * n);
  const n = 1 + int(maxUsers);
  const B = 1 + int(3);
  const S = 1 + int(3);
  const users = Array.from({ length: n }, (_, u) => {
    const pairs = Array.from({ length: B * S }, (_, i) => i).sort(() => rnd() - 0.5);
    const k = 1 + int(Math.min(6, B * S));
    return {
      id: `mu${u + 1}`,
      demand: [0.25 * (1 + int(6)), 256 * (1 + int(6))],
      options: pairs.slice(0, k).map((i) => ({
        bs: Math.floor(i / S),
        server: i % S,
        value: Math.round((rnd() * 150 - 50) * 100) / 100,
      })),
    };
  });
  // Each server holds 50% to 130% of all the demand (at least the largest user), each base station 90%
  // to 210% of its share of the users: mostly binding; about a third of the instances are infeasible.
  const total = [0, 1].map((r) => users.reduce((a, u) => a + u.demand[r]!, 0));
  const largest = [0, 1].map((r) => Math.max(...users.map((u) => u.demand[r]!)));
  return {
    resources: ['cpus', 'memMB'],
    servers: Array.from({ length: S }, (_, s) => ({
      id: `edge${s + 1}`,
      capacity: total.map((t, r) => Math.max(largest[r]!, Math.round(t * (0.5 + 0.8 * rnd()) * 4) / 4)),
    })),
    basestations: Array.from({ length: B }, (_, b) => ({
      id: `ap${b + 1}`,
      maxUsers: Math.max(1, Math.round(((0.6 + 0.8 * rnd()) * n * 1.5) / B)),
    })),
    users,
  };
}

/** A larger instance (every user hears every AP) for time limits: n users, B APs, S servers. */
function largerProblem(seed: number, n: number, B: number, S: number): AssignmentProblem {
  const rnd = seededRandom(seed);
  const users = Array.from({ length: n }, (_, u) => ({
    id: `mu${u + 1}`,
    demand: [0.25 * (1 + Math.floor(rnd() * 8)), 128 * (1 + Math.floor(rnd() * 16))],
    options: Array.from({ length: B * S }, (_, i) => ({
      bs: Math.floor(i / S),
      server: i % S,
      value: Math.round((rnd() * 1000 - 200) * 100) / 100,
    })),
  }));
  const total = [0, 1].map((r) => users.reduce((a, u) => a + u.demand[r]!, 0));
  return {
    resources: ['cpus', 'memMB'],
    servers: Array.from({ length: S }, (_, s) => ({
      id: `s${s}`,
      capacity: total.map((t) => (t * 1.1) / S),
    })),
    basestations: Array.from({ length: B }, (_, b) => ({ id: `ap${b}`, maxUsers: Math.ceil((1.3 * n) / B) })),
    users,
  };
}

const EXACT: MipSolveOptions = { relGap: 1e-9, timeLimitMs: 20_000 };

function expectChecked(problem: AssignmentProblem, r: SolveResult): void {
  if (r.choice === undefined) {
    expect(r.objective).toBeNull();
    return;
  }
  const check = checkAssignment(problem, r.choice);
  expect(check.violations).toEqual([]);
  expect(r.objective).toBeCloseTo(check.objective!, 6);
  if (r.bound !== null) expect(r.bound).toBeGreaterThanOrEqual(r.objective! - 1e-6);
}

describe('checkAssignment', () => {
  const problem: AssignmentProblem = {
    resources: ['cpus', 'memMB'],
    servers: [
      { id: 'edge1', capacity: [1, 1024] },
      { id: 'cloud', capacity: [8, 8192] },
    ],
    basestations: [
      { id: 'ap1', maxUsers: 1 },
      { id: 'ap2', maxUsers: 2 },
    ],
    users: [
      {
        id: 'mu1',
        demand: [0.75, 512],
        options: [
          { bs: 0, server: 0, value: 10 },
          { bs: 1, server: 1, value: 1 },
        ],
      },
      {
        id: 'mu2',
        demand: [0.5, 512],
        options: [
          { bs: 0, server: 0, value: 8 },
          { bs: 1, server: 0, value: 7 },
          { bs: 1, server: 1, value: -2 },
        ],
      },
    ],
  };

  it('accepts a feasible choice and recomputes its objective', () => {
    expect(checkAssignment(problem, [0, 2])).toEqual({ ok: true, objective: 8, violations: [] });
    expect(objectiveOf(problem, [1, 1])).toBe(8);
  });

  it('names every broken row', () => {
    const r = checkAssignment(problem, [0, 0]);
    expect(r.ok).toBe(false);
    expect(r.objective).toBe(18);
    expect(r.violations).toEqual([
      'server edge1: cpus 1.25 > capacity 1',
      'base station ap1: 2 users > maxUsers 1',
    ]);
  });

  it('rejects indices that are not integers in range, and a wrong length', () => {
    expect(checkAssignment(problem, [0.5, 0]).violations[0]).toMatch(/user mu1: option 0.5 is not an index/);
    expect(checkAssignment(problem, [0, 3]).violations[0]).toMatch(/user mu2: option 3/);
    expect(checkAssignment(problem, [0]).ok).toBe(false);
    expect(checkAssignment(problem, [0, -1]).objective).toBeNull();
  });

  it('allows the rounding slack on a capacity, not more', () => {
    const p = structuredClone(problem);
    p.users[0]!.demand = [0.5 + 1e-12, 512];
    expect(checkAssignment(p, [0, 1]).ok).toBe(true);
    p.users[0]!.demand = [0.5 + 1e-6, 512];
    expect(checkAssignment(p, [0, 1]).ok).toBe(false);
  });
});

describe('knapsack', () => {
  it('matches enumeration on random instances', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const rnd = seededRandom(seed);
      const m = 1 + Math.floor(rnd() * 12);
      const profit = Array.from({ length: m }, () => Math.round(rnd() * 100 - 20));
      const weight = Array.from({ length: 2 * m }, () => Math.round(rnd() * 10));
      const cap = [Math.round(rnd() * 30), Math.round(rnd() * 30)];
      let best = 0;
      for (let mask = 0; mask < 1 << m; mask++) {
        let v = 0;
        const w = [0, 0];
        for (let i = 0; i < m; i++) {
          if (!(mask & (1 << i))) continue;
          v += profit[i]!;
          w[0]! += weight[2 * i]!;
          w[1]! += weight[2 * i + 1]!;
        }
        if (w[0]! <= cap[0]! && w[1]! <= cap[1]!) best = Math.max(best, v);
      }
      const r = knapsack(profit, weight, cap);
      expect(r.exact).toBe(true);
      expect(r.value).toBeCloseTo(best, 9);
      expect(r.take.reduce((a, i) => a + profit[i]!, 0)).toBeCloseTo(best, 9);
    }
  });
});

describe('reductions', () => {
  it('presolve and reduced-cost fixing keep the optimum; the Lagrangian bounds hold', () => {
    let fixedSome = 0;
    for (let seed = 1; seed <= 150; seed++) {
      const p = randomProblem(seed, 7);
      const exact = bruteForce(p);
      const red = presolve(p);
      if (exact.choice === null) continue;
      expect(red.infeasible, `seed ${seed}`).toBeUndefined();
      const opt = exact.objective!;
      const f = flatten(red.problem);
      // The optimum itself as the incumbent: the most any valid fixing may drop.
      const best = new Residual(f);
      const restricted = bruteForce(red.problem);
      expect(restricted.objective! + red.fixedValue, `seed ${seed}`).toBeCloseTo(opt, 6);
      restricted.choice!.forEach((o, u) => {
        best.place(u, f.start[u]! + o);
      });
      const lg = lagrange(f, {
        incumbent: null,
        deadline: Number.POSITIVE_INFINITY,
        relGap: 0,
        maxIterations: 60,
      });
      expect(lg.bound + red.fixedValue).toBeGreaterThanOrEqual(opt - 1e-6);
      const kl = knapsackLagrange(f, {
        pi: lg.top,
        mu: lg.bsPrice,
        incumbent: best,
        deadline: Number.POSITIVE_INFINITY,
        relGap: 0,
        maxIterations: 30,
        improveMs: 0,
      });
      expect(kl.bound + red.fixedValue).toBeGreaterThanOrEqual(opt - 1e-6);
      expect(kl.bestValue + red.fixedValue).toBeCloseTo(opt, 6);
      const lpKeep = costFixing(f, lg.bound, lg.reduced, opt - red.fixedValue);
      const inner = presolve(red.problem, (u, o) => lpKeep(u, o) && (kl.keep?.[f.start[u]! + o] ?? 1) === 1);
      expect(inner.infeasible, `seed ${seed}`).toBeUndefined();
      const all = compose(red, inner);
      const after = bruteForce(all.problem);
      expect(after.objective! + all.fixedValue, `seed ${seed}`).toBeCloseTo(opt, 6);
      if (all.problem.users.reduce((a, u) => a + u.options.length, 0) < f.start[f.n]!) fixedSome++;
    }
    expect(fixedSome).toBeGreaterThan(20);
  });
});

describe('solvers on random small instances', () => {
  const seeds = Array.from({ length: 80 }, (_, i) => i + 1);

  it('greedy: feasible when it answers, never above the optimum', async () => {
    for (let seed = 1; seed <= 300; seed++) {
      const p = randomProblem(seed);
      const exact = bruteForce(p);
      const r = await greedySolver.solve(p);
      expectChecked(p, r);
      if (exact.choice === null) expect(r.choice).toBeUndefined();
      else if (r.choice !== undefined) expect(r.objective!).toBeLessThanOrEqual(exact.objective! + 1e-9);
    }
  });

  // Every MIP solver, with the presolve/Lagrangian/fixing stage and without it (the engine alone).
  const variants: Array<[string, Solver, MipSolveOptions]> = [
    ['lp-solver', lpSolver, {}],
    ['lp-solver, engine alone', lpSolver, { reduce: false }],
    ['highs', highsSolver, {}],
    ['highs, engine alone', highsSolver, { reduce: false }],
  ];

  it('the instances mix feasible and infeasible ones', () => {
    const infeasible = seeds.filter((seed) => bruteForce(randomProblem(seed)).choice === null).length;
    expect(infeasible).toBeGreaterThan(10);
    expect(infeasible).toBeLessThan(seeds.length / 2);
  });

  it.each(variants)(
    '%s: the optimum of brute force, never below greedy, never breaking a row',
    async (_, solver, extra) => {
      // The small ones, and a few of up to 9 users (where the engine runs after the reductions).
      for (const [seed, size] of [
        ...seeds.map((s) => [s, 6]),
        ...seeds.slice(0, 12).map((s) => [s + 500, 9]),
      ]) {
        const p = randomProblem(seed!, size);
        if (p.users.reduce((a, u) => a * u.options.length, 1) > 2e5) continue;
        const exact = bruteForce(p);
        const r = await solver.solve(p, { ...EXACT, ...extra });
        expectChecked(p, r);
        if (exact.choice === null) {
          expect(r.status, `seed ${seed}`).toBe('infeasible');
          expect(r.message).toBeTruthy();
          continue;
        }
        expect(r.status, `seed ${seed}: ${r.message}`).toBe('optimal');
        expect(r.objective!, `seed ${seed}`).toBeCloseTo(exact.objective!, 6);
        expect(r.gap!).toBeLessThanOrEqual(1e-6);
        const greedy = greedyAssign(p);
        if (greedy !== null) expect(r.objective!).toBeGreaterThanOrEqual(objectiveOf(p, greedy) - 1e-9);
      }
    },
  );

  it('all solvers agree where they all finish, through solve() and auto', async () => {
    for (const seed of seeds.slice(0, 40)) {
      const p = randomProblem(seed + 1000, 5);
      const results = await Promise.all(
        ['auto', 'lp-solver', 'highs'].map((solver) => solve(p, { ...EXACT, solver })),
      );
      const statuses = new Set(results.map((r) => r.status));
      expect(statuses.size, `seed ${seed}`).toBe(1);
      for (const r of results) {
        expectChecked(p, r);
        expect(r.objective ?? null).toBeCloseTo(results[0]!.objective ?? 0, 6);
      }
    }
  });
});

describe('infeasible problems', () => {
  const base = (): AssignmentProblem => ({
    resources: ['cpus', 'memMB'],
    servers: [
      { id: 'edge1', capacity: [1, 2048] },
      { id: 'edge2', capacity: [1, 2048] },
    ],
    basestations: [
      { id: 'ap1', maxUsers: 3 },
      { id: 'ap2', maxUsers: 3 },
    ],
    users: ['mu1', 'mu2', 'mu3'].map((id) => ({
      id,
      demand: [0.25, 256],
      options: [
        { bs: 0, server: 0, value: 5 },
        { bs: 1, server: 1, value: 3 },
      ],
    })),
  });

  const cases: Array<[string, (p: AssignmentProblem) => void, RegExp]> = [
    [
      'a user with no option',
      (p) => {
        p.users[1]!.options = [];
      },
      /user mu2 can decode no base station/,
    ],
    [
      'a user too big for every server it reaches',
      (p) => {
        p.users[0]!.demand = [2, 256];
      },
      /user mu1 needs cpus 2, memMB 256 but no server it can reach has that much free/,
    ],
    [
      'base stations that take fewer users than can only use them',
      (p) => {
        p.basestations[0]!.maxUsers = 1;
        p.basestations[1]!.maxUsers = 1;
      },
      /users mu1, mu2, mu3 \(3\) can only use base stations ap1, ap2, which take 2 in all/,
    ],
    [
      'servers with less free than the users need',
      (p) => {
        for (const u of p.users) u.demand = [0.75, 256];
      },
      /users mu1, mu2, mu3 \(3\) need cpus 2.25 in all but can only use servers edge1, edge2 with 2 free/,
    ],
    [
      'demands that do not pack (found by the solver)',
      (p) => {
        for (const u of p.users) u.demand = [0.6, 256];
      },
      /proved that no assignment meets every server's capacity and every base station's maxUsers/,
    ],
  ];

  it.each(cases)('%s: infeasible, with the reason', async (_, change, reason) => {
    const p = base();
    change(p);
    for (const solver of ['auto', 'lp-solver', 'highs'] as const) {
      const r = await solve(p, { solver });
      expect(r.status, solver).toBe('infeasible');
      expect(r.choice).toBeUndefined();
      expect(r.message, solver).toMatch(reason);
    }
    const g = await solve(p, { solver: 'greedy' });
    expect(['infeasible', 'timeout']).toContain(g.status);
    expect(g.choice).toBeUndefined();
  });

  it('explainInfeasible finds nothing on a feasible problem', () => {
    expect(explainInfeasible(base())).toBeUndefined();
  });

  it('brute force agrees that packing fails', () => {
    const p = base();
    for (const u of p.users) u.demand = [0.6, 256];
    expect(bruteForce(p)).toEqual({ choice: null, objective: null });
  });
});

describe('time limits and aborts', () => {
  it('a time-limited run returns a checked assignment or none, never an unchecked one', async () => {
    const p = largerProblem(7, 40, 4, 8);
    for (const [solver, timeLimitMs] of [
      [lpSolver, 30],
      [highsSolver, 30],
      [lpSolver, 300],
      [highsSolver, 300],
    ] as const) {
      for (const reduce of [true, false]) {
        const r = await solver.solve(p, { timeLimitMs, reduce });
        expect(['optimal', 'feasible', 'timeout'], `${r.solver} ${timeLimitMs} ms: ${r.message}`).toContain(
          r.status,
        );
        expectChecked(p, r);
        expect(r.choice === undefined).toBe(r.objective === null);
        // How closely the limit is kept is measured by bench:plan (time against the limit), not here.
      }
    }
  });

  it('an engine whose answer breaks a constraint, or that fails, costs the proof, not the plan', async () => {
    const p = largerProblem(3, 40, 4, 8);
    const liar = {
      name: 'liar',
      run: async () => ({ status: 'optimal' as const, choice: p.users.map(() => 0), bound: 1e12 }),
    };
    const broken = {
      name: 'broken',
      run: async () => ({ status: 'error' as const, bound: null, message: 'crashed' }),
    };
    for (const engine of [liar, broken]) {
      const r = await solveWith(engine.name, () => engine, p, { timeLimitMs: 2000, reduce: false });
      expect(r.status, r.message).toBe('feasible');
      expectChecked(p, r);
      expect(r.message).toMatch(/the heuristic incumbent is used/);
    }
  });

  it('an engine that stops on its time limit reports no proof', async () => {
    const p = largerProblem(3, 60, 4, 10);
    const lp = await solveWith('lp-solver', () => lpBackend, p, { timeLimitMs: 20, reduce: false });
    expect(lp.status).not.toBe('optimal');
    expectChecked(p, lp);
    const h = await solveWith('highs', () => highsBackend, p, { timeLimitMs: 20, reduce: false });
    expect(h.status).not.toBe('optimal');
    expectChecked(p, h);
  });

  it('an AbortSignal ends a HiGHS solve with its reason', async () => {
    const p = largerProblem(11, 150, 5, 20);
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('stop')), 100);
    // Without the abort this solve would run to its 60 s limit, past the test's own 20 s timeout.
    await expect(
      highsSolver.solve(p, { reduce: false, timeLimitMs: 60_000, signal: controller.signal }),
    ).rejects.toThrow('stop');
    // The next solve starts a fresh worker.
    const r = await highsSolver.solve(largerProblem(1, 5, 2, 2), EXACT);
    expect(r.status).toBe('optimal');
    await expect(highsSolver.solve(p, { signal: AbortSignal.abort() })).rejects.toThrow();
  });
});

describe('solve', () => {
  it('knows its solvers by name and refuses others', async () => {
    expect(Object.keys(solvers).sort()).toEqual(['greedy', 'highs', 'lp-solver']);
    await expect(solve(randomProblem(1), { solver: 'cplex' })).rejects.toThrow(/unknown solver cplex/);
    await expect(solve(randomProblem(1), { solver: 'toString' })).rejects.toThrow(/unknown solver/);
  });
});

describe('edge cases', () => {
  it('a problem without users, and one where presolve fixes every user', async () => {
    const empty: AssignmentProblem = {
      resources: ['cpus'],
      servers: [{ id: 'edge1', capacity: [1] }],
      basestations: [{ id: 'ap1', maxUsers: 1 }],
      users: [],
    };
    const single: AssignmentProblem = {
      ...empty,
      users: [{ id: 'mu1', demand: [0.5], options: [{ bs: 0, server: 0, value: -3 }] }],
    };
    for (const solver of ['auto', 'lp-solver', 'highs', 'greedy']) {
      for (const reduce of [true, false]) {
        const a = await solve(empty, { solver, reduce });
        expect(a.choice, solver).toEqual([]);
        expect(a.objective).toBe(0);
        const b = await solve(single, { solver, reduce });
        expect(b.choice, solver).toEqual([0]);
        expect(b.objective).toBe(-3);
      }
    }
  });
});
