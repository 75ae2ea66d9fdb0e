/**
 * The HTML report's copy of a figure's vega-lite spec, made interactive: tooltips on the marks that have
 * none, and zoom and pan on x (an interval parameter bound to the scales) where x is a time axis. The spec
 * files beside the figures stay as drawn; only report.html carries these additions.
 */
import type { TopLevelSpec } from 'vega-lite';
import { compile } from 'vega-lite';

type Json = Record<string, unknown>;

export interface InteractiveSpec {
  spec: TopLevelSpec;
  /** x zooms and pans (wheel and drag, double-click resets). */
  zoomX: boolean;
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Marks whose tooltip would show one datum for a whole shape (a line's first point, say), or that carry
 * no datum worth showing: they keep no tooltip rather than a misleading one.
 */
const NO_TOOLTIP = new Set(['line', 'area', 'trail', 'text', 'geoshape', 'image']);

/** Every unit view (a view with a mark) of a spec, through layers, facets, concats and repeats. */
function units(view: Json, out: Json[] = []): Json[] {
  if ('mark' in view) out.push(view);
  for (const key of ['layer', 'concat', 'hconcat', 'vconcat']) {
    const children = view[key];
    if (Array.isArray(children)) for (const c of children) if (isObject(c)) units(c, out);
  }
  if (isObject(view.spec)) units(view.spec, out);
  return out;
}

/** `tooltip: true` (the encoded fields) on every point-like mark that has neither a tooltip encoding nor one set. */
function addTooltips(spec: Json): void {
  for (const unit of units(spec)) {
    const mark = unit.mark;
    const type = typeof mark === 'string' ? mark : isObject(mark) ? mark.type : undefined;
    if (typeof type !== 'string' || NO_TOOLTIP.has(type)) continue;
    if (isObject(unit.encoding) && 'tooltip' in unit.encoding) continue;
    if (isObject(mark) && 'tooltip' in mark) continue;
    unit.mark = { ...(isObject(mark) ? mark : { type }), tooltip: true };
  }
}

/** A field on a continuous, unbinned, unaggregated scale: one that an interval can zoom. */
function isContinuous(x: unknown): x is Json {
  return (
    isObject(x) &&
    (x.type === 'quantitative' || x.type === 'temporal') &&
    x.bin === undefined &&
    x.aggregate === undefined
  );
}

/**
 * A time in seconds or milliseconds on x: by its title ("Time relative to the handover (s)", "t (ms)") or
 * by its field ("t", "tS", "timeMs", "s"), or a temporal field. A delay in ms ("E2E delay (ms)") is not one.
 */
export function isTimeAxis(x: unknown): boolean {
  if (!isContinuous(x)) return false;
  if (x.type === 'temporal') return true;
  if (typeof x.title === 'string' && /\b(?:time|t)\b[^()]*\((?:s|ms)\)\s*$/i.test(x.title)) return true;
  return typeof x.field === 'string' && /^(?:t|time|at|s)(?:_s|_ms|S|Ms)?$/.test(x.field);
}

/** The unit view that can carry a scale-bound parameter for a time x, or null (concat, repeat, no time x). */
function zoomHost(spec: Json, accept: (x: unknown) => boolean): Json | null {
  const faceted = isObject(spec.facet) && isObject(spec.spec);
  // One x scale per panel: a scale binding would follow one panel's; vega-lite does not say it cannot.
  if (
    faceted &&
    isObject(spec.resolve) &&
    isObject(spec.resolve.scale) &&
    spec.resolve.scale.x === 'independent'
  )
    return null;
  const view = faceted ? (spec.spec as Json) : spec;
  if ('mark' in view) return isObject(view.encoding) && accept(view.encoding.x) ? view : null;
  if (!Array.isArray(view.layer)) return null;
  const children = view.layer.filter((c): c is Json => isObject(c) && 'mark' in c);
  const shared = isObject(view.encoding) ? view.encoding.x : undefined;
  if (shared !== undefined) return accept(shared) ? (children[0] ?? null) : null;
  return children.find((c) => isObject(c.encoding) && accept(c.encoding.x)) ?? null;
}

function paramNames(spec: Json): Set<string> {
  const names = new Set<string>();
  const visit = (v: unknown): void => {
    if (Array.isArray(v)) for (const x of v) visit(x);
    else if (isObject(v)) {
      if (Array.isArray(v.params))
        for (const p of v.params) if (isObject(p) && typeof p.name === 'string') names.add(p.name);
      for (const key of ['layer', 'concat', 'hconcat', 'vconcat', 'spec']) visit(v[key]);
    }
  };
  visit(spec);
  return names;
}

/** How many warnings vega-lite gives compiling `spec`, or null when it cannot compile it. */
function compileWarnings(spec: TopLevelSpec): number | null {
  let warnings = 0;
  const logger = {
    level() {
      return this;
    },
    warn() {
      warnings++;
      return this;
    },
    info() {
      return this;
    },
    debug() {
      return this;
    },
    error() {
      warnings++;
      return this;
    },
  };
  try {
    compile(spec, { logger });
    return warnings;
  } catch {
    return null;
  }
}

/**
 * The interactive copy of `spec` (the argument is not changed). `zoomX: false` leaves x static; `true`
 * zooms any continuous x; by default zoom is added when x is a time axis of a single or faceted view, and kept only when vega-lite
 * compiles the result with no more warnings than the original (a scale binding it cannot honour leaves
 * the figure static, as does an independent x per facet).
 */
export function interactiveSpec(spec: TopLevelSpec, options: { zoomX?: boolean } = {}): InteractiveSpec {
  const copy = structuredClone(spec) as unknown as Json;
  addTooltips(copy);
  const withTooltips = copy as unknown as TopLevelSpec;
  if (options.zoomX === false) return { spec: withTooltips, zoomX: false };
  const accept = options.zoomX === true ? isContinuous : isTimeAxis;
  if (zoomHost(copy, accept) === null) return { spec: withTooltips, zoomX: false };
  const before = compileWarnings(withTooltips);
  const names = paramNames(copy);
  let name = 'zoomX';
  for (let i = 2; names.has(name); i++) name = `zoomX${i}`;
  const zoomed = structuredClone(copy);
  const host = zoomHost(zoomed, accept)!;
  host.params = [
    ...(Array.isArray(host.params) ? host.params : []),
    { name, select: { type: 'interval', encodings: ['x'] }, bind: 'scales' },
  ];
  const after = compileWarnings(zoomed as unknown as TopLevelSpec);
  if (before === null || after === null || after > before) return { spec: withTooltips, zoomX: false };
  return { spec: zoomed as unknown as TopLevelSpec, zoomX: true };
}
