#!/usr/bin/env node
// The paper's Simple service: a stateful TCP server that answers every task with an incrementing
// counter and does no processing. Framing: ../PROTOCOL.md.
//   env PORT (default 9000; 0 = any free port), HOST (default 0.0.0.0), MAX_FRAME_BYTES
import { runServer } from '../lib/server.mjs';

runServer({ service: 'simple', defaultPort: 9000, handle: () => ({}) });
