/**
 * The face and detect services as real processes with their real models (one process per service for
 * the whole file, so each model loads once), on the sample photos shipped in face-api's npm package.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as jpeg from 'jpeg-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findPackageDir } from '../../src/lib/image/app-files.js';
import { exchange, killServices, type RunningService, startService } from '../helpers/services.js';

const APPS = fileURLToPath(new URL('../../apps/', import.meta.url));
const SAMPLES = join(findPackageDir(APPS, '@vladmandic/face-api')!, 'demo');
const sample = (i: number) => readFileSync(join(SAMPLES, `sample${i}.jpg`));
const dirs: string[] = [];
afterAll(() => {
  killServices();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

type Box = [number, number, number, number];
interface Face {
  box: Box;
  score: number;
  id: string;
  distance: number | null;
  enrolled: boolean;
}
interface DetectedObject {
  class: string;
  score: number;
  box: Box;
}

/** The same photo mirrored left to right and encoded again: another picture of the same faces. */
function mirrored(photo: Buffer): Buffer {
  const image = jpeg.decode(photo, { useTArray: true });
  const out = Buffer.alloc(image.data.length);
  for (let y = 0; y < image.height; y++) {
    for (let x = 0; x < image.width; x++) {
      const from = (y * image.width + (image.width - 1 - x)) * 4;
      out.set(image.data.subarray(from, from + 4), (y * image.width + x) * 4);
    }
  }
  return jpeg.encode({ data: out, width: image.width, height: image.height }, 90).data;
}

const task = (id: number, payload: Buffer, user?: string) => ({
  header: { id, ...(user !== undefined ? { user } : {}) },
  payload,
});
const ping = (id: number, at?: number) => ({
  header: { id, op: 'ping', ...(at !== undefined ? { at } : {}) },
});

function expectBoxInside(box: Box, width: number, height: number): void {
  const [x, y, w, h] = box;
  expect(w).toBeGreaterThan(4);
  expect(h).toBeGreaterThan(4);
  expect(x).toBeGreaterThanOrEqual(-2);
  expect(y).toBeGreaterThanOrEqual(-2);
  expect(x + w).toBeLessThanOrEqual(width + 2);
  expect(y + h).toBeLessThanOrEqual(height + 2);
}

async function start(app: string, dataDir: string): Promise<RunningService> {
  return startService(join(APPS, app, 'server.mjs'), { DATA_DIR: dataDir }, { timeoutMs: 60_000 });
}

describe('face', () => {
  let service: RunningService;
  let dataDir: string;
  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'edgectl-face-'));
    dirs.push(dataDir);
    service = await start('face', dataDir);
  }, 60_000);

  let enrolled: Face[] = [];
  it('finds the four faces of a sample photo and enrols each in the user gallery', async () => {
    const [answer] = await exchange(service.port, [task(1, sample(6), 'alice')]);
    expect(answer).toMatchObject({ id: 1, service: 'face', counter: 1, width: 640, gallery: 4 });
    enrolled = answer!['faces'] as Face[];
    expect(enrolled).toHaveLength(4);
    expect(enrolled.every((f) => f.enrolled && f.distance === null && f.score > 0.5)).toBe(true);
    expect(new Set(enrolled.map((f) => f.id)).size).toBe(4);
    for (const face of enrolled) expectBoxInside(face.box, 640, answer!['height'] as number);
  }, 30_000);

  it("matches the same people in a second picture to their own entries of the user's gallery", async () => {
    const [answer] = await exchange(service.port, [task(2, mirrored(sample(6)), 'alice')]);
    expect(answer).toMatchObject({ counter: 2, gallery: 4 });
    const faces = answer!['faces'] as Face[];
    expect(faces).toHaveLength(4);
    for (const face of faces) {
      expect(face.enrolled).toBe(false);
      expect(face.distance).toBeLessThan(0.5);
      // The entry it matched is the face at the mirrored place in the first picture.
      const centre = 640 - (face.box[0] + face.box[2] / 2);
      const nearest = enrolled.reduce((a, b) =>
        Math.abs(a.box[0] + a.box[2] / 2 - centre) < Math.abs(b.box[0] + b.box[2] / 2 - centre) ? a : b,
      );
      expect(face.id).toBe(nearest.id);
    }
  }, 30_000);

  it('keeps a gallery per user: another user enrols the same faces anew', async () => {
    // A user named like an Object property (the name comes from the network) has a gallery of its own too.
    const [answer] = await exchange(service.port, [task(3, sample(6), 'constructor')]);
    const faces = answer!['faces'] as Face[];
    expect(faces.map((f) => f.enrolled)).toEqual([true, true, true, true]);
    expect(faces.every((f) => f.id.startsWith('constructor#'))).toBe(true);
    expect(answer).toMatchObject({ counter: 3, gallery: 4 });
  }, 30_000);

  it('answers a payload that is not a JPEG with an error and does not count it', async () => {
    const answers = await exchange(service.port, [
      ping(4),
      task(5, Buffer.from('not a picture')),
      task(6, Buffer.alloc(0)),
      ping(7),
    ]);
    expect(answers[1]).toEqual({ id: 5, error: 'the payload is not a JPEG image' });
    expect(answers[2]).toEqual({ id: 6, error: 'the payload is not a JPEG image' });
    expect(answers[0]).toMatchObject({ counter: 3 });
    expect(answers[3]).toMatchObject({ counter: 3, digest: answers[0]!['digest'] });
  }, 30_000);

  it('keeps the digest of the state after every task, and answers it for `at`', async () => {
    const [now, at3, at2, at0, ahead] = await exchange(service.port, [
      ping(8),
      ping(9, 3),
      ping(10, 2),
      ping(11, 0),
      ping(12, 9),
    ]);
    expect(now!['digest']).toMatch(/^[0-9a-f]{32}$/);
    expect(at3).toMatchObject({ counter: 3, stateAt: { counter: 3, digest: now!['digest'] } });
    const digests = [at3, at2, at0].map((a) => (a!['stateAt'] as { digest: string }).digest);
    expect(new Set(digests).size).toBe(3);
    expect(ahead).toEqual({ id: 12, error: 'state after task 9 is not reached yet' });
  }, 30_000);

  it('finds the gallery again after a restart (DATA_DIR/gallery.json)', async () => {
    expect(await service.stop()).toBe(0);
    const gallery = JSON.parse(readFileSync(join(dataDir, 'gallery.json'), 'utf8')) as Record<
      string,
      unknown[]
    >;
    expect(Object.keys(gallery).sort()).toEqual(['alice', 'constructor']);
    service = await start('face', dataDir);
    const [answer] = await exchange(service.port, [task(1, sample(6), 'alice')]);
    expect(answer).toMatchObject({ counter: 1, gallery: 4 });
    expect((answer!['faces'] as Face[]).map((f) => f.id).sort()).toEqual(enrolled.map((f) => f.id).sort());
  }, 60_000);
});

describe('detect', () => {
  let service: RunningService;
  let dataDir: string;
  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'edgectl-detect-'));
    dirs.push(dataDir);
    service = await start('detect', dataDir);
  }, 60_000);

  const seen: DetectedObject[] = [];
  it('finds the people in sample photos, with sane boxes, and tallies what it saw', async () => {
    const answers = await exchange(service.port, [task(1, sample(1), 'carol'), task(2, sample(6), 'carol')]);
    for (const [i, answer] of answers.entries()) {
      expect(answer).toMatchObject({ id: i + 1, counter: i + 1, width: 640 });
      const objects = answer['objects'] as DetectedObject[];
      expect(objects.filter((o) => o.class === 'person').length).toBeGreaterThanOrEqual(2);
      for (const o of objects) {
        expect(o.score).toBeGreaterThan(0.2);
        expectBoxInside(o.box, 640, answer['height'] as number);
      }
      seen.push(...objects);
    }
    const expected: Record<string, number> = {};
    for (const o of seen) expected[o.class] = (expected[o.class] ?? 0) + 1;
    expect(answers[1]!['tally']).toEqual(expected);
  }, 30_000);

  it('keeps a tally per user', async () => {
    const [answer] = await exchange(service.port, [task(3, sample(1), 'dave')]);
    const objects = answer!['objects'] as DetectedObject[];
    const expected: Record<string, number> = {};
    for (const o of objects) expected[o.class] = (expected[o.class] ?? 0) + 1;
    expect(answer!['tally']).toEqual(expected);
  }, 30_000);

  it('answers a payload that is not a JPEG with an error and does not count it', async () => {
    const truncated = sample(1).subarray(0, 2);
    const answers = await exchange(service.port, [
      ping(4),
      task(5, Buffer.from('GIF89a')),
      task(6, truncated),
      ping(7),
    ]);
    expect(answers[1]).toEqual({ id: 5, error: 'the payload is not a JPEG image' });
    expect(answers[2]).toMatchObject({ id: 6, error: expect.any(String) });
    expect(answers[3]).toMatchObject({ counter: 3, digest: answers[0]!['digest'] });
  }, 30_000);

  it('keeps the tallies of users named like Object properties as their own', async () => {
    const answers = await exchange(service.port, [
      task(30, sample(1), '__proto__'),
      task(31, sample(1), 'constructor'),
      task(32, sample(1), 'toString'),
    ]);
    const objects = answers[0]!['objects'] as DetectedObject[];
    const expected: Record<string, number> = {};
    for (const o of objects) expected[o.class] = (expected[o.class] ?? 0) + 1;
    for (const a of answers) expect(a['tally']).toEqual(expected);
    // Nothing leaked into the prototype every object inherits (in this process nor, by its answers, there).
    expect(({} as Record<string, unknown>)['person']).toBeUndefined();
  }, 30_000);

  it('finds the tallies again after a restart (DATA_DIR/tally.json)', async () => {
    expect(await service.stop()).toBe(0);
    service = await start('detect', dataDir);
    const [answer] = await exchange(service.port, [task(1, sample(1), 'carol')]);
    const objects = answer!['objects'] as DetectedObject[];
    const expected: Record<string, number> = {};
    for (const o of [...seen, ...objects]) expected[o.class] = (expected[o.class] ?? 0) + 1;
    expect(answer!['tally']).toEqual(expected);
  }, 60_000);
});

describe('a ping while a frame is processed (the downtime probe asks so)', () => {
  it('is answered at once, from another connection, with the state before that frame', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'edgectl-face-ping-'));
    dirs.push(dataDir);
    const service = await start('face', dataDir);
    try {
      const order: string[] = [];
      const working = exchange(service.port, [task(1, sample(6), 'erin')]).then((a) => {
        order.push('task');
        return a;
      });
      // The model runs for hundreds of ms in its worker; the network thread stays free.
      await new Promise((r) => setTimeout(r, 100));
      const [pong] = await exchange(service.port, [ping(2)]);
      order.push('ping');
      expect(pong).toMatchObject({ op: 'ping', counter: 0 });
      const [answer] = await working;
      expect(answer).toMatchObject({ counter: 1, gallery: 4 });
      expect(order).toEqual(['ping', 'task']);
    } finally {
      await service.stop();
    }
  }, 60_000);
});

describe('simple (the same server: the digest of the counter alone)', () => {
  it('answers sha256 of {"counter":N}, for now and for `at`, and forgets nothing within the ring', async () => {
    const service = await startService(join(APPS, 'simple', 'server.mjs'), {});
    const digest = (n: number) => createHash('sha256').update(`{"counter":${n}}`).digest('hex').slice(0, 32);
    const answers = await exchange(service.port, [
      ping(1),
      task(2, Buffer.alloc(0)),
      task(3, Buffer.alloc(0)),
      ping(4, 1),
      ping(5),
    ]);
    expect(answers[0]).toMatchObject({ counter: 0, digest: digest(0) });
    expect(answers[3]).toMatchObject({
      counter: 2,
      digest: digest(2),
      stateAt: { counter: 1, digest: digest(1) },
    });
    expect(answers[4]).toMatchObject({ counter: 2, digest: digest(2) });
    const bad = await exchange(service.port, [{ header: { id: 6, op: 'ping', at: -1 } }]);
    expect(bad[0]).toEqual({ id: 6, error: 'task header "at" must be a non-negative integer' });
    // The ring keeps the last 4096 counters: after 4098 tasks, the states after 3..4098 are kept.
    const many = Array.from({ length: 4096 }, (_, i) => task(10 + i, Buffer.alloc(0)));
    const answers2 = await exchange(service.port, [...many, ping(9000, 2), ping(9001, 3)]);
    expect(answers2.at(-2)).toEqual({ id: 9000, error: 'state after task 2 is no longer kept' });
    expect(answers2.at(-1)).toMatchObject({ counter: 4098, stateAt: { counter: 3, digest: digest(3) } });
    expect(await service.stop()).toBe(0);
  }, 30_000);
});
