/**
 * `edgectl experiment compare DIR...`: reads results directories, compares them (compare-dirs.ts) and writes
 * into its own directory compare.md, compare.csv, the figures (SVG and PNG) and compare.json (the whole
 * result, last: it marks the directory as compare's, which a later compare may rewrite). Each file replaced
 * whole. A non-empty directory compare did not write is refused (OUT_DIR_NOT_EMPTY) unless `force`.
 */
import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import type { TopLevelSpec } from 'vega-lite';
import { checkOutDir } from '../cli/out.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import {
  COMPARE_KIND,
  compareDirs,
  type DirComparison,
  type LabelledResults,
  resolveLabels,
} from './compare-dirs.js';
import { type CompareFigureRef, compareCsv, compareMarkdown } from './compare-md.js';
import {
  COMPARE_DIFF_CAPTION,
  COMPARE_FIG4_CAPTION,
  COMPARE_FIG5_CAPTION,
  conditionBarsSpec,
  differencesSpec,
} from './compare-specs.js';
import { readResults } from './report-data.js';
import { writeFigureFiles } from './report-render.js';
import type { BootstrapOptions } from './stats.js';

export interface CompareOptions {
  dirs: readonly string[];
  /** One per directory, in order; none: each directory's base name. */
  labels?: readonly string[];
  /** Default: ./compare-<UTC timestamp> in the working directory. */
  outDir?: string;
  /** Write into a non-empty directory compare did not write. */
  force?: boolean;
  bootstrap?: BootstrapOptions;
  now?: Date;
}

export interface CompareFigure {
  id: 'fig5' | 'fig4' | 'differences';
  title: string;
  caption: string;
  /** Absolute paths of the figure's files. */
  files: string[];
}

export type CompareResult = DirComparison & {
  outDir: string;
  /** Every file written (absolute paths), compare.json last. */
  files: string[];
  figures: CompareFigure[];
};

/** compare.json of `dir` says compare wrote it. */
export function isCompareDir(dir: string): boolean {
  try {
    return (
      (JSON.parse(readFileSync(join(dir, 'compare.json'), 'utf8')) as { kind?: unknown }).kind ===
      COMPARE_KIND
    );
  } catch {
    return false;
  }
}

/** Refuses an existing non-empty `dir` unless compare wrote it or `force` (exit 2, OUT_DIR_NOT_EMPTY). */
export function checkCompareOutDir(dir: string, force: boolean): void {
  if (isCompareDir(dir)) return;
  checkOutDir(dir, { force });
}

function stamp(now: Date): string {
  return now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
}

/** Reads, compares and writes; see the file's comment. Throws a UsageError (exit 2) on bad input. */
export async function writeComparison(options: CompareOptions): Promise<CompareResult> {
  const labels = resolveLabels(options.dirs, options.labels);
  // Every directory read before anything is written: a bad one stops the command with nothing done.
  const inputs: LabelledResults[] = [];
  for (const [i, dir] of options.dirs.entries())
    inputs.push({ label: labels[i] ?? '', data: await readResults(dir) });
  const comparison = compareDirs(inputs, options.bootstrap);
  if (!options.labels?.length) {
    const merged = comparison.conditions.filter((c) => c.dirs.length > 1);
    for (const c of merged)
      comparison.warnings.unshift(
        `${c.dirs.length} directories are named ${c.label}: merged as repetitions of one condition (give --label to keep them apart)`,
      );
  }
  const outDir = resolve(options.outDir ?? `compare-${stamp(options.now ?? new Date())}`);
  checkCompareOutDir(outDir, options.force ?? false);
  await mkdir(outDir, { recursive: true });

  const drawn: {
    id: CompareFigure['id'];
    name: string;
    title: string;
    caption: string;
    spec: TopLevelSpec;
  }[] = [
    {
      id: 'fig5',
      name: 'compare-fig5-downtime',
      title: 'Fig. 5: total downtime per run, by condition',
      caption: COMPARE_FIG5_CAPTION,
      spec: conditionBarsSpec(comparison, 'downtimeMs', {
        title: 'Total service downtime per run',
        subtitle: 'Mean over the runs of each condition; error bars 95% interval',
        yTitle: 'Total downtime',
      }),
    },
    {
      id: 'fig4',
      name: 'compare-fig4-e2e',
      title: 'Fig. 4: mean E2E delay per run, by condition',
      caption: COMPARE_FIG4_CAPTION,
      spec: conditionBarsSpec(comparison, 'meanE2eMs', {
        title: 'Mean E2E delay per run',
        subtitle: 'Mean over the runs of each condition; error bars 95% interval',
        yTitle: 'Mean E2E delay',
      }),
    },
    {
      id: 'differences',
      name: 'compare-differences',
      title: `Differences to ${comparison.baseline}`,
      caption: COMPARE_DIFF_CAPTION,
      spec: differencesSpec(comparison),
    },
  ];
  const figures: CompareFigure[] = [];
  for (const f of drawn)
    figures.push({
      id: f.id,
      title: f.title,
      caption: f.caption,
      files: await writeFigureFiles(outDir, f.name, f.spec),
    });
  const refs: CompareFigureRef[] = figures.map((f) => ({
    title: f.title,
    caption: f.caption,
    png: basename(f.files.find((p) => p.endsWith('.png')) ?? ''),
    svg: basename(f.files.find((p) => p.endsWith('.svg')) ?? ''),
  }));
  const files = figures.flatMap((f) => f.files);
  const md = join(outDir, 'compare.md');
  await writeFileAtomic(md, compareMarkdown(comparison, refs));
  const csv = join(outDir, 'compare.csv');
  await writeFileAtomic(csv, compareCsv(comparison));
  const json = join(outDir, 'compare.json');
  await writeFileAtomic(json, `${JSON.stringify(comparison, null, 2)}\n`);
  files.push(md, csv, json);
  return { ...comparison, outDir, files, figures };
}
