// What the face and detect services share: TensorFlow.js on its WebAssembly backend (one thread, the
// wasm file from node_modules, never a URL), JPEG frames decoded and scaled down to a cap, freed tensors
// zeroed in the wasm heap, and per-user state kept in memory and in one JSON file under DATA_DIR.
import { existsSync, mkdirSync, readFileSync, realpathSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import jpeg from 'jpeg-js';
import { TaskError } from './framing.mjs';

export const require = createRequire(import.meta.url);

/** Set once the process exits: its workers end with it, which is no failure. */
let exiting = false;
process.once('exit', () => {
  exiting = true;
});

/**
 * Starts the service's model in a worker thread (`url`, a module that calls serveModel) and resolves once
 * it has loaded, with `run(payload, id)`: the frame's inference, off the thread that answers the network.
 * A model runs for hundreds of milliseconds and WebAssembly does not yield: on one thread a `ping` would
 * wait that long, and a downtime probe take the wait for the service being gone. The caller runs one task
 * at a time. A worker that fails after the start calls `onFatal`.
 */
export function startModel(url, workerData, onFatal) {
  const worker = new Worker(url, { workerData });
  const pending = new Map();
  let seq = 0;
  return new Promise((resolve, reject) => {
    let started = false;
    const failed = (err) => {
      if (exiting) return; // the service is stopping: its worker goes with it
      if (!started) return reject(err);
      for (const p of pending.values()) p.fail(err);
      onFatal(err);
    };
    worker.on('error', failed);
    worker.on('exit', (code) => failed(new Error(`the model's worker exited with code ${code}`)));
    worker.on('message', (m) => {
      if (m.ready) {
        started = true;
        resolve({
          info: m.info,
          run(payload, id) {
            const at = ++seq;
            return new Promise((done, fail) => {
              pending.set(at, { done, fail, id });
              worker.postMessage({ seq: at, payload, id });
            });
          },
        });
        return;
      }
      const p = pending.get(m.seq);
      if (!p) return;
      pending.delete(m.seq);
      if (m.error === undefined) p.done(m.result);
      else p.fail(m.taskError ? new TaskError(m.error, p.id) : new Error(m.error));
    });
  });
}

/**
 * The worker's side of startModel: `load(workerData)` once (its time and backend reported with ready),
 * then `infer(model, payload, id)` per message, its result (plain data) or its error sent back; a
 * TaskError stays one (an error answer, not a failed service).
 */
export async function serveModel(parentPort, workerData, load, infer) {
  const started = performance.now();
  const { model, info } = await load(workerData);
  parentPort.postMessage({ ready: true, info: { ...info, loadMs: Math.round(performance.now() - started) } });
  parentPort.on('message', async ({ seq, payload, id }) => {
    try {
      const frame = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
      parentPort.postMessage({ seq, result: await infer(model, frame, id) });
    } catch (err) {
      parentPort.postMessage({
        seq,
        error: String(err?.message ?? err),
        taskError: err instanceof TaskError,
      });
    }
  });
}

/** The one wasm binary the services load: SIMD without threads (Node 20 has SIMD; threads would spawn workers). */
export const WASM_FILE = 'tfjs-backend-wasm-simd.wasm';

/**
 * A package's directory, looked up along node's own node_modules paths from here. For packages whose
 * `exports` map hides the files we need (Human's names no "./" subpaths), so require.resolve cannot.
 */
export function packageDir(name) {
  for (const dir of require.resolve.paths(name) ?? []) {
    const candidate = join(dir, name);
    if (existsSync(join(candidate, 'package.json'))) return realpathSync(candidate);
  }
  throw new Error(`package ${name} is not installed`);
}

/** The wasm backend's directory of .wasm files. */
export function wasmDir() {
  return dirname(require.resolve('@tensorflow/tfjs-backend-wasm'));
}

/**
 * Selects the wasm backend with one thread, reading the wasm file from disk. With `zeroFreed`, every
 * tensor's bytes are zeroed in the wasm heap just before they are freed: WebAssembly memory never
 * shrinks, and freed activations otherwise keep their last contents, so every task rewrites pages a
 * checkpoint then has to carry in its delta; zero pages stay the same from one checkpoint to the next.
 */
export async function setupWasm(tf, wasmBackend, { zeroFreed }) {
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  tf.env().set('WASM_HAS_SIMD_SUPPORT', true);
  // A directory, not a map (the map must name all three binaries); with the flags above only WASM_FILE is read.
  wasmBackend.setWasmPaths(`${wasmDir()}/`);
  if (!(await tf.setBackend('wasm'))) throw new Error('the tfjs wasm backend did not start');
  await tf.ready();
  if (zeroFreed) zeroFreedTensors(tf.backend(), tf.util);
}

/** Wraps the wasm backend's disposeData so a tensor's bytes are zeroed before its memory is freed. */
function zeroFreedTensors(backend, util) {
  const dispose = backend.disposeData.bind(backend);
  backend.disposeData = (dataId, force = false) => {
    const data = backend.dataIdMap.get(dataId);
    // Zeroed before the free, not after: the allocator keeps its free lists inside freed blocks.
    if (data && (force || data.refCount <= 1) && data.memoryOffset && data.dtype !== 'string') {
      const bytes = util.sizeFromShape(data.shape) * util.bytesPerElement(data.dtype);
      backend.wasm.HEAPU8.fill(0, data.memoryOffset, data.memoryOffset + bytes);
    }
    return dispose(dataId, force);
  };
}

/**
 * Decodes a JPEG payload into RGB (3 bytes a pixel) and scales it down so its long side is at most
 * maxSide (area average); a payload that is not a JPEG, or bigger than the decoder's limits, is a
 * TaskError (an error answer, the counter unchanged).
 */
export function decodeFrame(payload, id, maxSide) {
  if (payload.length < 3 || payload[0] !== 0xff || payload[1] !== 0xd8 || payload[2] !== 0xff) {
    throw new TaskError('the payload is not a JPEG image', id);
  }
  let image;
  try {
    image = jpeg.decode(payload, {
      useTArray: true,
      formatAsRGBA: false,
      maxResolutionInMP: 64,
      maxMemoryUsageInMB: 512,
    });
  } catch (err) {
    throw new TaskError(`the JPEG image cannot be decoded: ${err?.message ?? err}`, id);
  }
  if (!image.width || !image.height) throw new TaskError('the JPEG image has no pixels', id);
  return scaleDown(image.data, image.width, image.height, maxSide);
}

/** Area-average downscale of an RGB buffer to a long side of at most maxSide (unchanged when smaller). */
export function scaleDown(rgb, width, height, maxSide) {
  const scale = Math.min(1, maxSide / Math.max(width, height));
  if (scale === 1) return { data: rgb, width, height };
  const w = Math.max(1, Math.round(width * scale));
  const h = Math.max(1, Math.round(height * scale));
  const out = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    const y0 = Math.floor((y * height) / h);
    const y1 = Math.max(y0 + 1, Math.floor(((y + 1) * height) / h));
    for (let x = 0; x < w; x++) {
      const x0 = Math.floor((x * width) / w);
      const x1 = Math.max(x0 + 1, Math.floor(((x + 1) * width) / w));
      let r = 0;
      let g = 0;
      let b = 0;
      for (let sy = y0; sy < y1; sy++) {
        let i = (sy * width + x0) * 3;
        for (let sx = x0; sx < x1; sx++, i += 3) {
          r += rgb[i];
          g += rgb[i + 1];
          b += rgb[i + 2];
        }
      }
      const n = (y1 - y0) * (x1 - x0);
      const o = (y * w + x) * 3;
      out[o] = Math.round(r / n);
      out[o + 1] = Math.round(g / n);
      out[o + 2] = Math.round(b / n);
    }
  }
  return { data: out, width: w, height: h };
}

/**
 * A task's JPEG as the model's input: decoded, scaled down to maxSide, and with `fixedInput` padded to a
 * maxSide square; `width` and `height` are the scaled frame's (the answer's, and the boxes' frame).
 */
export function frameInput(payload, id, { maxSide, fixedInput }) {
  const frame = decodeFrame(payload, id, maxSide);
  return {
    width: frame.width,
    height: frame.height,
    input: fixedInput ? padToSquare(frame, maxSide) : frame,
  };
}

/**
 * The frame padded with black to a fixed square of side x side pixels (image at the top left, so boxes
 * keep their coordinates): every task then runs on tensors of the same shapes, and the wasm allocator
 * reuses the same blocks instead of carving new ones from a heap that never shrinks.
 */
export function padToSquare(frame, side) {
  if (frame.width === side && frame.height === side) return frame;
  const out = new Uint8Array(side * side * 3);
  for (let y = 0; y < frame.height; y++) {
    out.set(frame.data.subarray(y * frame.width * 3, (y + 1) * frame.width * 3), y * side * 3);
  }
  return { data: out, width: side, height: side };
}

/**
 * A user's entry of a per-user state object, or undefined: own keys only, so that a user named
 * "constructor" or "__proto__" (the name comes from the network) finds nothing inherited.
 */
export function entryOf(byUser, user) {
  return Object.hasOwn(byUser, user) ? byUser[user] : undefined;
}

/** The task's user (the header's, or "anonymous"). */
export function userOf(header) {
  return header.user ?? 'anonymous';
}

/** Reads DATA_DIR/<file> (an object), or {} when it does not exist yet. */
export function readStateFile(path) {
  let text;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if (err?.code === 'ENOENT') return {};
    throw err;
  }
  const value = JSON.parse(text);
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new Error(`${path} does not hold a JSON object`);
  }
  return value;
}

/** Replaces the file atomically (temp file, then rename): a crash or a checkpoint never sees half of it. */
export function writeStateFile(path, value) {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(value)}\n`);
  renameSync(tmp, path);
}

/** A boolean environment variable: "1"/"true" on, "0"/"false" off, `fallback` when unset. */
export function boolEnv(name, fallback) {
  const raw = (process.env[name] ?? '').trim().toLowerCase();
  if (raw === '') return fallback;
  if (raw === '1' || raw === 'true') return true;
  if (raw === '0' || raw === 'false') return false;
  throw new Error(`${name} must be 1 or 0, got "${process.env[name]}"`);
}

/** Rounds to 4 decimals (scores, distances) so answers stay short. */
export function round4(x) {
  return Math.round(x * 10000) / 10000;
}
