// How the bench scripts run edgectl: the built CLI of this checkout, --json, the result or a thrown error.
import { execFile, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const root = fileURLToPath(new URL('../..', import.meta.url));

/** Runs `edgectl ARGS -f HOSTS [--state STATE] --json`; returns the envelope's result, throws on failure. */
export function edgectl(args, { hosts = `${root}hosts.yml`, state } = {}) {
  const r = spawnSync(
    process.execPath,
    [`${root}bin/run.js`, ...args, '-f', hosts, ...(state ? ['--state', state] : []), '--json'],
    { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
  );
  let doc;
  try {
    doc = JSON.parse(r.stdout);
  } catch {
    doc = undefined;
  }
  if (r.status !== 0)
    throw new Error(`edgectl ${args.join(' ')} failed (${r.status}): ${doc?.error?.message ?? r.stderr}`);
  return doc.result;
}

/** The same, without blocking this process (for a call made while the bench awaits something else). */
export function edgectlAsync(args, { hosts = `${root}hosts.yml`, state } = {}) {
  const argv = [`${root}bin/run.js`, ...args, '-f', hosts, ...(state ? ['--state', state] : []), '--json'];
  return new Promise((resolve, reject) => {
    execFile(process.execPath, argv, { maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      let doc;
      try {
        doc = JSON.parse(stdout);
      } catch {
        doc = undefined;
      }
      if (err)
        reject(new Error(`edgectl ${args.join(' ')} failed (${err.code}): ${doc?.error?.message ?? stderr}`));
      else resolve(doc.result);
    });
  });
}
