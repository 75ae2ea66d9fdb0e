// Every bench script writes its own page, docs/bench/NAME.md, so that a table in the docs always says
// when, at which commit and on what machine it was measured. The page's prose and its recorded runs are
// written by hand; the script replaces only the part between the two markers (the latest run).
// BENCH_PAGE=0 prints without touching the page (a run on a machine whose numbers should not be kept).
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname } from 'node:path';
import { root } from './edgectl.mjs';

export const BEGIN = '<!-- bench:latest -->';
export const END = '<!-- bench:latest:end -->';

/**
 * The facts a reader needs to weigh a measurement, taken when the bench starts (the load is the start's).
 * The commit and the load come from edgectl's own util/revision (the results files record the same), so
 * the build must exist.
 */
export async function benchFacts() {
  const { sourceRevision, machineFacts } = await import(`${root}dist/lib/util/revision.js`);
  const rev = sourceRevision(root);
  const machine = machineFacts();
  let cpu = '';
  try {
    cpu = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? '';
  } catch {
    // No /proc/cpuinfo (not Linux): the model stays unknown.
  }
  let osName = '';
  try {
    osName = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? '';
  } catch {
    // No os-release: the distribution stays unknown.
  }
  return {
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    commit:
      rev.commit === null
        ? 'unknown'
        : `${rev.commit.slice(0, 7)}${rev.dirty ? ' (with uncommitted changes)' : ''}`,
    cores: machine.cpus,
    cpu: cpu || 'unknown',
    kernel: `${os.type()} ${os.release()}`,
    os: osName || 'unknown',
    node: process.version,
    loadavg: machine.loadAvg.map((x) => x.toFixed(2)),
  };
}

/** The latest-run section of a page: the facts, then what the bench printed. */
export function renderLatest({ command, facts, blocks }) {
  const lines = [
    BEGIN,
    '## Latest run',
    '',
    `- command: \`${command}\``,
    `- date: ${facts.date}; commit: ${facts.commit}`,
    `- machine: ${facts.cores} cores (${facts.cpu}), ${facts.kernel}, ${facts.os}, node ${facts.node}`,
    `- load average at the start: ${facts.loadavg.join(' / ')} (1 / 5 / 15 min)`,
    '',
  ];
  for (const b of blocks) {
    if (b.kind === 'md') lines.push(b.text.trimEnd(), '');
    else
      lines.push(
        '```text',
        b.text
          .replace(/^\n+/, '')
          .split('\n')
          .map((l) => l.trimEnd())
          .join('\n')
          .trimEnd(),
        '```',
        '',
      );
  }
  lines.push(END);
  return lines.join('\n');
}

/** The page with its latest-run section replaced (or added after the prose when it has none yet). */
export function replaceLatest(page, title, latest) {
  if (page === undefined) return `# ${title}\n\n${latest}\n`;
  const begin = page.indexOf(BEGIN);
  const end = page.indexOf(END);
  if (begin === -1 || end < begin) return `${page.trimEnd()}\n\n${latest}\n`;
  return page.slice(0, begin) + latest + page.slice(end + END.length);
}

/**
 * Starts a bench's page: `log` prints a line and keeps it for the page (as preformatted text), `md` prints
 * markdown and keeps it as markdown, `write` writes docs/bench/NAME.md (call it once the bench succeeded).
 */
export async function benchPage(name, { title, command: script }) {
  const facts = await benchFacts();
  // The BENCH_* settings of this run belong to its command line: a narrowed run must say so.
  const settings = Object.entries(process.env)
    .filter(([k]) => k.startsWith('BENCH_') && k !== 'BENCH_PAGE')
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${v} `)
    .join('');
  const command = `${settings}${script}`;
  const blocks = [];
  const add = (kind, text) => {
    const last = blocks.at(-1);
    if (last && last.kind === kind) last.text += `\n${text}`;
    else blocks.push({ kind, text });
  };
  return {
    facts,
    log(...parts) {
      const text = parts.join(' ');
      console.log(text);
      add('text', text);
    },
    md(...parts) {
      const text = parts.join(' ');
      console.log(text);
      add('md', text);
    },
    write() {
      if (process.env.BENCH_PAGE === '0') return;
      const file = `${root}docs/bench/${name}.md`;
      const page = existsSync(file) ? readFileSync(file, 'utf8') : undefined;
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(`${file}.tmp`, replaceLatest(page, title, renderLatest({ command, facts, blocks })));
      renameSync(`${file}.tmp`, file);
      console.error(`(written to docs/bench/${name}.md)`);
    },
  };
}
