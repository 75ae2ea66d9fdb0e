#!/usr/bin/env node
// Object detection (the role of the paper's Yolo service): each task's payload is one JPEG frame;
// Human's CenterNet (80 COCO classes) on TensorFlow.js's wasm backend finds the objects, and the task's
// user's tally counts what was seen per class. The tallies live in memory and in DATA_DIR/tally.json
// (rewritten atomically per task, read at start). Framing and answers: ../PROTOCOL.md.
//   env PORT (default 9003), HOST, DATA_DIR (default /data), MAX_SIDE (default 640: larger frames are
//       scaled down first), MIN_CONFIDENCE (percent, default 30), MAX_OBJECTS (default 20),
//       ZERO_FREED (default 1), FIXED_INPUT (default 1: frames padded to MAX_SIDE square),
//       MAX_FRAME_BYTES
import { join } from 'node:path';
import { fatal, intEnv, runServer } from '../lib/server.mjs';
import { boolEnv, entryOf, readStateFile, startModel, userOf, writeStateFile } from '../lib/vision.mjs';

const SERVICE = 'detect';

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

  // The model in a worker thread: this one stays free to answer pings while a frame is processed.
  const model = await startModel(
    new URL('./model.mjs', import.meta.url),
    { maxSide, fixedInput, minConfidence, maxObjects, zeroFreed },
    (err) => fatal(SERVICE, `the model failed: ${err.message}`),
  );

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
      ...model.info,
    }),
    async handle({ header, payload }) {
      const { width, height, objects } = await model.run(payload, header.id);
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
