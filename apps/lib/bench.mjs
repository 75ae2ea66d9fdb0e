// The CPU benchmark behind the planner's per-server score C_s: the compute service's filter kernel, one
// pass over a fixed 256x256 image per iteration, single-threaded, for a fixed wall time.
import { performance } from 'node:perf_hooks';
import { fillXorshift, filterPass, IMAGE_WIDTH } from './kernel.mjs';

export const BENCH_KERNEL = `filter3x3-${IMAGE_WIDTH}x${IMAGE_WIDTH}`;

function runFor(ms, src, dst) {
  const started = performance.now();
  let iterations = 0;
  let elapsed = 0;
  let a = src;
  let b = dst;
  // Check the clock every 8 iterations (one iteration is well under a millisecond).
  while (elapsed < ms) {
    for (let i = 0; i < 8; i++) {
      filterPass(a, b, IMAGE_WIDTH, IMAGE_WIDTH);
      [a, b] = [b, a];
    }
    iterations += 8;
    elapsed = performance.now() - started;
  }
  return { iterations, elapsed, sample: a[IMAGE_WIDTH * 128 + 128] };
}

/**
 * Runs the kernel for `ms` milliseconds after `warmupMs` of warm-up (JIT) and returns
 * {score (iterations per second), iterations, ms (measured), kernel}.
 */
export function runBench({ ms = 1000, warmupMs = 200 } = {}) {
  const words = new Uint32Array((IMAGE_WIDTH * IMAGE_WIDTH) / 4);
  fillXorshift(words, 0x2545f491);
  const src = new Uint8Array(words.buffer);
  const dst = new Uint8Array(src.length);
  runFor(warmupMs, src, dst);
  const { iterations, elapsed, sample } = runFor(ms, src, dst);
  if (sample < 0) throw new Error('unreachable'); // keeps the work observable to the optimiser
  return {
    score: Math.round((iterations / elapsed) * 1000 * 10) / 10,
    iterations,
    ms: Math.round(elapsed * 1000) / 1000,
    kernel: BENCH_KERNEL,
  };
}

/** Parses `--ms N` / `--warmup-ms N` (env BENCH_MS, BENCH_WARMUP_MS), runs, prints one JSON line. */
export function benchMain(argv) {
  const options = {
    ms: Number(process.env.BENCH_MS || 1000),
    warmupMs: Number(process.env.BENCH_WARMUP_MS || 200),
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const [flag, inline] = arg.includes('=') ? arg.split('=', 2) : [arg, undefined];
    const value = () => Number(inline ?? argv[++i]);
    if (flag === '--ms') options.ms = value();
    else if (flag === '--warmup-ms') options.warmupMs = value();
    else if (flag !== '--bench') {
      process.stderr.write(`unknown argument ${arg}; usage: bench.mjs [--ms N] [--warmup-ms N]\n`);
      process.exit(2);
    }
  }
  for (const [name, v] of Object.entries(options)) {
    if (!Number.isFinite(v) || v < 0 || (name === 'ms' && v <= 0)) {
      process.stderr.write(`--${name === 'ms' ? 'ms' : 'warmup-ms'} must be a positive number\n`);
      process.exit(2);
    }
  }
  process.stdout.write(`${JSON.stringify(runBench(options))}\n`);
}
