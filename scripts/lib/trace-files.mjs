// Preloaded with `node --import` by the image's file tracer (src/lib/image/app-files.ts): records every
// file the process reads or opens by name, and every CommonJS module it loaded, and writes them as JSON
// to env TRACE_FILES_OUT when the process exits. Node runs this preload in every worker thread too; a
// worker (which may not see its own exit) appends each new path to TRACE_FILES_OUT.thread-N at once, and
// the main thread merges those files into its list. Nothing here changes what the process does.
import fs from 'node:fs';
import Module, { createRequire, syncBuiltinESMExports } from 'node:module';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMainThread, threadId } from 'node:worker_threads';

const OUT = process.env.TRACE_FILES_OUT;
const seen = new Set();
function note(path) {
  if (path instanceof URL) path = fileURLToPath(path);
  if (typeof path !== 'string') return;
  const full = resolve(path);
  if (seen.has(full)) return;
  seen.add(full); // before the append below, which opens a file itself
  if (!isMainThread) fs.appendFileSync(`${OUT}.thread-${threadId}`, `${full}\n`);
}
// Every CommonJS module as it is compiled, on any thread.
const compile = Module.prototype._compile;
Module.prototype._compile = function traced(content, filename, ...rest) {
  note(filename);
  return compile.call(this, content, filename, ...rest);
};
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
  if (!isMainThread) return;
  const cache = createRequire(import.meta.url).cache;
  for (const key of Object.keys(cache)) note(key);
  const prefix = `${basename(OUT)}.thread-`;
  for (const name of fs.readdirSync(dirname(OUT)).filter((n) => n.startsWith(prefix))) {
    for (const line of fs.readFileSync(join(dirname(OUT), name), 'utf8').split('\n'))
      if (line) seen.add(line);
  }
  // Real paths, as node's module cache has them (node_modules may be reached through a symlink).
  const real = [...seen].map((path) => (fs.existsSync(path) ? fs.realpathSync(path) : path));
  fs.writeFileSync(OUT, `${JSON.stringify([...new Set(real)].sort(), null, 1)}\n`);
});
