/**
 * What a store offers for transactions an AS refuses as too large (413): optional `Store`
 * methods, used by the sender when present (`withOversizeSupport`).
 *
 * - `replaceInFlight` splits: the refused transaction is dropped, never to be sent again under
 *   its id, and a new one (a new id) takes the first items of the queue under smaller limits.
 * - `setAside` moves the items of a refused one-item transaction out of the queue into the AS's
 *   dead letters, so that the queue behind it moves on. Dead letters are kept until replayed
 *   (`replayDeadLetter` queues the item again, at the end of the AS's queue) or dropped.
 */
import type { BatchLimits, ItemKind, Store, StoredTransaction, TransactionBuilder } from './store.ts';

/** An item the AS refused even alone, kept for an operator to inspect and replay. */
export interface DeadLetter {
  /** Unique in the store; what `replayDeadLetter` and `dropDeadLetter` take. */
  readonly id: number;
  readonly asId: string;
  readonly kind: ItemKind;
  /** The item's JSON, as queued. */
  readonly json: string;
  /** The transaction the AS refused. */
  readonly txnId: string;
  /** Why it was set aside (for example `HTTP 413`); never the item's content. */
  readonly reason: string;
  /** When it was set aside, ms since the epoch. */
  readonly setAsideAt: number;
}

export interface OversizeSupport {
  /**
   * When `txnId` is the AS's transaction in flight: deletes it and every transaction created
   * ahead after it (none of which has been sent), and creates a new transaction, with a new id,
   * from the AS's queue under `limits`, as `createTransaction` would. Returns null and changes
   * nothing when `txnId` is not in flight.
   */
  replaceInFlight(
    asId: string,
    txnId: string,
    limits: BatchLimits,
    build: TransactionBuilder,
  ): Promise<StoredTransaction | null>;
  /**
   * When `txnId` is the AS's transaction in flight: removes it and its items from the queue and
   * keeps the items as dead letters with `reason`. Returns how many items were set aside (0 when
   * `txnId` is not in flight). Transactions created ahead after it stay, and are next.
   */
  setAside(asId: string, txnId: string, reason: string): Promise<number>;
  /** The AS's dead letters, oldest first. */
  deadLetters(asId: string): Promise<readonly DeadLetter[]>;
  /** Queues dead letter `id` of the AS again, at the end of its queue, and forgets it. False when unknown. */
  replayDeadLetter(asId: string, id: number): Promise<boolean>;
  /** Forgets dead letter `id` of the AS. False when unknown. */
  dropDeadLetter(asId: string, id: number): Promise<boolean>;
}

/**
 * The store's oversize support, or null when it has none (the sender then treats a 413 as any
 * other failure: backoff and retry).
 *
 * @example
 * const oversize = withOversizeSupport(store);
 * if (oversize) await oversize.setAside('irc', txn.txnId, 'HTTP 413');
 */
export function withOversizeSupport(store: Store): (Store & OversizeSupport) | null {
  const s = store as Store & Partial<OversizeSupport>;
  const complete =
    typeof s.replaceInFlight === 'function' &&
    typeof s.setAside === 'function' &&
    typeof s.deadLetters === 'function' &&
    typeof s.replayDeadLetter === 'function' &&
    typeof s.dropDeadLetter === 'function';
  return complete ? (s as Store & OversizeSupport) : null;
}
