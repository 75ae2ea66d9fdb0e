/**
 * image load and copyImage against fake daemons: each "loads" what it is sent by reading it as an archive
 * (readImageArchive), keeps image IDs and tags, and answers inspect, tag, save (get) and load as dockerode
 * does (404 errors carry statusCode; a load answers a JSON-lines stream, an error as an event in it).
 */
import { createReadStream, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import Docker from 'dockerode';
import * as tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  copyImage,
  ensureImageFromArchive,
  hasImageId,
  loadImageOnServers,
  resolveImage,
  savedImagePath,
  tagOfRef,
} from '../../src/lib/docker/images.js';
import { EdgectlError } from '../../src/lib/errors.js';
import { familiarRef, readImageArchive, writeImageArchive } from '../../src/lib/image/index.js';
import type { Host, Inventory } from '../../src/lib/inventory/index.js';
import { SshPool } from '../../src/lib/remote/index.js';

const daemons = new Map<string, FakeDaemon>();
vi.mock('../../src/lib/docker/client.js', () => ({
  dockerFor: (_pool: unknown, host: { name: string }) => {
    const d = daemons.get(host.name);
    if (!d) throw new Error(`no fake daemon for ${host.name}`);
    return d;
  },
}));

const dir = mkdtempSync(join(tmpdir(), 'edgectl-image-load-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function notFound(ref: string): Error {
  return Object.assign(new Error(`(HTTP code 404) no such image - No such image: ${ref}`), {
    statusCode: 404,
  });
}

/** Enough of a dockerd for image load: IDs, tags, inspect, tag, get (docker save), load. */
class FakeDaemon {
  readonly ids = new Set<string>();
  readonly tags = new Map<string, string>();
  /** Archive files by image ID, for get(). */
  readonly files = new Map<string, string>();
  loads = 0;
  received = 0;
  /** Make the next load fail like this (an error event in the answer, or a thrown error). */
  failNextLoad: { event?: string; throw?: string; silently?: boolean } | undefined;
  readonly modem = new Docker({ socketPath: '/nonexistent/docker.sock' }).modem;
  private seq = 0;

  constructor(readonly name: string) {}

  has(archive: { id: string; file?: string }, ...tags: string[]): this {
    this.ids.add(archive.id);
    if (archive.file) this.files.set(archive.id, archive.file);
    for (const t of tags) this.tags.set(familiarRef(t), archive.id);
    return this;
  }

  private resolve(ref: string): string | undefined {
    if (ref.startsWith('sha256:')) return this.ids.has(ref) ? ref : undefined;
    return this.tags.get(familiarRef(ref));
  }

  getImage(ref: string) {
    return {
      inspect: async () => {
        const id = this.resolve(ref);
        if (!id) throw notFound(ref);
        return { Id: id, RepoTags: [...this.tags].filter(([, v]) => v === id).map(([k]) => k) };
      },
      tag: async ({ repo, tag }: { repo: string; tag: string }) => {
        const id = this.resolve(ref);
        if (!id) throw notFound(ref);
        this.tags.set(familiarRef(`${repo}:${tag}`), id);
      },
      get: async () => {
        const id = this.resolve(ref);
        const file = id && this.files.get(id);
        if (!file) throw notFound(ref);
        return createReadStream(file, { highWaterMark: 64 * 1024 });
      },
    };
  }

  async loadImage(body: NodeJS.ReadableStream, _opts?: object): Promise<NodeJS.ReadableStream> {
    this.loads++;
    const fail = this.failNextLoad;
    this.failNextLoad = undefined;
    if (fail?.throw) throw new Error(fail.throw);
    const file = join(dir, `${this.name}-load-${this.seq++}.tar`);
    const chunks: Buffer[] = [];
    for await (const chunk of body) chunks.push(chunk as Buffer);
    const data = Buffer.concat(chunks);
    this.received += data.length;
    if (fail?.event)
      return Readable.from([
        `${JSON.stringify({ errorDetail: { message: fail.event }, error: fail.event })}\n`,
      ]);
    if (fail?.silently) return Readable.from([]);
    writeFileSync(file, data);
    const info = await readImageArchive(file);
    this.has({ id: info.id, file }, ...info.tags);
    return Readable.from([`${JSON.stringify({ stream: `Loaded image: ${info.tags[0] ?? info.id}\n` })}\n`]);
  }

  asDocker(): Docker {
    return this as unknown as Docker;
  }
}

interface Archive {
  path: string;
  id: string;
  ref: string;
  bytes: number;
}

/** A layer of `size` pseudo-random bytes (one file), as an image archive tagged `ref`. */
async function makeArchive(name: string, ref: string, size: number): Promise<Archive> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve) => pack.on('end', resolve));
  pack.on('data', (c) => chunks.push(c as Buffer));
  const payload = Buffer.alloc(size);
  for (let i = 0; i < size; i++) payload[i] = (i * 7919 + name.length) & 0xff;
  pack.entry({ name: 'data/blob', mtime: new Date(0) }, payload);
  pack.finalize();
  await done;
  const layer = join(dir, `${name}.layer`);
  writeFileSync(layer, Buffer.concat(chunks));
  const w = await writeImageArchive({
    layer,
    config: { Cmd: ['/x', name] },
    ref,
    out: join(dir, `${name}.tar`),
  });
  return { path: w.path, id: w.id, ref: w.ref, bytes: w.bytes };
}

let img: Archive;
let other: Archive;
beforeAll(async () => {
  img = await makeArchive('img', 'edgectl-test/x:1', 3 << 20);
  other = await makeArchive('other', 'edgectl-test/x:0', 1000);
});

async function failure(promise: Promise<unknown>): Promise<EdgectlError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(EdgectlError);
  return err as EdgectlError;
}

describe('hasImageId and tagOfRef', () => {
  it('an ID is there or not; any other failure is thrown', async () => {
    const d = new FakeDaemon('a').has(img, img.ref);
    expect(await hasImageId(d.asDocker(), img.id)).toBe(true);
    expect(await hasImageId(d.asDocker(), other.id)).toBe(false);
    const broken = {
      getImage: () => ({
        inspect: async () => Promise.reject(Object.assign(new Error('boom'), { statusCode: 500 })),
      }),
    } as unknown as Docker;
    await expect(hasImageId(broken, img.id)).rejects.toThrow('boom');
  });

  it('a name sets a tag, an ID or a digest reference none', () => {
    expect(tagOfRef('myorg/svc')).toBe('myorg/svc:latest');
    expect(tagOfRef('docker.io/library/busybox:1')).toBe('busybox:1');
    expect(tagOfRef(`sha256:${'a'.repeat(64)}`)).toBeUndefined();
    expect(tagOfRef(`busybox@sha256:${'a'.repeat(64)}`)).toBeUndefined();
  });
});

describe('ensureImageFromArchive', () => {
  it('loads once, streaming with progress; a second time sends nothing', async () => {
    const d = new FakeDaemon('a');
    const seen: number[] = [];
    const first = await ensureImageFromArchive(
      d.asDocker(),
      { path: img.path, id: img.id, tags: [img.ref] },
      { onProgress: (b) => seen.push(b) },
    );
    expect(first).toEqual({ loaded: true, bytes: img.bytes, tagged: [] });
    expect(d.received).toBe(img.bytes);
    expect(seen.length).toBeGreaterThan(1);
    expect(seen.at(-1)).toBe(img.bytes);
    expect(d.tags.get(img.ref)).toBe(img.id);

    const again = await ensureImageFromArchive(d.asDocker(), { path: img.path, id: img.id, tags: [img.ref] });
    expect(again).toEqual({ loaded: false, bytes: 0, tagged: [] });
    expect(d.loads).toBe(1);
  });

  it('the ID there but a tag missing or on another image: only tagged, nothing sent', async () => {
    const d = new FakeDaemon('a').has(img).has(other, img.ref);
    const r = await ensureImageFromArchive(d.asDocker(), {
      path: img.path,
      id: img.id,
      tags: [img.ref, 'mine:2'],
    });
    expect(r).toEqual({ loaded: false, bytes: 0, tagged: [img.ref, 'mine:2'] });
    expect(d.loads).toBe(0);
    expect(d.tags.get(img.ref)).toBe(img.id);
    expect(d.tags.get('mine:2')).toBe(img.id);
  });

  it('an error in the load answer, a failed request, a load that leaves no image: failures', async () => {
    const d = new FakeDaemon('a');
    const archive = { path: img.path, id: img.id, tags: [img.ref] };
    d.failNextLoad = { event: 'write /var/lib/docker/tmp: no space left on device' };
    await expect(ensureImageFromArchive(d.asDocker(), archive)).rejects.toThrow(/no space left/);
    d.failNextLoad = { throw: 'socket hang up' };
    await expect(ensureImageFromArchive(d.asDocker(), archive)).rejects.toThrow(/socket hang up/);
    d.failNextLoad = { silently: true };
    await expect(ensureImageFromArchive(d.asDocker(), archive)).rejects.toThrow(/there is no image sha256:/);
    expect(d.ids.size).toBe(0);
  });
});

describe('copyImage', () => {
  it("streams src's save into dst's load when dst lacks the ID; then sends nothing", async () => {
    const src = new FakeDaemon('edge1').has({ id: img.id, file: img.path }, img.ref);
    const dst = new FakeDaemon('edge2');
    let calls = 0;
    const r = await copyImage(src.asDocker(), dst.asDocker(), img.ref, { onProgress: () => calls++ });
    expect(r).toMatchObject({ loaded: true, bytes: img.bytes, id: img.id });
    expect(calls).toBeGreaterThan(1); // chunk by chunk, not one buffer
    expect(dst.tags.get(img.ref)).toBe(img.id);
    const again = await copyImage(src.asDocker(), dst.asDocker(), img.ref);
    expect(again).toMatchObject({ loaded: false, bytes: 0, id: img.id });
    expect(dst.loads).toBe(1);
  });

  it('a name missing on src: an ImageLoadError naming both', async () => {
    const src = new FakeDaemon('edge1');
    const err = await failure(
      copyImage(src.asDocker(), new FakeDaemon('edge2').asDocker(), 'nope:1', {
        srcName: 'edge1',
        dstName: 'edge2',
      }),
    );
    expect(err.code).toBe('IMAGE_LOAD_FAILED');
    expect(err.exitCode).toBe(5);
    expect(err.message).toBe('loading nope:1 into edge2: there is no image nope:1 on edge1 to copy');
  });
});

describe('resolveImage', () => {
  it('a file: its ID and tags', async () => {
    const r = await resolveImage(img.path, { cacheDir: join(dir, 'cache') });
    expect(r).toEqual({
      source: 'file',
      path: img.path,
      id: img.id,
      tags: [img.ref],
      archiveBytes: img.bytes,
      saved: false,
    });
  });

  it('an OCI layout archive (no manifest.json): sent through a loadable copy made once in the cache', async () => {
    const cacheDir = join(dir, 'cache-oci');
    const extract = tar.extract();
    Readable.from(await readFile(img.path)).pipe(extract);
    const pack = tar.pack();
    const chunks: Buffer[] = [];
    pack.on('data', (c) => chunks.push(c as Buffer));
    const packed = new Promise<void>((resolve) => pack.on('end', () => resolve()));
    for await (const entry of extract) {
      const parts: Buffer[] = [];
      for await (const c of entry) parts.push(c as Buffer);
      if (entry.header.name !== 'manifest.json') pack.entry(entry.header, Buffer.concat(parts));
    }
    pack.finalize();
    await packed;
    const oci = join(dir, 'oci-only.tar');
    writeFileSync(oci, Buffer.concat(chunks));
    const converted: string[] = [];
    const first = await resolveImage(oci, { cacheDir, onConvert: (f) => converted.push(f) });
    expect(first).toMatchObject({
      source: 'file',
      path: savedImagePath(cacheDir, img.id),
      id: img.id,
      tags: [img.ref],
      saved: true,
    });
    expect(converted).toEqual([oci]);
    expect(await readImageArchive(first.path)).toMatchObject({ format: 'docker-save', id: img.id });
    const second = await resolveImage(oci, { cacheDir, onConvert: (f) => converted.push(f) });
    expect(second).toMatchObject({ path: first.path, saved: false });
    expect(converted).toHaveLength(1);
  });

  it('no such file, a directory: usage errors', async () => {
    const missing = await failure(resolveImage('./nope.tar', { cacheDir: dir }));
    expect([missing.code, missing.exitCode, missing.message]).toEqual([
      'USAGE',
      2,
      'no such file: ./nope.tar',
    ]);
    mkdirSync(join(dir, 'layout'), { recursive: true });
    const folder = await failure(resolveImage(join(dir, 'layout'), { cacheDir: dir }));
    expect(folder.message).toMatch(/is a directory; an OCI layout goes as a tar/);
  });

  it("an image of this machine's Docker: saved once into the cache by its ID, then reused", async () => {
    const cacheDir = join(dir, 'cache');
    const local = new FakeDaemon('local').has({ id: img.id, file: img.path }, img.ref, 'alias:9');
    const get = vi.spyOn(local, 'getImage');
    const saves: string[] = [];
    const first = await resolveImage('alias:9', {
      cacheDir,
      localDocker: local.asDocker(),
      onSave: (ref) => saves.push(ref),
    });
    expect(first).toEqual({
      source: 'docker',
      path: savedImagePath(cacheDir, img.id),
      id: img.id,
      tags: ['alias:9'],
      archiveBytes: img.bytes,
      saved: true,
    });
    expect(saves).toEqual(['alias:9']);
    expect(JSON.parse(await readFile(`${first.path}.json`, 'utf8'))).toEqual({
      id: img.id,
      tags: [img.ref],
      bytes: img.bytes,
    });
    const second = await resolveImage(img.ref, { cacheDir, localDocker: local.asDocker() });
    expect(second).toMatchObject({ path: first.path, tags: [img.ref], saved: false });
    // by ID: no tag to set
    const byId = await resolveImage(img.id, { cacheDir, localDocker: local.asDocker() });
    expect(byId.tags).toEqual([]);
    // the first: inspect, then get (docker save); later ones: inspect only
    expect(get.mock.calls.map((c) => c[0])).toEqual(['alias:9', 'alias:9', img.ref, img.id]);
  });

  it('an image that is not there: an error naming it', async () => {
    const err = await failure(
      resolveImage('myorg/absent:3', { cacheDir: dir, localDocker: new FakeDaemon('local').asDocker() }),
    );
    expect([err.code, err.exitCode]).toEqual(['IMAGE_NOT_FOUND', 2]);
    expect(err.message).toMatch(/^there is no image myorg\/absent:3 in this machine's Docker/);
  });

  it("this machine's Docker unreachable (dockerode's defaults, DOCKER_HOST): the hint names docker save -o", async () => {
    const before = process.env['DOCKER_HOST'];
    process.env['DOCKER_HOST'] = `unix://${join(dir, 'no-docker.sock')}`;
    try {
      const err = await failure(resolveImage('myorg/svc:1', { cacheDir: dir }));
      expect([err.code, err.exitCode]).toEqual(['LOCAL_DOCKER_UNAVAILABLE', 7]);
      expect(err.message).toContain(
        `this machine's Docker (unix://${join(dir, 'no-docker.sock')}) does not answer`,
      );
      expect(err.hint).toContain('docker save -o FILE IMAGE');
    } finally {
      if (before === undefined) delete process.env['DOCKER_HOST'];
      else process.env['DOCKER_HOST'] = before;
    }
  });
});

describe('loadImageOnServers', () => {
  const host = (name: string) => ({ name, isServer: true }) as unknown as Host;
  const inv = { dir, hosts: [] } as unknown as Inventory;
  const pool = new SshPool();

  it('sends to the servers that lack it, in parallel; a second run sends nothing', async () => {
    daemons.clear();
    daemons.set('edge1', new FakeDaemon('edge1'));
    daemons.set('edge2', new FakeDaemon('edge2').has(img, img.ref));
    const hosts = [host('edge1'), host('edge2')];
    const progress = new Set<string>();
    const r = await loadImageOnServers(inv, pool, img.path, {
      hosts,
      onProgress: (p) => {
        expect(p.total).toBe(img.bytes);
        progress.add(p.host);
      },
    });
    expect(r).toMatchObject({ image: img.id, tags: [img.ref], source: 'file', archiveBytes: img.bytes });
    expect(r.hosts.map(({ ms: _ms, ...h }) => h)).toEqual([
      { host: 'edge1', loaded: true, bytes: img.bytes },
      { host: 'edge2', loaded: false, bytes: 0 },
    ]);
    expect([...progress]).toEqual(['edge1']);
    const again = await loadImageOnServers(inv, pool, img.path, { hosts });
    expect(again.hosts.map((h) => [h.loaded, h.bytes])).toEqual([
      [false, 0],
      [false, 0],
    ]);
  });

  it('a server that fails: an ImageLoadError naming it, after every other server was done', async () => {
    daemons.clear();
    const bad = new FakeDaemon('edge1');
    bad.failNextLoad = { event: 'unexpected EOF' };
    daemons.set('edge1', bad);
    daemons.set('edge2', new FakeDaemon('edge2'));
    const err = await failure(
      loadImageOnServers(inv, pool, img.path, { hosts: [host('edge1'), host('edge2')] }),
    );
    expect([err.code, err.exitCode]).toEqual(['IMAGE_LOAD_FAILED', 5]);
    expect(err.message).toBe(`loading ${img.ref} into edge1: unexpected EOF`);
    expect(err.hint).toContain('edge1');
    expect(daemons.get('edge2')?.ids.has(img.id)).toBe(true);
    expect(existsSync(img.path)).toBe(true);
  });
});
