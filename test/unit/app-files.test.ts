/**
 * The files the vision services need from node_modules: the committed lists match a fresh trace, and
 * the image's file set alone (apps/ plus the listed files at apps/node_modules) runs each service.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import {
  APP_FILES_NAME,
  findPackageDir,
  groupByPackage,
  readAppFiles,
  TRACED_APPS,
  traceAppFiles,
} from '../../src/lib/image/app-files.js';
import { planRootfs } from '../../src/lib/image/rootfs.js';
import { exchange, killServices, startService } from '../helpers/services.js';

const APPS = fileURLToPath(new URL('../../apps/', import.meta.url));
const dirs: string[] = [];
afterAll(() => {
  killServices();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('groupByPackage', () => {
  it('groups by the package after the last node_modules, adds package.json, drops other files', () => {
    expect(
      groupByPackage([
        '/x/node_modules/@s/p/dist/a.js',
        '/x/node_modules/@s/p/model/w.bin',
        '/x/node_modules/q/index.js',
        '/x/apps/face/server.mjs',
        '/data/gallery.json',
      ]),
    ).toEqual({
      packages: { '@s/p': ['dist/a.js', 'model/w.bin', 'package.json'], q: ['index.js', 'package.json'] },
    });
  });

  it('refuses one package from two directories (the image has one node_modules)', () => {
    expect(() => groupByPackage(['/x/node_modules/q/a.js', '/x/node_modules/r/node_modules/q/a.js'])).toThrow(
      /package q was loaded from two directories/,
    );
  });
});

describe.each(Object.keys(TRACED_APPS))('app %s', (app) => {
  it(`apps/${app}/${APP_FILES_NAME} lists what the service loads (else: npm run app-files)`, async () => {
    expect(await traceAppFiles(APPS, app)).toEqual(await readAppFiles(APPS, app));
  }, 60_000);

  it("starts from the image's file set alone and answers a frame", async () => {
    const plan = await planRootfs({ appsDir: APPS });
    const root = mkdtempSync(join(tmpdir(), `edgectl-appfiles-${app}-`));
    dirs.push(root);
    const shipped = plan.entries.filter((e) => e.type === 'file' && e.path.startsWith('apps/'));
    expect(shipped.some((e) => e.path.startsWith('apps/node_modules/'))).toBe(true);
    for (const entry of shipped) {
      mkdirSync(dirname(join(root, entry.path)), { recursive: true });
      copyFileSync(entry.source!, join(root, entry.path));
    }
    // No node_modules between the copy and / (else the service could load from there).
    expect(findPackageDir(dirname(root), 'jpeg-js')).toBeUndefined();
    const service = await startService(
      join(root, 'apps', app, 'server.mjs'),
      { DATA_DIR: join(root, 'data') },
      {
        cwd: root,
      },
    );
    const sample = join(findPackageDir(join(APPS, app), '@vladmandic/face-api')!, 'demo', 'sample1.jpg');
    const [answer] = await exchange(service.port, [{ header: { id: 1 }, payload: readFileSync(sample) }]);
    expect(answer).toMatchObject({ id: 1, counter: 1 });
    expect((answer!['faces'] ?? answer!['objects']) as unknown[]).not.toHaveLength(0);
    expect(await service.stop()).toBe(0);
  }, 60_000);
});
