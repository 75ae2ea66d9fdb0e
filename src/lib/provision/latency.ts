/**
 * What a result's numbers mean for latency: for each direction of a path, the route's one-way latency
 * and whether (and how) it was emulated. A delay is applied where packets arrive, so a direction takes the
 * method of its receiving host, as the last `provision` (or `hosts check`) recorded it in the state
 * database.
 */
import { type Inventory, route } from '../inventory/index.js';
import type { HostFact } from '../state/tables.js';
import type { LatencyMethod } from './plan.js';

export interface DirectedLatency {
  from: string;
  to: string;
  /** The one-way latency hosts.yml gives the route. */
  latencyMs: number;
  /** Whether the receiving host emulated it; null: not known (no provision recorded in this state database). */
  emulated: boolean | null;
  method: LatencyMethod | null;
}

/** Both directions between hosts `a` and `b` (empty when no wired route joins them). */
export function pathLatency(
  inv: Inventory,
  factOf: (host: string) => HostFact | undefined,
  a: string,
  b: string,
): DirectedLatency[] {
  if (a === b) return [];
  const r = route(inv, a, b);
  if (!r) return [];
  return [
    [a, b],
    [b, a],
  ].map(([from = '', to = '']) => {
    const fact = factOf(to);
    const method = (fact?.latencyMethod ?? null) as LatencyMethod | null;
    return {
      from,
      to,
      latencyMs: r.latencyMs,
      emulated: r.latencyMs === 0 ? true : (fact?.latencyEmulated ?? null),
      method: r.latencyMs === 0 ? null : fact?.latencyEmulated ? method : null,
    };
  });
}

/** One line for a human: "ap1->cloud 151 ms nfqueue, cloud->ap1 151 ms nfqueue". */
export function describeLatency(links: readonly DirectedLatency[]): string {
  return links
    .map((l) =>
      `${l.from}->${l.to} ${l.latencyMs} ms ${l.latencyMs === 0 ? '' : l.emulated === null ? '(emulation unknown)' : l.emulated ? l.method : 'NOT emulated'}`.trim(),
    )
    .join(', ');
}

/** Warns (through `sink`) of each direction whose latency was not emulated, or not known to be. */
export function warnUnemulated(
  sink: { warn(message: string): void },
  links: readonly DirectedLatency[],
): void {
  for (const l of links) {
    if (l.latencyMs === 0 || l.emulated === true) continue;
    sink.warn(
      l.emulated === null
        ? `${l.from}->${l.to}: whether its ${l.latencyMs} ms latency was emulated is not known (no provision recorded in this state database): the timings may not include it`
        : `${l.from}->${l.to}: its ${l.latencyMs} ms latency was NOT emulated: the timings do not include it`,
    );
  }
}
