#!/usr/bin/env node
// Writes apps/<app>/files.json for every app that reads files from node_modules, by tracing the service
// while it starts and answers one frame (dist/lib/image/app-files.js): run through `npm run app-files`,
// which builds first. test/unit/app-files.test.ts fails when a committed list differs from a new trace.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const { APP_FILES_NAME, TRACED_APPS, appFilesText, traceAppFiles } = await import(
  '../dist/lib/image/app-files.js'
);
const appsDir = fileURLToPath(new URL('../apps/', import.meta.url));
const written = [];
for (const app of Object.keys(TRACED_APPS)) {
  const files = await traceAppFiles(appsDir, app);
  written.push(join(appsDir, app, APP_FILES_NAME));
  writeFileSync(written.at(-1), appFilesText(files));
  const count = Object.values(files.packages).reduce((n, list) => n + list.length, 0);
  process.stdout.write(`wrote apps/${app}/${APP_FILES_NAME}: ${count} files\n`);
}
// In the project's JSON style, so `npm run lint` passes (the test compares parsed lists, not bytes).
execFileSync('npx', ['biome', 'format', '--write', ...written], { stdio: 'inherit' });
