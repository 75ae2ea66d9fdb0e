import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parseRuntime, parseSeconds, runcCheckpointArgv } from '../../src/lib/migration/commands.js';
import { downtimeBreakdown, type Phase, pathOf } from '../../src/lib/migration/pipeline.js';

const run = promisify(execFile);

describe('runc under a Docker container', () => {
  it('reads runc and its root for the namespace from the shim bundle and its options.json', () => {
    const bundle = '/run/docker/containerd/daemon/io.containerd.runtime.v2.task/moby/abc123';
    expect(parseRuntime(`${bundle}\n{"binary_name":"runc","root":"/run/docker/runtime-runc"}\n`)).toEqual({
      runc: 'runc',
      root: '/run/docker/runtime-runc/moby',
    });
    // Without a root: containerd's default for the runc shim.
    expect(parseRuntime(`${bundle}\n{}`)).toEqual({ runc: 'runc', root: '/run/containerd/runc/moby' });
    expect(parseRuntime(`${bundle}\n{"binary_name":"/usr/bin/runc"}`)?.runc).toBe('/usr/bin/runc');
  });

  it('finds no runc where the runtime is another one, or the output is not understood', () => {
    const bundle = '/run/containerd/io.containerd.runtime.v2.task/moby/abc';
    expect(parseRuntime(`${bundle}\n{"binary_name":"crun"}`)).toBeUndefined();
    expect(parseRuntime(`${bundle}\nnot json`)).toBeUndefined();
    expect(parseRuntime('')).toBeUndefined();
  });

  it('reads CRIU’s seconds, and nothing from an empty line', () => {
    expect(parseSeconds('00.175397\n')).toBeCloseTo(0.175397);
    expect(parseSeconds('')).toBeUndefined();
    expect(parseSeconds(undefined)).toBeUndefined();
    expect(parseSeconds('x')).toBeUndefined();
  });

  it('checkpoints with runc into the snapshot (the final one frozen first and left frozen), archives the writable layer, and prints runc’s time, CRIU’s and the size', async () => {
    // A stand-in runc that writes an image and a CRIU log the way runc and CRIU do.
    const dir = await mkdtemp(path.join(tmpdir(), 'edgectl-runc-'));
    try {
      const runc = path.join(dir, 'runc');
      await writeFile(
        runc,
        [
          '#!/bin/sh',
          'echo "$@" >> "$(dirname "$0")/calls"',
          '[ "$3" = checkpoint ] || exit 0',
          'while [ $# -gt 1 ]; do case "$1" in --image-path) img=$2;; --work-path) work=$2;; esac; shift; done',
          'head -c 5000 /dev/zero > "$img/pages-1.img"',
          'printf "(00.000001) start\\n(00.250000) Dumping finished successfully\\n" > "$work/dump.log"',
        ].join('\n'),
      );
      await chmod(runc, 0o755);
      const upper = path.join(dir, 'upper');
      await mkdir(upper);
      await writeFile(path.join(upper, 'data.txt'), 'written by the app');
      const snap = path.join(dir, 'snap');
      const argv = runcCheckpointArgv({
        runc,
        root: '/run/docker/runtime-runc/moby',
        containerId: 'abc',
        images: `${snap}/criu`,
        work: `${dir}/work`,
        after: 'freeze',
        snapshot: { dir: snap, upperDir: upper },
      });
      const { stdout } = await run(argv[0]!, argv.slice(1));
      const [ns, criu, bytes] = stdout.trim().split('\n');
      expect(Number(ns)).toBeGreaterThan(0);
      expect(parseSeconds(criu)).toBe(0.25);
      expect(Number(bytes)).toBeGreaterThan(5000);
      expect(await readFile(path.join(dir, 'calls'), 'utf8')).toBe(
        [
          '--root /run/docker/runtime-runc/moby pause abc',
          `--root /run/docker/runtime-runc/moby checkpoint --image-path ${snap}/criu --work-path ${dir}/work --leave-running abc`,
          '',
        ].join('\n'),
      );
      const tar = await run('tar', ['-tf', `${snap}/rootfs.tar`]);
      expect(tar.stdout).toMatch(/data\.txt/);
      // The pre-migration checkpoint: no pause.
      await rm(path.join(dir, 'calls'));
      const pre = runcCheckpointArgv({
        runc,
        root: '/r',
        containerId: 'abc',
        images: `${dir}/pre/criu`,
        work: `${dir}/w2`,
        after: 'run',
      });
      await run(pre[0]!, pre.slice(1));
      expect(await readFile(path.join(dir, 'calls'), 'utf8')).toBe(
        `--root /r checkpoint --image-path ${dir}/pre/criu --work-path ${dir}/w2 --leave-running abc\n`,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('says what CRIU logged when runc fails, and thaws the container it froze', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'edgectl-runc-'));
    try {
      const runc = path.join(dir, 'runc');
      await writeFile(
        runc,
        '#!/bin/sh\necho "$3" >> "$(dirname "$0")/calls"\n[ "$3" = checkpoint ] || exit 0\nwhile [ $# -gt 1 ]; do [ "$1" = --work-path ] && work=$2; shift; done\necho "(00.1) Error (criu/sk-inet.c:1): inet: Connected TCP socket" > "$work/dump.log"\nexit 1\n',
      );
      await chmod(runc, 0o755);
      const argv = runcCheckpointArgv({
        runc,
        root: '/r',
        containerId: 'abc',
        images: `${dir}/i`,
        work: `${dir}/w`,
        after: 'freeze',
      });
      const err = await run(argv[0]!, argv.slice(1)).then(
        () => undefined,
        (e: { stderr: string }) => e,
      );
      expect(err?.stderr).toMatch(/runc checkpoint failed; CRIU said: .*Connected TCP socket/);
      expect(await readFile(path.join(dir, 'calls'), 'utf8')).toBe('pause\ncheckpoint\nresume\n');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('where the downtime went', () => {
  const phase = (name: Phase['name'], durationMs: number, parts?: Record<string, number>): Phase => ({
    name,
    startMs: 0,
    durationMs,
    bytes: null,
    ...(parts ? { parts } : {}),
  });

  it('splits it into CRIU’s dump and restore, the runtime around them, the codec, the transfer and the rest', () => {
    const phases = [
      phase('pre-checkpoint', 300, { criu: 200, runtime: 100 }),
      phase('checkpoint', 300, { criu: 250, runtime: 50 }),
      phase('delta', 100),
      phase('transfer', 200),
      phase('patch', 80),
      phase('restore', 500, { place: 20, docker: 420, neighbour: 5, criu: 300, runtime: 120 }),
      phase('verify', 10),
    ];
    expect(downtimeBreakdown(phases, 1500, 110)).toEqual({
      criuDumpMs: 250,
      criuRestoreMs: 300,
      runtimeMs: 170,
      deltaMs: 180,
      transferMs: 200,
      pathMs: 110,
      edgectlMs: 1500 - 250 - 300 - 170 - 180 - 200 - 110,
    });
  });

  it('counts Docker’s whole checkpoint as runtime where CRIU’s part is not known', () => {
    const phases = [
      phase('checkpoint', 1600, { docker: 1500, snapshot: 100 }),
      phase('transfer', 900),
      phase('restore', 1500, { place: 20, docker: 1450 }),
    ];
    expect(downtimeBreakdown(phases, 4500)).toMatchObject({
      criuDumpMs: null,
      criuRestoreMs: null,
      runtimeMs: 2950,
      deltaMs: 0,
      transferMs: 900,
      pathMs: null,
      edgectlMs: 650,
    });
  });

  it('takes the first answer’s time on the user’s path as two of its request’s round trips, at most the whole attempt', () => {
    const probe = {
      lastOkBeforeMs: 0,
      firstOkAfterMs: 1000,
      downtimeMs: 1000,
      answeredBy: 'to' as const,
      probe: 'edgectl',
      pings: 100,
      failures: 50,
    };
    expect(pathOf({ ...probe, answerMs: 300, roundTripMs: 102 })).toBe(204);
    // The connection waited for the service: the path is the request's two round trips, not the 300 ms.
    expect(pathOf({ ...probe, answerMs: 150, roundTripMs: 102 })).toBe(150);
    expect(pathOf({ ...probe, answerMs: 300, roundTripMs: null })).toBeNull();
    expect(pathOf(null)).toBeNull();
  });

  it('is null without a measured downtime', () => {
    expect(downtimeBreakdown([phase('checkpoint', 1)], null)).toBeNull();
  });
});
