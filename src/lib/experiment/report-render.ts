/**
 * A vega-lite spec to SVG (vega's headless View), PNG (resvg, twice the size, the system's fonts) and PDF
 * (the SVG drawn as vectors by svg-to-pdfkit, so LaTeX users get a figure that scales).
 */
import { join } from 'node:path';
import { Resvg } from '@resvg/resvg-js';
import PDFDocument from 'pdfkit';
import SVGtoPDF from 'svg-to-pdfkit';
import * as vega from 'vega';
import type { TopLevelSpec } from 'vega-lite';
import { compile } from 'vega-lite';
import { writeFileAtomic } from '../util/atomic-write.js';

export interface Rendered {
  svg: string;
  png: Buffer;
  pdf: Buffer;
}

export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

export function svgToPng(svg: string, scale = 2): Buffer {
  const png = new Resvg(svg, {
    fitTo: { mode: 'zoom', value: scale },
    font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' },
  })
    .render()
    .asPng();
  return Buffer.from(png);
}

/**
 * PDF's standard Helvetica (in every PDF reader, nothing embedded, the same file on every machine) covers
 * WinAnsi only: the few other characters the figures use are spelled out.
 */
function winAnsi(svg: string): string {
  return svg.replaceAll('→', '-&gt;').replaceAll('−', '-');
}

export async function svgToPdf(svg: string): Promise<Buffer> {
  const width = Number(/<svg[^>]*\swidth="([\d.]+)"/.exec(svg)?.[1] ?? 600);
  const height = Number(/<svg[^>]*\sheight="([\d.]+)"/.exec(svg)?.[1] ?? 400);
  // One SVG pixel per PDF point: the figure is as large on the page as in a browser at 100%.
  const doc = new PDFDocument({
    size: [width, height],
    margin: 0,
    info: { Creator: 'edgectl', Producer: 'edgectl' },
  });
  const chunks: Buffer[] = [];
  doc.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise<void>((resolve, reject) => {
    doc.on('end', () => resolve());
    doc.on('error', reject);
  });
  SVGtoPDF(doc, winAnsi(svg), 0, 0, {
    width,
    height,
    assumePt: true,
    fontCallback: (_family, bold) => (bold ? 'Helvetica-Bold' : 'Helvetica'),
    warningCallback: () => {},
  });
  doc.end();
  await done;
  return Buffer.concat(chunks);
}

/**
 * Writes one figure into `dir` as NAME.svg, NAME.png, NAME.pdf and its vega-lite spec NAME.vl.json (data
 * inlined), each file whole; returns the paths written. Every figure edgectl draws goes through here.
 */
export async function writeFigureFiles(dir: string, name: string, spec: TopLevelSpec): Promise<string[]> {
  const { svg, png, pdf } = await render(spec);
  const path = (ext: string) => join(dir, `${name}.${ext}`);
  await writeFileAtomic(path('svg'), svg);
  await writeFileAtomic(path('png'), png);
  await writeFileAtomic(path('pdf'), pdf);
  await writeFileAtomic(path('vl.json'), `${JSON.stringify(spec, null, 2)}\n`);
  return ['svg', 'png', 'pdf', 'vl.json'].map(path);
}

export async function render(spec: TopLevelSpec): Promise<Rendered> {
  const svg = await renderSvg(spec);
  return { svg, png: svgToPng(svg), pdf: await svgToPdf(svg) };
}
