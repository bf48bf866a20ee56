/**
 * What the sender does with a transaction the AS refuses as too large (413): split it into new
 * transactions (new ids; the refused id is never sent again, so never with other content), down
 * to a single item; a single item the AS still refuses is set aside as a dead letter and the
 * queue behind it moves on. The byte budget it learns (half the refused body each time) stays
 * for later batches, so a bridge with a small body limit costs one 413 rather than one per batch.
 */
import type { Registration } from '../registration/registration.ts';
import { withOversizeSupport } from '../store/dead-letters.ts';
import type { BatchLimits, Store, StoredTransaction } from '../store/store.ts';
import { callHook } from './sender-types.ts';

/** Bytes of a body beyond its items' JSON: `{"events":[…]}` and the field names. */
const ENVELOPE_BYTES = 256;

export interface DeadLetterInfo {
  readonly asId: string;
  readonly txnId: string;
  /** Items set aside (one, unless the store held a refused one-item transaction with more). */
  readonly items: number;
  /** The refused body's size; never its content. */
  readonly bytes: number;
  readonly reason: string;
}

/** After a 413: `send` this smaller transaction, `reread` the store (the refused one was set aside or is gone), or `fail` (the store cannot help). */
export type OversizeOutcome =
  { readonly next: 'send'; readonly txn: StoredTransaction } | { readonly next: 'reread' } | { readonly next: 'fail' };

/**
 * Holds the AS's byte budget and handles its 413s.
 *
 * @example
 * const oversize = new Oversize({ registration, store, counts, maxTransactionBytes: 1_000_000, build });
 * await store.createTransaction(asId, oversize.limits, build);
 * const outcome = await oversize.refused(txn); // after the AS answered 413
 */
export class Oversize {
  readonly #registration: Registration;
  readonly #store: Store;
  readonly #counts: BatchLimits;
  readonly #build: Parameters<Store['createTransaction']>[2];
  readonly #onDeadLetter: ((info: DeadLetterInfo) => void) | undefined;
  #maxBytes: number;
  #limits: BatchLimits;

  constructor(deps: {
    registration: Registration;
    store: Store;
    counts: BatchLimits;
    maxTransactionBytes: number;
    build: Parameters<Store['createTransaction']>[2];
    onDeadLetter?: ((info: DeadLetterInfo) => void) | undefined;
  }) {
    this.#registration = deps.registration;
    this.#store = deps.store;
    this.#counts = deps.counts;
    this.#build = deps.build;
    this.#onDeadLetter = deps.onDeadLetter;
    this.#maxBytes = deps.maxTransactionBytes;
    this.#limits = this.#limitsFor(this.#maxBytes);
  }

  /** The limits of the next batch: the counts, and the items' bytes that keep the body under the budget. */
  get limits(): BatchLimits {
    return this.#limits;
  }

  /** The AS answered 413 to `txn`, the transaction in flight. */
  async refused(txn: StoredTransaction, status: number): Promise<OversizeOutcome> {
    const store = withOversizeSupport(this.#store);
    if (store === null) return { next: 'fail' };
    const asId = this.#registration.id;
    const bytes = Buffer.byteLength(txn.body, 'utf8');
    const { counts } = txn;
    const items =
      counts.event + counts.ephemeral + counts.toDevice + (counts.deviceList ?? 0) + (counts.keyCounts ?? 0);
    if (items > 1) {
      this.#maxBytes = Math.max(1, Math.min(this.#maxBytes, Math.floor(bytes / 2)));
      this.#limits = this.#limitsFor(this.#maxBytes);
      const smaller = await store.replaceInFlight(asId, txn.txnId, this.#limits, this.#build);
      return smaller === null ? { next: 'reread' } : { next: 'send', txn: smaller };
    }
    const reason = `HTTP ${status}: ${bytes} bytes refused as too large`;
    const setAside = await store.setAside(asId, txn.txnId, reason);
    if (setAside > 0) callHook(this.#onDeadLetter, { asId, txnId: txn.txnId, items: setAside, bytes, reason });
    return { next: 'reread' };
  }

  #limitsFor(maxBytes: number): BatchLimits {
    const { receiveEphemeral, receiveToDevice, msc3202 } = this.#registration;
    // Ephemeral and to-device items go out under two field names each (stable and unstable), and
    // key counts under two spellings: they may weigh twice in the body.
    const shared = Math.max(1, maxBytes - ENVELOPE_BYTES);
    return {
      ...this.#counts,
      bytes: receiveEphemeral || receiveToDevice || msc3202 ? Math.max(1, Math.floor(shared / 2)) : shared,
    };
  }
}
