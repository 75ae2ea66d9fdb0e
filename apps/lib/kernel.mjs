// The CPU work of the compute service and of the benchmark: passes of a 3x3 Gaussian filter over a
// grayscale image, and a checksum of the result. Integer arithmetic only, so every machine computes the
// same bytes.

/** Width of the image a task's payload is read as (one byte per pixel, row after row). */
export const IMAGE_WIDTH = 256;

/**
 * One pass of the 3x3 filter  1 2 1 / 2 4 2 / 1 2 1  (divided by 16, rounded), edges clamped, from `src`
 * into `dst` (both width * height bytes).
 */
export function filterPass(src, dst, width, height) {
  const lastX = width - 1;
  for (let y = 0; y < height; y++) {
    const row = y * width;
    const up = y === 0 ? row : row - width;
    const down = y === height - 1 ? row : row + width;
    for (let x = 0; x < width; x++) {
      const l = x === 0 ? 0 : x - 1;
      const r = x === lastX ? x : x + 1;
      const sum =
        src[up + l] +
        2 * src[up + x] +
        src[up + r] +
        2 * (src[row + l] + 2 * src[row + x] + src[row + r]) +
        src[down + l] +
        2 * src[down + x] +
        src[down + r];
      dst[row + x] = (sum + 8) >> 4;
    }
  }
}

/**
 * Reads `pixels` as an image `width` pixels wide (the last row padded with zeros), runs `passes` filter
 * passes over it and returns the filtered image (a new Uint8Array of width * height bytes).
 */
export function filterImage(pixels, width, passes) {
  const height = Math.max(1, Math.ceil(pixels.length / width));
  let src = new Uint8Array(width * height);
  src.set(pixels);
  let dst = new Uint8Array(width * height);
  for (let p = 0; p < passes; p++) {
    filterPass(src, dst, width, height);
    [src, dst] = [dst, src];
  }
  return src;
}

/** 32-bit FNV-1a of the bytes, as a number. */
export function fnv1a(bytes, seed = 0x811c9dc5) {
  let h = seed >>> 0;
  for (let i = 0; i < bytes.length; i++) {
    h ^= bytes[i];
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** 8 lowercase hex digits. */
export function hex32(n) {
  return (n >>> 0).toString(16).padStart(8, '0');
}

/** Fills a Uint32Array with xorshift32 output from a non-zero seed: never a zero word. */
export function fillXorshift(words, seed) {
  let x = seed >>> 0 || 0x9e3779b9;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    words[i] = x;
  }
  return x;
}

/** A well-mixed 32-bit hash of an integer (for choosing state pages). */
export function mix32(n) {
  let h = Math.imul((n ^ (n >>> 16)) >>> 0, 0x45d9f3b) >>> 0;
  h = Math.imul((h ^ (h >>> 16)) >>> 0, 0x45d9f3b) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}
