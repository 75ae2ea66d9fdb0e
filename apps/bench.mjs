#!/usr/bin/env node
// CPU benchmark for the planner's per-server score C_s:
//   node apps/bench.mjs [--ms 1000] [--warmup-ms 200]
// prints one JSON line {score, iterations, ms, kernel}; score = filter iterations per second.
import { benchMain } from './lib/bench.mjs';

benchMain(process.argv.slice(2));
