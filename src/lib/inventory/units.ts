/**
 * Units of hosts.yml: link bandwidths in tc's notation and durations. Both are written with a unit
 * ("100mbit", "50ms") so that a bare number never has to be guessed at.
 */

/** tc's decimal rate units (case-insensitive, as tc reads them). "kbps" is kilobytes in tc: refused. */
const BANDWIDTH_UNITS = { kbit: 1e3, mbit: 1e6, gbit: 1e9 } as const;
const BANDWIDTH_RE = /^([0-9]+(?:\.[0-9]+)?)\s*(kbit|mbit|gbit)$/i;

export interface Bandwidth {
  /** Bits per second. */
  bps: number;
  /** The value in tc notation with a lower-case unit: "100Mbit" -> "100mbit". */
  text: string;
}

/** Parses "100mbit", "1.5Gbit", "512kbit" into bits per second; undefined if malformed or not > 0. */
export function parseBandwidth(text: string): Bandwidth | undefined {
  const match = BANDWIDTH_RE.exec(text.trim());
  if (!match) return undefined;
  const value = Number(match[1]);
  const unit = (match[2] ?? '').toLowerCase() as keyof typeof BANDWIDTH_UNITS;
  const bps = Math.round(value * BANDWIDTH_UNITS[unit]);
  if (!Number.isFinite(bps) || bps <= 0) return undefined;
  return { bps, text: `${value}${unit}` };
}

/** Milliseconds per unit, as a fraction (numerator, denominator) to keep "150us" exactly 0.15. */
const DURATION_UNITS_MS = { us: [1, 1000], ms: [1, 1], s: [1000, 1] } as const;
const DURATION_RE = /^([0-9]+(?:\.[0-9]+)?)\s*(us|ms|s)$/;

/** Parses "50ms", "0.5s", "150us" into milliseconds; undefined if malformed. Zero is allowed. */
export function parseDuration(text: string): number | undefined {
  const match = DURATION_RE.exec(text.trim());
  if (!match) return undefined;
  const unit = match[2] as keyof typeof DURATION_UNITS_MS;
  const [num, den] = DURATION_UNITS_MS[unit];
  const ms = (Number(match[1]) * num) / den;
  return Number.isFinite(ms) ? ms : undefined;
}
