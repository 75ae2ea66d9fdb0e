/**
 * The bench scripts' pages (scripts/lib/bench-page.mjs): a run replaces only the page's latest-run section,
 * so the hand-written prose and the recorded runs with their provenance survive every run.
 */
import { describe, expect, it } from 'vitest';

interface Facts {
  date: string;
  commit: string;
  cores: number;
  cpu: string;
  kernel: string;
  os: string;
  node: string;
  loadavg: string[];
}
interface BenchPageModule {
  BEGIN: string;
  END: string;
  renderLatest(o: { command: string; facts: Facts; blocks: { kind: 'text' | 'md'; text: string }[] }): string;
  replaceLatest(page: string | undefined, title: string, latest: string): string;
}

// A plain .mjs (the bench scripts run without a build): imported by path, typed here.
const modulePath = new URL('../../scripts/lib/bench-page.mjs', import.meta.url).href;
const { BEGIN, END, renderLatest, replaceLatest } = (await import(modulePath)) as BenchPageModule;

const facts: Facts = {
  date: '2026-12-06T15:00:00Z',
  commit: 'abc1234',
  cores: 2,
  cpu: 'AMD EPYC',
  kernel: 'Linux 6.1.0',
  os: 'Debian GNU/Linux 12 (bookworm)',
  node: 'v20.20.2',
  loadavg: ['0.50', '0.40', '0.30'],
};

describe('bench pages', () => {
  const latest = renderLatest({
    command: 'BENCH_RUNS=5 npm run bench:startup',
    facts,
    blocks: [
      { kind: 'text', text: '\ncommand  ms  \nhelp     230 ' },
      { kind: 'md', text: '| a | b |\n|---|---|' },
    ],
  });

  it('say when, at which commit and on what machine, and keep what the bench printed', () => {
    expect(latest.startsWith(BEGIN)).toBe(true);
    expect(latest.endsWith(END)).toBe(true);
    expect(latest).toContain('- command: `BENCH_RUNS=5 npm run bench:startup`');
    expect(latest).toContain('- date: 2026-12-06T15:00:00Z; commit: abc1234');
    expect(latest).toContain(
      '- machine: 2 cores (AMD EPYC), Linux 6.1.0, Debian GNU/Linux 12 (bookworm), node v20.20.2',
    );
    expect(latest).toContain('- load average at the start: 0.50 / 0.40 / 0.30');
    expect(latest).toContain('```text\ncommand  ms\nhelp     230\n```');
    expect(latest).toContain('\n| a | b |\n|---|---|\n');
  });

  it('replace only the latest run: the prose and the recorded runs stay', () => {
    const page = `# Title\n\nWhat it measures.\n\n${BEGIN}\nan old run\n${END}\n\n## Recorded runs\n\nkept\n`;
    const next = replaceLatest(page, 'Title', latest);
    expect(next).not.toContain('an old run');
    expect(next.startsWith('# Title\n\nWhat it measures.\n\n')).toBe(true);
    expect(next.endsWith('\n\n## Recorded runs\n\nkept\n')).toBe(true);
    expect(replaceLatest(next, 'Title', latest)).toBe(next);
  });

  it('start a missing page, and add the section to a page without one', () => {
    expect(replaceLatest(undefined, 'Title', latest)).toBe(`# Title\n\n${latest}\n`);
    expect(replaceLatest('# Title\n\nprose\n', 'Title', latest)).toBe(`# Title\n\nprose\n\n${latest}\n`);
  });
});
