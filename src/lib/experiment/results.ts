/**
 * The results directory written (format.ts): the CSV files from every run's rows (results-rows.ts), each
 * number rounded by the data dictionary (dictionary.ts), the dictionary itself as datapackage.json,
 * summary.json (results-summary.ts) and meta.json last.
 */
import { mkdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'csv-stringify/sync';
import { writeFileAtomic } from '../util/atomic-write.js';
import { JSON_FILES, roundRows, TABLES, type TableSpec } from './dictionary.js';
import type { ExperimentMeta, RunMeta } from './format.js';
import { runMetaSchema } from './results-json.js';
import type { Row, RunRows } from './results-rows.js';
import { summarise } from './results-summary.js';

export { decisionRow, emptyRunRows, type Row, type RunRows, runRows } from './results-rows.js';
export { counterResets, downtimeOf, interval, runSample, stat, summarise } from './results-summary.js';

/** Which of a run's row lists each CSV file (dictionary.ts table name) is written from. */
export const TABLE_ROWS: Readonly<Record<string, keyof RunRows>> = {
  tasks: 'tasks',
  migrations: 'migrations',
  migration_phases: 'migrationPhases',
  handovers: 'handovers',
  outages: 'outages',
  checkpoints: 'checkpoints',
  decisions: 'decisions',
  positions: 'positions',
  rssi: 'rssi',
  host_stats: 'hostStats',
  links: 'links',
  capacity: 'capacity',
};

export function toCsv(rows: readonly Row[], columns: readonly string[]): string {
  return stringify(
    rows.map((r) => columns.map((c) => r[c] ?? '')),
    { header: true, columns: [...columns], cast: { boolean: (v) => (v ? 'true' : 'false') } },
  );
}

/** A table's CSV text: its dictionary columns in order, every number rounded to its decimals. */
export function tableCsv(t: TableSpec, rows: readonly Row[]): string {
  return toCsv(
    roundRows(t.name, rows),
    t.columns.map((c) => c.name),
  );
}

/**
 * datapackage.json (Frictionless Data Package v1, tabular-data-package): one tabular-data-resource per CSV
 * file with its schema from the dictionary (`unit` is a custom property, as the spec allows), empty cells
 * missing; meta.json and summary.json as plain resources. `gzipped`: tables written as NAME.csv.gz.
 */
export function dataPackage(
  options: { name?: string; gzipped?: ReadonlySet<string> } = {},
): Record<string, unknown> {
  const gz = options.gzipped ?? new Set<string>();
  return {
    profile: 'tabular-data-package',
    name: (options.name ?? 'edgectl-results').toLowerCase().replace(/[^a-z0-9._-]+/g, '-'),
    title: 'edgectl experiment results',
    description:
      'Written by edgectl experiment run (or experiment export). Times in ms; t_ms columns from the start of the run the row belongs to.',
    resources: [
      ...TABLES.map((t) => ({
        profile: 'tabular-data-resource',
        name: t.name,
        path: gz.has(t.name) ? `${t.name}.csv.gz` : `${t.name}.csv`,
        title: t.title,
        description: `One row per ${t.row}.`,
        format: 'csv',
        mediatype: 'text/csv',
        encoding: 'utf-8',
        ...(gz.has(t.name) ? { compression: 'gz' } : {}),
        dialect: { delimiter: ',', doubleQuote: true, header: true },
        schema: {
          fields: t.columns.map((c) => ({
            name: c.name,
            type: c.type,
            description: c.description,
            ...(c.unit ? { unit: c.unit } : {}),
            ...(c.type === 'boolean' ? { trueValues: ['true'], falseValues: ['false'] } : {}),
            ...(c.required ? { constraints: { required: true } } : {}),
          })),
          missingValues: [''],
        },
      })),
      ...JSON_FILES.map((f) => ({
        profile: 'data-resource',
        name: f.name,
        path: f.path,
        description: f.description,
        format: 'json',
        mediatype: 'application/json',
        encoding: 'utf-8',
      })),
    ],
  };
}

/**
 * Writes the CSV files, datapackage.json, summary.json and meta.json (in that order: meta.json, which lists
 * the runs, comes last), each replaced whole; returns the paths written, meta.json first. A NAME.csv.gz left
 * in the directory (results gzipped to publish them) is removed as its NAME.csv is written: it held an
 * older copy of the same table, and a reader finding both would not know which to trust.
 */
export async function writeResults(
  dir: string,
  meta: ExperimentMeta,
  runs: readonly { meta: RunMeta; rows: RunRows }[],
): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const written: string[] = [];
  for (const t of TABLES) {
    const key = TABLE_ROWS[t.name];
    if (!key) throw new Error(`no rows for table ${t.name}`);
    const name = `${t.name}.csv`;
    await writeFileAtomic(
      join(dir, name),
      tableCsv(
        t,
        runs.flatMap((r) => r.rows[key]),
      ),
    );
    await rm(join(dir, `${name}.gz`), { force: true });
    written.push(name);
  }
  const pkg = dataPackage({
    name: meta.id === undefined ? 'edgectl-results' : `edgectl-experiment-${meta.id}`,
  });
  await writeFileAtomic(join(dir, 'datapackage.json'), `${JSON.stringify(pkg, null, 2)}\n`);
  const summary = summarise(runs, meta.complete);
  await writeFileAtomic(join(dir, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  await writeFileAtomic(join(dir, 'meta.json'), `${JSON.stringify(inSchemaOrder(meta), null, 2)}\n`);
  return ['meta.json', 'summary.json', 'datapackage.json', ...written].map((name) => join(dir, name));
}

/**
 * Makes datapackage.json name the tables as the directory holds them now: one gzipped since it was written
 * (NAME.csv.gz, to publish it; the reader takes either) is listed with that path and `compression: gz`, and
 * back when it was unzipped. Only the paths change; a directory without datapackage.json (written before it
 * existed, its layout another) is left alone. Returns the file's path when it was rewritten.
 */
export async function syncDataPackage(dir: string): Promise<string | null> {
  const path = join(dir, 'datapackage.json');
  let pkg: unknown;
  try {
    pkg = JSON.parse(await readFile(path, 'utf8'));
  } catch {
    return null;
  }
  const resources = isObject(pkg) && Array.isArray(pkg['resources']) ? pkg['resources'] : [];
  let changed = false;
  for (const r of resources) {
    if (!isObject(r) || !TABLES.some((t) => t.name === r['name'])) continue;
    const name = String(r['name']);
    const plain = await stat(join(dir, `${name}.csv`)).catch(() => null);
    const gz = !plain && (await stat(join(dir, `${name}.csv.gz`)).catch(() => null)) !== null;
    const want = gz ? `${name}.csv.gz` : `${name}.csv`;
    if (r['path'] === want) continue;
    r['path'] = want;
    if (gz) r['compression'] = 'gz';
    else delete r['compression'];
    changed = true;
  }
  if (!changed) return null;
  await writeFileAtomic(path, `${JSON.stringify(pkg, null, 2)}\n`);
  return path;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * The runs' meta with its keys in the schema's order: a live run adds keys as it goes (its users at the
 * start, its window at the end), while `experiment export` reads them back through the schema, so without
 * this the same run wrote two different meta.json files.
 */
function inSchemaOrder(meta: ExperimentMeta): ExperimentMeta {
  return {
    ...meta,
    runs: meta.runs.map((r) => {
      const parsed = runMetaSchema.safeParse(r);
      return parsed.success ? (parsed.data as RunMeta) : r;
    }),
  };
}
