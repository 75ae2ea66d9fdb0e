#!/usr/bin/env node
// A results directory's report.html opened in headless Chromium with the network cut off: a PNG of the
// page, and the page's DOM after it ran, to count the figures vega-embed drew (one .vega-embed element
// holding a <canvas> each) and those it could not (class "failed"). Not run in CI: it needs a Chromium
// (Debian's `chromium` package), which the CI image does not carry.
//
//   node scripts/screenshot-report.mjs RESULTS_DIR [--out FILE.png] [--width 1280] [--height 5000]
//
// Exit codes: 0 every figure drawn and the PNG written; 1 Chromium failed or a figure was not drawn;
// 2 usage (no such directory, no report.html); 3 no Chromium on this machine.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const usage =
  'usage: node scripts/screenshot-report.mjs RESULTS_DIR [--out FILE.png] [--width N] [--height N]';
function fail(code, message) {
  console.error(message);
  process.exit(code);
}

let parsed;
try {
  parsed = parseArgs({
    allowPositionals: true,
    options: {
      out: { type: 'string' },
      width: { type: 'string', default: '1280' },
      height: { type: 'string', default: '5000' },
      // Virtual time given to the page's scripts (vega draws within a second; the budget is generous).
      'budget-ms': { type: 'string', default: '15000' },
    },
  });
} catch (e) {
  fail(2, `${e.message}\n${usage}`);
}
const { values, positionals } = parsed;
if (positionals.length !== 1) fail(2, usage);
const dir = resolve(positionals[0]);
const page = join(dir, 'report.html');
if (!existsSync(dir) || !statSync(dir).isDirectory()) fail(2, `${dir} is not a directory\n${usage}`);
if (!existsSync(page))
  fail(2, `${page} is missing: run \`edgectl experiment report ${positionals[0]}\` first`);
const out = resolve(values.out ?? join(dir, 'report-screenshot.png'));
const width = Number(values.width);
const height = Number(values.height);
const budget = Number(values['budget-ms']);
for (const [name, v] of [
  ['width', width],
  ['height', height],
  ['budget-ms', budget],
])
  if (!Number.isInteger(v) || v <= 0) fail(2, `--${name} must be a positive integer\n${usage}`);

/** CHROMIUM, else the first of the usual names on PATH. */
function findChromium() {
  if (process.env.CHROMIUM) return process.env.CHROMIUM;
  for (const name of ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable']) {
    for (const d of (process.env.PATH ?? '').split(delimiter).filter(Boolean)) {
      try {
        accessSync(join(d, name), constants.X_OK);
        return join(d, name);
      } catch {}
    }
  }
  return null;
}
const chromium = findChromium();
if (!chromium)
  fail(
    3,
    "no Chromium found (looked for chromium, chromium-browser, google-chrome on PATH): install Debian's " +
      '`chromium` package, or set CHROMIUM=/path/to/chrome',
  );

const profile = mkdtempSync(join(tmpdir(), 'edgectl-screenshot-'));
const common = [
  '--headless',
  '--disable-gpu',
  '--hide-scrollbars',
  '--no-first-run',
  '--no-default-browser-check',
  '--disable-extensions',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-default-apps',
  // No network: every connection goes to a proxy on the discard port (refused), and no name resolves.
  '--proxy-server=127.0.0.1:9',
  '--proxy-bypass-list=<-loopback>',
  '--host-resolver-rules=MAP * ~NOTFOUND',
  `--user-data-dir=${profile}`,
  `--window-size=${width},${height}`,
  `--virtual-time-budget=${budget}`,
  // Chromium's sandbox refuses to start as root (a container's usual user).
  ...(process.getuid?.() === 0 ? ['--no-sandbox'] : []),
];
const url = pathToFileURL(page).href;
const run = (args) =>
  spawnSync(chromium, [...common, ...args, url], {
    encoding: 'utf8',
    timeout: 120_000,
    maxBuffer: 256 << 20,
  });

/** Both runs; the exit code and what to print (process.exit in here would skip removing the profile). */
function check() {
  const dom = run(['--dump-dom']);
  if (dom.error || dom.status !== 0)
    return [
      1,
      `${chromium} --dump-dom failed (${dom.error?.message ?? `exit ${dom.status}`}): ${dom.stderr}`,
    ];
  const views = (dom.stdout.match(/class="figure-view[^"]*"/g) ?? []).length;
  const failed = (dom.stdout.match(/class="figure-view[^"]*\bfailed\b/g) ?? []).length;
  const drawn = (dom.stdout.match(/<canvas\b/g) ?? []).length;
  rmSync(out, { force: true });
  const shot = run([`--screenshot=${out}`]);
  if (shot.error || shot.status !== 0 || !existsSync(out))
    return [
      1,
      `${chromium} --screenshot failed (${shot.error?.message ?? `exit ${shot.status}`}): ${shot.stderr}`,
    ];
  const text = [
    `${out}: ${statSync(out).size} bytes, ${width}x${height}`,
    `figures: ${views} on the page, ${drawn} drawn (canvas), ${failed} failed`,
  ].join('\n');
  return [views === 0 || failed > 0 || drawn < views ? 1 : 0, text];
}

let result;
try {
  result = check();
} finally {
  rmSync(profile, { recursive: true, force: true });
}
(result[0] === 0 ? console.log : console.error)(result[1]);
process.exit(result[0]);
