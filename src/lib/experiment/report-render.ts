/**
 * A vega-lite spec to SVG (vega's headless View) and PNG (resvg, twice the size, the system's fonts).
 */
import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import type { TopLevelSpec } from 'vega-lite';
import { compile } from 'vega-lite';

export interface Rendered {
  svg: string;
  png: Buffer;
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

export async function render(spec: TopLevelSpec): Promise<Rendered> {
  const svg = await renderSvg(spec);
  return { svg, png: svgToPng(svg) };
}
