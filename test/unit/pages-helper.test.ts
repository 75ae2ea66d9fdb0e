/**
 * edgectl-pages, the page codec of `migrate --codec pages`: how provision --install-deps hands its source to
 * install-host-deps.sh, the version both sides compute, and how `hosts check` reads the installed one.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { pagesProbe, parsePagesVersion, probeArgv } from '../../src/lib/hosts/probes.js';
import {
  PAGES_BIN,
  pagesSource,
  pagesSourceVersion,
  pagesVersionOf,
} from '../../src/lib/migration/pages-source.js';
import { delaySource } from '../../src/lib/netem/nfqueue-source.js';
import { installStdin, withPagesSource } from '../../src/lib/provision/install.js';

const repo = (path: string) => fileURLToPath(new URL(`../../${path}`, import.meta.url));
const ok = (stdout: string) => ({ code: 0, stdout, stderr: '' });

describe('edgectl-pages --version in hosts check', () => {
  it('runs the codec where install-host-deps.sh puts it', () => {
    expect(PAGES_BIN).toBe('/usr/local/sbin/edgectl-pages');
    expect(probeArgv.pages()).toEqual(['/usr/local/sbin/edgectl-pages', '--version']);
    expect(readFileSync(repo('scripts/install-host-deps.sh'), 'utf8')).toContain(
      `readonly PAGES_BIN=${PAGES_BIN}\n`,
    );
  });

  it('recognises its version line and nothing else', () => {
    expect(parsePagesVersion('edgectl-pages 0123456789ab\n')).toBe('0123456789ab');
    expect(parsePagesVersion('edgectl-pages dev')).toBe('dev');
    expect(parsePagesVersion('edgectl-delay 0123456789ab')).toBeUndefined();
    expect(parsePagesVersion('edgectl-pages')).toBeUndefined();
    expect(parsePagesVersion('')).toBeUndefined();
  });

  it('is quiet for the current build', () => {
    expect(pagesProbe(ok('edgectl-pages 0123456789ab\n'), '0123456789ab')).toEqual({
      facts: { ok: true, version: '0123456789ab', current: true },
    });
  });

  it('warns, with what to run, where it is outdated, missing or broken', () => {
    const old = pagesProbe(ok('edgectl-pages aaaaaaaaaaaa\n'), '0123456789ab');
    expect(old.facts).toEqual({ ok: true, version: 'aaaaaaaaaaaa', current: false });
    expect(old.warning).toBe(
      "edgectl-pages aaaaaaaaaaaa was built from another source than this edgectl's (0123456789ab): the pages codec of migrate needs it, its other codecs do not: run edgectl provision --install-deps",
    );

    const missing = pagesProbe(
      { code: 127, stdout: '', stderr: 'sh: 1: /usr/local/sbin/edgectl-pages: not found' },
      '0123456789ab',
    );
    expect(missing.facts).toEqual({ ok: false, current: false });
    expect(missing.warning).toBe(
      'edgectl-pages is not installed (/usr/local/sbin/edgectl-pages): the pages codec of migrate needs it, its other codecs do not: run edgectl provision --install-deps',
    );

    const broken = pagesProbe(
      { code: 126, stdout: '', stderr: 'sh: 1: /usr/local/sbin/edgectl-pages: Permission denied\n' },
      'x',
    );
    expect(broken.facts).toEqual({ ok: false, current: false });
    expect(broken.warning).toMatch(
      /^edgectl-pages --version failed \(exit 126\): sh: 1: \/usr\/local\/sbin\/edgectl-pages: Permission denied \(\/usr\/local\/sbin\/edgectl-pages\): .*run edgectl provision --install-deps$/,
    );

    const other = pagesProbe(ok('something else\n'), 'x');
    expect(other.facts.ok).toBe(false);
    expect(other.warning).toMatch(/^edgectl-pages --version printed no version \(something else\)/);
  });
});

describe('the source of edgectl-pages', () => {
  it('has the version install-host-deps.sh builds it with (sha256sum | cut -c1-12)', async () => {
    const file = repo('native/edgectl-pages.c');
    const byShell = execFileSync('sh', ['-c', 'sha256sum "$1" | cut -c1-12', 'sh', file], {
      encoding: 'utf8',
    }).trim();
    expect(await pagesSourceVersion()).toBe(byShell);
    expect(pagesVersionOf(await pagesSource())).toMatch(/^[0-9a-f]{12}$/);
  });

  it('travels to `bash -s` with edgectl-delay’s, byte for byte, ahead of the script', async () => {
    const [delay, pages] = await Promise.all([delaySource(), pagesSource()]);
    expect(withPagesSource('int main;\n')).toBe(
      `EDGECTL_PAGES_SOURCE_B64=${Buffer.from('int main;\n').toString('base64')}\n`,
    );
    // What install-host-deps.sh does with the two variables (resolve_helper_source), run by a real bash.
    const script = [
      'for v in EDGECTL_DELAY_SOURCE_B64 EDGECTL_PAGES_SOURCE_B64; do',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a bash indirect expansion, for bash
      '  base64 -d <<<"${!v}" | sha256sum | cut -c1-12',
      'done',
      'echo "args: $*"',
    ].join('\n');
    const out = execFileSync('bash', ['-s', '--', '--role', 'edge'], {
      input: installStdin(script, { delay, pages }),
      encoding: 'utf8',
    });
    expect(out.split('\n')).toEqual([pagesVersionOf(delay), pagesVersionOf(pages), 'args: --role edge', '']);
  });
});
