// Preloaded with `node --import` by the image's file tracer (src/lib/image/app-files.ts): records every
// file the process reads or opens by name, and every CommonJS module it loaded, and writes them as JSON
// to env TRACE_FILES_OUT when the process exits. Nothing here changes what the process does.
import fs from 'node:fs';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const seen = new Set();
function note(path) {
  if (path instanceof URL) path = fileURLToPath(path);
  if (typeof path === 'string') seen.add(resolve(path));
}
function wrap(object, name) {
  const original = object[name];
  object[name] = function traced(path, ...rest) {
    note(path);
    return original.call(this, path, ...rest);
  };
}
for (const name of ['readFileSync', 'readFile', 'openSync', 'open', 'createReadStream']) wrap(fs, name);
for (const name of ['readFile', 'open']) wrap(fs.promises, name);
syncBuiltinESMExports();

process.on('exit', () => {
  const cache = createRequire(import.meta.url).cache;
  for (const key of Object.keys(cache)) note(key);
  // Real paths, as node's module cache has them (node_modules may be reached through a symlink).
  const real = [...seen].map((path) => (fs.existsSync(path) ? fs.realpathSync(path) : path));
  fs.writeFileSync(process.env.TRACE_FILES_OUT, `${JSON.stringify([...new Set(real)].sort(), null, 1)}\n`);
});
