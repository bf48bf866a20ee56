/**
 * The byte side of the batch rule: a transaction stops before the item that would take its
 * items' JSON past `limits.bytes`, except that it always takes at least one item (an item larger
 * than the cap goes alone; the AS may still refuse it, see `Store.setAside`).
 */
import type { BatchLimits } from './store.ts';

/**
 * What an item adds to the bytes a batch counts: its UTF-8 length and the comma that joins it.
 *
 * @example
 * itemBytes('{"body":"é"}'); // 14
 */
export function itemBytes(json: string): number {
  return Buffer.byteLength(json, 'utf8') + 1;
}

/**
 * Whether an item of `bytes` still fits after `taken` items of `sum` bytes.
 *
 * @example
 * fitsBytes({ event: 100, ephemeral: 100, toDevice: 100, bytes: 1000 }, 0, 0, 5000); // true: the first item always fits
 */
export function fitsBytes(limits: BatchLimits, taken: number, sum: number, bytes: number): boolean {
  return limits.bytes === undefined || taken === 0 || sum + bytes <= limits.bytes;
}
