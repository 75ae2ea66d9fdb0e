/**
 * report.html, pure: report.md rendered to HTML with each figure drawn in place of its PNG by vega-embed,
 * from the figure's vega-lite spec inlined in the page (made interactive by report-interactive.ts). One
 * self-contained file: vega, vega-lite and vega-embed are inlined from node_modules (read when the report
 * is written, not copied into the repository), nothing in the page refers to another file or a network
 * address, and a Content-Security-Policy forbids the browser to load anything, so the page opens offline
 * exactly as it does online.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Marked, type Tokens } from 'marked';
import type { TopLevelSpec } from 'vega-lite';
import { interactiveSpec } from './report-interactive.js';

export interface HtmlFigure {
  /** The figure's files are NAME.png, NAME.svg, ...: report.md's image of NAME.png becomes this figure. */
  name: string;
  title: string;
  caption: string;
  spec: TopLevelSpec;
  /** Zoom and pan on x: false leaves the figure static, true zooms any continuous x; default: a time x. */
  zoomX?: boolean;
}

export interface ReportHtmlInput {
  /** The page's <title>. */
  title: string;
  /** report.md's text. */
  markdown: string;
  figures: readonly HtmlFigure[];
  /** A line for the page's footer ("edgectl 0.1.0, 2026-12-06T22:00Z"), shown as given. */
  generated?: string;
}

/** Text into HTML, in element content and in quoted attribute values alike. */
export function escapeHtml(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

/**
 * JSON for a <script> element: `<`, `>` and `&` as \u escapes so that no string in it can close the
 * element (`</script>`) or open a comment (`<!--`), and U+2028/U+2029 escaped as well (line terminators to
 * older JavaScript parsers). JSON.parse reads the text back unchanged.
 */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value)
    .replaceAll('<', '\\u003c')
    .replaceAll('>', '\\u003e')
    .replaceAll('&', '\\u0026')
    .replaceAll('\u2028', '\\u2028')
    .replaceAll('\u2029', '\\u2029');
}

/** The browser builds inlined, in the order they need each other (vega-lite and vega-embed use vega). */
export const INLINE_LIBRARIES = [
  { name: 'vega', file: 'vega.min.js', global: 'vega' },
  { name: 'vega-lite', file: 'vega-lite.min.js', global: 'vegaLite' },
  { name: 'vega-embed', file: 'vega-embed.min.js', global: 'vegaEmbed' },
] as const;

let libraries: { name: string; version: string; source: string }[] | undefined;

/**
 * The three builds, read once per process. Each package exports only its module entry, so the build is
 * found beside that entry (each keeps both in build/). A build holding `</script` or `<!--` cannot be
 * inlined as it is; no release has, and a test guards the one installed.
 */
export function inlineLibraries(): { name: string; version: string; source: string }[] {
  if (libraries) return libraries;
  const require = createRequire(import.meta.url);
  libraries = INLINE_LIBRARIES.map(({ name, file }) => {
    const dir = dirname(require.resolve(name));
    const source = readFileSync(join(dir, file), 'utf8')
      // A source map comment makes the browser's developer tools look for a file that is not there.
      .replace(/\n?\/\/# sourceMappingURL=\S*\s*$/, '\n');
    if (/<\/script|<!--/i.test(source))
      throw new Error(`${name}'s ${file} holds </script or <!--: it cannot be inlined in report.html`);
    const pkg = JSON.parse(readFileSync(join(dir, '..', 'package.json'), 'utf8')) as { version?: string };
    return { name, version: pkg.version ?? 'unknown', source };
  });
  return libraries;
}

/**
 * Runs in the page: draws each figure into its element. Every spec carries its data inline; the loader
 * refuses any read so that a spec naming a URL fails visibly instead of reaching for the network. The
 * actions menu keeps the exports (SVG, PNG) and drops the source, the compiled spec and the online editor.
 */
const BOOT = `(function () {
  'use strict';
  var figures = JSON.parse(document.getElementById('edgectl-figures').textContent);
  var refuse = function () { return Promise.reject(new Error('report.html reads no file and no address')); };
  var loader = vega.loader();
  loader.load = refuse;
  loader.sanitize = refuse;
  figures.forEach(function (f) {
    var el = document.getElementById(f.id);
    if (!el) return;
    vegaEmbed(el, f.spec, {
      mode: 'vega-lite',
      renderer: 'canvas',
      loader: loader,
      downloadFileName: f.name,
      actions: { export: true, source: false, compiled: false, editor: false }
    }).catch(function (e) {
      el.className += ' failed';
      el.textContent = 'This figure could not be drawn here (' + e.message + '); its PNG and SVG are beside this page.';
    });
  });
})();`;

const STYLE = `
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: #1f2328;
  margin: 0; background: #fff; }
main { max-width: 1100px; margin: 0 auto; padding: 1.5rem 2rem 3rem; }
h1 { font-size: 1.7rem; border-bottom: 1px solid #d0d7de; padding-bottom: .3rem; }
h2 { font-size: 1.35rem; margin-top: 2.2rem; border-bottom: 1px solid #d0d7de; padding-bottom: .2rem; }
h3 { font-size: 1.1rem; margin-top: 1.6rem; }
table { border-collapse: collapse; margin: .8rem 0; font-size: 14px; display: block; overflow-x: auto; }
th, td { border: 1px solid #d0d7de; padding: .3rem .6rem; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
tr:nth-child(even) td { background: #fafbfc; }
code { font: 13px/1.4 ui-monospace, "DejaVu Sans Mono", monospace; background: #f3f4f6; padding: .1rem .3rem;
  border-radius: 3px; }
pre { background: #f6f8fa; padding: .8rem; overflow-x: auto; }
pre code { background: none; padding: 0; }
blockquote { margin: 0; padding: 0 1rem; color: #57606a; border-left: 4px solid #d0d7de; }
figure.figure { margin: 1rem 0; overflow-x: auto; }
.figure .vega-embed { max-width: 100%; }
.figure.failed, .figure-missing { color: #9a3412; }
.figure-hint { font-size: 13px; color: #57606a; margin: .2rem 0 0; }
footer { max-width: 1100px; margin: 0 auto; padding: 0 2rem 2rem; color: #57606a; font-size: 13px; }
`;

/** No fetch, no XHR, no font, no image but data: and blob: (vega-embed's exports); scripts and styles inline. */
const CSP =
  "default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; img-src data: blob:";

/** `NAME` from report.md's `NAME.png` (or .svg, .pdf) beside it, else null. */
function figureFile(href: string): { name: string; ext: string } | null {
  const m = /^(?:\.\/)?([^/\\?#]+)\.(png|svg|pdf)$/i.exec(href.trim());
  return m ? { name: m[1]!, ext: m[2]!.toLowerCase() } : null;
}

/** An id for the figure's element: its index (unique) and its name reduced to safe characters. */
function elementId(index: number, name: string): string {
  return `fig-${index + 1}-${name.replace(/[^A-Za-z0-9_-]+/g, '-').slice(0, 60)}`;
}

/** The page for `input`: see the file's comment. */
export function reportHtml(input: ReportHtmlInput): string {
  const figures = input.figures.map((f, i) => ({
    ...f,
    id: elementId(i, f.name),
    ...interactiveSpec(f.spec, f.zoomX === undefined ? {} : { zoomX: f.zoomX }),
  }));
  const byName = new Map(figures.map((f) => [f.name, f]));
  const placed = new Set<string>();

  const figureBlock = (f: (typeof figures)[number]) => {
    placed.add(f.name);
    const hint = f.zoomX
      ? 'Hover a mark for its values; scroll to zoom on time, drag to pan, double-click to reset. The ⋯ menu saves SVG or PNG.'
      : 'Hover a mark for its values. The ⋯ menu saves SVG or PNG.';
    return `<figure class="figure" aria-label="${escapeHtml(f.title)}"><div id="${f.id}" class="figure-view"></div><p class="figure-hint">${hint}</p></figure>\n`;
  };

  const marked = new Marked({ gfm: true });
  marked.use({
    renderer: {
      // report.md holds planner names, errors and notes from the results: raw HTML in it is shown as text.
      html({ text }: Tokens.HTML | Tokens.Tag) {
        return escapeHtml(text);
      },
      // A paragraph that is only a figure's image becomes the figure itself.
      paragraph({ tokens }: Tokens.Paragraph) {
        const visible = tokens.filter((t) => !(t.type === 'text' && t.raw.trim() === ''));
        const only = visible.length === 1 ? visible[0] : undefined;
        if (only?.type === 'image') {
          const file = figureFile((only as Tokens.Image).href);
          const f = file ? byName.get(file.name) : undefined;
          if (f && !placed.has(f.name)) return figureBlock(f);
        }
        return false;
      },
      // Any other image: its text and a pointer to the figure when it is one (nothing is loaded).
      image({ href, text }: Tokens.Image) {
        const file = figureFile(href);
        const f = file ? byName.get(file.name) : undefined;
        if (f) return `<a href="#${f.id}">${escapeHtml(text || f.title)}</a>`;
        return `<span class="figure-missing">[image: ${escapeHtml(text)} (<code>${escapeHtml(href)}</code>)]</span>`;
      },
      // Links lead nowhere off the page: a figure's file is named, any other target shown as text.
      link({ href, tokens }: Tokens.Link) {
        const inner = this.parser.parseInline(tokens);
        if (href.startsWith('#')) return `<a href="#${encodeURIComponent(href.slice(1))}">${inner}</a>`;
        const file = figureFile(href);
        if (file && byName.has(file.name)) return `${inner}: <code>${escapeHtml(href)}</code>`;
        const text = tokens.map((t) => t.raw).join('');
        return text === href
          ? `<code>${escapeHtml(href)}</code>`
          : `${inner} (<code>${escapeHtml(href)}</code>)`;
      },
    },
  });
  let body = marked.parse(input.markdown, { async: false });
  const rest = figures.filter((f) => !placed.has(f.name));
  if (rest.length > 0) {
    body += '<h2>Figures not shown above</h2>\n';
    for (const f of rest)
      body += `<h3>${escapeHtml(f.title)}</h3>\n${figureBlock(f)}<p>${escapeHtml(f.caption)}</p>\n`;
  }

  const data = figures.map((f) => ({ id: f.id, name: f.name, title: f.title, spec: f.spec }));
  const scripts = inlineLibraries()
    .map((l) => `<script>/* ${l.name} ${l.version}, inlined */\n${l.source}</script>`)
    .join('\n');
  const footer = input.generated ? `<footer>${escapeHtml(input.generated)}</footer>\n` : '';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(input.title)}</title>
<style>${STYLE}</style>
</head>
<body>
<main>
${body}</main>
${footer}<noscript><p>The figures need JavaScript; their PNG and SVG files are beside this page.</p></noscript>
<script type="application/json" id="edgectl-figures">${scriptJson(data)}</script>
${scripts}
<script>${BOOT}</script>
</body>
</html>
`;
}
