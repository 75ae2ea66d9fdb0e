// The detect service's model, in its worker thread (see startModel in ../lib/vision.mjs): Human's
// CenterNet (80 COCO classes) on TensorFlow.js's wasm backend. Per frame it answers the objects found;
// the tallies are the service's, on its main thread.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parentPort, workerData } from 'node:worker_threads';
import { frameInput, packageDir, require, round4, serveModel, setupWasm, wasmDir } from '../lib/vision.mjs';

/** Human's models directory (centernet.json and .bin). */
export function humanModelDir() {
  return join(packageDir('@vladmandic/human'), 'models');
}

/**
 * Human loads models through `fetch`, which cannot read files: this fetch answers file: URLs from the
 * disk and refuses every other one, so the service never reaches for the network.
 */
function localFetch(url) {
  const href = String(url instanceof Request ? url.url : url);
  if (!href.startsWith('file:')) return Promise.reject(new Error(`no network here: refused ${href}`));
  return readFile(fileURLToPath(href)).then((bytes) => new Response(bytes));
}

async function load({ minConfidence, maxObjects, zeroFreed }) {
  globalThis.fetch = localFetch;
  const tf = require('@tensorflow/tfjs-core');
  await setupWasm(tf, require('@tensorflow/tfjs-backend-wasm'), { zeroFreed });
  // Required by file path: Human's `exports` map names no "./" subpaths, so not by name.
  const { Human } = require(join(packageDir('@vladmandic/human'), 'dist', 'human.node-wasm.js'));
  const human = new Human({
    backend: 'wasm',
    wasmPath: `${wasmDir()}/`,
    wasmPlatformFetch: false,
    modelBasePath: `file://${humanModelDir()}/`,
    cacheModels: false,
    debug: false,
    warmup: 'none',
    // Every frame is a new picture: no skipping, no reuse of the last frame's result.
    cacheSensitivity: 0,
    skipAllowed: false,
    filter: { enabled: false },
    face: { enabled: false },
    body: { enabled: false },
    hand: { enabled: false },
    gesture: { enabled: false },
    segmentation: { enabled: false },
    object: {
      enabled: true,
      modelPath: 'centernet.json',
      minConfidence,
      maxDetected: maxObjects,
      skipFrames: 0,
      skipTime: 0,
    },
  });
  await human.load();
  if (!human.models.loaded().includes('centernet')) throw new Error('the CenterNet model did not load');
  return { model: { tf, human }, info: { backend: tf.getBackend() } };
}

async function infer({ tf, human }, payload, id) {
  const { maxSide, fixedInput } = workerData;
  const { width, height, input } = frameInput(payload, id, { maxSide, fixedInput });
  const tensor = tf.tensor4d(input.data, [1, input.height, input.width, 3], 'int32');
  let result;
  try {
    result = await human.detect(tensor);
  } finally {
    tensor.dispose();
  }
  if (result.error) throw new Error(result.error);
  const objects = result.object.map((o) => ({
    class: o.label,
    score: round4(o.score),
    box: o.box.map((v) => Math.round(v)),
  }));
  return { width, height, objects };
}

if (parentPort) await serveModel(parentPort, workerData, load, infer);
