/**
 * Transaction ids: `<birth>.<n>`. `birth` is drawn at random when a store's database is created
 * and kept with it; `n` counts up per AS. An AS deduplicates transactions by id (the spec asks it
 * to), so an id must never come back with other content: not after a restart (the counter is
 * durable) and not when the store is new (a database lost, or a homeserver started from another
 * directory), which is what the birth is for. Both parts are URL-safe, so the id goes into the
 * request path as it is.
 *
 * Transactions stored before stores had a birth keep their plain `<n>` id, so that a transaction
 * already sent is resent under the id the AS saw.
 */
import { randomBytes } from 'node:crypto';

/** A new birth: 12 lowercase hex digits (48 random bits). */
export function newBirth(): string {
  return randomBytes(6).toString('hex');
}

/**
 * @example
 * ```ts
 * formatTxnId('3f9a0c1b2d4e', 17); // '3f9a0c1b2d4e.17'
 * formatTxnId('', 17);             // '17' (stored before the store had a birth)
 * ```
 */
export function formatTxnId(birth: string, n: number | string): string {
  return birth === '' ? String(n) : `${birth}.${n}`;
}

/**
 * The birth and counter of an id this module formatted, or null for anything else (which no
 * store has stored, so acknowledging it is a no-op).
 *
 * @example
 * ```ts
 * parseTxnId('3f9a0c1b2d4e.17'); // { birth: '3f9a0c1b2d4e', n: 17 }
 * parseTxnId('17');              // { birth: '', n: 17 }
 * ```
 */
export function parseTxnId(txnId: string): { birth: string; n: number } | null {
  if (typeof txnId !== 'string') return null;
  const match = /^(?:([0-9a-f]{1,64})\.)?([1-9][0-9]{0,15})$/.exec(txnId);
  if (!match) return null;
  const n = Number(match[2]);
  return Number.isSafeInteger(n) ? { birth: match[1] ?? '', n } : null;
}

/** Stands for an id no store has stored: counters start at 1, so nothing matches it. */
export const NO_TXN: { readonly birth: string; readonly n: number } = Object.freeze({ birth: '-', n: 0 });
