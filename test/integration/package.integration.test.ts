/**
 * The package as a user gets it: `npm pack` of a clean checkout of HEAD (its `prepack` builds dist/ and the
 * oclif manifest), the tarball installed into an empty prefix, and edgectl run from there: --help, init,
 * validate, and the library imported by its package name, with its types.
 *
 * Needs no lab, but the npm registry: the dependencies' tarballs come from npm's cache where `npm ci` left
 * them (--prefer-offline), their metadata from the registry when the cache lacks it. better-sqlite3 is
 * native: its install script tries a prebuilt binary from GitHub first and, where that cannot be reached,
 * compiles it (node-gyp, against the headers ~/.npmrc's nodedir names), the slowest part of the test on
 * a small machine; hence the long time limit.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../helpers/cli.js';

const MINUTE = 60_000;
const tmp = mkdtempSync(join(tmpdir(), 'edgectl-package-'));
const checkout = join(tmp, 'checkout');
const prefix = join(tmp, 'prefix');
const work = join(tmp, 'work');
const installed = join(prefix, 'node_modules', 'edgectl');
const bin = join(prefix, 'node_modules', '.bin', 'edgectl');
// npm's own chatter off; everything else (the cache, nodedir) as the user's npm has it.
const npmEnv = { npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' };

let tarball = '';
let files: string[] = [];

afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function run(file: string, args: string[], cwd: string, timeout = 2 * MINUTE) {
  const r = await execa(file, args, {
    cwd,
    reject: false,
    timeout,
    env: { ...npmEnv, NO_COLOR: '1' },
  });
  return { code: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}

function expectOk(r: { code: number; stdout: string; stderr: string }, what: string): void {
  expect(r.code, `${what} failed:\n${r.stderr.slice(-4000)}\n${r.stdout.slice(-2000)}`).toBe(0);
}

beforeAll(async () => {
  // A clean checkout of HEAD: what a clone has, nothing of the working tree's build or leftovers.
  mkdirSync(checkout);
  const archive = await execa('git', ['archive', '--format=tar', 'HEAD'], {
    cwd: repoRoot,
    encoding: 'buffer',
  });
  await execa('tar', ['-x', '-C', checkout], { input: archive.stdout });
  // The build's tools (tsc, oclif) from this checkout's node_modules: installing them again proves nothing.
  symlinkSync(join(repoRoot, 'node_modules'), join(checkout, 'node_modules'));

  const pack = await run('npm', ['pack', '--json', '--pack-destination', tmp], checkout, 5 * MINUTE);
  expectOk(pack, 'npm pack');
  const [info] = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('['))) as {
    filename: string;
    files: { path: string }[];
  }[];
  tarball = join(tmp, info?.filename ?? '');
  files = (info?.files ?? []).map((f) => f.path);

  // An empty prefix whose package.json allows the one install script edgectl needs, as edgectl's does.
  mkdirSync(prefix);
  const allowScripts = (
    JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { allowScripts?: unknown }
  ).allowScripts;
  writeFileSync(
    join(prefix, 'package.json'),
    `${JSON.stringify({ private: true, allowScripts }, null, 2)}\n`,
  );
  const install = await run(
    'npm',
    ['install', '--prefix', prefix, '--prefer-offline', '--no-save', tarball],
    prefix,
    12 * MINUTE,
  );
  expectOk(install, 'npm install of the tarball');
  mkdirSync(work);
}, 20 * MINUTE);

describe('the npm package', () => {
  it('ships the build, the manifest, the inventories, the schema and the runtime files, not the sources', () => {
    for (const f of [
      'bin/run.js',
      'dist/index.js',
      'dist/index.d.ts',
      'dist/commands/init.js',
      'oclif.manifest.json',
      'hosts.yml',
      'examples/rack/hosts.yml',
      'schema/hosts.schema.json',
      'scripts/install-host-deps.sh',
      'package.json',
    ])
      expect(files, f).toContain(f);
    expect(files.some((f) => f.startsWith('apps/'))).toBe(true);
    expect(files.some((f) => f.startsWith('native/'))).toBe(true);
    expect(
      files.filter((f) => f.startsWith('src/') || f.startsWith('test/') || f.startsWith('node_modules/')),
    ).toEqual([]);
  });

  it('runs --help from the prefix, listing the everyday commands', async () => {
    const r = await run(bin, ['--help'], work);
    expectOk(r, 'edgectl --help');
    for (const id of ['init', 'validate', 'status', 'logs', 'deploy', 'migrate'])
      expect(r.stdout).toContain(id);
  });

  it('init writes a hosts.yml that validate accepts, its schema line pointing into the package', async () => {
    expectOk(await run(bin, ['init'], work), 'edgectl init');
    const first = readFileSync(join(work, 'hosts.yml'), 'utf8').split('\n')[0];
    expect(first).toBe(`# yaml-language-server: $schema=${join(installed, 'schema', 'hosts.schema.json')}`);
    const v = await run(bin, ['validate', '--json'], work);
    expectOk(v, 'edgectl validate');
    expect(JSON.parse(v.stdout)).toMatchObject({ status: 0, result: { valid: true } });

    expectOk(await run(bin, ['init', '--rack', '--out', 'rack.yml'], work), 'edgectl init --rack');
    expectOk(await run(bin, ['validate', 'rack.yml'], work), 'edgectl validate rack.yml');
    // And a broken file: exit 3, the problem at its line.
    writeFileSync(
      join(work, 'bad.yml'),
      'testbed: x\nhosts:\n  - { name: a, role: edgy, address: 1.2.3.4 }\n',
    );
    const bad = await run(bin, ['validate', 'bad.yml'], work);
    expect(bad.code).toBe(3);
    expect(bad.stdout).toMatch(/^bad\.yml:3:\d+: hosts\[0\]\.role: /m);
  });

  it("import('edgectl') gives the library, with a working native SQLite", async () => {
    const script = `
      const m = await import('edgectl');
      const inv = await m.loadInventory(${JSON.stringify(join(work, 'hosts.yml'))});
      const db = m.openState(':memory:');
      db.close();
      const fns = ['loadInventory', 'validateInventory', 'migrate', 'plan', 'planInputFrom', 'runExperiment', 'deploy', 'testbedStatus'];
      console.log(JSON.stringify({ testbed: inv.testbed, missing: fns.filter((f) => typeof m[f] !== 'function'), exit: m.ExitCode.inventory }));
    `;
    const r = await run(process.execPath, ['--input-type=module', '-e', script], prefix);
    expectOk(r, "import('edgectl')");
    expect(JSON.parse(r.stdout)).toEqual({ testbed: 'paper-fig3', missing: [], exit: 3 });
  });

  it('has types a TypeScript consumer resolves through the package exports', async () => {
    const dir = join(prefix, 'consumer');
    mkdirSync(dir);
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          target: 'ES2022',
          strict: true,
          noEmit: true,
          skipLibCheck: false,
          types: [],
        },
        include: ['check.mts'],
      }),
    );
    writeFileSync(
      join(dir, 'check.mts'),
      [
        "import { ExitCode, type Inventory, loadInventory, type ValidateResult, validateInventory } from 'edgectl';",
        "const inv: Inventory = await loadInventory('hosts.yml');",
        'const hosts: string[] = inv.hosts.map((h) => h.name);',
        "const v: ValidateResult = await validateInventory('hosts.yml');",
        'const code: 3 = ExitCode.inventory;',
        '// @ts-expect-error: a typo is caught, so the types are real and not any',
        'inv.hostz;',
        'export { code, hosts, v };',
        '',
      ].join('\n'),
    );
    const r = await run(join(repoRoot, 'node_modules', '.bin', 'tsc'), ['-p', dir], dir);
    expectOk(r, 'tsc of a consumer');
  });
});
