/**
 * report.html: the page built from the synthetic results directory's real report.md and figures, read back
 * as a browser would (its tags, its JSON, its scripts run in node's vm), and hostile strings from the
 * results. No DOM here: the inlined vega and vega-lite draw every spec of the page to SVG inside the vm,
 * and the page's own boot script is run against a stub document to see what it hands vega-embed.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import vm from 'node:vm';
import type { TopLevelSpec } from 'vega-lite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkpointTable,
  completeSummary,
  htmlFigures,
  readResults,
  reportFigures,
  reportMarkdown,
} from '../../src/lib/experiment/report.js';
import { escapeHtml, type HtmlFigure, reportHtml, scriptJson } from '../../src/lib/experiment/report-html.js';
import { interactiveSpec, isTimeAxis } from '../../src/lib/experiment/report-interactive.js';
import { writeFixture } from '../fixtures/results/generate.js';

const HOSTILE = '</script><script>alert(1)</script>';

interface Script {
  attrs: string;
  body: string;
}

/** The page's <script> elements, as an HTML parser splits them (a script ends at the first `</script`). */
function scripts(html: string): Script[] {
  return [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script\s*>/gi)].map((m) => ({
    attrs: m[1] ?? '',
    body: m[2] ?? '',
  }));
}

/** The page without its scripts' bodies: what the browser reads as markup. */
function markup(html: string): string {
  return html.replace(/(<script\b[^>]*>)[\s\S]*?(<\/script\s*>)/gi, '$1$2');
}

/** Every start tag outside the scripts' bodies, with its attributes. */
function tags(html: string): { name: string; attrs: Record<string, string> }[] {
  const outside = markup(html);
  const out: { name: string; attrs: Record<string, string> }[] = [];
  for (const m of outside.matchAll(
    /<([a-zA-Z][\w:-]*)((?:\s+[^\s=>/]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s>]+))?)*)\s*\/?>/g,
  )) {
    const attrs: Record<string, string> = {};
    for (const a of (m[2] ?? '').matchAll(/([^\s=>/]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+)))?/g))
      attrs[a[1]!.toLowerCase()] = a[2] ?? a[3] ?? a[4] ?? '';
    out.push({ name: m[1]!.toLowerCase(), attrs });
  }
  return out;
}

/** Attributes that make a browser load or navigate to something, and any CSS url() or @import. */
function references(html: string): string[] {
  const refs: string[] = [];
  const loading = [
    'src',
    'href',
    'srcset',
    'action',
    'formaction',
    'poster',
    'data',
    'xlink:href',
    'background',
  ];
  for (const t of tags(html)) for (const a of loading) if (a in t.attrs) refs.push(t.attrs[a]!);
  for (const s of html.matchAll(/<style\b[^>]*>([\s\S]*?)<\/style>/gi)) {
    for (const u of (s[1] ?? '').matchAll(/url\(([^)]*)\)/gi)) refs.push(u[1]!);
    if (/@import/i.test(s[1] ?? '')) refs.push('@import');
  }
  return refs;
}

function figureData(html: string): { id: string; name: string; title: string; spec: TopLevelSpec }[] {
  const data = scripts(html).find((s) => /id="edgectl-figures"/.test(s.attrs));
  expect(data?.attrs).toMatch(/type="application\/json"/);
  return JSON.parse(data!.body);
}

/** A vm context with what the browser builds touch at load time (no DOM). */
function browserish(): vm.Context {
  const ctx: Record<string, unknown> = {
    console,
    setTimeout,
    clearTimeout,
    setInterval,
    clearInterval,
    structuredClone,
    queueMicrotask,
    addEventListener: () => {},
    removeEventListener: () => {},
  };
  ctx.window = ctx;
  ctx.self = ctx;
  return vm.createContext(ctx);
}

let dir: string;
let html: string;
let figures: HtmlFigure[];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'edgectl-report-html-'));
  await writeFixture(dir);
  const data = await readResults(dir);
  figures = htmlFigures(reportFigures(data));
  const { summary, computed } = completeSummary(data);
  // report.md exactly as writeReport writes it, figures included.
  const markdown = reportMarkdown({
    meta: data.meta,
    summary,
    comparisonsComputed: computed,
    decisions: data.decisions,
    figures: figures.map((f) => ({
      title: f.title,
      caption: f.caption,
      png: `${f.name}.png`,
      svg: `${f.name}.svg`,
    })),
    checkpoints: checkpointTable(data.meta, data.checkpoints),
    notes: [],
  });
  expect(markdown).toContain(`![${figures[0]!.title}](${figures[0]!.name}.png)`);
  html = reportHtml({ title: 'Experiment report', markdown, figures, generated: 'edgectl test' });
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('report.html of the synthetic results', () => {
  it('refers to nothing outside itself: only #fragments and data:', () => {
    for (const r of references(html)) expect(r, r).toMatch(/^(#|data:)/);
    const names = new Set(tags(html).map((t) => t.name));
    for (const n of ['link', 'img', 'iframe', 'object', 'embed', 'base', 'video', 'audio', 'source'])
      expect(names.has(n), n).toBe(false);
    for (const s of scripts(html)) expect(s.attrs).not.toMatch(/\bsrc\s*=/i);
    expect(html).toContain('<meta http-equiv="Content-Security-Policy" content="default-src \'none\';');
  });

  it('puts each figure where report.md shows its PNG, with its spec parseable from the page', () => {
    const data = figureData(html);
    expect(data.map((d) => d.name)).toEqual(figures.map((f) => f.name));
    let last = -1;
    for (const [i, f] of figures.entries()) {
      const d = data[i]!;
      const heading = html.indexOf(`<h3>${escapeHtml(f.title)}</h3>`);
      const view = html.indexOf(`<div id="${d.id}" class="figure-view">`);
      expect(heading, f.title).toBeGreaterThan(last);
      expect(view, d.id).toBeGreaterThan(heading);
      last = view;
      // The page's copy keeps the figure's data and encodings; only interactions are added.
      expect(JSON.stringify((d.spec as { data?: unknown }).data)).toBe(
        JSON.stringify((f.spec as { data?: unknown }).data),
      );
      expect(d.spec).toEqual(interactiveSpec(f.spec).spec);
      expect(html).toContain(`: <code>${f.name}.svg</code>`);
    }
    expect(markup(html)).not.toMatch(/\.png\b/);
    expect(html).not.toContain('Figures not shown above');
  });

  it('zooms on time in the single or faceted views over time only (Fig. 6 and its aligned view)', () => {
    const data = figureData(html);
    const params = (s: unknown) => JSON.stringify(s).match(/"bind":"scales"/g)?.length ?? 0;
    expect(data.map((d) => [d.name, params(d.spec)])).toEqual([
      ['fig4-delay', 0],
      ['fig5-downtime', 0],
      ['fig6-handover', 1],
      ['fig6-aligned', 1],
      ['e2e-ecdf', 0],
      ['outages-by-cause', 0],
      ['migration-phases', 0],
      // concatenated views stay static
      ['timeline', 0],
    ]);
  });

  it("renders report.md's tables", () => {
    expect((html.match(/<table>/g) ?? []).length).toBeGreaterThanOrEqual(2);
    expect(html).toMatch(/<th[^>]*>Service<\/th>/);
    expect(html).toMatch(/<th[^>]*>Checkpoint of pre-migration<\/th>/);
  });

  it('inlines vega, vega-lite and vega-embed, which define their globals and draw every spec of the page', async () => {
    const all = scripts(html);
    expect(all).toHaveLength(5); // the JSON, three libraries, the boot script: no string closed one early
    const libs = all.slice(1, 4);
    expect(libs.map((s) => /^\/\* ([\w-]+) \d+\.\d+\.\d+, inlined \*\//.exec(s.body)?.[1])).toEqual([
      'vega',
      'vega-lite',
      'vega-embed',
    ]);
    const ctx = browserish();
    for (const s of libs) vm.runInContext(s.body, ctx);
    expect(vm.runInContext('[typeof vega.View, typeof vegaLite.compile, typeof vegaEmbed]', ctx)).toEqual([
      'function',
      'function',
      'function',
    ]);
    for (const d of figureData(html)) {
      ctx.spec = d.spec;
      const svg: string = await vm.runInContext(
        `(async () => {
          const view = new vega.View(vega.parse(vegaLite.compile(spec).spec), { renderer: 'none' });
          try { return await view.toSVG(); } finally { view.finalize(); }
        })()`,
        ctx,
      );
      expect(svg, d.name).toMatch(/^<svg/);
      expect(svg.length, d.name).toBeGreaterThan(5000);
    }
  });

  it('boot script: hands each figure to vegaEmbed with no editor action and a loader that loads nothing', async () => {
    const all = scripts(html);
    const ctx = browserish();
    vm.runInContext(all[1]!.body, ctx); // vega, for vega.loader
    const elements = new Map<string, { id: string; className: string; textContent: string }>();
    const calls: { el: unknown; spec: unknown; opts: Record<string, unknown> }[] = [];
    ctx.document = {
      getElementById: (id: string) => {
        if (id === 'edgectl-figures') return { textContent: all[0]!.body };
        if (!html.includes(`<div id="${id}" class="figure-view">`)) return null;
        if (!elements.has(id)) elements.set(id, { id, className: 'figure-view', textContent: '' });
        return elements.get(id);
      },
    };
    ctx.vegaEmbed = (el: unknown, spec: unknown, opts: Record<string, unknown>) => {
      calls.push({ el, spec, opts });
      return Promise.resolve({});
    };
    vm.runInContext(all[4]!.body, ctx);
    const data = figureData(html);
    expect(calls.map((c) => (c.el as { id: string }).id)).toEqual(data.map((d) => d.id));
    expect(JSON.stringify(calls.map((c) => c.spec))).toBe(JSON.stringify(data.map((d) => d.spec)));
    const opts = calls[0]!.opts;
    expect(opts.actions).toEqual({ export: true, source: false, compiled: false, editor: false });
    const loader = opts.loader as {
      load(uri: string): Promise<unknown>;
      sanitize(uri: string): Promise<unknown>;
    };
    await expect(loader.load('https://example.org/data.csv')).rejects.toThrow(/reads no file/);
    await expect(loader.sanitize('tasks.csv')).rejects.toThrow(/reads no file/);
  });
});

describe('hostile strings from the results', () => {
  const spec = {
    data: { values: [{ planner: HOSTILE, t: 1, v: 2, note: 'a\u2028b\u2029c <!-- d' }] },
    mark: 'point',
    encoding: {
      x: { field: 't', type: 'quantitative', title: 't (s)' },
      y: { field: 'v', type: 'quantitative' },
      color: { field: 'planner', type: 'nominal' },
    },
  } as TopLevelSpec;
  const markdown = [
    `# Report of ${HOSTILE}`,
    '',
    '| Planner | Downtime |',
    '|---|---|',
    `| ${HOSTILE} | 1.0 s |`,
    '',
    `Error: <img src=x onerror=alert(2)> and [a link](https://example.org/x) and https://example.org/y.`,
    '',
    `![${HOSTILE}](fig-x.png)`,
    '',
    `A caption ([SVG](fig-x.svg)).`,
    '',
    '![unknown](elsewhere.png)',
  ].join('\n');
  const page = reportHtml({
    title: `T ${HOSTILE}`,
    markdown,
    figures: [{ name: 'fig-x', title: `Fig ${HOSTILE}`, caption: `cap ${HOSTILE}`, spec }],
    generated: `gen ${HOSTILE}`,
  });

  it('escapes them in the markup', () => {
    expect(page).not.toContain('<script>alert(1)');
    expect(markup(page)).not.toMatch(/<img/i);
    expect(page).toContain('&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;</td>');
    expect(page).toContain(`<title>T ${escapeHtml(HOSTILE)}</title>`);
    expect(page).toContain(`aria-label="Fig ${escapeHtml(HOSTILE)}"`);
    expect(page).toContain(`<footer>gen ${escapeHtml(HOSTILE)}</footer>`);
    expect(page).toContain('&lt;img src=x onerror=alert(2)&gt;');
    expect(scripts(page)).toHaveLength(5);
    for (const r of references(page)) expect(r, r).toMatch(/^(#|data:)/);
    expect(page).toContain('a link (<code>https://example.org/x</code>)');
    expect(page).toContain('[image: unknown (<code>elsewhere.png</code>)]');
  });

  it('keeps the spec whole in its JSON, with no line separator and no way out of the script', () => {
    expect(page).not.toMatch(/[\u2028\u2029]/);
    const data = figureData(page);
    expect(data).toHaveLength(1);
    const values = (data[0]!.spec as { data: { values: Record<string, unknown>[] } }).data.values;
    expect(values[0]).toEqual({ planner: HOSTILE, t: 1, v: 2, note: 'a\u2028b\u2029c <!-- d' });
    expect(JSON.parse(scriptJson(HOSTILE))).toBe(HOSTILE);
    expect(scriptJson({ s: `${HOSTILE}\u2028<!--&` })).toMatch(/^[^<>&\u2028\u2029]*$/);
  });

  it('still runs as JavaScript: the libraries and boot script parse after a spec holding U+2028', () => {
    for (const s of scripts(page).slice(1)) expect(() => new vm.Script(s.body)).not.toThrow();
  });
});

describe('figures not in the markdown', () => {
  it('are added at the end, escaped', () => {
    const spec = {
      data: { values: [{ a: 1 }] },
      mark: 'bar',
      encoding: { y: { field: 'a', type: 'quantitative' } },
    };
    const page = reportHtml({
      title: 't',
      markdown: '# Only text\n\nSee ![the timeline](timeline.png) below.',
      figures: [
        { name: 'timeline', title: 'Timeline <x>', caption: 'cap & more', spec: spec as TopLevelSpec },
      ],
    });
    expect(page).toContain('<a href="#fig-1-timeline">the timeline</a>');
    expect(references(page)).toEqual(['#fig-1-timeline']); // the reader of references sees links
    expect(page).toContain('<h2>Figures not shown above</h2>\n<h3>Timeline &lt;x&gt;</h3>');
    expect(page).toContain('<div id="fig-1-timeline" class="figure-view">');
    expect(page).toContain('<p>cap &amp; more</p>');
  });
});

describe('interactiveSpec', () => {
  const unit = (x: Record<string, unknown>, mark: unknown = 'point') =>
    ({
      data: { values: [{ t: 1, v: 2 }] },
      mark,
      encoding: { x, y: { field: 'v', type: 'quantitative' } },
    }) as TopLevelSpec;

  it('tells a time axis from a delay', () => {
    expect(isTimeAxis({ field: 's', type: 'quantitative', title: 'Time relative to the handover (s)' })).toBe(
      true,
    );
    expect(isTimeAxis({ field: 'x', type: 'quantitative', title: 't (ms)' })).toBe(true);
    expect(isTimeAxis({ field: 'tMs', type: 'quantitative' })).toBe(true);
    expect(isTimeAxis({ field: 'at', type: 'temporal' })).toBe(true);
    expect(isTimeAxis({ field: 'e2eMs', type: 'quantitative', title: 'E2E delay (ms)' })).toBe(false);
    expect(isTimeAxis({ field: 'planner', type: 'nominal', title: 'time (s)' })).toBe(false);
    expect(isTimeAxis({ field: 't', type: 'quantitative', bin: true })).toBe(false);
  });

  it('adds zoom on a time x of a single view, and leaves the argument alone', () => {
    const spec = unit({ field: 't', type: 'quantitative', title: 't (s)' });
    const before = JSON.stringify(spec);
    const out = interactiveSpec(spec);
    expect(out.zoomX).toBe(true);
    expect((out.spec as { params?: unknown[] }).params).toEqual([
      { name: 'zoomX', select: { type: 'interval', encodings: ['x'] }, bind: 'scales' },
    ]);
    expect(JSON.stringify(spec)).toBe(before);
    expect(interactiveSpec(spec, { zoomX: false }).zoomX).toBe(false);
  });

  it('leaves a delay axis, a concat and independent facets static unless asked', () => {
    expect(interactiveSpec(unit({ field: 'e2eMs', type: 'quantitative', title: 'E2E (ms)' })).zoomX).toBe(
      false,
    );
    expect(interactiveSpec(unit({ field: 'e2eMs', type: 'quantitative' }), { zoomX: true }).zoomX).toBe(true);
    const inner = unit({ field: 't', type: 'quantitative' }) as unknown as Record<string, unknown>;
    const { data, ...view } = inner;
    expect(interactiveSpec({ data, hconcat: [view, view] } as unknown as TopLevelSpec).zoomX).toBe(false);
    const facet = { data, facet: { row: { field: 'p', type: 'nominal' } }, spec: view };
    expect(interactiveSpec(facet as unknown as TopLevelSpec).zoomX).toBe(true);
    const independent = { ...facet, resolve: { scale: { x: 'independent' } } };
    expect(interactiveSpec(independent as unknown as TopLevelSpec).zoomX).toBe(false);
  });

  it('does not reuse a parameter name', () => {
    const spec = { ...unit({ field: 't', type: 'quantitative' }), params: [{ name: 'zoomX', value: 1 }] };
    const params = (interactiveSpec(spec as TopLevelSpec).spec as { params: { name: string }[] }).params;
    expect(params.map((p) => p.name)).toEqual(['zoomX', 'zoomX2']);
  });

  it('gives point-like marks a tooltip, not lines, and keeps a tooltip already set', () => {
    const layered = {
      data: { values: [{ t: 1, v: 2 }] },
      layer: [
        { mark: 'line', encoding: { x: { field: 't', type: 'quantitative' } } },
        { mark: { type: 'circle', size: 9 }, encoding: { x: { field: 't', type: 'quantitative' } } },
        { mark: 'bar', encoding: { tooltip: [{ field: 'v' }] } },
      ],
    } as unknown as TopLevelSpec;
    const layers = (interactiveSpec(layered).spec as unknown as { layer: { mark: unknown }[] }).layer;
    expect(layers.map((l) => l.mark)).toEqual(['line', { type: 'circle', size: 9, tooltip: true }, 'bar']);
  });
});
