/**
 * The frames a mobile user sends: camera-like JPEGs, scaled the way a phone sends them (long side
 * `frameWidth`, never upscaled, re-encoded as JPEG), prepared once when the agent starts so that sending
 * costs nothing. Task i of a run carries frame i mod n. "samples" is the set of photos shipped inside the
 * installed vision packages; any other value is a directory on the user's machine.
 *
 * Scaling and encoding are pure JavaScript (jpeg-js, integer box filter): the same file and settings give
 * the same bytes on every machine, so task sizes are reproducible across runs and hosts.
 */
import { open, readdir, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import jpeg from 'jpeg-js';
import { EdgectlError, ExitCode } from '../errors.js';
import { type Inventory, SAMPLE_FRAMES, type User } from '../inventory/index.js';

export { SAMPLE_FRAMES };
/** At most this many frames in a directory: all are held in memory for the agent's whole run. */
export const MAX_FRAMES = 1000;
/** A larger file is refused before it is read. */
export const MAX_FRAME_FILE_BYTES = 32 * 1024 * 1024;
/** All scaled frames together (1000 frames at 4096 px would otherwise be gigabytes in the agent). */
export const MAX_FRAME_SET_BYTES = 512 * 1024 * 1024;
/** jpeg-js refuses larger images instead of allocating their pixels. */
const MAX_DECODE_MEGAPIXELS = 100;
const MAX_DECODE_MB = 1024;

/**
 * The sample photos, in this order. Only face-api's demo photos qualify: every JPEG in Human's assets/ is a
 * screenshot of a demo or a collage with its detections drawn on it, nothing a camera would send.
 */
export const SAMPLE_FILES: readonly { pkg: string; file: string }[] = [1, 2, 3, 4, 5, 6].map((i) => ({
  pkg: '@vladmandic/face-api',
  file: `demo/sample${i}.jpg`,
}));

export interface FrameOptions {
  /** "samples" or an absolute directory. */
  frames: string;
  frameWidth: number;
  frameQuality: number;
}

export interface Frame {
  /** The file it came from (base name). */
  name: string;
  jpeg: Buffer;
  width: number;
  height: number;
}

/** The bundled apps whose tasks are images: their users send the sample frames unless they name others. */
const IMAGE_APPS: readonly string[] = ['face', 'detect'];

/**
 * What `user` sends to `serviceName` (its hosts.yml service unless an experiment or a deploy chose another):
 * its frames as hosts.yml names them, else the sample frames for an image service, else none (seeded bytes).
 */
export function taskFrames(
  inv: Inventory,
  user: User,
  serviceName: string = user.service,
): FrameOptions | undefined {
  const app = inv.services.find((s) => s.name === serviceName)?.app;
  const frames =
    user.task.frames ?? (app !== undefined && IMAGE_APPS.includes(app) ? SAMPLE_FRAMES : undefined);
  if (frames === undefined) return undefined;
  return { frames, frameWidth: user.task.frameWidth, frameQuality: user.task.frameQuality };
}

export class FrameError extends EdgectlError {
  constructor(message: string, hint?: string) {
    super('FRAMES', ExitCode.usage, message, hint ? { hint } : {});
  }
}

/** Where an installed package lives, found through node's search paths (hoisted or not, exports map or not). */
async function packageDir(pkg: string): Promise<string> {
  const require = createRequire(import.meta.url);
  for (const dir of require.resolve.paths(pkg) ?? []) {
    const candidate = path.join(dir, pkg);
    if (
      await stat(path.join(candidate, 'package.json')).then(
        (s) => s.isFile(),
        () => false,
      )
    )
      return candidate;
  }
  throw new FrameError(
    `the sample frames need the package ${pkg}, which is not installed`,
    'reinstall edgectl',
  );
}

/** The absolute paths of the sample photos, in their fixed order. */
export async function sampleFramePaths(): Promise<string[]> {
  const dirs = new Map<string, string>();
  const out: string[] = [];
  for (const { pkg, file } of SAMPLE_FILES) {
    let dir = dirs.get(pkg);
    if (dir === undefined) {
      dir = await packageDir(pkg);
      dirs.set(pkg, dir);
    }
    out.push(path.join(dir, file));
  }
  return out;
}

const isJpegName = (name: string) => /\.jpe?g$/i.test(name);

/** The JPEG files of a directory (*.jpg, *.jpeg), sorted by name (code units: the same on every machine). */
export async function frameDirPaths(dir: string): Promise<string[]> {
  let entries: import('node:fs').Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new FrameError(
      `cannot read the frame directory ${dir}: ${code ?? String(err)}`,
      'frames: is a directory of JPEG files on the user machine, or "samples"',
    );
  }
  const names = entries
    .filter((e) => (e.isFile() || e.isSymbolicLink()) && isJpegName(e.name))
    .map((e) => e.name)
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (names.length === 0) throw new FrameError(`the frame directory ${dir} holds no .jpg or .jpeg file`);
  if (names.length > MAX_FRAMES)
    throw new FrameError(
      `the frame directory ${dir} holds ${names.length} JPEG files, more than ${MAX_FRAMES}`,
      'a run sends frame i mod n: a few hundred frames are enough',
    );
  return names.map((n) => path.join(dir, n));
}

/**
 * Box-filter downscale of RGBA pixels to w x h: each target pixel is the integer mean of the source pixels
 * it covers (at least one). Deterministic and free of floating-point rounding differences.
 */
function downscale(src: Uint8Array, sw: number, sh: number, w: number, h: number): Uint8Array {
  const out = new Uint8Array(w * h * 4);
  for (let y = 0; y < h; y++) {
    const y0 = Math.floor((y * sh) / h);
    const y1 = Math.max(y0 + 1, Math.floor(((y + 1) * sh) / h));
    for (let x = 0; x < w; x++) {
      const x0 = Math.floor((x * sw) / w);
      const x1 = Math.max(x0 + 1, Math.floor(((x + 1) * sw) / w));
      let r = 0;
      let g = 0;
      let b = 0;
      for (let yy = y0; yy < y1; yy++) {
        let i = (yy * sw + x0) * 4;
        for (let xx = x0; xx < x1; xx++, i += 4) {
          r += src[i] as number;
          g += src[i + 1] as number;
          b += src[i + 2] as number;
        }
      }
      const n = (y1 - y0) * (x1 - x0);
      const o = (y * w + x) * 4;
      out[o] = Math.round(r / n);
      out[o + 1] = Math.round(g / n);
      out[o + 2] = Math.round(b / n);
      out[o + 3] = 255;
    }
  }
  return out;
}

/** The size a phone sends: long side `frameWidth`, aspect kept, never larger than the original. */
export function scaledSize(
  width: number,
  height: number,
  frameWidth: number,
): { width: number; height: number } {
  const long = Math.max(width, height);
  if (long <= frameWidth) return { width, height };
  const scale = frameWidth / long;
  return width >= height
    ? { width: frameWidth, height: Math.max(1, Math.round(height * scale)) }
    : { width: Math.max(1, Math.round(width * scale)), height: frameWidth };
}

/** One frame from the bytes of a JPEG file: decoded, scaled, re-encoded. Throws FrameError naming `name`. */
export function scaleFrame(
  bytes: Uint8Array,
  name: string,
  options: Pick<FrameOptions, 'frameWidth' | 'frameQuality'>,
): Frame {
  let raw: { width: number; height: number; data: Uint8Array };
  try {
    raw = jpeg.decode(bytes, {
      useTArray: true,
      formatAsRGBA: true,
      maxResolutionInMP: MAX_DECODE_MEGAPIXELS,
      maxMemoryUsageInMB: MAX_DECODE_MB,
    });
  } catch (err) {
    throw new FrameError(
      `${name} is not a JPEG image edgectl can read: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  if (raw.width < 1 || raw.height < 1) throw new FrameError(`${name} is an empty image`);
  const size = scaledSize(raw.width, raw.height, options.frameWidth);
  const pixels =
    size.width === raw.width && size.height === raw.height
      ? raw.data
      : downscale(raw.data, raw.width, raw.height, size.width, size.height);
  const encoded = jpeg.encode({ width: size.width, height: size.height, data: pixels }, options.frameQuality);
  return { name: path.basename(name), jpeg: encoded.data, width: size.width, height: size.height };
}

/**
 * The bytes of one frame file, at most MAX_FRAME_FILE_BYTES. A symbolic link is followed; anything but a
 * regular file (a FIFO would block the open) is refused before it is opened, and the size is taken from
 * the open file, so that a file growing meanwhile is still read only up to the size checked.
 */
async function readFrameFile(file: string): Promise<Buffer> {
  const why = (err: unknown) => (err as NodeJS.ErrnoException).code ?? String(err);
  try {
    if (!(await stat(file)).isFile()) throw new FrameError(`the frame ${file} is not a file`);
    const fh = await open(file, 'r');
    try {
      const { size } = await fh.stat();
      if (size > MAX_FRAME_FILE_BYTES)
        throw new FrameError(`the frame ${file} has ${size} bytes, more than ${MAX_FRAME_FILE_BYTES}`);
      const buf = Buffer.alloc(size);
      const { bytesRead } = await fh.read(buf, 0, size, 0);
      return buf.subarray(0, bytesRead);
    } finally {
      await fh.close();
    }
  } catch (err) {
    if (err instanceof FrameError) throw err;
    throw new FrameError(`cannot read the frame ${file}: ${why(err)}`);
  }
}

/** Reads and scales every frame of the set (the agent does this once, before its first task). */
export async function loadFrames(options: FrameOptions): Promise<Frame[]> {
  const files =
    options.frames === SAMPLE_FRAMES ? await sampleFramePaths() : await frameDirPaths(options.frames);
  const frames: Frame[] = [];
  let total = 0;
  for (const file of files) {
    const bytes = await readFrameFile(file);
    const frame = scaleFrame(bytes, file, options);
    total += frame.jpeg.length;
    if (total > MAX_FRAME_SET_BYTES)
      throw new FrameError(
        `the frames up to ${file} take more than ${MAX_FRAME_SET_BYTES} bytes once scaled`,
        'use fewer frames or a smaller frameWidth',
      );
    frames.push(frame);
  }
  return frames;
}

/** The payload of task `index` (0-based over the whole run): frame index mod n. */
export function framePayload(frames: readonly Frame[], index: number): Buffer {
  const frame = frames[((index % frames.length) + frames.length) % frames.length];
  if (!frame) throw new Error('no frames');
  return frame.jpeg;
}
