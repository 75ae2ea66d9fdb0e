/**
 * The migration's steps and their undos on fake servers: a failure at every step (and inside the final
 * checkpoint, after its pause) leaves the service running on the source, nothing on the destination, no
 * staging and no armed dead-man switch; the undos run last registered first; the journal's records say
 * exactly which undos a recovery (another process) would still owe at any instant.
 */
import type Docker from 'dockerode';
import { describe, expect, it } from 'vitest';
import type { Host, Service } from '../../src/lib/inventory/index.js';
import { owedUndos, StepRunner } from '../../src/lib/migration/steps.js';
import { isUndoable, type MigrationFacts, UNDO, type UndoEnv, undoer } from '../../src/lib/migration/undo.js';
import type { Executor, RunResult, SshPool } from '../../src/lib/remote/index.js';
import type { StepRecord } from '../../src/lib/state/index.js';

interface FakeContainer {
  running: boolean;
  paused: boolean;
}

/** A server as the undos see it: directories, containers (by id), a dead-man switch. */
class FakeServer implements Executor {
  readonly dirs = new Set<string>();
  readonly containers = new Map<string, FakeContainer>();
  deadman: 'none' | 'armed' | 'committed' | 'disarmed' | 'fired' = 'none';
  constructor(
    readonly host: string,
    /** Every command and Docker call of both servers, in order, as `host:what`. */
    readonly ran: string[],
  ) {}

  async run(argv: readonly string[]): Promise<RunResult> {
    const name = argv[0] === 'sh' ? argv[3]! : argv[0]!;
    this.ran.push(`${this.host}:${name}`);
    let stdout = '';
    let code = 0;
    if (name === 'remove-staging') this.dirs.delete(argv[4]!);
    else if (name === 'mkdir') this.dirs.add(argv[2]!);
    else if (name === 'thaw') {
      const c = this.containers.get(argv[6]!)!;
      stdout = c.paused ? 'paused' : 'running';
      c.paused = false;
    } else if (name === 'settle') {
      if (this.deadman === 'armed') this.deadman = argv[5] as 'disarmed';
      else code = this.deadman === 'fired' ? 3 : 4;
    } else if (name === 'kill-frozen') {
      const c = this.containers.get(argv[6]!)!;
      c.running = false;
      c.paused = false;
    }
    return { argv, code, stdout, stderr: '', ms: 0, timedOut: false };
  }

  docker(): Docker {
    const gone = () => Object.assign(new Error('no such container'), { statusCode: 404 });
    return {
      listContainers: async () =>
        [...this.containers.keys()].filter((id) => id !== 'src-id').map((Id) => ({ Id })),
      getContainer: (id: string) => ({
        inspect: async () => {
          const c = this.containers.get(id);
          if (!c) throw gone();
          return { Id: id, State: { Running: c.running }, NetworkSettings: { Networks: {} } };
        },
        remove: async () => {
          this.ran.push(`${this.host}:remove`);
          if (!this.containers.delete(id)) throw gone();
        },
        start: async () => {
          this.containers.get(id)!.running = true;
        },
        deleteCheckpoint: async () => {},
      }),
    } as unknown as Docker;
  }
}

const service = {
  name: 'simple',
  port: 9000,
  env: {},
  probe: { kind: 'none' },
  image: 'x',
} as unknown as Service;

function world() {
  const ran: string[] = [];
  const src = new FakeServer('edge1', ran);
  const dst = new FakeServer('edge2', ran);
  src.containers.set('src-id', { running: true, paused: false });
  const facts: MigrationFacts = {
    testbed: 'lab',
    user: 'mu1',
    service: 'simple',
    from: 'edge1',
    to: 'edge2',
    srcContainerId: 'src-id',
    srcContainerName: 'edgectl-lab-mu1',
    dstContainerId: null,
    runc: { runc: 'runc', root: '/run/containerd/runc/moby' },
    srcRoot: '/var/lib/docker',
    srcStaging: '/var/lib/edgectl/migrations/lab/0123456789abcdef-7/src',
    dstStaging: '/var/lib/edgectl/migrations/lab/0123456789abcdef-7/dst',
    checkpoints: { pre: 'edgectl-7-pre', final: 'edgectl-7-final' },
    channels: ['/var/lib/edgectl/migrations/lab/0123456789abcdef-7/src/channel-pre'],
    transfer: null,
    deadman: null,
    port: 9000,
  };
  const journal: StepRecord[] = [];
  const env = (): UndoEnv => ({
    facts,
    service,
    pool: {} as SshPool,
    src: { host: { name: 'edge1' } as Host, shell: src, docker: src.docker() },
    dst: { host: { name: 'edge2' } as Host, shell: dst, docker: dst.docker() },
    finalTaken: journal.some((r) => r.step === 'freeze' && r.status === 'done'),
    settleMs: 0,
    timeoutMs: 1_000,
  });
  const runner = new StepRunner({ record: (r) => journal.push(r) });
  const undo = (step: keyof typeof UNDO) => () => UNDO[step](env());
  /** The migration's steps with side effects on the servers, in its order (pipeline.ts). */
  const steps: { name: string; work: () => Promise<void>; intent: boolean }[] = [
    {
      name: 'staging',
      intent: true,
      work: async () => {
        src.dirs.add(facts.srcStaging);
        dst.dirs.add(facts.dstStaging);
      },
    },
    {
      name: 'destination',
      intent: true,
      work: async () => {
        dst.containers.set('dst-id', { running: false, paused: false });
        facts.dstContainerId = 'dst-id';
      },
    },
    {
      name: 'deadman',
      intent: true,
      work: async () => {
        facts.deadman = `${facts.srcStaging}/deadman`;
        src.deadman = 'armed';
      },
    },
    {
      name: 'freeze',
      intent: true,
      work: async () => {
        src.containers.get('src-id')!.paused = true;
      },
    },
    {
      name: 'restore',
      intent: true,
      work: async () => {
        dst.containers.get('dst-id')!.running = true;
      },
    },
  ];
  return { src, dst, ran, facts, journal, runner, undo, steps };
}

function expectConsistent(w: ReturnType<typeof world>): void {
  expect(w.src.containers.get('src-id')).toEqual({ running: true, paused: false });
  expect([...w.dst.containers.keys()]).toEqual([]);
  expect([...w.src.dirs, ...w.dst.dirs]).toEqual([]);
  expect(['none', 'disarmed']).toContain(w.src.deadman);
}

describe('a failure at every step of a migration, undone on fake servers', () => {
  const names = ['staging', 'destination', 'deadman', 'freeze', 'restore', 'verify'];
  for (const [k, failing] of names.entries()) {
    it(`fails ${failing === 'verify' ? 'after every step (verify)' : `at ${failing}`}: undone last first, the service runs on the source`, async () => {
      const w = world();
      let failed = false;
      try {
        for (const [i, s] of w.steps.entries()) {
          await w.runner.run(
            s.name,
            async () => {
              if (i === k) {
                // A step that fails part-way: the final checkpoint pauses the source, then its archive of
                // the writable layer fails; the destination's start brings it up, then times out.
                if (s.intent) await s.work();
                throw new Error(`${s.name} failed`);
              }
              await s.work();
            },
            w.undo(s.name as keyof typeof UNDO),
            { intent: s.intent },
          );
        }
        throw new Error('verify failed');
      } catch {
        failed = true;
      }
      expect(failed).toBe(true);
      const owedBefore = owedUndos(w.journal, isUndoable);
      // Intent steps owe their undo even when they failed; the others only once done.
      const registered = w.steps
        .slice(0, Math.min(k + 1, w.steps.length))
        .filter((s, i) => i < k || s.intent)
        .map((s) => s.name);
      expect(w.runner.owed).toEqual(registered);
      expect(owedBefore).toEqual([...registered].reverse());
      const failures = await w.runner.unwind();
      expect(failures).toEqual([]);
      expect(w.journal.filter((r) => r.status === 'undone').map((r) => r.step)).toEqual(
        [...registered].reverse(),
      );
      // The destination stops before the source thaws: never two copies running.
      if (registered.includes('restore'))
        expect(w.ran.indexOf('edge2:remove')).toBeLessThan(w.ran.indexOf('edge1:thaw'));
      expectConsistent(w);
      expect(owedUndos(w.journal, isUndoable)).toEqual([]);
    });
  }

  it('an undo that fails is recorded and the next ones still run; a recovery owes only it', async () => {
    const w = world();
    for (const s of w.steps.slice(0, 4))
      await w.runner.run(s.name, s.work, w.undo(s.name as keyof typeof UNDO), { intent: s.intent });
    // The destination's dockerd hangs: its container cannot be removed.
    w.dst.docker = () =>
      ({
        getContainer: () => ({
          remove: () => Promise.reject(new Error('dockerd does not answer')),
        }),
      }) as unknown as Docker;
    const failures = await w.runner.unwind();
    expect(failures.map((f) => f.step)).toEqual(['destination']);
    expect(w.src.containers.get('src-id')).toEqual({ running: true, paused: false });
    expect(owedUndos(w.journal, isUndoable)).toEqual(['destination']);
  });

  it("a destination container whose id was never recorded (the controller died in Docker's call) is found and removed", async () => {
    const w = world();
    await w.runner.run('staging', w.steps[0]!.work, w.undo('staging'), { intent: true });
    await w.runner
      .run(
        'destination',
        async () => {
          w.dst.containers.set('dst-id', { running: false, paused: false });
          throw new Error('the connection to dockerd dropped');
        },
        w.undo('destination'),
        { intent: true },
      )
      .catch(() => {});
    expect(w.facts.dstContainerId).toBeNull();
    expect(await w.runner.unwind()).toEqual([]);
    expectConsistent(w);
  });

  it('a step without intent owes its undo only once it has ended', async () => {
    const journal: StepRecord[] = [];
    const runner = new StepRunner({ record: (r) => journal.push(r) });
    const undone: string[] = [];
    await runner.run(
      'a',
      async () => {},
      async () => void undone.push('a'),
    );
    await runner
      .run(
        'b',
        () => Promise.reject(new Error('b failed')),
        async () => void undone.push('b'),
      )
      .catch(() => {});
    expect(runner.owed).toEqual(['a']);
    expect(owedUndos(journal, (s) => s === 'a' || s === 'b')).toEqual(['a']);
    await runner.unwind();
    expect(undone).toEqual(['a']);
  });

  it('after the commit nothing is owed', async () => {
    const w = world();
    for (const s of w.steps)
      await w.runner.run(s.name, s.work, w.undo(s.name as keyof typeof UNDO), { intent: s.intent });
    w.runner.commit();
    expect(owedUndos(w.journal, isUndoable)).toBeNull();
    expect(await w.runner.unwind()).toEqual([]);
    await expect(w.runner.run('late', async () => {})).rejects.toThrow(/after the commit/);
  });
});

describe("a journal's owner", () => {
  it('is alive while its process runs, dead once it ended or let go of the migration', async () => {
    const { currentOwner, ownerAlive } = await import('../../src/lib/migration/undo.js');
    const me = currentOwner();
    expect(ownerAlive(me)).toBe(true);
    // A reused pid: the same number, another start time.
    expect(ownerAlive({ ...me, start: '1' })).toBe(false);
    // Let go of (the migration returned unfinished, its undo owed to edgectl recover).
    expect(ownerAlive({ ...me, pid: 0, start: null })).toBe(false);
    // Another machine: not known here.
    expect(ownerAlive({ ...me, host: `${me.host}-elsewhere` })).toBeUndefined();
  });
});

describe('a destination dockerd that does not answer', () => {
  it('is waited for once: the next undo that needs it fails at once with the same reason', async () => {
    let calls = 0;
    const silentDocker = {
      getContainer: () => ({
        remove: () => {
          calls++;
          return new Promise(() => {});
        },
      }),
    } as unknown as Docker;
    const env = {
      facts: { dstContainerId: 'c1' },
      dst: { host: { name: 'edge2' }, docker: silentDocker },
      timeoutMs: 50,
    } as unknown as UndoEnv;
    const undo = undoer();
    const failure = (p: Promise<void>) =>
      p.then(
        () => '',
        (e: Error) => e.message,
      );
    expect(await failure(undo('restore', env))).toBe(
      'removing the container on edge2: no answer within 50 ms',
    );
    expect(await failure(undo('destination', env))).toBe(
      'removing the container on edge2: no answer within 50 ms (not asked again)',
    );
    // One deadline waited for, one call made: the second undo did not ask the daemon.
    expect(calls).toBe(1);
    // A fresh unwinding (another migration, or a recovery) asks again.
    expect(await failure(undoer()('destination', env))).toMatch(/no answer within 50 ms$/);
  });
});
