/**
 * Outside planners: the protocol (request on stdin, answer on stdout), the time limit, the failures, the
 * answer check, the function form, the --planner syntax, and the two examples on a saved plan input.
 * The programs are real processes (sh, node, python3); nothing is mocked.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { greedy } from '../../examples/planners/greedy.js';
import { ExitCode } from '../../src/lib/errors.js';
import { paperOrder } from '../../src/lib/experiment/planner-order.js';
import { configConflicts, outsideOf, specsOf } from '../../src/lib/experiment/runs.js';
import { checkAnswer } from '../../src/lib/planner/check.js';
import {
  type PlannerAnswer,
  PlannerError,
  type PlannerRequest,
  parsePlannerSpec,
  parsePlannerSpecs,
  splitCommand,
} from '../../src/lib/planner/custom.js';
import { runExecPlanner } from '../../src/lib/planner/exec.js';
import { type PlanInput, parsePlanInput } from '../../src/lib/planner/input.js';
import { plannerJsonSchemaFiles } from '../../src/lib/planner/json-schema.js';
import { plan } from '../../src/lib/planner/plan.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const FIXTURE = join(ROOT, 'test', 'fixtures', 'planner', 'plan-input.json');
/** mu1 at x = 18 m on ap1 (edge1), walking towards ap2; ap3 is out of its range (-90 dBm < -82). */
const input = (): PlanInput => parsePlanInput(JSON.parse(readFileSync(FIXTURE, 'utf8')), FIXTURE);
const NOW = input().atMs;
const dir = mkdtempSync(join(tmpdir(), 'edgectl-planner-exec-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A node program answering `answer` whatever it reads (after reading all of it). */
function answering(answer: unknown): string[] {
  const file = join(dir, `answer-${Math.random().toString(36).slice(2)}.mjs`);
  writeFileSync(
    file,
    `for await (const _ of process.stdin); process.stdout.write(${JSON.stringify(JSON.stringify(answer))});\n`,
  );
  return ['node', file];
}

async function failure(p: Promise<unknown>): Promise<PlannerError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(PlannerError);
  return err as PlannerError;
}

const exec = (argv: string[], timeoutMs?: number) =>
  plan(input(), { planner: { name: 'mine', exec: argv, ...(timeoutMs ? { timeoutMs } : {}) } });

describe('an exec planner', () => {
  it('that answers well: its decisions carry orchestrated’s estimates and coordinated timing', async () => {
    const r = await exec(answering({ decisions: [{ user: 'mu1', bs: 'ap2', server: 'edge2' }] }));
    expect(r.planner).toBe('mine');
    expect(r.solver).toBe('exec');
    expect(r.decisions).toHaveLength(1);
    const d = r.decisions[0]!;
    expect(d).toMatchObject({ user: 'mu1', bs: 'ap2', host: 'edge2', migrate: true, handover: true });
    expect(d.estimates.migMs).toBeGreaterThan(0);
    expect(d.estimates.e2eMs).toBeGreaterThan(0);
    // The coordinated schedule: migration's final checkpoint and the handover start together, after pre-migration.
    expect(d.triggers.migrationAt).toBe(d.triggers.handoverAt);
    expect(d.triggers.preMigrationAt!).toBeLessThanOrEqual(d.triggers.migrationAt!);
    expect(d.triggers.preMigrationAt!).toBeGreaterThanOrEqual(NOW);
    // The same pair as orchestrated would value it.
    const o = await plan(input(), { planner: 'orchestrated' });
    if (o.decisions[0]?.bs === 'ap2' && o.decisions[0].host === 'edge2')
      expect(d.estimates).toEqual(o.decisions[0].estimates);
  });

  it('gets the request on its standard input: v 1, nowMs and the plan input', async () => {
    const file = join(dir, 'echo.mjs');
    const seen = join(dir, 'seen.json');
    writeFileSync(
      file,
      `import { writeFileSync } from 'node:fs'; let s = ''; for await (const c of process.stdin) s += c; writeFileSync(${JSON.stringify(seen)}, s); process.stdout.write('{"decisions":[]}');\n`,
    );
    const r = await plan(input(), { planner: { name: 'echo', exec: ['node', file] }, nowMs: NOW + 5 });
    expect(r.decisions).toEqual([]);
    const req = JSON.parse(readFileSync(seen, 'utf8')) as PlannerRequest;
    expect(req.v).toBe(1);
    expect(req.nowMs).toBe(NOW + 5);
    expect(req.input).toEqual(input());
  });

  it('that breaks a constraint fails with what it broke (3d: a base station the user cannot decode)', async () => {
    const err = await failure(exec(answering({ decisions: [{ user: 'mu1', bs: 'ap3', server: 'edge3' }] })));
    expect(err.exitCode).toBe(ExitCode.planner);
    expect(err.code).toBe('PLANNER');
    expect(err.reason).toBe('constraint');
    expect(err.message).toMatch(
      /planner mine: .*mu1 cannot decode ap3 \(RSSI .* -90 dBm now; minRssiDbm -82\)/,
    );
  });

  it('that runs past its time limit is killed, its process group with it', async () => {
    const pidFile = join(dir, 'child.pid');
    // Ends at all (the sleep would hold it 30 s, past the test's own time-out): the limit killed it.
    const err = await failure(exec(['sh', '-c', `sleep 30 & echo $! > ${pidFile}; wait`], 300));
    expect(err.reason).toBe('timeout');
    expect(err.message).toBe('planner mine: timed out after 300 ms (killed)');
    const pid = Number(readFileSync(pidFile, 'utf8'));
    // The background sleep went with the group: gone, or a zombie nobody has reaped yet (state Z).
    await new Promise((r) => setTimeout(r, 100));
    const stat = existsSync(`/proc/${pid}/stat`) ? readFileSync(`/proc/${pid}/stat`, 'utf8') : null;
    expect(stat === null || /^\d+ \(.*\) Z /.test(stat), stat ?? '').toBe(true);
  });

  it('that leaves a process of another session holding its output open still ends at its time limit', async () => {
    const pidFile = join(dir, 'escaped.pid');
    // The call ends at all (without the fix it waits for the escaped sleep, past the test's time-out). setsid: the child is out of the planner's process group, so the kill misses it; it keeps stdout open.
    const err = await failure(
      exec(['sh', '-c', `setsid sh -c 'echo $$ > ${pidFile}; exec sleep 30' & wait`], 300),
    );
    try {
      expect(err.reason).toBe('timeout');
    } finally {
      // Ended by its pid, as it escaped the group.
      const pid = Number(readFileSync(pidFile, 'utf8'));
      if (pid > 1) process.kill(pid, 'SIGKILL');
    }
  });

  it('that crashes fails with its exit code and the tail of its standard error', async () => {
    const err = await failure(
      exec(['node', '-e', 'console.error("line 1\\nTraceback: boom at greedy.py:12"); process.exit(3)']),
    );
    expect(err.reason).toBe('crash');
    expect(err.message).toMatch(/exited with 3: line 1 \| Traceback: boom at greedy.py:12$/);
  });

  it('that cannot be started says so', async () => {
    const err = await failure(exec([join(dir, 'no-such-planner')]));
    expect(err.reason).toBe('start');
    expect(err.message).toMatch(/cannot start .*no-such-planner: .*ENOENT/);
  });

  it('that writes something else than one JSON document, or not an answer, fails', async () => {
    const bad = await failure(exec(['sh', '-c', 'echo "not json"']));
    expect(bad.reason).toBe('output');
    expect(bad.message).toMatch(/not one JSON document .*"not json"/s);
    const empty = await failure(exec(['true']));
    expect(empty.message).toMatch(/it was empty/);
    const wrong = await failure(exec(answering({ decisions: [{ user: 'mu1', bs: 'ap2', host: 'edge2' }] })));
    expect(wrong.reason).toBe('answer');
    expect(wrong.message).toMatch(/decisions\.0\.server/);
  });

  it('that writes too much is killed when it passes the bound', async () => {
    const req: PlannerRequest = { v: 1, nowMs: NOW, input: input() };
    const err = await failure(
      runExecPlanner(['yes'], req, { name: 'loud', maxAnswerBytes: 10_000, timeoutMs: 5000 }),
    );
    expect(err.reason).toBe('output');
    expect(err.message).toBe('planner loud: wrote more than 10000 bytes to its standard output (killed)');
  });
});

describe('the answer check', () => {
  const check = (decisions: PlannerAnswer['decisions'], pi = input()) =>
    checkAnswer(pi, { decisions }, { nowMs: NOW });

  it('accepts a user left out (it stays), and the current pair', () => {
    expect(check([]).ok).toBe(true);
    expect(check([{ user: 'mu1', bs: 'ap1', server: 'edge1' }]).ok).toBe(true);
  });

  it('names an unknown user, base station or server, and a user decided twice', () => {
    expect(check([{ user: 'mu9', bs: 'ap1', server: 'edge1' }]).violations).toEqual([
      'decisions[0]: no user mu9 in the plan input',
    ]);
    expect(check([{ user: 'mu1', bs: 'ap9', server: 'edge1' }]).violations).toEqual([
      'decisions[0] (mu1): no base station ap9',
    ]);
    expect(check([{ user: 'mu1', bs: 'ap1', server: 'edge9' }]).violations).toEqual([
      'decisions[0] (mu1): no server edge9',
    ]);
    expect(
      check([
        { user: 'mu1', bs: 'ap1', server: 'edge1' },
        { user: 'mu1', bs: 'ap2', server: 'edge2' },
      ]).violations,
    ).toEqual(['decisions[1] (mu1): the user already has decisions[0]']);
  });

  it('counts every user where it will be against capacities (3c) and base-station limits (3e)', () => {
    const pi = input();
    const mu1 = { ...pi.users[0]!, demand: { cpus: 3, memMB: 1000 } };
    // mu2 stays on edge2 (left out of the answer): it still takes its share there.
    const mu2 = { ...mu1, name: 'mu2', bs: 'ap2', server: 'edge2' };
    const two = { ...pi, users: [mu1, mu2] };
    const c = check([{ user: 'mu1', bs: 'ap2', server: 'edge2' }], two);
    expect(c.violations).toEqual(['server edge2: cpus 6 > capacity 4 (mu1, mu2)']);
    expect(check([{ user: 'mu1', bs: 'ap2', server: 'edge1' }], two).ok).toBe(true);
    const narrow = { ...two, basestations: two.basestations.map((b) => ({ ...b, maxUsers: 1 })) };
    expect(check([{ user: 'mu1', bs: 'ap2', server: 'edge1' }], narrow).violations).toEqual([
      'base station ap2: 2 users > maxUsers 1 (mu1, mu2)',
    ]);
  });

  it('needs a route between the base station’s host and the server', () => {
    const pi = input();
    const cut = { ...pi, links: pi.links.filter((l) => !(l.a === 'ap2' && l.b === 'edge3')) };
    expect(check([{ user: 'mu1', bs: 'ap2', server: 'edge3' }], cut).violations).toEqual([
      "decisions[0] (mu1): no route between ap2's host ap2 and edge3",
    ]);
  });

  it('takes given trigger times as given, and refuses ones in the past, out of order or for no move', () => {
    const t = (triggers: Record<string, number>) =>
      check([{ user: 'mu1', bs: 'ap2', server: 'edge2', triggers }]);
    expect(t({ preMigrationAt: NOW + 1000, migrationAt: NOW + 4000, handoverAt: NOW + 4000 }).ok).toBe(true);
    expect(t({ migrationAt: NOW - 5000 }).violations).toEqual([
      "decisions[0] (mu1): triggers.migrationAt is 5 s before the plan's instant nowMs",
    ]);
    expect(t({ preMigrationAt: NOW + 5000, migrationAt: NOW + 4000 }).violations).toEqual([
      'decisions[0] (mu1): triggers.preMigrationAt is after triggers.migrationAt',
    ]);
    expect(
      check([{ user: 'mu1', bs: 'ap2', server: 'edge1', triggers: { migrationAt: NOW + 1000 } }]).violations,
    ).toEqual(['decisions[0] (mu1): triggers.migrationAt is given, but its server does not change']);
  });
});

describe('a planner function', () => {
  it('is called with the request and its answer checked and used like a program’s', async () => {
    let seen: PlannerRequest | undefined;
    const r = await plan(input(), {
      planner: {
        name: 'fn',
        fn: (req) => {
          seen = req;
          req.input.users = []; // changes to its copy do not reach the plan
          return {
            decisions: [
              {
                user: 'mu1',
                bs: 'ap2',
                server: 'edge2',
                triggers: { preMigrationAt: NOW + 1000, migrationAt: NOW + 6000, handoverAt: NOW + 6200 },
              },
            ],
          };
        },
      },
    });
    expect(seen?.nowMs).toBe(NOW);
    expect(r.solver).toBe('function');
    expect(r.decisions[0]?.triggers).toEqual({
      preMigrationAt: NOW + 1000,
      migrationAt: NOW + 6000,
      handoverAt: NOW + 6200,
    });
    expect(r.decisions[0]?.lateMs).toBe(0);
  });

  it('that throws, answers too late or breaks a constraint fails like a program', async () => {
    const f = (fn: () => unknown, timeoutMs = 2000) =>
      failure(plan(input(), { planner: { name: 'fn', fn: fn as () => PlannerAnswer, timeoutMs } }));
    expect(
      (
        await f(() => {
          throw new Error('bug');
        })
      ).message,
    ).toBe('planner fn: threw: bug');
    expect((await f(() => new Promise(() => {}), 100)).reason).toBe('timeout');
    expect((await f(() => ({ decisions: [{ user: 'mu1', bs: 'ap3', server: 'edge3' }] }))).reason).toBe(
      'constraint',
    );
    expect((await f(() => ({ nope: 1 }))).reason).toBe('answer');
  });
});

describe('--planner exec:COMMAND', () => {
  it('splits COMMAND like a shell, without expanding anything', () => {
    expect(splitCommand(`python3  my\\ dir/p.py --k 'a b' "c \\"d\\" $HOME" *.py ''`)).toEqual([
      'python3',
      'my dir/p.py',
      '--k',
      'a b',
      'c "d" $HOME',
      '*.py',
      '',
    ]);
    expect(() => splitCommand(`python3 'open`)).toThrow(/unterminated '/);
    expect(() => splitCommand(`python3 "open`)).toThrow(/unterminated "/);
  });

  it('takes a name (default exec), makes a relative program or script absolute, keeps the time limit', () => {
    expect(parsePlannerSpec('nearest')).toBe('nearest');
    expect(
      parsePlannerSpec('exec:python3 examples/planners/greedy.py', { cwd: ROOT, timeoutMs: 500 }),
    ).toEqual({
      name: 'exec',
      exec: ['python3', join(ROOT, 'examples/planners/greedy.py')],
      timeoutMs: 500,
    });
    expect(parsePlannerSpec('my-greedy2=exec:./plan.sh --fast', { cwd: '/x' })).toEqual({
      name: 'my-greedy2',
      exec: [resolve('/x/plan.sh'), '--fast'],
    });
  });

  it('refuses bad names, a built-in’s name, an empty command, an unknown planner, and two of one name', () => {
    for (const bad of ['Greedy=exec:x', '1st=exec:x', '=exec:x', 'a_b=exec:x', `${'a'.repeat(32)}=exec:x`])
      expect(() => parsePlannerSpec(bad), bad).toThrow(/bad planner name/);
    expect(() => parsePlannerSpec('nearest=exec:x')).toThrow(/built-in planner/);
    expect(() => parsePlannerSpec('all=exec:x')).toThrow(/built-in planner/);
    expect(() => parsePlannerSpec('exec:  ')).toThrow(/no command/);
    expect(() => parsePlannerSpec('greedy')).toThrow(/unknown planner greedy/);
    expect(() => parsePlannerSpecs(['exec:a', 'exec:b'])).toThrow(/two planners named exec/);
    expect(() => parsePlannerSpecs(['g=exec:a', 'g=exec:a'])).toThrow(/two planners named g/);
    expect(parsePlannerSpecs(['nearest', 'nearest', 'g=exec:a,b'])).toEqual([
      'nearest',
      { name: 'g', exec: ['a,b'] },
    ]);
  });

  it('puts an outside planner after the paper’s in figures and tables, in the order given', () => {
    expect(paperOrder(['zeta', 'orchestrated', 'greedy', 'cloud'])).toEqual([
      'cloud',
      'orchestrated',
      'zeta',
      'greedy',
    ]);
  });
});

describe('the examples', () => {
  const examples = {
    'greedy.py': ['/usr/bin/python3', join(ROOT, 'examples/planners/greedy.py')],
    // Run as a program by tsx (a dev dependency: Node 20 runs no TypeScript by itself).
    'greedy.ts': [join(ROOT, 'node_modules/.bin/tsx'), join(ROOT, 'examples/planners/greedy.ts')],
  };
  for (const [name, argv] of Object.entries(examples))
    it(`${name} answers the saved plan input, and its answer passes the check`, async () => {
      expect(existsSync(argv[1]!)).toBe(true);
      const req: PlannerRequest = { v: 1, nowMs: NOW, input: input() };
      const answer = await runExecPlanner(argv, req, { timeoutMs: 10_000 });
      expect(answer.decisions).toEqual([{ user: 'mu1', bs: 'ap1', server: 'edge1' }]);
      expect(checkAnswer(input(), answer, { nowMs: NOW })).toMatchObject({ ok: true, violations: [] });
      // Past the middle: ap2 heard best, its edge server the nearest.
      const pi = input();
      pi.users[0]!.rssi = { ap1: -79, ap2: -70, ap3: -85 };
      const moved = await runExecPlanner(argv, { v: 1, nowMs: NOW, input: pi }, { timeoutMs: 10_000 });
      expect(moved.decisions).toEqual([{ user: 'mu1', bs: 'ap2', server: 'edge2' }]);
      expect(checkAnswer(pi, moved, { nowMs: NOW }).ok).toBe(true);
      // Capacity binds: two users of 3 cpus cannot share a 4-cpu server; both examples spread them.
      const many = input();
      const u = { ...many.users[0]!, demand: { cpus: 3, memMB: 100 } };
      many.users = [u, { ...u, name: 'mu2' }];
      const spread = await runExecPlanner(argv, { v: 1, nowMs: NOW, input: many }, { timeoutMs: 10_000 });
      expect(checkAnswer(many, spread, { nowMs: NOW }).violations).toEqual([]);
      expect(new Set(spread.decisions.map((d) => d.server)).size).toBe(2);
    });
});

describe('the TypeScript example as a planner function (the library)', () => {
  it('plans like the program, through plan() and the same check', async () => {
    const r = await plan(input(), { planner: { name: 'greedy-ts', fn: greedy } });
    expect(r.planner).toBe('greedy-ts');
    expect(r.decisions.map((d) => [d.user, d.bs, d.host])).toEqual([['mu1', 'ap1', 'edge1']]);
  });
});

describe('schema/planner-*.schema.json', () => {
  it('are what npm run schema writes from the zod schemas (not stale)', () => {
    for (const f of plannerJsonSchemaFiles())
      expect(readFileSync(join(ROOT, f.path), 'utf8'), f.path).toBe(f.text);
  });
});

describe('an experiment’s outside planners (runs.ts)', () => {
  const base = {
    planners: ['orchestrated', 'greedy'],
    services: ['simple'],
    durationS: 60,
    velocity: null,
    seed: 1,
    repeat: 1,
    planEveryMs: 1000,
    monitorEveryMs: 5000,
    testbed: 't',
    inventorySha256: 'x',
  };
  const greedy = { name: 'greedy', exec: ['/usr/bin/python3', '/p/greedy.py'], timeoutMs: 1500 };

  it('are kept with their argv and time limit, and a resume runs the same program', () => {
    const config = { ...base, outside: outsideOf(['orchestrated', greedy]) };
    expect(config.outside).toEqual([greedy]);
    expect([...specsOf(config).entries()]).toEqual([
      ['orchestrated', 'orchestrated'],
      ['greedy', greedy],
    ]);
    expect(configConflicts(config, { planners: ['orchestrated', 'greedy'], outside: [greedy] })).toEqual([]);
    expect(
      configConflicts(config, {
        planners: ['orchestrated', 'greedy'],
        outside: [{ ...greedy, exec: ['/usr/bin/python3', '/q/other.py'] }],
      }),
    ).toEqual([
      '--planner (outside planners) greedy=exec:/usr/bin/python3 /q/other.py (it ran with greedy=exec:/usr/bin/python3 /p/greedy.py)',
    ]);
    // An experiment of before outside planners had none.
    expect(
      configConflicts({ ...base, planners: ['nearest'] }, { planners: ['nearest'], outside: [] }),
    ).toEqual([]);
  });

  it('a function cannot be run again from the state database unless given again', () => {
    const fn = () => ({ decisions: [] });
    const config = { ...base, outside: outsideOf(['orchestrated', { name: 'greedy', fn }]) };
    expect(config.outside).toEqual([{ name: 'greedy', exec: null, timeoutMs: null }]);
    expect(() => specsOf(config)).toThrow(/planner greedy was a function/);
    expect(specsOf(config, [{ name: 'greedy', fn }]).get('greedy')).toEqual({ name: 'greedy', fn });
  });
});
