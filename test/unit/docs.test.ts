/**
 * The documentation as a reader meets it: a README short enough to read in a few minutes, links that
 * lead somewhere (files and GitHub's heading anchors; web links are not fetched), and no text that only
 * made sense to the people who wrote it: numbers of tracker issues, or one developer's machine standing
 * for "the machine" (a measurement names its machine: "a 2-core Debian 12 VM", "the controller").
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));

/** The README's limit: what a newcomer reads in five minutes, with pictures and links for the rest. */
const README_MAX_BYTES = 12 * 1024;

/** Tracker issue numbers: the word issue followed by a number, with or without "#"; "#" and a number in parentheses. */
const ISSUE_PATTERNS: readonly RegExp[] = [/\bissues?\s*#\s*\d+/i, /\bissues?\s+\d+/i, /\(#\d+\)/];

/** One developer's machine, in any file. */
const DEVELOPER_MACHINE_PATTERNS: readonly RegExp[] = [
  /\bmy (?:machine|laptop|box|computer|desktop|vm)\b/i,
  /\bthis box\b/i,
  /\bthis vm\b/i,
  /\bmeasured here\b/i,
];

/**
 * In the docs only: "this machine" and "this kernel" there meant the machine the docs were written on.
 * (In code and in the CLI's own help, "this machine" is the one edgectl runs on, which is right; the
 * generated command reference is that help, so it is left out.)
 */
const DOCS_ONLY_PATTERNS: readonly RegExp[] = [/\bthis machine\b/i, /\bthis kernel\b/i];

/** Files not read for wording: data, pictures, archives. */
const SKIPPED_FILES = /\.(?:csv|csv\.gz|gz|png|jpe?g|gif|ico|wasm)$/;

function markdownFilesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return markdownFilesUnder(path);
    return e.name.endsWith('.md') ? [path] : [];
  });
}

/** The markdown a reader follows: the README, CONTRIBUTING, the CHANGELOG and everything under docs/. */
const docFiles = [
  ...['README.md', 'CONTRIBUTING.md', 'CHANGELOG.md'].map((f) => join(root, f)),
  ...markdownFilesUnder(join(root, 'docs')),
];

/** Markdown text without its fenced code blocks (their lines blanked, so line numbers stay). */
function withoutCodeBlocks(text: string): string {
  let fence: string | undefined;
  return text
    .split('\n')
    .map((line) => {
      const m = /^\s{0,3}(`{3,}|~{3,})/.exec(line);
      if (m?.[1] && (fence === undefined || m[1].startsWith(fence))) {
        fence = fence === undefined ? m[1] : undefined;
        return '';
      }
      return fence === undefined ? line : '';
    })
    .join('\n');
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, each space a hyphen. */
function githubSlug(heading: string): string {
  return heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/<[^>]+>/g, '')
    .replace(/[`*]/g, '')
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** Every anchor a markdown file has: its headings' slugs, the second of a kind suffixed -1, and so on. */
function anchorsOf(text: string): Set<string> {
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  for (const line of withoutCodeBlocks(text).split('\n')) {
    const m = /^\s{0,3}#{1,6}\s+(.*?)(?:\s+#+)?\s*$/.exec(line);
    if (!m?.[1]) continue;
    const slug = githubSlug(m[1]);
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    anchors.add(n === 0 ? slug : `${slug}-${n}`);
  }
  return anchors;
}

/** The targets of a markdown file's links and images, outside code, with their line numbers. */
function linksOf(text: string): { line: number; target: string }[] {
  const out: { line: number; target: string }[] = [];
  withoutCodeBlocks(text)
    .split('\n')
    .forEach((raw, i) => {
      const line = raw.replace(/`[^`]*`/g, '');
      for (const m of line.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g))
        if (m[1]) out.push({ line: i + 1, target: m[1] });
    });
  return out;
}

/** What is wrong with one link of `file`, or undefined when it leads somewhere. */
function brokenLink(file: string, target: string): string | undefined {
  if (/^[a-z][a-z0-9+.-]*:/i.test(target)) return undefined; // http(s), mailto: not fetched
  const hash = target.indexOf('#');
  const pathPart = decodeURIComponent(hash === -1 ? target : target.slice(0, hash));
  const anchor = hash === -1 ? undefined : decodeURIComponent(target.slice(hash + 1));
  const path = pathPart === '' ? file : resolve(dirname(file), pathPart);
  if (!path.startsWith(root)) return 'leaves the repository';
  if (!existsSync(path)) return 'no such file';
  if (anchor === undefined || anchor === '' || !path.endsWith('.md') || statSync(path).isDirectory())
    return undefined;
  return anchorsOf(readFileSync(path, 'utf8')).has(anchor) ? undefined : `no heading #${anchor}`;
}

/** Every file of the project: tracked, or new and not ignored. */
function projectFiles(): string[] {
  return execFileSync('git', ['-C', root, 'ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
    encoding: 'utf8',
  })
    .split('\0')
    .filter((f) => f !== '' && !SKIPPED_FILES.test(f) && existsSync(join(root, f)))
    .filter((f) => statSync(join(root, f)).isFile());
}

/** The lines of `text` that match any of `patterns`, as "line: text". */
function matches(text: string, patterns: readonly RegExp[]): string[] {
  return text
    .split('\n')
    .flatMap((line, i) => (patterns.some((p) => p.test(line)) ? [`${i + 1}: ${line.trim()}`] : []));
}

describe('README', () => {
  it(`is at most ${README_MAX_BYTES} bytes`, () => {
    expect(statSync(join(root, 'README.md')).size).toBeLessThanOrEqual(README_MAX_BYTES);
  });

  it('keeps its two commands: the quick start and the tests', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    expect(readme).toContain('\n./scripts/quickstart.sh\n');
    expect(readme).toContain('\nnpm test\n');
  });
});

describe('links in the docs', () => {
  it('finds the docs', () => {
    expect(docFiles.length).toBeGreaterThan(10);
  });

  it.each(docFiles.map((f) => [relative(root, f), f]))(
    '%s: every relative link and anchor resolves',
    (_, file) => {
      const broken = linksOf(readFileSync(file, 'utf8')).flatMap(({ line, target }) => {
        const why = brokenLink(file, target);
        return why === undefined ? [] : [`${line}: ${target} (${why})`];
      });
      expect(broken).toEqual([]);
    },
  );
});

describe('wording of the project', () => {
  const files = projectFiles();

  it('reads the project files', () => {
    expect(files).toContain('README.md');
    expect(files.length).toBeGreaterThan(50);
  });

  it('no file names tracker issues or one developer machine', () => {
    const found = files.flatMap((f) => {
      const buf = readFileSync(join(root, f));
      if (buf.subarray(0, 8000).includes(0)) return []; // binary
      const text = buf.toString('utf8');
      return matches(text, [...ISSUE_PATTERNS, ...DEVELOPER_MACHINE_PATTERNS]).map((m) => `${f}:${m}`);
    });
    expect(found).toEqual([]);
  });

  it('no doc speaks of "this machine" or "this kernel" (the generated command reference aside)', () => {
    const found = docFiles
      .filter((f) => !relative(root, f).startsWith('docs/reference/'))
      .flatMap((f) =>
        matches(readFileSync(f, 'utf8'), DOCS_ONLY_PATTERNS).map((m) => `${relative(root, f)}:${m}`),
      );
    expect(found).toEqual([]);
  });
});

describe('the checks themselves', () => {
  const issue = ['issue', '14'].join(' ');

  it('catch issue numbers in their usual forms, and not the word alone', () => {
    const hit = (s: string) => ISSUE_PATTERNS.some((p) => p.test(s));
    expect([issue, `Issue #${14}`, `issues ${3} and ${4}`, `fixed (#${14})`].map(hit)).toEqual([
      true,
      true,
      true,
      true,
    ]);
    expect(['a known issue', 'tissue 14', 'see the issues page', '#14'].map(hit)).toEqual([
      false,
      false,
      false,
      false,
    ]);
  });

  it("catch one developer's machine", () => {
    const hit = (s: string) => DEVELOPER_MACHINE_PATTERNS.some((p) => p.test(s));
    expect(
      [['on my', 'machine'].join(' '), ['on this', 'box'].join(' '), ['this', 'VM'].join(' ')].map(hit),
    ).toEqual([true, true, true]);
    expect(['the controller', 'a 2-core Debian 12 VM', 'the machine you run it on'].map(hit)).toEqual([
      false,
      false,
      false,
    ]);
  });

  it("make GitHub's slugs", () => {
    expect(githubSlug("The quick start's experiment")).toBe('the-quick-starts-experiment');
    expect(githubSlug('What it needs, and what it changes')).toBe('what-it-needs-and-what-it-changes');
    expect(githubSlug('`edgectl lab up`')).toBe('edgectl-lab-up');
    expect([...anchorsOf('# A\n## A\n```\n# not a heading\n```\n## B c')]).toEqual(['a', 'a-1', 'b-c']);
  });

  it('read links outside code only', () => {
    const text = 'see [a](a.md#x) and `[b](b.md)`\n```\n[c](c.md)\n```\n![d](img/d.svg "D")';
    expect(linksOf(text)).toEqual([
      { line: 1, target: 'a.md#x' },
      { line: 5, target: 'img/d.svg' },
    ]);
  });
});
