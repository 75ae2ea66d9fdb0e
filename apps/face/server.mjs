#!/usr/bin/env node
// Face recognition (the role of the paper's Openface service): each task's payload is one JPEG frame;
// face-api (SSD-MobileNetV1 detection, 68 landmarks for alignment, a 128-d descriptor) on TensorFlow.js's
// wasm backend finds the faces and matches each descriptor against the task's user's gallery: the
// nearest entry within THRESHOLD (euclidean) is a match, a face that matches nothing is enrolled as a new
// entry. THRESHOLD is 0.5, not face-api's usual 0.6: on the sample photos at 640 px, different people
// came as close as 0.46 and the same face mirrored as far as 0.53. The galleries live in memory and in DATA_DIR/gallery.json (rewritten atomically per task, read
// at start). Framing and answers: ../PROTOCOL.md.
//   env PORT (default 9002), HOST, DATA_DIR (default /data), MAX_SIDE (default 640: larger frames are
//       scaled down first), MIN_CONFIDENCE (percent, default 50), THRESHOLD (per mille, default 500),
//       ZERO_FREED (default 1), FIXED_INPUT (default 1: frames padded to MAX_SIDE square),
//       MAX_FRAME_BYTES
import { join } from 'node:path';
import { fatal, intEnv, runServer } from '../lib/server.mjs';
import {
  boolEnv,
  entryOf,
  readStateFile,
  round4,
  startModel,
  userOf,
  writeStateFile,
} from '../lib/vision.mjs';

const SERVICE = 'face';

function euclidean(a, b) {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += (a[i] - b[i]) ** 2;
  return Math.sqrt(sum);
}

async function main() {
  const maxSide = intEnv(SERVICE, 'MAX_SIDE', 640, 64, 8192);
  const fixedInput = boolEnv('FIXED_INPUT', true);
  const minConfidence = intEnv(SERVICE, 'MIN_CONFIDENCE', 50, 1, 99) / 100;
  const threshold = intEnv(SERVICE, 'THRESHOLD', 500, 1, 2000) / 1000;
  const dataDir = process.env.DATA_DIR || '/data';
  const galleryFile = join(dataDir, 'gallery.json');
  let zeroFreed;
  let galleries;
  try {
    zeroFreed = boolEnv('ZERO_FREED', true);
    galleries = readStateFile(galleryFile);
  } catch (err) {
    fatal(SERVICE, err.message);
  }

  // The model in a worker thread: this one stays free to answer pings while a frame is processed.
  const model = await startModel(
    new URL('./model.mjs', import.meta.url),
    { maxSide, fixedInput, minConfidence, zeroFreed },
    (err) => fatal(SERVICE, `the model failed: ${err.message}`),
  );

  runServer({
    service: SERVICE,
    defaultPort: 9002,
    state: () => ({ galleries }),
    describe: () => ({
      maxSide,
      minConfidence,
      threshold,
      zeroFreed,
      fixedInput,
      galleryFile,
      users: Object.keys(galleries).length,
      ...model.info,
    }),
    async handle({ header, payload }) {
      const { width, height, faces: found } = await model.run(payload, header.id);
      const user = userOf(header);
      // A new gallery for the user, committed only once the file is written: a failed task changes nothing.
      const gallery = (entryOf(galleries, user) ?? []).map((entry) => ({ ...entry }));
      const faces = [];
      for (const { descriptor, ...shown } of found) {
        let best;
        let bestDistance = Number.POSITIVE_INFINITY;
        for (const entry of gallery) {
          const distance = euclidean(descriptor, entry.descriptor);
          if (distance < bestDistance) [best, bestDistance] = [entry, distance];
        }
        if (best && bestDistance <= threshold) {
          best.seen += 1;
          faces.push({ ...shown, id: best.id, distance: round4(bestDistance), enrolled: false });
        } else {
          const id = `${user}#${gallery.length + 1}`;
          gallery.push({ id, seen: 1, descriptor });
          faces.push({ ...shown, id, distance: null, enrolled: true });
        }
      }
      const next = { ...galleries, [user]: gallery };
      writeStateFile(galleryFile, next);
      galleries = next;
      return { width, height, faces, gallery: gallery.length, rssBytes: process.memoryUsage.rss() };
    },
  });
}

main().catch((err) => fatal(SERVICE, `cannot start: ${err?.stack ?? err}`));
