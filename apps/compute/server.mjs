#!/usr/bin/env node
// A stateful service that does real work (the role of the paper's Openface and Yolo services):
// - each task's payload is read as a grayscale image 256 pixels wide and filtered with PASSES passes of
//   a 3x3 Gaussian kernel; the answer carries a checksum of the result;
// - it holds STATE_MB of in-memory state (pseudo-random, never zero pages), of which each task rewrites
//   DIRTY_PAGES 4 KiB pages chosen from the counter, so checkpoints are large and their deltas small;
// - it appends one fixed-width line per task to DATA_DIR/tasks.log and answers the file's line count,
//   so a client sees whether the files the app wrote survived a migration.
// Framing: ../PROTOCOL.md. `server.mjs --bench [--ms N]` runs the CPU benchmark instead (../bench.mjs).
//   env PORT (default 9001; 0 = any free port), HOST (default 0.0.0.0), STATE_MB (default 64),
//       DATA_DIR (default /data), PASSES (default 8), DIRTY_PAGES (default 4), MAX_FRAME_BYTES
import { appendFileSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { benchMain } from '../lib/bench.mjs';
import { fillXorshift, filterImage, fnv1a, hex32, IMAGE_WIDTH, mix32 } from '../lib/kernel.mjs';
import { fatal, intEnv, roundMs, runServer } from '../lib/server.mjs';

const SERVICE = 'compute';
const PAGE_BYTES = 4096;
/** Every line of the data file is exactly this long (newline included): lines = size / LINE_BYTES. */
const LINE_BYTES = 128;

function main() {
  const stateMB = intEnv(SERVICE, 'STATE_MB', 64, 0, 65536);
  const passes = intEnv(SERVICE, 'PASSES', 8, 1, 10000);
  const dirtyPages = intEnv(SERVICE, 'DIRTY_PAGES', 4, 0, 1 << 20);
  const dataDir = process.env.DATA_DIR || '/data';
  const dataFile = join(dataDir, 'tasks.log');

  const fillStarted = performance.now();
  // Off the V8 heap, so the garbage collector never moves it: its pages stay put between checkpoints.
  const state = Buffer.allocUnsafeSlow(stateMB * 1024 * 1024);
  fillXorshift(new Uint32Array(state.buffer, state.byteOffset, state.length / 4), 0x6d2b79f5);
  const stateFillMs = roundMs(performance.now() - fillStarted);
  const statePages = state.length / PAGE_BYTES;

  let fileLines = 0;
  try {
    mkdirSync(dataDir, { recursive: true });
    appendFileSync(dataFile, '');
    fileLines = Math.floor(statSync(dataFile).size / LINE_BYTES);
  } catch (err) {
    fatal(SERVICE, `cannot write ${dataFile}: ${err.message}`);
  }

  runServer({
    service: SERVICE,
    defaultPort: 9001,
    describe: () => ({ stateMB, passes, dirtyPages, dataFile, fileLines, stateFillMs }),
    handle({ header, payload, counter }) {
      const sum = fnv1a(filterImage(payload, IMAGE_WIDTH, passes));
      const checksum = hex32(sum);
      for (let i = 0; i < dirtyPages && statePages > 0; i++) {
        const page = mix32(counter * 7919 + i) % statePages;
        fillXorshift(
          new Uint32Array(state.buffer, state.byteOffset + page * PAGE_BYTES, PAGE_BYTES / 4),
          sum ^ mix32(counter + i),
        );
      }
      const line = JSON.stringify({ counter, id: header.id, bytes: payload.length, checksum, t: Date.now() });
      // Opened, appended and closed per task: a checkpoint then holds no open descriptor on the file.
      appendFileSync(dataFile, `${line.padEnd(LINE_BYTES - 1, ' ').slice(0, LINE_BYTES - 1)}\n`);
      return { checksum, fileLines: Math.floor(statSync(dataFile).size / LINE_BYTES) };
    },
  });
}

if (process.argv.includes('--bench')) benchMain(process.argv.slice(2));
else main();
