/**
 * Log-normal shadowing: the slow fading of a signal by buildings, trees and walls, a Gaussian in dB added
 * to the log-distance RSSI. It must be the same wherever it is computed (the user's agent, the planner,
 * the report), so it is a deterministic function of (seed, base station name, position), with no state:
 * independent standard normal values sit on a square grid of spacing correlationM, drawn from a hash of
 * (seed, base station, cell), and a position takes the bilinear blend of its cell's four corners divided by
 * the blend's own spread, sqrt(sum of squared weights). A sum of independent normals weighted by w has the
 * spread sqrt(sum w^2), so the result is a standard normal at every position (not only at grid points, where
 * plain interpolation would be the only place with the full spread), and it is continuous: the RSSI along a
 * walk has no jumps. Two positions correlationM apart along a grid line are independent; closer ones are
 * correlated, fully at distance 0.
 */
import type { Point, Shadowing } from '../inventory/index.js';
import { seededRandom } from '../util/random.js';

/** FNV-1a over the text, then the murmur3 finaliser mixing in each number: a well spread 32-bit hash. */
function hash(text: string, ...numbers: number[]): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  for (const n of numbers) {
    h ^= n | 0;
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
    h ^= h >>> 16;
  }
  return h >>> 0;
}

/** The standard normal value of grid corner (i, j) (Box-Muller on two draws of the corner's own stream). */
function cornerValue(seed: number, bs: string, i: number, j: number): number {
  const next = seededRandom(hash(bs, seed, i, j));
  const u1 = 1 - next(); // (0, 1]: log(0) is -Infinity
  const u2 = next();
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
}

/** The shadowing (dB, mean 0, standard deviation sigmaDb) of base station `bs` at `at`. */
export function shadowingDb(shadowing: Shadowing, bs: string, at: Point): number {
  const gx = at[0] / shadowing.correlationM;
  const gy = at[1] / shadowing.correlationM;
  const i = Math.floor(gx);
  const j = Math.floor(gy);
  const fx = gx - i;
  const fy = gy - j;
  const w00 = (1 - fx) * (1 - fy);
  const w10 = fx * (1 - fy);
  const w01 = (1 - fx) * fy;
  const w11 = fx * fy;
  const blend =
    w00 * cornerValue(shadowing.seed, bs, i, j) +
    w10 * cornerValue(shadowing.seed, bs, i + 1, j) +
    w01 * cornerValue(shadowing.seed, bs, i, j + 1) +
    w11 * cornerValue(shadowing.seed, bs, i + 1, j + 1);
  return (shadowing.sigmaDb * blend) / Math.sqrt(w00 * w00 + w10 * w10 + w01 * w01 + w11 * w11);
}
