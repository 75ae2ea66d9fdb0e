#!/usr/bin/env node
// Object detection (the role of the paper's Yolo service): each task's payload is one JPEG frame;
// Human's CenterNet (80 COCO classes) on TensorFlow.js's wasm backend finds the objects, and the task's
// user's tally counts what was seen per class. The tallies live in memory and in DATA_DIR/tally.json
// (rewritten atomically per task, read at start). Framing and answers: ../PROTOCOL.md.
//   env PORT (default 9003), HOST, DATA_DIR (default /data), MAX_SIDE (default 640: larger frames are
//       scaled down first), MIN_CONFIDENCE (percent, default 30), MAX_OBJECTS (default 20),
//       ZERO_FREED (default 1), FIXED_INPUT (default 1: frames padded to MAX_SIDE square),
//       MAX_FRAME_BYTES
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { fatal, intEnv, roundMs, runServer } from '../lib/server.mjs';
import {
  boolEnv,
  entryOf,
  frameInput,
  packageDir,
  readStateFile,
  require,
  round4,
  setupWasm,
  userOf,
  wasmDir,
  writeStateFile,
} from '../lib/vision.mjs';

const SERVICE = 'detect';

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

async function main() {
  const maxSide = intEnv(SERVICE, 'MAX_SIDE', 640, 64, 8192);
  const fixedInput = boolEnv('FIXED_INPUT', true);
  const minConfidence = intEnv(SERVICE, 'MIN_CONFIDENCE', 30, 1, 99) / 100;
  const maxObjects = intEnv(SERVICE, 'MAX_OBJECTS', 20, 1, 100);
  const dataDir = process.env.DATA_DIR || '/data';
  const tallyFile = join(dataDir, 'tally.json');
  let zeroFreed;
  let tallies;
  try {
    zeroFreed = boolEnv('ZERO_FREED', true);
    tallies = readStateFile(tallyFile);
  } catch (err) {
    fatal(SERVICE, err.message);
  }

  const started = performance.now();
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
  const loadMs = roundMs(performance.now() - started);

  runServer({
    service: SERVICE,
    defaultPort: 9003,
    state: () => ({ tallies }),
    describe: () => ({
      maxSide,
      minConfidence,
      maxObjects,
      zeroFreed,
      fixedInput,
      tallyFile,
      users: Object.keys(tallies).length,
      backend: tf.getBackend(),
      loadMs,
    }),
    async handle({ header, payload }) {
      const { width, height, input } = frameInput(payload, header.id, { maxSide, fixedInput });
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
      const user = userOf(header);
      const tally = { ...(entryOf(tallies, user) ?? {}) };
      for (const o of objects) tally[o.class] = (tally[o.class] ?? 0) + 1;
      const next = { ...tallies, [user]: tally };
      writeStateFile(tallyFile, next);
      tallies = next;
      return { width, height, objects, tally, rssBytes: process.memoryUsage.rss() };
    },
  });
}

main().catch((err) => fatal(SERVICE, `cannot start: ${err?.stack ?? err}`));
