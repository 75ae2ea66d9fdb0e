/**
 * The radio model of the paper: log-distance path loss RSSI = -(10 n log10 d + A) dBm, plus log-normal
 * shadowing where hosts.yml asks for it (shadowing.ts), and an 802.11n table turning RSSI into the highest
 * data rate a user can get from a base station. Pure numbers, no I/O: the planner, the handover logic and
 * the experiments all read signal strength from here.
 */
import type { Basestation, PathLoss, Point, RadioStandard } from '../inventory/index.js';
import { shadowingDb } from './shadowing.js';

/** What the radio model needs of a base station (the agent has no whole inventory). */
export type RadioSite = Pick<Basestation, 'name' | 'position' | 'pathLoss'>;

export function distanceM(a: Point, b: Point): number {
  return Math.hypot(a[0] - b[0], a[1] - b[1]);
}

/**
 * The log-distance RSSI in dBm at `distanceM` metres, unrounded, without shadowing (its mean). Distances below 1 m count as 1 m: the model is fitted
 * from a 1 m reference (A is the loss at 1 m), and log10 d < 0 would make a user standing on the antenna
 * receive more than -A dBm, up to +Infinity at d = 0.
 */
export function rssiDbm(pathLoss: PathLoss, distanceM: number): number {
  if (!(distanceM >= 0)) throw new RangeError(`distance must be >= 0 m, got ${distanceM}`);
  return -(10 * pathLoss.exponent * Math.log10(Math.max(distanceM, 1)) + pathLoss.referenceLossDb);
}

/**
 * The RSSI of base station `bs` at `at`: the log-distance mean (rssiDbm) plus its shadowing there, if it
 * has any. The shadowing depends on the position itself, not only on the distance.
 */
export function siteRssiDbm(bs: RadioSite, at: Point): number {
  const mean = rssiDbm(bs.pathLoss, distanceM(bs.position, at));
  const sh = bs.pathLoss.shadowing;
  return sh === undefined ? mean : mean + shadowingDb(sh, bs.name, at);
}

/** The RSSI of every base station at `at`, by base station name (siteRssiDbm: shadowing included). */
export function rssiMap(basestations: readonly RadioSite[], at: Point): Record<string, number> {
  const map: Record<string, number> = {};
  for (const bs of basestations) map[bs.name] = siteRssiDbm(bs, at);
  return map;
}

export interface RateStep {
  mcs: number;
  /** The lowest RSSI at which this MCS is decoded. */
  minRssiDbm: number;
  rateBps: number;
}

/**
 * 802.11n, HT40, two spatial streams, short (400 ns) guard interval: MCS8..MCS15, whose top rate is the
 * 300 Mbit/s the provisioned radios are capped at. The paper cites B. Verney, "802.11n + 802.11ac data
 * rates and SNR requirements" for its table.
 *
 * Thresholds are the receiver minimum input sensitivities of IEEE 802.11n-2009 for the 20 MHz column
 * (per modulation and coding rate, so MCS8..15 share them with MCS0..7). The standard's 40 MHz figures
 * are 3 dB higher (-79 ... -61); we keep the 20 MHz set on purpose so that the lowest threshold, -82 dBm,
 * equals the default pathLoss.minRssiDbm of hosts.yml: the planner's decode limit and the first nonzero
 * rate then agree, and a user the planner calls covered never gets 0 bit/s.
 */
export const RATE_TABLE_80211N: readonly RateStep[] = [
  { mcs: 8, minRssiDbm: -82, rateBps: 30e6 },
  { mcs: 9, minRssiDbm: -79, rateBps: 60e6 },
  { mcs: 10, minRssiDbm: -77, rateBps: 90e6 },
  { mcs: 11, minRssiDbm: -74, rateBps: 120e6 },
  { mcs: 12, minRssiDbm: -70, rateBps: 180e6 },
  { mcs: 13, minRssiDbm: -66, rateBps: 240e6 },
  { mcs: 14, minRssiDbm: -65, rateBps: 270e6 },
  { mcs: 15, minRssiDbm: -64, rateBps: 300e6 },
];

export const MAX_RATE_BPS = 300e6;

function rateTable(standard: RadioStandard): readonly RateStep[] {
  switch (standard) {
    case '802.11n':
      return RATE_TABLE_80211N;
    default: {
      const unknown: never = standard;
      throw new Error(`no rate table for radio standard ${String(unknown)}`);
    }
  }
}

/** The highest data rate whose threshold `rssiDbm` meets (>=), or 0 below the lowest one. */
export function dataRateBps(rssiDbm: number, standard: RadioStandard = '802.11n'): number {
  let rate = 0;
  for (const step of rateTable(standard)) if (rssiDbm >= step.minRssiDbm) rate = step.rateBps;
  return rate;
}
