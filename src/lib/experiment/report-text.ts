/** The report's wording of numbers and its Markdown tables, shared by report.md's sections. */

export function ms(v: number | null, digits = 1): string {
  return v === null ? '–' : v.toFixed(digits);
}

/** A duration in ms, as s above 10 s. */
export function duration(v: number | null): string {
  if (v === null) return '–';
  return v >= 10_000 ? `${(v / 1000).toFixed(1)} s` : `${v.toFixed(0)} ms`;
}

/** A signed duration: +120 ms, −1.2 s (a true minus sign). */
export function signedDuration(v: number | null): string {
  if (v === null) return '–';
  return `${v < 0 ? '−' : '+'}${duration(Math.abs(v))}`;
}

export function pct(v: number): string {
  return `${(v * 100).toFixed(1)}%`;
}

function cell(v: string): string {
  return v.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

export function table(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  align?: readonly string[],
): string {
  const sep = header.map((_, i) => align?.[i] ?? '---');
  return [header, sep, ...rows].map((r) => `| ${r.map(cell).join(' | ')} |`).join('\n');
}
