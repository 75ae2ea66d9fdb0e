import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import * as tar from 'tar-stream';
import { afterAll, describe, expect, it } from 'vitest';
import { EdgectlError } from '../../src/lib/errors.js';
import {
  dockerArchitecture,
  familiarRef,
  imageConfigJson,
  isImageIdRef,
  planRootfs,
  qualifiedRef,
  readImageArchive,
  splitRef,
  writeImageArchive,
  writeLoadableCopy,
} from '../../src/lib/image/index.js';

const dir = mkdtempSync(join(tmpdir(), 'edgectl-archive-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

interface TarFile {
  name: string;
  data?: Buffer | string;
  type?: 'file' | 'directory';
  mtime?: Date;
}

/** A tar of these entries, in memory (for tests: small). */
async function tarOf(files: readonly TarFile[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    pack.on('data', (c) => chunks.push(c as Buffer));
    pack.on('end', resolve);
    pack.on('error', reject);
  });
  for (const f of files) {
    if (f.type === 'directory')
      pack.entry({ name: f.name, type: 'directory', mtime: f.mtime ?? new Date(0) });
    else pack.entry({ name: f.name, mtime: f.mtime ?? new Date(0) }, Buffer.from(f.data ?? ''));
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** Every entry of a tar file: name, header, contents. */
async function entriesOf(path: string): Promise<{ name: string; header: tar.Header; data: Buffer }[]> {
  const extract = tar.extract();
  Readable.from(readFileSync(path)).pipe(extract);
  const out: { name: string; header: tar.Header; data: Buffer }[] = [];
  for await (const entry of extract) {
    const chunks: Buffer[] = [];
    for await (const c of entry) chunks.push(c as Buffer);
    out.push({ name: entry.header.name, header: entry.header, data: Buffer.concat(chunks) });
  }
  return out;
}

function file(name: string, data: Buffer): string {
  const path = join(dir, name);
  writeFileSync(path, data);
  return path;
}

async function expectUsageError(promise: Promise<unknown>, message: RegExp): Promise<void> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(EdgectlError);
  expect((err as EdgectlError).code).toBe('USAGE');
  expect((err as EdgectlError).exitCode).toBe(2);
  expect((err as EdgectlError).message).toMatch(message);
}

const RUN_CONFIG = {
  Cmd: ['/usr/local/bin/node', '/apps/server.mjs'],
  Env: ['PATH=/usr/local/bin:/usr/bin:/bin', 'DATA_DIR=/data'],
  WorkingDir: '/apps',
  ExposedPorts: { '8080/tcp': {} },
};

describe('image references', () => {
  it('splits name and tag, a registry port is no tag', () => {
    expect(splitRef('busybox')).toEqual({ repo: 'busybox', tag: 'latest' });
    expect(splitRef('edgectl-test/http-counter:1')).toEqual({ repo: 'edgectl-test/http-counter', tag: '1' });
    expect(splitRef('localhost:5000/x')).toEqual({ repo: 'localhost:5000/x', tag: 'latest' });
    expect(splitRef('localhost:5000/x:2')).toEqual({ repo: 'localhost:5000/x', tag: '2' });
  });

  it('familiar and qualified forms, as docker images and containerd show them', () => {
    expect(familiarRef('docker.io/library/busybox:1.36')).toBe('busybox:1.36');
    expect(familiarRef('docker.io/myorg/svc')).toBe('myorg/svc:latest');
    expect(familiarRef('quay.io/x/y:2')).toBe('quay.io/x/y:2');
    expect(qualifiedRef('busybox')).toBe('docker.io/library/busybox:latest');
    expect(qualifiedRef('edgectl-test/http-counter:1')).toBe('docker.io/edgectl-test/http-counter:1');
    expect(qualifiedRef('localhost:5000/x:2')).toBe('localhost:5000/x:2');
  });

  it('tells image IDs from names', () => {
    expect(isImageIdRef(`sha256:${'a'.repeat(64)}`)).toBe(true);
    expect(isImageIdRef('0123456789ab')).toBe(true);
    expect(isImageIdRef('busybox')).toBe(false);
    expect(isImageIdRef('myorg/svc:1')).toBe(false);
  });

  it("names this machine's architecture as Docker does", () => {
    expect(dockerArchitecture('x64')).toBe('amd64');
    expect(dockerArchitecture('arm64')).toBe('arm64');
  });
});

describe('a single-service apps dir', () => {
  it('server.mjs on top is an app (a test service image: /apps/server.mjs)', async () => {
    const apps = join(dir, 'one-app');
    mkdirSync(apps);
    writeFileSync(join(apps, 'server.mjs'), 'export {};\n');
    const plan = await planRootfs({ appsDir: apps });
    expect(plan.entries.find((e) => e.path === 'apps/server.mjs')).toMatchObject({
      type: 'file',
      mode: 0o644,
    });
  });
});

describe('writeImageArchive', () => {
  let layer: string;
  let layerBytes: Buffer;

  it('writes a docker save archive (and OCI layout) whose ID is the sha256 of its config', async () => {
    layerBytes = await tarOf([
      { name: 'apps/', type: 'directory' },
      { name: 'apps/server.mjs', data: 'console.log("hi")\n' },
    ]);
    layer = file('layer.tar', layerBytes);
    const out = join(dir, 'image.tar');
    const w = await writeImageArchive({
      layer,
      config: RUN_CONFIG,
      ref: 'edgectl-test/x:1',
      out,
      architecture: 'amd64',
    });
    expect(w.path).toBe(out);
    expect(w.ref).toBe('edgectl-test/x:1');
    expect(w.diffId).toBe(`sha256:${sha256(layerBytes)}`);

    const entries = await entriesOf(out);
    const layerHex = sha256(layerBytes);
    const configHex = w.id.slice('sha256:'.length);
    const get = (name: string) => entries.find((e) => e.name === name)!.data;
    const manifestHex = JSON.parse(get('index.json').toString()).manifests[0].digest.slice('sha256:'.length);
    expect(sha256(get(`blobs/sha256/${manifestHex}`))).toBe(manifestHex);
    expect(entries.map((e) => e.name)).toEqual([
      'blobs/',
      'blobs/sha256/',
      ...[
        `blobs/sha256/${configHex}`,
        `blobs/sha256/${layerHex}`,
        `blobs/sha256/${manifestHex}`,
        'index.json',
        'manifest.json',
        'oci-layout',
        'repositories',
      ].sort(),
    ]);
    for (const e of entries) {
      expect(e.header.mtime?.getTime()).toBe(0);
      expect([e.header.uid, e.header.gid]).toEqual([0, 0]);
    }
    expect(JSON.parse(get('manifest.json').toString())).toEqual([
      {
        Config: `blobs/sha256/${configHex}`,
        RepoTags: ['edgectl-test/x:1'],
        Layers: [`blobs/sha256/${layerHex}`],
      },
    ]);
    const config = get(`blobs/sha256/${configHex}`);
    expect(sha256(config)).toBe(configHex);
    expect(JSON.parse(config.toString())).toMatchObject({
      architecture: 'amd64',
      os: 'linux',
      config: RUN_CONFIG,
      rootfs: { type: 'layers', diff_ids: [`sha256:${layerHex}`] },
    });
    expect(get(`blobs/sha256/${layerHex}`)).toEqual(layerBytes);
    expect(JSON.parse(get('repositories').toString())).toEqual({ 'edgectl-test/x': { '1': layerHex } });
    expect(JSON.parse(get('oci-layout').toString())).toEqual({ imageLayoutVersion: '1.0.0' });
    const index = JSON.parse(get('index.json').toString());
    expect(index.manifests[0].annotations).toEqual({
      'io.containerd.image.name': 'docker.io/edgectl-test/x:1',
      'org.opencontainers.image.ref.name': '1',
    });
    expect(w.bytes).toBe(readFileSync(out).length);
  });

  it('is reproducible: the same inputs give the same bytes', async () => {
    const a = await writeImageArchive({
      layer,
      config: RUN_CONFIG,
      ref: 'edgectl-test/x:1',
      out: join(dir, 'a.tar'),
    });
    const b = await writeImageArchive({
      layer,
      config: RUN_CONFIG,
      ref: 'edgectl-test/x:1',
      out: join(dir, 'b.tar'),
    });
    expect(a.id).toBe(b.id);
    expect(sha256(readFileSync(a.path))).toBe(sha256(readFileSync(b.path)));
    // The config alone decides the ID: another tag, the same image.
    const c = await writeImageArchive({ layer, config: RUN_CONFIG, ref: 'other:2', out: join(dir, 'c.tar') });
    expect(c.id).toBe(a.id);
    const d = await writeImageArchive({
      layer,
      config: { ...RUN_CONFIG, Env: ['A=1'] },
      ref: 'edgectl-test/x:1',
      out: join(dir, 'd.tar'),
    });
    expect(d.id).not.toBe(a.id);
  });

  it('keeps one key order in the config whatever the order given', () => {
    const diff = `sha256:${'0'.repeat(64)}`;
    const one = imageConfigJson(
      { WorkingDir: '/w', Cmd: ['x'], ExposedPorts: { '2/tcp': {}, '1/tcp': {} } },
      diff,
      'amd64',
    );
    const two = imageConfigJson(
      { ExposedPorts: { '1/tcp': {}, '2/tcp': {} }, Cmd: ['x'], WorkingDir: '/w' },
      diff,
      'amd64',
    );
    expect(one.equals(two)).toBe(true);
  });
});

describe('readImageArchive', () => {
  it("reads the writer's archive: ID, tag, one layer", async () => {
    const layer = file('l.tar', await tarOf([{ name: 'a', data: 'a' }]));
    const w = await writeImageArchive({
      layer,
      config: RUN_CONFIG,
      ref: 'edgectl-test/x:1',
      out: join(dir, 'r.tar'),
    });
    const r = await readImageArchive(w.path);
    expect(r).toEqual({
      path: w.path,
      format: 'docker-save',
      id: w.id,
      tags: ['edgectl-test/x:1'],
      layers: 1,
      configFile: `blobs/sha256/${w.id.slice(7)}`,
      layerFiles: [`blobs/sha256/${w.diffId.slice(7)}`],
      bytes: w.bytes,
      compressed: false,
    });
  });

  it('reads it gzipped, and as an OCI layout alone (without manifest.json)', async () => {
    const layer = file('l2.tar', await tarOf([{ name: 'b', data: 'b' }]));
    const w = await writeImageArchive({
      layer,
      config: RUN_CONFIG,
      ref: 'busybox:1.36',
      out: join(dir, 'o.tar'),
    });
    const gz = file('o.tar.gz', gzipSync(readFileSync(w.path)));
    expect(await readImageArchive(gz)).toMatchObject({ id: w.id, tags: ['busybox:1.36'], compressed: true });

    const withoutManifest = (await entriesOf(w.path)).filter(
      (e) => e.name !== 'manifest.json' && e.name !== 'repositories',
    );
    const oci = file(
      'oci-only.tar',
      await tarOf(
        withoutManifest.map((e) => (e.name.endsWith('/') ? { name: e.name, type: 'directory' } : e)),
      ),
    );
    expect(await readImageArchive(oci)).toMatchObject({
      format: 'oci',
      id: w.id,
      tags: ['busybox:1.36'],
      layers: 1,
    });
  });

  it('reads a hand-made OCI layout: a platform index of which one platform is in the archive', async () => {
    const layer = await tarOf([
      { name: 'bin/', type: 'directory' },
      { name: 'bin/sh', data: '#!' },
    ]);
    const config = Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        config: { Cmd: ['/bin/sh'] },
        rootfs: { type: 'layers', diff_ids: [`sha256:${sha256(layer)}`] },
      }),
    );
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: {
          mediaType: 'application/vnd.oci.image.config.v1+json',
          digest: `sha256:${sha256(config)}`,
          size: config.length,
        },
        layers: [
          {
            mediaType: 'application/vnd.oci.image.layer.v1.tar',
            digest: `sha256:${sha256(layer)}`,
            size: layer.length,
          },
        ],
      }),
    );
    const absent = `sha256:${'f'.repeat(64)}`;
    const platforms = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [
          {
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            digest: `sha256:${sha256(manifest)}`,
            size: manifest.length,
            platform: { architecture: 'amd64', os: 'linux' },
          },
          {
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            digest: absent,
            size: 100,
            platform: { architecture: 'arm64', os: 'linux' },
          },
        ],
      }),
    );
    const index = JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.index.v1+json',
          digest: `sha256:${sha256(platforms)}`,
          size: platforms.length,
          annotations: { 'org.opencontainers.image.ref.name': 'docker.io/library/alpine:3.20' },
        },
      ],
    });
    const path = file(
      'hand-oci.tar',
      await tarOf([
        { name: 'oci-layout', data: '{"imageLayoutVersion":"1.0.0"}' },
        { name: 'index.json', data: index },
        { name: `blobs/sha256/${sha256(platforms)}`, data: platforms },
        { name: `blobs/sha256/${sha256(manifest)}`, data: manifest },
        { name: `blobs/sha256/${sha256(config)}`, data: config },
        { name: `blobs/sha256/${sha256(layer)}`, data: layer },
      ]),
    );
    const info = await readImageArchive(path);
    expect(info).toMatchObject({
      format: 'oci',
      id: `sha256:${sha256(config)}`,
      tags: ['alpine:3.20'],
      layers: 1,
      configFile: `blobs/sha256/${sha256(config)}`,
      layerFiles: [`blobs/sha256/${sha256(layer)}`],
    });

    // Engines before 25 load only archives with manifest.json: the loadable copy adds it, keeping the rest.
    const copy = join(dir, 'hand-oci-loadable.tar');
    const { bytes } = await writeLoadableCopy(info, copy);
    expect(bytes).toBe(readFileSync(copy).length);
    expect(await readImageArchive(copy)).toMatchObject({
      format: 'docker-save',
      id: info.id,
      tags: ['alpine:3.20'],
      layerFiles: info.layerFiles,
    });
    const entries = await entriesOf(copy);
    expect(entries.map((e) => e.name)).toEqual([
      'oci-layout',
      'index.json',
      `blobs/sha256/${sha256(platforms)}`,
      `blobs/sha256/${sha256(manifest)}`,
      `blobs/sha256/${sha256(config)}`,
      `blobs/sha256/${sha256(layer)}`,
      'manifest.json',
      'repositories',
    ]);
    expect(entries.find((e) => e.name === `blobs/sha256/${sha256(layer)}`)?.data).toEqual(layer);
    expect(JSON.parse(entries.find((e) => e.name === 'manifest.json')!.data.toString())).toEqual([
      {
        Config: `blobs/sha256/${sha256(config)}`,
        RepoTags: ['alpine:3.20'],
        Layers: [`blobs/sha256/${sha256(layer)}`],
      },
    ]);
    expect(JSON.parse(entries.find((e) => e.name === 'repositories')!.data.toString())).toEqual({
      alpine: { '3.20': sha256(layer) },
    });

    // A bare tag in ref.name names no repository: no tags, the image still reads.
    const bareTag = index.replace('docker.io/library/alpine:3.20', '3.20');
    const bare = file(
      'hand-oci-bare.tar',
      await tarOf([
        { name: 'index.json', data: bareTag },
        { name: `blobs/sha256/${sha256(platforms)}`, data: platforms },
        { name: `blobs/sha256/${sha256(manifest)}`, data: manifest },
        { name: `blobs/sha256/${sha256(config)}`, data: config },
        { name: `blobs/sha256/${sha256(layer)}`, data: layer },
      ]),
    );
    expect(await readImageArchive(bare)).toMatchObject({ id: `sha256:${sha256(config)}`, tags: [] });
  });

  it('reads a legacy docker save layout (<id>.json, <layer>/layer.tar), two tags of one image merged', async () => {
    const layer = await tarOf([{ name: 'etc/hostname', data: 'x' }]);
    const config = Buffer.from(
      JSON.stringify({ os: 'linux', rootfs: { type: 'layers', diff_ids: [`sha256:${sha256(layer)}`] } }),
    );
    const hex = sha256(config);
    const path = file(
      'legacy.tar',
      await tarOf([
        { name: 'abc123/', type: 'directory' },
        { name: 'abc123/VERSION', data: '1.0' },
        { name: 'abc123/json', data: '{"id":"abc123"}' },
        { name: 'abc123/layer.tar', data: layer },
        { name: `${hex}.json`, data: config },
        {
          name: 'manifest.json',
          data: JSON.stringify([
            { Config: `${hex}.json`, RepoTags: ['busybox:latest'], Layers: ['abc123/layer.tar'] },
            {
              Config: `${hex}.json`,
              RepoTags: ['docker.io/library/busybox:1.36'],
              Layers: ['abc123/layer.tar'],
            },
          ]),
        },
        { name: 'repositories', data: '{"busybox":{"latest":"abc123"}}' },
      ]),
    );
    expect(await readImageArchive(path)).toMatchObject({
      format: 'docker-save',
      id: `sha256:${hex}`,
      tags: ['busybox:latest', 'busybox:1.36'],
      layers: 1,
    });
  });

  it('an archive of an untagged image (docker save of an ID): no tags', async () => {
    const config = Buffer.from('{"os":"linux"}');
    const path = file(
      'untagged.tar',
      await tarOf([
        { name: `${sha256(config)}.json`, data: config },
        { name: 'l/layer.tar', data: await tarOf([]) },
        {
          name: 'manifest.json',
          data: JSON.stringify([
            { Config: `${sha256(config)}.json`, RepoTags: null, Layers: ['l/layer.tar'] },
          ]),
        },
      ]),
    );
    expect(await readImageArchive(path)).toMatchObject({ id: `sha256:${sha256(config)}`, tags: [] });
  });

  it('refuses, naming the file: several images, no image, a missing layer or config, not an archive', async () => {
    const c1 = Buffer.from('{"os":"linux","n":1}');
    const c2 = Buffer.from('{"os":"linux","n":2}');
    const two = file(
      'two.tar',
      await tarOf([
        { name: 'c1.json', data: c1 },
        { name: 'c2.json', data: c2 },
        { name: 'l.tar', data: await tarOf([]) },
        {
          name: 'manifest.json',
          data: JSON.stringify([
            { Config: 'c1.json', RepoTags: ['a:1'], Layers: ['l.tar'] },
            { Config: 'c2.json', RepoTags: ['b:2'], Layers: ['l.tar'] },
          ]),
        },
      ]),
    );
    await expectUsageError(readImageArchive(two), /two\.tar: the archive holds 2 images \(a:1; b:2\)/);

    const none = file('none.tar', await tarOf([{ name: 'manifest.json', data: '[]' }]));
    await expectUsageError(readImageArchive(none), /holds no image/);

    const noLayer = file(
      'no-layer.tar',
      await tarOf([
        { name: 'c1.json', data: c1 },
        {
          name: 'manifest.json',
          data: JSON.stringify([{ Config: 'c1.json', RepoTags: ['a:1'], Layers: ['gone.tar'] }]),
        },
      ]),
    );
    await expectUsageError(readImageArchive(noLayer), /layer gone\.tar, which is not in the archive/);

    const noConfig = file(
      'no-config.tar',
      await tarOf([
        { name: 'manifest.json', data: JSON.stringify([{ Config: 'x.json', RepoTags: [], Layers: [] }]) },
      ]),
    );
    await expectUsageError(readImageArchive(noConfig), /config x\.json, which is not in the archive/);

    const plain = file('plain.tar', await tarOf([{ name: 'hello.txt', data: 'hi' }]));
    await expectUsageError(readImageArchive(plain), /no manifest\.json or index\.json/);

    const text = file('text.tar', Buffer.from('this is not a tar archive at all\n'.repeat(40)));
    await expectUsageError(readImageArchive(text), /not a readable tar archive/);

    await expectUsageError(readImageArchive(join(dir, 'missing.tar')), /cannot read the image archive/);
  });

  it('refuses an OCI blob that does not match its digest', async () => {
    const config = Buffer.from('{"os":"linux"}');
    const manifest = JSON.stringify({
      schemaVersion: 2,
      config: { digest: `sha256:${sha256(config)}` },
      layers: [],
    });
    const index = JSON.stringify({ schemaVersion: 2, manifests: [{ digest: `sha256:${sha256(manifest)}` }] });
    const path = file(
      'tampered.tar',
      await tarOf([
        { name: 'index.json', data: index },
        { name: `blobs/sha256/${sha256(manifest)}`, data: manifest.replace('"layers":[]', '"layers": []') },
        { name: `blobs/sha256/${sha256(config)}`, data: config },
      ]),
    );
    await expectUsageError(readImageArchive(path), /does not match its digest/);
  });
});
