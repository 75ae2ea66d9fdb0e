/**
 * The migration's state check on fake containers: a bundled app's digest read on the source (tasks keep
 * arriving after it) and asked of the destination after the restore, one exec on each side; a different
 * state, a counter gone back or a state no longer kept fail the verify, whose rollback then undoes the
 * migration's steps; a service that keeps no digests is not checked and the result says why; a service's
 * own stateCheck wins over the digest.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Service } from '../../src/lib/inventory/index.js';
import {
  type RunInContainer,
  recordedState,
  type StateCheck,
  stateArgv,
  stateCheckFor,
} from '../../src/lib/migration/state-check.js';
import { StepRunner } from '../../src/lib/migration/steps.js';

/** A bundled app as client.mjs in its container sees it: a counter, a gallery and the ring of digests. */
class FakeApp {
  counter = 0;
  gallery: string[] = [];
  readonly ring = new Map<number, string>();
  /** Every argv run in this container. */
  readonly ran: string[][] = [];
  constructor(private readonly opts: { keep?: number; digests?: boolean; oldClient?: boolean } = {}) {
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

  readonly run: RunInContainer = async (argv) => {
    this.ran.push(argv);
    const line = (o: object, code = 0) => ({ code, stdout: `${JSON.stringify(o)}\n` });
    if (argv[1] !== '/apps/client.mjs') return { code: 127, stdout: '' };
    const state = argv.indexOf('--state');
    const stateAt = argv.indexOf('--state-at');
    if (this.opts.oldClient && (state >= 0 || stateAt >= 0)) return { code: 2, stdout: '' };
    if (state >= 0)
      return line({
        counter: this.counter,
        ...(this.opts.digests === false ? {} : { digest: this.ring.get(this.counter) }),
      });
    const at = Number(argv[stateAt + 1]);
    if (this.opts.digests === false)
      return line({ counter: at, error: 'the simple service keeps no state digests (built before them)' }, 1);
    const digest = this.ring.get(at);
    if (digest === undefined)
      return line(
        {
          counter: at,
          error: `server: state after task ${at} is ${at > this.counter ? 'not reached yet' : 'no longer kept'}`,
        },
        1,
      );
    return line({ counter: at, digest });
  };
}

const face = {
  name: 'face',
  app: 'face',
  port: 9002,
  env: {},
  probe: { kind: 'edgectl' },
} as unknown as Service;

/** The check's two halves as the pipeline runs them, with `between` (tasks, the checkpoint) in the middle. */
async function migrateFake(
  check: StateCheck,
  src: FakeApp,
  between: (src: FakeApp) => FakeApp,
): Promise<{ dst: FakeApp; error: Error | undefined }> {
  await check.before(src.run, 'edge1');
  const dst = between(src);
  const error = await check.after(dst.run, 'edge2').then(
    () => undefined,
    (err: Error) => err,
  );
  return { dst, error };
}

describe("a bundled app's state digest across a migration", () => {
  it('passes when the state after the counter read on the source is the same on the destination, tasks or not in between', async () => {
    const src = new FakeApp();
    for (const f of ['ann', 'bob', 'cy']) src.task(f);
    const check = stateCheckFor(face)!;
    const { dst, error } = await migrateFake(check, src, (s) => {
      // The user's agent keeps sending until the final checkpoint, and again once the destination answers.
      s.task('dee');
      const d = s.restored();
      d.task('eve');
      return d;
    });
    expect(error).toBeUndefined();
    expect(recordedState(check)).toEqual({
      stateCheck: null,
      stateDigest: { counter: 3, digest: src.ring.get(3) },
    });
    // One exec on each side: --state on the source, --state-at 3 on the destination.
    expect(src.ran).toEqual([stateArgv(9002)]);
    expect(dst.ran).toEqual([stateArgv(9002, 3)]);
    expect(dst.ran[0]).toEqual([
      '/usr/local/bin/node',
      '/apps/client.mjs',
      '--address',
      '127.0.0.1',
      '--port',
      '9002',
      '--state-at',
      '3',
      '--timeout-ms',
      '10000',
      '--connect-timeout-ms',
      '1000',
    ]);
  });

  it('fails when the destination kept a different state, naming both digests', async () => {
    const src = new FakeApp();
    src.task('ann');
    src.task('bob');
    const check = stateCheckFor(face)!;
    const { error } = await migrateFake(check, src, (s) => {
      // Another state after the same task on the destination (say, a gallery file that did not move).
      const d = s.restored();
      d.ring.set(2, 'f'.repeat(32));
      return d;
    });
    expect(error?.message).toBe(
      `the state after task 2 differs: digest "${'f'.repeat(32)}" on edge2, ${src.ring.get(2)} on the source before the checkpoint`,
    );
  });

  it('fails with a clear message when the counter went back or the state is no longer kept', async () => {
    const src = new FakeApp({ keep: 4 });
    src.task('ann');
    src.task('bob');
    // A fresh start on the destination instead of the restore: the counter back at 0.
    const back = await migrateFake(stateCheckFor(face)!, src, () => new FakeApp({ keep: 4 }));
    expect(back.error?.message).toMatch(
      /^the counter went back: the service on edge2 has not reached task 2 \(the source had, with state digest [0-9a-f]{32}\): server: state after task 2 is not reached yet$/,
    );
    // More tasks than the ring keeps between the two reads.
    const gone = await migrateFake(stateCheckFor(face)!, src, (s) => {
      const d = s.restored();
      for (let i = 0; i < 5; i++) d.task(`x${i}`);
      return d;
    });
    expect(gone.error?.message).toMatch(
      /^the service on edge2 no longer keeps its state after task 2 \(digest [0-9a-f]{32} on the source\), so its state cannot be checked: server: state after task 2 is no longer kept$/,
    );
  });

  it('is skipped with a note when the service keeps no digests, or its client does not know --state', async () => {
    for (const [opts, counter, note] of [
      [
        { digests: false },
        1,
        'not checked: the service on edge1 keeps no state digest (an image built before them)',
      ],
      [
        { oldClient: true },
        null,
        "not checked: the image's client.mjs on edge1 does not know --state (an image built before state digests)",
      ],
    ] as const) {
      const src = new FakeApp(opts);
      src.task('ann');
      const check = stateCheckFor(face)!;
      const { dst, error } = await migrateFake(check, src, (s) => s.restored());
      expect(error).toBeUndefined();
      expect(dst.ran).toEqual([]); // nothing asked of the destination
      expect(recordedState(check).stateDigest).toEqual({ counter, digest: null, note });
    }
  });

  it('fails before the checkpoint when the source does not answer its state', async () => {
    const check = stateCheckFor(face)!;
    await expect(
      check.before(
        async () => ({ code: 1, stdout: '{"error":"cannot connect to 127.0.0.1:9002: ECONNREFUSED"}\n' }),
        'edge1',
      ),
    ).rejects.toThrow(
      /^reading the service's state \(client.mjs --state\) on edge1 failed \(exit 1\): .*ECONNREFUSED/,
    );
    await expect(
      check.before(async () => ({ code: 0, stdout: '{"counter":1,"digest":"nope"}' }), 'edge1'),
    ).rejects.toThrow('the service on edge1 answered a malformed state digest: "nope"');
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
    await check.before(run, 'edge1');
    await check.after(run, 'edge2');
    expect(ran).toEqual([own.stateCheck, own.stateCheck]);
    expect(recordedState(check)).toEqual({
      stateCheck: { argv: ['cat', '/data/gallery.json'], output: '["ann"]' },
      stateDigest: null,
    });
    file = '[]';
    await expect(check.after(run, 'edge2')).rejects.toThrow(
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
    // As pipeline.ts: the check before the final checkpoint, then freeze and restore (each owing its undo),
    // then verify; a failure there unwinds every step.
    await check.before(src.run, 'edge1');
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
    const failed = await check.after(dst!.run, 'edge2').then(
      () => null,
      (err: Error) => err,
    );
    expect(failed?.message).toMatch(
      /^the state after task 1 differs: digest "0{32}" on edge2, [0-9a-f]{32} on the source/,
    );
    expect(await runner.unwind()).toEqual([]);
    expect(where).toEqual({ src: 'running', dst: 'none' });
  });
});
