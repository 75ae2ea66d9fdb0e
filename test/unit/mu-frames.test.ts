/**
 * The frames a mobile user sends: the sample set from the installed packages, a directory of JPEGs with its
 * limits, the scaling (long side frameWidth, never upscaled, deterministic), the hosts.yml keys and their
 * defaults, and the task sizes over an agent's run (task i carries frame i mod n, across endpoints).
 */
import { mkdir, mkdtemp, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import jpeg from 'jpeg-js';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { getUser, type Inventory, loadInventory } from '../../src/lib/inventory/index.js';
import { MuAgent } from '../../src/lib/mu/agent.js';
import type { AgentReport, TaskReport } from '../../src/lib/mu/agent-protocol.js';
import { type AgentSpec, agentSpec, parseAgentSpec } from '../../src/lib/mu/agent-spec.js';
import type { TaskResult } from '../../src/lib/mu/client.js';
import {
  type Frame,
  FrameError,
  framePayload,
  loadFrames,
  MAX_FRAME_FILE_BYTES,
  MAX_FRAMES,
  sampleFramePaths,
  scaledSize,
  scaleFrame,
  taskFrames,
} from '../../src/lib/mu/frames.js';
import { closeFakeServices, fakeService } from '../helpers/fake-service.js';
import { fakeUserHost } from '../helpers/fake-user-host.js';
import { hostsFile } from '../helpers/lab.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'edgectl-frames-'));
  dirs.push(dir);
  return dir;
}
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

/** A JPEG of w x h pixels: a gradient with a seed-dependent tint (different bytes for different seeds). */
function syntheticJpeg(w: number, h: number, seed = 0): Buffer {
  const data = Buffer.alloc(w * h * 4);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 4;
      data[i] = (x * 255) / w;
      data[i + 1] = (y * 255) / h;
      data[i + 2] = (seed * 53) % 256;
      data[i + 3] = 255;
    }
  return jpeg.encode({ width: w, height: h, data }, 90).data;
}

const isJpeg = (b: Buffer) => b[0] === 0xff && b[1] === 0xd8 && b.at(-2) === 0xff && b.at(-1) === 0xd9;
const settings = { frameWidth: 640, frameQuality: 80 };

describe('the sample frames', () => {
  let samples: Frame[];
  beforeAll(async () => {
    samples = await loadFrames({ frames: 'samples', ...settings });
  }, 60_000);

  it("are face-api's six demo photos, in order, found in the installed package", async () => {
    expect(samples.map((f) => f.name)).toEqual([1, 2, 3, 4, 5, 6].map((i) => `sample${i}.jpg`));
    const paths = await sampleFramePaths();
    expect(
      paths.every((p) =>
        p.endsWith(`${path.join('@vladmandic', 'face-api', 'demo')}${path.sep}${path.basename(p)}`),
      ),
    ).toBe(true);
  });

  it('are JPEGs whose long side is frameWidth, of a camera frame’s size', () => {
    for (const f of samples) {
      expect(isJpeg(f.jpeg), f.name).toBe(true);
      const decoded = jpeg.decode(f.jpeg, { useTArray: true });
      expect([decoded.width, decoded.height]).toEqual([f.width, f.height]);
      expect(Math.max(f.width, f.height), f.name).toBe(640);
      // The originals are 1920 wide and 1280-1537 high: the aspect is kept.
      expect(f.height, f.name).toBeGreaterThanOrEqual(420);
      expect(f.height, f.name).toBeLessThanOrEqual(520);
      // A 640 px photo at quality 80: tens of kilobytes, not the 144-302 kB of the originals.
      expect(f.jpeg.length, f.name).toBeGreaterThan(15_000);
      expect(f.jpeg.length, f.name).toBeLessThan(150_000);
    }
  });

  it('are the same bytes every time, and smaller at a lower quality or width', async () => {
    const again = await loadFrames({ frames: 'samples', ...settings });
    expect(again.map((f) => f.jpeg.equals(samples[again.indexOf(f)]?.jpeg ?? Buffer.alloc(0)))).toEqual(
      Array(6).fill(true),
    );
    const small = await loadFrames({ frames: 'samples', frameWidth: 320, frameQuality: 50 });
    for (const [i, f] of small.entries()) {
      expect(Math.max(f.width, f.height)).toBe(320);
      expect(f.jpeg.length).toBeLessThan(samples[i]?.jpeg.length ?? 0);
    }
  }, 60_000);
});

describe('scaling', () => {
  it('keeps the aspect, puts frameWidth on the long side, never enlarges', () => {
    expect(scaledSize(1920, 1280, 640)).toEqual({ width: 640, height: 427 });
    expect(scaledSize(1280, 1920, 640)).toEqual({ width: 427, height: 640 });
    expect(scaledSize(500, 300, 640)).toEqual({ width: 500, height: 300 });
    expect(scaledSize(10_000, 1, 64)).toEqual({ width: 64, height: 1 });
  });

  it('re-encodes a small photo at its own size', () => {
    const f = scaleFrame(syntheticJpeg(200, 100), 'small.jpg', settings);
    expect([f.width, f.height]).toEqual([200, 100]);
    expect(isJpeg(f.jpeg)).toBe(true);
  });

  it('names a file that is not a JPEG', () => {
    expect(() => scaleFrame(Buffer.from('not a jpeg at all'), '/x/broken.jpg', settings)).toThrow(
      /\/x\/broken\.jpg is not a JPEG/,
    );
  });
});

describe('a directory of frames', () => {
  it('is its .jpg and .jpeg files in name order, other files ignored', async () => {
    const dir = await tempDir();
    await writeFile(path.join(dir, 'b.jpg'), syntheticJpeg(800, 600, 2));
    await writeFile(path.join(dir, 'a.jpeg'), syntheticJpeg(600, 800, 1));
    await writeFile(path.join(dir, 'C.JPG'), syntheticJpeg(100, 50, 3));
    await writeFile(path.join(dir, 'notes.txt'), 'not a frame');
    await writeFile(path.join(dir, 'd.png'), 'not a frame either');
    await mkdir(path.join(dir, 'e.jpg'));
    const frames = await loadFrames({ frames: dir, ...settings });
    // Code-unit order: upper case first, the same on every machine whatever its locale.
    expect(frames.map((f) => f.name)).toEqual(['C.JPG', 'a.jpeg', 'b.jpg']);
    expect(frames.map((f) => [f.width, f.height])).toEqual([
      [100, 50],
      [480, 640],
      [640, 480],
    ]);
  });

  it('fails naming the file that is not a JPEG', async () => {
    const dir = await tempDir();
    await writeFile(path.join(dir, 'a.jpg'), syntheticJpeg(64, 64));
    await writeFile(path.join(dir, 'b.jpg'), syntheticJpeg(64, 64).subarray(0, 40));
    const err = await loadFrames({ frames: dir, ...settings }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FrameError);
    expect((err as Error).message).toContain(path.join(dir, 'b.jpg'));
  });

  it('fails when empty, missing, too many or too large', async () => {
    const empty = await tempDir();
    await writeFile(path.join(empty, 'readme.txt'), 'no frames here');
    await expect(loadFrames({ frames: empty, ...settings })).rejects.toThrow(/holds no \.jpg or \.jpeg/);
    await expect(loadFrames({ frames: path.join(empty, 'nope'), ...settings })).rejects.toThrow(
      /cannot read the frame directory .*nope: ENOENT/,
    );

    const many = await tempDir();
    for (let i = 0; i <= MAX_FRAMES; i++)
      await writeFile(path.join(many, `f${String(i).padStart(4, '0')}.jpg`), '');
    await expect(loadFrames({ frames: many, ...settings })).rejects.toThrow(
      /1001 JPEG files, more than 1000/,
    );

    const large = await tempDir();
    await writeFile(path.join(large, 'a.jpg'), syntheticJpeg(64, 64));
    await writeFile(path.join(large, 'huge.jpg'), '');
    await truncate(path.join(large, 'huge.jpg'), MAX_FRAME_FILE_BYTES + 1); // sparse: nothing written
    await expect(loadFrames({ frames: large, ...settings })).rejects.toThrow(/huge\.jpg has 33554433 bytes/);

    const linked = await tempDir();
    await writeFile(path.join(linked, 'a.jpg'), syntheticJpeg(64, 64));
    await symlink(linked, path.join(linked, 'b.jpg'));
    await expect(loadFrames({ frames: linked, ...settings })).rejects.toThrow(/b\.jpg is not a file/);
  });
});

describe('the hosts.yml keys', () => {
  const yml = (users: string) => `testbed: frames
hosts:
  - { name: cloud, role: cloud, address: 198.18.0.10, capacity: { cpus: 6, memMB: 131072 } }
  - { name: edge1, role: edge, address: 198.18.0.11, capacity: { cpus: 4, memMB: 16384 } }
  - { name: ap1, role: ap, address: 198.18.0.21 }
  - { name: mu, role: mu, address: 198.18.0.31 }
basestations:
  - { name: ap1, host: ap1, server: edge1, position: [0, 0], radioSubnet: 198.18.11.0/24 }
links:
  - { between: [edge1, cloud], bandwidth: 75mbit, latency: 150ms }
services:
  - { name: simple, app: simple, port: 9000 }
  - { name: face, app: face, port: 9002 }
  - { name: detect, app: detect, port: 9003 }
users:
${users}`;
  const walk = 'trajectory: { type: roundtrip, from: [0, 0], to: [100, 0], speed: 1 }';

  it('default to no frames, 640 px, quality 80; a relative directory is taken from hosts.yml', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'hosts.yml');
    await writeFile(
      file,
      yml(`  - { name: plain, host: mu, service: simple, ${walk} }
  - { name: viewer, host: mu, service: face, ${walk} }
  - { name: own, host: mu, service: detect, ${walk}, task: { frames: shots, frameWidth: 320, frameQuality: 60 } }
  - { name: abs, host: mu, service: simple, ${walk}, task: { frames: /srv/frames } }
`),
    );
    const inv = await loadInventory(file);
    expect(getUser(inv, 'plain').task).toEqual({
      sizeBytes: 10_000,
      ratePerSec: 1,
      frameWidth: 640,
      frameQuality: 80,
    });
    expect(getUser(inv, 'own').task.frames).toBe(path.join(dir, 'shots'));
    expect(getUser(inv, 'abs').task.frames).toBe('/srv/frames');

    // face and detect users send the samples unless they name frames; others send bytes.
    expect(taskFrames(inv, getUser(inv, 'plain'))).toBeUndefined();
    expect(taskFrames(inv, getUser(inv, 'viewer'))).toEqual({
      frames: 'samples',
      frameWidth: 640,
      frameQuality: 80,
    });
    expect(taskFrames(inv, getUser(inv, 'own'))).toEqual({
      frames: path.join(dir, 'shots'),
      frameWidth: 320,
      frameQuality: 60,
    });
    // An experiment that runs face for a simple user (experiment run --service face) switches it to samples.
    expect(taskFrames(inv, getUser(inv, 'plain'), 'face')?.frames).toBe('samples');
    expect(taskFrames(inv, getUser(inv, 'viewer'), 'simple')).toBeUndefined();

    // The agent spec follows the service deployed (the placement), and crosses the wire checked.
    const placement = {
      user: 'plain',
      service: 'detect',
      host: 'edge1',
      container: 'c',
      containerId: 'id',
      address: '198.18.1.11',
      port: 20000,
      sinceMs: 0,
    };
    const spec = agentSpec(inv, 'plain', placement);
    expect(spec.task).toEqual({
      sizeBytes: 10_000,
      ratePerSec: 1,
      frames: 'samples',
      frameWidth: 640,
      frameQuality: 80,
    });
    expect(agentSpec(inv, 'plain', undefined).task.frames).toBeUndefined();
    expect(parseAgentSpec(JSON.stringify(spec))).toEqual(spec);
  });

  it('are checked where they cross to the mu host', async () => {
    const inv = await loadInventory(hostsFile);
    const spec = agentSpec(inv, 'mu1', undefined);
    const withTask = (task: object) => JSON.stringify({ ...spec, task: { ...spec.task, ...task } });
    expect(parseAgentSpec(withTask({ frames: '/srv/frames' })).task.frames).toBe('/srv/frames');
    expect(() => parseAgentSpec(withTask({ frames: 'relative/dir' }))).toThrow(/task\.frames/);
    expect(() => parseAgentSpec(withTask({ frames: '/srv/a\nb' }))).toThrow(/task\.frames/);
    expect(() => parseAgentSpec(withTask({ frameWidth: 10 }))).toThrow(/task\.frameWidth/);
    expect(() => parseAgentSpec(withTask({ frameQuality: 101 }))).toThrow(/task\.frameQuality/);
    expect(() => parseAgentSpec(withTask({ frameCount: 1 }))).toThrow(/task/);
  });
});

describe('task sizes over a run', () => {
  afterEach(() => closeFakeServices());

  it('task i carries frame i mod n, across a change of endpoint', async () => {
    const inv: Inventory = await loadInventory(hostsFile);
    const frames = await loadFrames({ frames: 'samples', ...settings });
    const first = await fakeService(true);
    const second = await fakeService(true);
    const dir = await tempDir();
    const base = agentSpec(inv, 'mu1', undefined, { handover: 'controller' });
    const spec: AgentSpec = {
      ...base,
      testbed: 'unit',
      address: '127.0.0.1',
      endpoint: { address: '127.0.0.1', port: first.port },
      task: { ...base.task, ratePerSec: 50, frames: 'samples', frameWidth: 640, frameQuality: 80 },
    };
    const host = fakeUserHost({ address: spec.address, table: spec.basestations[0]?.table ?? 0 });
    const reports: AgentReport[] = [];
    const agent = new MuAgent(spec, {
      emit: (r) => {
        reports.push(r);
        if (r.type === 'clock?')
          setImmediate(() =>
            agent.command({ cmd: 'clock', seq: r.seq, t: performance.timeOrigin + performance.now() }),
          );
      },
      exec: host,
      pidFile: path.join(dir, 'pid'),
    });
    const done = agent.run();
    const tasks = () => reports.filter((r): r is TaskReport => r.type === 'task' && r.ok);
    const until = async (n: number) => {
      const deadline = Date.now() + 20_000;
      while (tasks().length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    };
    try {
      await until(4);
      agent.command({ cmd: 'endpoint', endpoint: { address: '127.0.0.1', port: second.port } });
      await until(14);
    } finally {
      agent.stop('test over');
      await done;
    }
    const got = tasks();
    expect(got.length).toBeGreaterThanOrEqual(14);
    expect(new Set(got.map((t) => t.endpoint.port))).toEqual(new Set([first.port, second.port]));
    for (const t of got) expect(t.bytes, `task ${t.id}`).toBe(frames[(t.id - 1) % 6]?.jpeg.length);
    // Ids go on across the endpoints, so the frames do too.
    const all = reports.filter((r): r is TaskReport => r.type === 'task');
    expect(all.map((t) => t.id)).toEqual(all.map((_, i) => i + 1));
    expect(framePayload(frames, 7)).toBe(frames[1]?.jpeg);
  }, 60_000);
});

describe('mu offload --frames', () => {
  afterEach(() => {
    vi.restoreAllMocks();
    closeFakeServices();
  });

  it('sends frame i mod n as task i, each task the frame’s size', async () => {
    const { default: MuOffload } = await import('../../src/commands/mu/offload.js');
    const service = await fakeService(true);
    const frames = await loadFrames({ frames: 'samples', frameWidth: 320, frameQuality: 70 });
    vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const before = process.exitCode;
    const result = (await MuOffload.run(
      [
        ...['--address', '127.0.0.1', '--port', String(service.port), '--count', '8'],
        ...['--frames', 'samples', '--frame-width', '320', '--frame-quality', '70', '--json'],
      ],
      ROOT,
    )) as { tasks: TaskResult[] };
    process.exitCode = before;
    expect(result.tasks.map((t) => t.bytes)).toEqual(
      [0, 1, 2, 3, 4, 5, 0, 1].map((i) => frames[i]?.jpeg.length),
    );
  }, 60_000);
});
