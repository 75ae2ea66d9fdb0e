import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  appCommand,
  benchCommand,
  buildRootfs,
  dockerImportArgv,
  ImageBuildError,
  imageRef,
  importChanges,
  parseLdd,
  planRootfs,
  rootfsTarPath,
  tarHeader,
} from '../../src/lib/image/index.js';
import type { Executor, RunResult } from '../../src/lib/remote/types.js';

// Real outputs, trimmed of nothing.
const DEBIAN_NODE = `\tlinux-vdso.so.1 (0x00007ffd5a1f6000)
\tlibdl.so.2 => /lib/x86_64-linux-gnu/libdl.so.2 (0x00007f3d24e93000)
\tlibstdc++.so.6 => /lib/x86_64-linux-gnu/libstdc++.so.6 (0x00007f3d24c00000)
\tlibm.so.6 => /lib/x86_64-linux-gnu/libm.so.6 (0x00007f3d24b20000)
\tlibgcc_s.so.1 => /lib/x86_64-linux-gnu/libgcc_s.so.1 (0x00007f3d24e73000)
\tlibpthread.so.0 => /lib/x86_64-linux-gnu/libpthread.so.0 (0x00007f3d24e6e000)
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f3d2493e000)
\t/lib64/ld-linux-x86-64.so.2 (0x00007f3d24eab000)
`;

describe('parseLdd', () => {
  it('reads a glibc x86_64 listing: six libraries and the loader, without the vDSO', () => {
    const r = parseLdd(DEBIAN_NODE);
    expect(r.libraries.map((l) => l.name)).toEqual([
      'libdl.so.2',
      'libstdc++.so.6',
      'libm.so.6',
      'libgcc_s.so.1',
      'libpthread.so.0',
      'libc.so.6',
    ]);
    expect(r.libraries[5]).toEqual({ name: 'libc.so.6', path: '/lib/x86_64-linux-gnu/libc.so.6' });
    expect(r.loader).toEqual({
      path: '/lib64/ld-linux-x86-64.so.2',
      resolved: '/lib64/ld-linux-x86-64.so.2',
    });
    expect(r.missing).toEqual([]);
    expect(r.static).toBe(false);
  });

  it('collects libraries that are not found', () => {
    const r = parseLdd(
      '\tlinux-vdso.so.1 (0x00007ffc)\n\tlibuv.so.1 => not found\n\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f00)\n' +
        '\tlibbrotlienc.so.1 => not found\n\t/lib64/ld-linux-x86-64.so.2 (0x00007f01)\n',
    );
    expect(r.missing).toEqual(['libuv.so.1', 'libbrotlienc.so.1']);
    expect(r.libraries).toHaveLength(1);
  });

  it('reads the loader in its "=>" form (Arch, Fedora) and the old empty vDSO arrow', () => {
    const r = parseLdd(
      '\tlinux-gate.so.1 =>  (0xb7f2c000)\n' +
        '\tlibc.so.6 => /usr/lib/libc.so.6 (0x00007f9b1a000000)\n' +
        '\t/lib64/ld-linux-x86-64.so.2 => /usr/lib64/ld-linux-x86-64.so.2 (0x00007f9b1a3c4000)\n',
    );
    expect(r.libraries).toEqual([{ name: 'libc.so.6', path: '/usr/lib/libc.so.6' }]);
    expect(r.loader).toEqual({
      path: '/lib64/ld-linux-x86-64.so.2',
      resolved: '/usr/lib64/ld-linux-x86-64.so.2',
    });
  });

  it('reads aarch64 and musl listings (musl names its loader twice)', () => {
    const arm = parseLdd(
      '\tlinux-vdso.so.1 (0x0000ffff8c5e0000)\n\tlibc.so.6 => /lib/aarch64-linux-gnu/libc.so.6 (0x0000ffff8c3e0000)\n' +
        '\t/lib/ld-linux-aarch64.so.1 (0x0000ffff8c5a3000)\n',
    );
    expect(arm.loader?.path).toBe('/lib/ld-linux-aarch64.so.1');
    expect(arm.libraries.map((l) => l.path)).toEqual(['/lib/aarch64-linux-gnu/libc.so.6']);
    const musl = parseLdd(
      '\t/lib/ld-musl-x86_64.so.1 (0x7f6ad3a4c000)\n\tlibstdc++.so.6 => /usr/lib/libstdc++.so.6 (0x7f6ad3600000)\n' +
        '\tlibgcc_s.so.1 => /usr/lib/libgcc_s.so.1 (0x7f6ad35dc000)\n\tlibc.musl-x86_64.so.1 => /lib/ld-musl-x86_64.so.1 (0x7f6ad3a4c000)\n',
    );
    expect(musl.loader?.path).toBe('/lib/ld-musl-x86_64.so.1');
    expect(musl.libraries.map((l) => l.name)).toEqual(['libstdc++.so.6', 'libgcc_s.so.1']);
  });

  it('recognises static binaries', () => {
    expect(parseLdd('\tnot a dynamic executable\n')).toMatchObject({
      static: true,
      libraries: [],
      loader: undefined,
    });
    expect(parseLdd('\tstatically linked\n')).toMatchObject({ static: true, libraries: [] });
  });

  it('dedupes a library listed twice', () => {
    const r = parseLdd(`${DEBIAN_NODE}\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f3d2493e000)\n`);
    expect(r.libraries).toHaveLength(6);
  });
});

describe('image names and commands', () => {
  it('names the node path, app commands, benchmark and image ref', () => {
    expect(appCommand('simple')).toEqual(['/usr/local/bin/node', '/apps/simple/server.mjs']);
    expect(appCommand('compute')).toEqual(['/usr/local/bin/node', '/apps/compute/server.mjs']);
    expect(benchCommand(500)).toEqual(['/usr/local/bin/node', '/apps/bench.mjs', '--ms', '500']);
    expect(imageRef('0123456789ab')).toBe('edgectl/apps:0123456789ab');
  });

  it('builds the docker import changes and argv', () => {
    expect(importChanges()).toEqual([
      'CMD ["/usr/local/bin/node","/apps/simple/server.mjs"]',
      'ENV PATH=/usr/local/bin:/usr/bin:/bin',
      'ENV DATA_DIR=/data',
      'WORKDIR /apps',
    ]);
    expect(dockerImportArgv('/c/x.tar', 'edgectl/apps:abc')).toEqual([
      'docker',
      'import',
      '--change',
      'CMD ["/usr/local/bin/node","/apps/simple/server.mjs"]',
      '--change',
      'ENV PATH=/usr/local/bin:/usr/bin:/bin',
      '--change',
      'ENV DATA_DIR=/data',
      '--change',
      'WORKDIR /apps',
      '/c/x.tar',
      'edgectl/apps:abc',
    ]);
  });
});

describe('tarHeader', () => {
  const field = (h: Buffer, offset: number, length: number) =>
    h
      .subarray(offset, offset + length)
      .toString('ascii')
      .replace(/\0.*$/s, '');

  it('writes a ustar header with owner 0, mtime 0 and a valid checksum', () => {
    const h = tarHeader({ path: 'usr/local/bin/node', type: 'file', mode: 0o755, size: 98932688 });
    expect(h.length).toBe(512);
    expect(field(h, 0, 100)).toBe('usr/local/bin/node');
    expect(field(h, 100, 8)).toBe('0000755');
    expect(field(h, 108, 8)).toBe('0000000');
    expect(field(h, 116, 8)).toBe('0000000');
    expect(Number.parseInt(field(h, 124, 12), 8)).toBe(98932688);
    expect(field(h, 136, 12)).toBe('00000000000');
    expect(field(h, 156, 1)).toBe('0');
    expect(h.subarray(257, 265).toString('latin1')).toBe('ustar\u000000');
    const copy = Buffer.from(h);
    copy.fill(' ', 148, 156);
    expect(Number.parseInt(field(h, 148, 7), 8)).toBe(copy.reduce((a, b) => a + b, 0));
    const dir = tarHeader({ path: 'tmp', type: 'dir', mode: 0o1777, size: 0 });
    expect(field(dir, 0, 100)).toBe('tmp/');
    expect(field(dir, 100, 8)).toBe('0001777');
    expect(field(dir, 156, 1)).toBe('5');
  });

  it('splits long paths into prefix and name, and refuses what cannot fit', () => {
    const long = `${'a'.repeat(60)}/${'b'.repeat(60)}/c.mjs`;
    const h = tarHeader({ path: long, type: 'file', mode: 0o644, size: 1 });
    expect(field(h, 345, 155)).toBe(`${'a'.repeat(60)}/${'b'.repeat(60)}`);
    expect(field(h, 0, 100)).toBe('c.mjs');
    expect(() => tarHeader({ path: `x/${'n'.repeat(101)}`, type: 'file', mode: 0o644, size: 1 })).toThrow(
      /too long/,
    );
    expect(() => tarHeader({ path: 'apps/caf\u00e9', type: 'file', mode: 0o644, size: 1 })).toThrow(/ASCII/);
  });
});

describe('planRootfs / buildRootfs (fixture inputs)', () => {
  const root = mkdtempSync(join(tmpdir(), 'edgectl-image-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  const bin = join(root, 'bin', 'node');
  const lib = join(root, 'lib');
  const apps = join(root, 'apps');
  mkdirSync(join(root, 'bin'));
  mkdirSync(lib);
  mkdirSync(join(apps, 'simple'), { recursive: true });
  mkdirSync(join(apps, 'lib'));
  writeFileSync(bin, 'not really node\n', { mode: 0o755 });
  writeFileSync(join(lib, 'libc.so.6'), 'libc bytes');
  writeFileSync(join(lib, 'ld.so'), 'loader bytes', { mode: 0o755 });
  writeFileSync(join(apps, 'simple', 'server.mjs'), 'console.log(1)\n', { mode: 0o755 });
  writeFileSync(join(apps, 'lib', 'framing.mjs'), 'export {}\n', { mode: 0o664 });
  writeFileSync(join(apps, '.hidden'), 'not shipped');
  const lddOutput = `\tlinux-vdso.so.1 (0x00007ffd)\n\tlibc.so.6 => ${lib}/libc.so.6 (0x00007f3d)\n\t${lib}/ld.so (0x00007f3e)\n`;

  let lddCalls: string[][] = [];
  const executor = (stdout: string, code = 0): Executor => ({
    host: 'local',
    async run(argv): Promise<RunResult> {
      lddCalls.push([...argv]);
      return { argv, code, stdout, stderr: code ? 'ldd: boom' : '', ms: 1, timedOut: false };
    },
  });

  it('plans node, the libraries at their paths, the loader, the apps and empty /tmp and /data', async () => {
    lddCalls = [];
    const plan = await planRootfs({ nodeBinary: bin, appsDir: apps, executor: executor(lddOutput) });
    expect(lddCalls).toEqual([['ldd', bin]]);
    const rel = lib.slice(1);
    const files = plan.entries
      .filter((e) => e.type === 'file')
      .map((e) => [e.path, e.mode.toString(8), e.size]);
    expect(files).toEqual(
      [
        ['apps/lib/framing.mjs', '644', 10],
        ['apps/simple/server.mjs', '644', 15],
        [`${rel}/ld.so`, '755', 12],
        [`${rel}/libc.so.6`, '644', 10],
        ['usr/local/bin/node', '755', 16],
      ].sort((a, b) => (String(a[0]) < String(b[0]) ? -1 : 1)),
    );
    const dirs = plan.entries.filter((e) => e.type === 'dir').map((e) => e.path);
    expect(dirs).toEqual(
      expect.arrayContaining([
        'apps',
        'apps/lib',
        'apps/simple',
        'data',
        'tmp',
        'usr',
        'usr/local',
        'usr/local/bin',
      ]),
    );
    expect(plan.entries.find((e) => e.path === 'tmp')?.mode).toBe(0o1777);
    const paths = plan.entries.map((e) => e.path);
    expect(paths).toEqual([...paths].sort());
    expect(plan.contentTag).toMatch(/^[0-9a-f]{12}$/);
    expect(plan.loader).toBe(`${lib}/ld.so`);
  });

  it('refuses to build when ldd cannot find a library, or fails', async () => {
    await expect(
      planRootfs({
        nodeBinary: bin,
        appsDir: apps,
        executor: executor(`${lddOutput}\tlibuv.so.1 => not found\n`),
      }),
    ).rejects.toThrow(/needs shared libraries that ldd cannot find: libuv.so.1/);
    await expect(planRootfs({ nodeBinary: bin, appsDir: apps, executor: executor('', 1) })).rejects.toThrow(
      ImageBuildError,
    );
    await expect(
      planRootfs({ nodeBinary: bin, appsDir: join(root, 'bin'), executor: executor(lddOutput) }),
    ).rejects.toThrow(/holds no app/);
  });

  it('is reproducible: same inputs, same bytes and tag; file times do not matter; contents do', async () => {
    const opts = { nodeBinary: bin, appsDir: apps, executor: executor(lddOutput) };
    const a = await buildRootfs({ ...opts, cacheDir: join(root, 'cache-a') });
    utimesSync(bin, new Date('2001-02-03'), new Date('2001-02-03'));
    const b = await buildRootfs({ ...opts, cacheDir: join(root, 'cache-b') });
    expect(a.cached).toBe(false);
    expect(b.cached).toBe(false);
    expect(b.contentTag).toBe(a.contentTag);
    expect(b.sha256).toBe(a.sha256);
    expect(Buffer.compare(readFileSync(a.path), readFileSync(b.path))).toBe(0);
    expect(a.path).toBe(rootfsTarPath(join(root, 'cache-a'), a.contentTag));
    expect(a.image).toBe(`edgectl/apps:${a.contentTag}`);
    expect(a.bytes % 512).toBe(0);

    const again = await buildRootfs({ ...opts, cacheDir: join(root, 'cache-a') });
    expect(again).toMatchObject({ cached: true, sha256: a.sha256, path: a.path, bytes: a.bytes });
    const forced = await buildRootfs({ ...opts, cacheDir: join(root, 'cache-a'), force: true });
    expect(forced).toMatchObject({ cached: false, sha256: a.sha256 });

    writeFileSync(join(apps, 'simple', 'server.mjs'), 'console.log(2)\n');
    const changed = await buildRootfs({ ...opts, cacheDir: join(root, 'cache-a') });
    expect(changed.contentTag).not.toBe(a.contentTag);
    expect(changed.cached).toBe(false);
    writeFileSync(join(apps, 'simple', 'server.mjs'), 'console.log(1)\n');
    expect((await planRootfs(opts)).contentTag).toBe(a.contentTag);
  });

  it('writes a tar that GNU tar lists and extracts to the same contents', async () => {
    const built = await buildRootfs({
      nodeBinary: bin,
      appsDir: apps,
      executor: executor(lddOutput),
      cacheDir: join(root, 'cache-t'),
    });
    const listing = execFileSync('tar', ['--numeric-owner', '-tvf', built.path], { encoding: 'utf8' });
    expect(listing).toMatch(/^-rwxr-xr-x 0\/0\s+16 1970-01-01 00:00 usr\/local\/bin\/node$/m);
    expect(listing).toMatch(/^drwxrwxrwt 0\/0\s+0 1970-01-01 00:00 tmp\/$/m);
    expect(listing).not.toMatch(/hidden/);
    const out = join(root, 'extract');
    mkdirSync(out);
    execFileSync('tar', ['-xf', built.path, '-C', out]);
    expect(readFileSync(join(out, 'usr/local/bin/node'), 'utf8')).toBe('not really node\n');
    expect(readFileSync(join(out, lib.slice(1), 'libc.so.6'), 'utf8')).toBe('libc bytes');
    expect(readFileSync(join(out, 'apps/simple/server.mjs'), 'utf8')).toBe('console.log(1)\n');
  });
});
