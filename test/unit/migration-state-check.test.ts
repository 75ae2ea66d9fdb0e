/**
 * The migration's state check: a bundled app's digest as the downtime probe saw it (the source's last
 * answer before the gap, then the destination's answer to a ping `at` that counter), judged without any
 * exec; a different state, a counter gone back, a state no longer kept or no answer fail the verify,
 * whose rollback then undoes the migration's steps; without an edgectl probe, or when the probe did not see
 * the destination answer, the same question goes by exec (client.mjs --state / --state-at); a service that
 * keeps no digests is not checked and the result says why; the probe's report is not trusted;
 * a service's own stateCheck (an exec on each side) wins over the digest.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Service } from '../../src/lib/inventory/index.js';
import {
  judgeProbedState,
  type RunInContainer,
  recordedState,
  stateArgv,
  stateCheckFor,
} from '../../src/lib/migration/state-check.js';
import { StepRunner } from '../../src/lib/migration/steps.js';
import type { ProbeResult, ProbeState } from '../../src/lib/mu/probe.js';

/** A bundled app as the probe's pings see it: a counter, a gallery and the ring of digests. */
class FakeApp {
  counter = 0;
  gallery: string[] = [];
  readonly ring = new Map<number, string>();
  constructor(private readonly opts: { keep?: number; digests?: boolean } = {}) {
    this.record();
  }

  private record(): void {
    const digest = createHash('sha256')
      .update(JSON.stringify({ counter: this.counter, gallery: this.gallery }))
      .digest('hex')
      .slice(0, 32);
    this.ring.set(this.counter, digest);
    this.ring.delete(this.counter - (this.opts.keep ?? 4096));
  }

  task(face: string): void {
    this.counter += 1;
    this.gallery.push(face);
    this.record();
  }

  /** A CRIU restore: the same memory in another container. */
  restored(): FakeApp {
    const copy = new FakeApp(this.opts);
    copy.counter = this.counter;
    copy.gallery = [...this.gallery];
    for (const [k, v] of this.ring) copy.ring.set(k, v);
    return copy;
  }

  /** A ping's answer, as the probe keeps it. */
  ping(): NonNullable<ProbeState['before']> {
    return {
      counter: this.counter,
      digest: this.opts.digests === false ? null : (this.ring.get(this.counter) ?? null),
    };
  }

  /** A ping with `at`: as apps/lib/server.mjs answers it. */
  pingAt(at: number): NonNullable<ProbeState['after']> {
    const digest = this.ring.get(at);
    if (digest !== undefined) return { counter: at, digest };
    return { error: `state after task ${at} is ${at > this.counter ? 'not reached yet' : 'no longer kept'}` };
  }
}

const face = {
  name: 'face',
  app: 'face',
  port: 9002,
  env: {},
  probe: { kind: 'edgectl' },
} as unknown as Service;

const sides = { from: 'edge1', to: 'edge2' };
/** `client.mjs --state` / `--state-at C` in a container holding `app`, as the bundled client answers. */
function execApp(app: FakeApp, ran: string[][]): RunInContainer {
  return async (argv) => {
    ran.push(argv);
    const i = argv.indexOf('--state-at');
    if (i < 0) return { code: 0, stdout: `${JSON.stringify(app.ping())}\n` };
    const at = Number(argv[i + 1]);
    const digest = app.ring.get(at);
    if (at > app.counter) return { code: 1, stdout: JSON.stringify({ error: `task ${at} not reached yet` }) };
    if (digest === undefined)
      return { code: 1, stdout: JSON.stringify({ error: `state ${at} no longer kept` }) };
    return { code: 0, stdout: JSON.stringify({ counter: at, digest }) };
  };
}

const noRun: RunInContainer = async (argv) => {
  throw new Error(`no exec expected, got ${argv.join(' ')}`);
};

function probeResult(state: ProbeState | undefined, answeredBy: 'to' | 'from' | null = 'to'): ProbeResult {
  return {
    lastOkBeforeMs: 1,
    firstOkAfterMs: 2,
    downtimeMs: 1,
    answeredBy,
    probe: 'edgectl',
    pings: 10,
    failures: 1,
    ...(state ? { state } : {}),
  };
}

/** The probe's view of a migration: the source's last answer, `between` (tasks, the checkpoint), then the
 * destination asked at that counter, as probeGap does. */
function probeAcross(src: FakeApp, between: (src: FakeApp) => FakeApp): ProbeState {
  const before = src.ping();
  const dst = between(src);
  return { before, after: before.digest === null ? null : dst.pingAt(before.counter) };
}

async function judged(state: ProbeState): Promise<Error | undefined> {
  const check = stateCheckFor(face)!;
  return check.after(noRun, sides, probeResult(state)).then(
    () => undefined,
    (err: Error) => err,
  );
}

describe("a bundled app's state digest across a migration, from the probe's answers", () => {
  it('passes when the state after the counter seen on the source is the same on the destination, tasks or not in between', async () => {
    const src = new FakeApp();
    for (const f of ['ann', 'bob', 'cy']) src.task(f);
    const check = stateCheckFor(face)!;
    const state = probeAcross(src, (s) => {
      // The user's agent keeps sending until the final checkpoint, and again once the destination answers.
      s.task('dee');
      const d = s.restored();
      d.task('eve');
      return d;
    });
    // No exec on either side: before is nothing, after reads the probe's result.
    await check.before(noRun, 'edge1', true);
    await check.after(noRun, sides, probeResult(state));
    expect(recordedState(check)).toEqual({
      stateCheck: null,
      stateDigest: { counter: 3, digest: src.ring.get(3) },
    });
  });

  it('fails when the destination kept a different state, naming both digests', async () => {
    const src = new FakeApp();
    src.task('ann');
    src.task('bob');
    const error = await judged(
      probeAcross(src, (s) => {
        // Another state after the same task on the destination (say, a gallery file that did not move).
        const d = s.restored();
        d.ring.set(2, 'f'.repeat(32));
        return d;
      }),
    );
    expect(error?.message).toBe(
      `the state after task 2 differs: digest "${'f'.repeat(32)}" on edge2, ${src.ring.get(2)} on edge1 before the checkpoint`,
    );
  });

  it('fails with a clear message when the counter went back, the state is no longer kept, or no answer came', async () => {
    const src = new FakeApp({ keep: 4 });
    src.task('ann');
    src.task('bob');
    // A fresh start on the destination instead of the restore: the counter back at 0.
    const back = await judged(probeAcross(src, () => new FakeApp({ keep: 4 })));
    expect(back?.message).toMatch(
      /^the counter went back: the service on edge2 has not reached task 2 \(edge1 had, with state digest [0-9a-f]{32}\): state after task 2 is not reached yet$/,
    );
    // More tasks than the ring keeps before the question.
    const gone = await judged(
      probeAcross(src, (s) => {
        const d = s.restored();
        for (let i = 0; i < 5; i++) d.task(`x${i}`);
        return d;
      }),
    );
    expect(gone?.message).toMatch(
      /^the service on edge2 no longer keeps its state after task 2 \(digest [0-9a-f]{32} on edge1\), so its state cannot be checked: state after task 2 is no longer kept$/,
    );
    // The destination answered the probe, then not the question.
    const before = src.ping();
    const silent = await judged({ before, after: { error: 'no answer to a ping with at 2 in 3 attempts' } });
    expect(silent?.message).toBe(
      'asking the service on edge2 for its state after task 2 failed: no answer to a ping with at 2 in 3 attempts',
    );
    // A digest before and no question after: not a pass without an answer; the destination is asked by exec.
    const ran: string[][] = [];
    const check = stateCheckFor(face)!;
    await check.before(noRun, 'edge1', true);
    await check.after(execApp(src.restored(), ran), sides, probeResult({ before, after: null }));
    expect(ran).toEqual([stateArgv(face.port, 2)]);
    expect(recordedState(check).stateDigest).toEqual({ counter: 2, digest: before.digest });
  });

  it('is skipped with a note when the service keeps no digests or no edgectl probe saw the migration', async () => {
    const old = new FakeApp({ digests: false });
    old.task('ann');
    const check = stateCheckFor(face)!;
    await check.after(noRun, sides, probeResult(probeAcross(old, (s) => s.restored())));
    expect(recordedState(check).stateDigest).toEqual({
      counter: 1,
      digest: null,
      note: 'not checked: the service on edge1 keeps no state digest (an image built before them)',
    });
    // An edgectl on the user's machine from before the probe carried the state: nothing seen to compare.
    const c = stateCheckFor(face)!;
    await c.before(noRun, 'edge1', true);
    await c.after(noRun, sides, probeResult(undefined));
    expect(recordedState(c).stateDigest).toEqual({
      counter: null,
      digest: null,
      note: 'not checked: no counter of the service on edge1 was seen',
    });
  });

  it('asks by exec on each side when no edgectl probe is to run (--no-probe, a tcp probe)', async () => {
    const src = new FakeApp();
    for (const f of ['ann', 'bob']) src.task(f);
    const dst = src.restored();
    dst.task('cy');
    for (const probe of [null, { ...probeResult(undefined), probe: 'tcp' as const }]) {
      const check = stateCheckFor(face)!;
      const ran: string[][] = [];
      await check.before(execApp(src, ran), 'edge1', false);
      await check.after(execApp(dst, ran), sides, probe);
      expect(ran).toEqual([stateArgv(face.port), stateArgv(face.port, 2)]);
      expect(recordedState(check).stateDigest).toEqual({ counter: 2, digest: src.ring.get(2) });
    }
    // A destination that lost a task fails, as from the probe.
    const check = stateCheckFor(face)!;
    await check.before(execApp(src, []), 'edge1', false);
    const lost = new FakeApp();
    lost.task('ann');
    await expect(check.after(execApp(lost, []), sides, null)).rejects.toThrow(/^the counter went back/);
  });

  it("asks the destination by exec when the probe saw the source but not the destination's answer", async () => {
    const src = new FakeApp();
    for (const f of ['ann', 'bob', 'cy']) src.task(f);
    const check = stateCheckFor(face)!;
    await check.before(noRun, 'edge1', true);
    const ran: string[][] = [];
    await check.after(
      execApp(src.restored(), ran),
      sides,
      probeResult({ before: src.ping(), after: null }, null),
    );
    expect(ran).toEqual([stateArgv(face.port, 3)]);
    expect(recordedState(check).stateDigest).toEqual({ counter: 3, digest: src.ring.get(3) });
    // Another state after the same task on the destination.
    const other = new FakeApp();
    for (const f of ['ann', 'bob', 'zed']) other.task(f);
    const again = stateCheckFor(face)!;
    await again.before(noRun, 'edge1', true);
    await expect(
      again.after(execApp(other, []), sides, probeResult({ before: src.ping(), after: null }, null)),
    ).rejects.toThrow(/^the state after task 3 differs/);
  });

  it("does not trust the probe's report: a malformed digest fails, odd shapes are not a pass", () => {
    expect(() =>
      judgeProbedState({ before: { counter: 1, digest: 'nope' }, after: null }, 'edge1', 'edge2'),
    ).toThrow('the service on edge1 answered a malformed state digest: "nope"');
    const d = 'a'.repeat(32);
    // A destination answer for another counter, or with a digest of another type.
    expect(() =>
      judgeProbedState(
        { before: { counter: 3, digest: d }, after: { counter: 4, digest: d } },
        'edge1',
        'edge2',
      ),
    ).toThrow(/^the state after task 3 differs/);
    expect(() =>
      judgeProbedState(
        { before: { counter: 3, digest: d }, after: { counter: 3, digest: [d] } },
        'edge1',
        'edge2',
      ),
    ).toThrow(/^the state after task 3 differs/);
    expect(() =>
      judgeProbedState({ before: { counter: 3, digest: d }, after: 'ok' }, 'edge1', 'edge2'),
    ).toThrow(/^the probe did not ask/);
    // A counter that is no counter: nothing to compare, said so.
    expect(judgeProbedState({ before: { counter: -1, digest: d } }, 'edge1', 'edge2').note).toMatch(
      /^not checked/,
    );
  });

  it("a service's own stateCheck wins over the digest", async () => {
    const own = { ...face, stateCheck: ['cat', '/data/gallery.json'] } as Service;
    const check = stateCheckFor(own)!;
    const ran: string[][] = [];
    let file = '["ann"]';
    const run: RunInContainer = async (argv) => {
      ran.push(argv);
      return { code: 0, stdout: file };
    };
    await check.before(run, 'edge1', true);
    await check.after(run, sides, null);
    expect(ran).toEqual([own.stateCheck, own.stateCheck]);
    expect(recordedState(check)).toEqual({
      stateCheck: { argv: ['cat', '/data/gallery.json'], output: '["ann"]' },
      stateDigest: null,
    });
    file = '[]';
    await expect(check.after(run, sides, null)).rejects.toThrow(
      'the state check (cat /data/gallery.json) gave "[]" on edge2, "[\\"ann\\"]" before',
    );
    // An image service without a stateCheck: nothing checked, nothing recorded.
    expect(stateCheckFor({ ...face, app: undefined, image: 'org/x' } as unknown as Service)).toBeUndefined();
    expect(recordedState(undefined)).toEqual({ stateCheck: null, stateDigest: null });
  });
});

describe('a failed state check in the verify phase', () => {
  it('rolls the migration back: the undos run, the service runs on the source again', async () => {
    const src = new FakeApp();
    src.task('ann');
    const where = { src: 'running', dst: 'none' };
    const runner = new StepRunner({ record: () => {} });
    const check = stateCheckFor(face)!;
    // As pipeline.ts: the probe's last answer from the source, then freeze and restore (each owing its
    // undo), then verify with the probe's result; a failure there unwinds every step.
    const before = src.ping();
    let dst: FakeApp | undefined;
    await runner.run(
      'freeze',
      async () => {
        where.src = 'frozen';
      },
      async () => {
        where.src = 'running';
      },
      { intent: true },
    );
    await runner.run(
      'restore',
      async () => {
        dst = src.restored();
        dst.ring.set(1, '0'.repeat(32));
        where.dst = 'running';
      },
      async () => {
        where.dst = 'none';
      },
      { intent: true },
    );
    const state = { before, after: dst!.pingAt(before.counter) };
    const failed = await check.after(noRun, sides, probeResult(state)).then(
      () => null,
      (err: Error) => err,
    );
    expect(failed?.message).toMatch(
      /^the state after task 1 differs: digest "0{32}" on edge2, [0-9a-f]{32} on edge1 before the checkpoint$/,
    );
    expect(await runner.unwind()).toEqual([]);
    expect(where).toEqual({ src: 'running', dst: 'none' });
  });
});
