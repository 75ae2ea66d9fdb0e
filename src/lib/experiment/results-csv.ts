/**
 * A results directory's CSV tables read back by the data dictionary (dictionary.ts): NAME.csv or NAME.csv.gz,
 * every cell parsed by its column's type (a cell that is not is an error naming file, line and column); a
 * table every results directory has missing is an error, one added later is null.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { parse } from 'csv-parse/sync';
import { errorMessage, UsageError } from '../errors.js';
import { type ColumnSpec, type ColumnType, table } from './dictionary.js';

/** A cell as its column's type makes it; null for an empty cell. */
export type Cell = string | number | boolean | null;
/** One CSV record by column name, every cell typed. */
export type CsvRecord = Record<string, Cell>;

const INTEGER = /^[+-]?\d+$/;
/** Decimal notation, as the writer and pandas or R write numbers (not hex, not Infinity). */
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const TRUE = new Set(['true', 'True', 'TRUE', '1']);
const FALSE = new Set(['false', 'False', 'FALSE', '0']);

/** A cell's text as its declared type; undefined when it is not one. */
export function parseCell(type: ColumnType, text: string): Cell | undefined {
  if (text === '') return null;
  switch (type) {
    case 'string':
      return text;
    case 'integer':
      return INTEGER.test(text.trim()) ? Number(text) : undefined;
    case 'number':
      return NUMBER.test(text.trim()) ? Number(text) : undefined;
    case 'boolean':
      return TRUE.has(text) ? true : FALSE.has(text) ? false : undefined;
  }
}

/** A results CSV found in a directory: NAME.csv, else NAME.csv.gz (gunzipped). */
export async function findCsv(dir: string, name: string): Promise<{ file: string; text: string } | null> {
  const plain = join(dir, `${name}.csv`);
  const text = await readFile(plain, 'utf8').catch(() => null);
  if (text !== null) return { file: plain, text };
  const gz = `${plain}.gz`;
  const bytes = await readFile(gz).catch(() => null);
  if (bytes === null) return null;
  try {
    return { file: gz, text: gunzipSync(bytes).toString('utf8') };
  } catch (err) {
    throw new UsageError(`${gz}: not a readable gzip file (${errorMessage(err)})`);
  }
}

/** The column names of a CSV text's first line; none for an empty text. */
export function headerOf(text: string): string[] {
  if (text.trim() === '') return [];
  return (parse(text, { to_line: 1, bom: true }) as string[][])[0] ?? [];
}

/**
 * A CSV text's records, every cell parsed by `columns` (those not in the header: null, and a warning unless
 * the column came later than the file); columns the dictionary does not know are left out.
 */
export function parseTable(
  file: string,
  text: string,
  columns: readonly ColumnSpec[],
  warnings: string[],
): CsvRecord[] {
  if (text.trim() === '') return [];
  let records: { record: Record<string, string>; info: { lines: number } }[];
  try {
    records = parse(text, { columns: true, skip_empty_lines: true, bom: true, info: true }) as typeof records;
  } catch (err) {
    throw new UsageError(`${file}: not a readable CSV file (${errorMessage(err)})`);
  }
  const header = headerOf(text);
  const absent = columns.filter((c) => !header.includes(c.name));
  const missingRequired = absent.filter((c) => c.required);
  if (missingRequired.length > 0)
    throw new UsageError(`${file} has no column ${missingRequired.map((c) => c.name).join(', ')}`, {
      hint: 'a results file is written by edgectl experiment run (format: docs/reference/results.md)',
    });
  const silent = absent.filter((c) => !c.later);
  if (silent.length > 0)
    warnings.push(`${file} has no column ${silent.map((c) => c.name).join(', ')}: read as empty cells`);
  const present = columns.filter((c) => header.includes(c.name));
  return records.map(({ record, info }) => {
    const out: CsvRecord = {};
    for (const c of absent) out[c.name] = null;
    for (const c of present) {
      const text = record[c.name] ?? '';
      const v = parseCell(c.type, text);
      if (v === undefined)
        throw new UsageError(
          `${file}:${info.lines}: column ${c.name}: ${JSON.stringify(text)} is not ${c.type === 'integer' ? 'an' : 'a'} ${c.type}`,
        );
      if (v === null && c.required)
        throw new UsageError(`${file}:${info.lines}: column ${c.name} is empty, and it is never empty`);
      out[c.name] = v;
    }
    return out;
  });
}

/** Reads table `name` of the dictionary; null when the directory has no such file. */
export async function readTable(dir: string, name: string, warnings: string[]): Promise<CsvRecord[] | null> {
  const found = await findCsv(dir, name);
  return found ? parseTable(found.file, found.text, table(name).columns, warnings) : null;
}

/** A file every results directory has is missing: the directory is damaged, not older. */
export function missingFile(dir: string, name: string): UsageError {
  return new UsageError(
    `${dir} has no ${name}.csv (nor ${name}.csv.gz): the results directory is incomplete`,
    {
      hint: 'edgectl experiment export ID writes the whole directory again from the state database',
    },
  );
}

/** Reads a table every results directory has: missing, the directory is damaged. */
export async function readRequired(dir: string, name: string, warnings: string[]): Promise<CsvRecord[]> {
  const t = await readTable(dir, name, warnings);
  if (!t) throw missingFile(dir, name);
  return t;
}
