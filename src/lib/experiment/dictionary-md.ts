/**
 * docs/reference/results.md from the data dictionary (dictionary.ts), pure: written by
 * scripts/results-reference.mjs (`npm run results-reference`), and a unit test fails when the committed page
 * differs from what this returns.
 */
import { type ColumnSpec, JSON_FILES, TABLES } from './dictionary.js';

/** A table cell's text: pipes escaped so that they do not split the Markdown table. */
const cell = (s: string) => s.replaceAll('|', '\\|');

function typeOf(c: ColumnSpec): string {
  if (c.type !== 'number' || c.decimals === undefined) return c.type;
  return `number (${c.decimals} decimal${c.decimals === 1 ? '' : 's'})`;
}

export function resultsReference(): string {
  const out: string[] = [
    '# The results directory',
    '',
    'Generated from the data dictionary (`src/lib/experiment/dictionary.ts`) by `npm run results-reference`: do',
    'not edit this page by hand; a unit test fails when it is stale. Every results directory carries the same',
    'dictionary as `datapackage.json` (a [Frictionless](https://specs.frictionlessdata.io/) tabular data package),',
    'which the frictionless tools and libraries for Python and R read.',
    '',
    'CSV files have a header row, are comma-separated with RFC 4180 quoting, UTF-8, and leave a missing value',
    'empty. Booleans are `true` and `false`. Times are milliseconds: `t_ms` and the other `*_t_ms` columns count',
    'from the start of the run (one planner, one repetition) the row belongs to; `*_epoch_ms` columns are',
    'wall-clock epoch milliseconds. Numbers are rounded to what was measured (the decimals below). Any CSV file',
    'may be gzipped (`tasks.csv.gz`): `edgectl experiment report` reads either.',
    '',
    'A file marked *required* is in every results directory since the first version; the others were added',
    'later, and older results lack them. A column marked *later* is absent from files written before it was',
    'added. *Never empty*: the column always has a value.',
    '',
    '| file | one row per | since |',
    '|---|---|---|',
    ...TABLES.map(
      (t) => `| [\`${t.name}.csv\`](#${t.name}) | ${cell(t.row)} | ${t.required ? 'required' : 'later'} |`,
    ),
    ...JSON_FILES.map((f) => `| \`${f.path}\` | ${cell(f.description)} | required |`),
    '| `datapackage.json` | this dictionary, as a Frictionless data package | later |',
    '',
  ];
  for (const t of TABLES) {
    out.push(
      `## ${t.name}`,
      '',
      `\`${t.name}.csv\`: ${t.title.toLowerCase()}, one row per ${t.row}${t.required ? '' : ' (added later: older results lack it)'}.`,
      '',
      '| column | type | unit | description | notes |',
      '|---|---|---|---|---|',
      ...t.columns.map((c) => {
        const notes = [c.required ? 'never empty' : '', c.later ? 'later' : ''].filter((n) => n !== '');
        return `| \`${c.name}\` | ${typeOf(c)} | ${c.unit ?? ''} | ${cell(c.description)} | ${notes.join(', ')} |`;
      }),
      '',
    );
  }
  out.push(
    '## Older migrations.csv',
    '',
    'Before `migration_phases.csv`, `migrations.csv` repeated each migration on each of its phase rows, with',
    "four more columns: `phase`, `phase_start_ms` (from the migration's start), `phase_duration_ms` and",
    '`phase_bytes`, and without `error`. `edgectl experiment report` still reads it, as one row per migration',
    'and its phases.',
    '',
  );
  return out.join('\n');
}
