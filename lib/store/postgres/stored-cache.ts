/**
 * What this process stored for an AS in its last creation: the transactions' ids, counts and
 * items, kept until they are acknowledged. A creation stores up to 1 + TRANSACTIONS_AHEAD
 * transactions in one commit, and the sender then asks `nextStored` for each of them in turn
 * while the one before is being acknowledged. Answered from here, that is no round trip and no
 * second read of the rows the creation read already; the body is built from the same items with
 * the same builder, so the bytes are those a read of the database would give.
 *
 * The entries are exactly the AS's stored transactions, or the AS is unknown here and the
 * database is read: a creation happens only when nothing is stored, so what it stored is all
 * there is; acknowledging the first entry removes it; anything else that changes the AS's stored
 * transactions (a split, a dead letter, a failed or refused write, a new sender lock, which means
 * another process may have written meanwhile) forgets the AS. Entries are written here only
 * after their commit succeeded.
 */
import type { ItemCounts, QueuedItem, StoredTransaction, TransactionBuilder } from '../store.ts';
import { parseTxnId } from '../txn-id.ts';
import { rebuild } from './stored-row.ts';

/** One stored transaction, as created. */
export interface StoredEntry {
  readonly n: number;
  readonly txnId: string;
  readonly counts: ItemCounts;
  readonly items: readonly QueuedItem[];
}

/**
 * Items held at most, over all ASes: past it a creation is not remembered and `nextStored` reads
 * the database, so memory stays bounded however many ASes drain at once.
 */
export const STORED_CACHE_ITEMS = 8192;

/**
 * @example
 * ```ts
 * cache.set('irc', created);             // after the creating commit
 * cache.after('irc', sent.n);            // the next one, null (none stored), or undefined (ask the database)
 * cache.acknowledged('irc', sent.txnId); // after the acknowledging commit
 * ```
 */
export class StoredCache {
  readonly #byAs = new Map<string, StoredEntry[]>();
  /** Per AS, acknowledgements held back, in order, to be written with its next write. */
  readonly #pending = new Map<string, string[]>();
  /** Per AS, the seqs of each acknowledgement held back: its write deletes the queue rows by value. */
  readonly #pendingSeqs = new Map<string, Map<string, number[]>>();
  #items = 0;

  /**
   * Holds back the acknowledgement of `txnId` when it is the AS's transaction in flight and another
   * one created ahead follows it: the sender sends that one meanwhile, and the acknowledgement is
   * written with the AS's next write (or before a read of the AS, or at close). A commit costs
   * about the same whatever it holds; an acknowledgement may be lost anyway (acknowledge.ts), and
   * lost it only makes the AS see the same id and bytes again. False: write it now.
   */
  defer(asId: string, txnId: string): boolean {
    const entries = this.#byAs.get(asId);
    if (!entries || entries.length < 2 || entries[0]!.txnId !== txnId) return false;
    const entry = entries.shift()!;
    this.#items -= entry.items.length;
    const seqs = this.#pendingSeqs.get(asId);
    if (seqs) seqs.set(txnId, seqsOf(entry));
    else this.#pendingSeqs.set(asId, new Map([[txnId, seqsOf(entry)]]));
    const pending = this.#pending.get(asId);
    if (pending) pending.push(txnId);
    else this.#pending.set(asId, [txnId]);
    return true;
  }

  /**
   * The AS's acknowledgements held back, in order: a copy, since the sender may hold back another
   * while a write of these is in flight (a metrics scrape's `backlog()` writes them too), and only
   * what was written may be dropped.
   */
  pending(asId: string): readonly string[] {
    return [...(this.#pending.get(asId) ?? [])];
  }

  /**
   * The seqs of the queue rows of `txnIds` (each held back or stored here, none twice), in order,
   * or undefined when one of them is not known here.
   */
  seqs(asId: string, txnIds: readonly string[]): number[] | undefined {
    if (new Set(txnIds).size !== txnIds.length) return undefined;
    const entries = this.#byAs.get(asId);
    const seqs: number[] = [];
    for (const txnId of txnIds) {
      const held = this.#pendingSeqs.get(asId)?.get(txnId);
      const entry = held === undefined ? entries?.find((e) => e.txnId === txnId) : undefined;
      const found = held ?? (entry && seqsOf(entry));
      if (found === undefined) return undefined;
      seqs.push(...found);
    }
    return seqs;
  }

  /** The ASes with acknowledgements held back. */
  pendingAsIds(): string[] {
    return [...this.#pending.keys()];
  }

  /**
   * Runs a write of the acknowledgements `txnIds` (those held back, then perhaps the one the
   * caller names): once it succeeded they are no longer held back; a failure forgets the AS, and
   * with it what was held back (lost acknowledgements: the sender resends, the AS dedups).
   */
  async writing(asId: string, txnIds: readonly string[], run: () => Promise<void>): Promise<void> {
    try {
      await run();
    } catch (error) {
      this.forget(asId);
      throw error;
    }
    const left = this.pending(asId).filter((id) => !txnIds.includes(id));
    const seqs = this.#pendingSeqs.get(asId);
    for (const id of txnIds) seqs?.delete(id);
    if (left.length > 0) this.#pending.set(asId, left);
    else {
      this.#pending.delete(asId);
      this.#pendingSeqs.delete(asId);
    }
  }

  /** The AS's stored transactions are exactly `entries`, in id order (a creation just committed, with what was held back). */
  set(asId: string, entries: readonly StoredEntry[]): void {
    this.forget(asId);
    const items = entries.reduce((sum, entry) => sum + entry.items.length, 0);
    if (this.#items + items > STORED_CACHE_ITEMS) return;
    this.#items += items;
    this.#byAs.set(asId, [...entries]);
  }

  /**
   * The entry stored after transaction `n`; null when the AS is known here and nothing is stored
   * after it; undefined when the AS is not known here.
   */
  after(asId: string, n: number): StoredEntry | null | undefined {
    const entries = this.#byAs.get(asId);
    if (!entries) return undefined;
    return entries.find((entry) => entry.n > n) ?? null;
  }

  /**
   * `nextStored` from here: the transaction stored after `txnId` with its body built by `build`;
   * null when none is; undefined when the AS is not known here (then read the database).
   */
  next(asId: string, txnId: string, build: TransactionBuilder | undefined): StoredTransaction | null | undefined {
    const key = parseTxnId(txnId);
    const entry = key ? this.after(asId, key.n) : undefined;
    if (!entry) return entry;
    const body = rebuild(asId, entry.txnId, entry.items, build, 'nextStored');
    return { asId, txnId: entry.txnId, body, counts: entry.counts };
  }

  /** `txnId` was acknowledged: when it is the first entry it goes, else the AS is forgotten. */
  acknowledged(asId: string, txnId: string): void {
    const entries = this.#byAs.get(asId);
    if (!entries) return;
    if (entries[0]?.txnId !== txnId) return this.forget(asId);
    this.#items -= entries.shift()!.items.length;
    if (entries.length === 0) this.#byAs.delete(asId);
  }

  /**
   * The AS's stored transactions may have changed otherwise: read the database from now on. What
   * was held back is dropped: the caller wrote it, or the write failed and it is lost.
   */
  forget(asId: string): void {
    this.#pending.delete(asId);
    this.#pendingSeqs.delete(asId);
    const entries = this.#byAs.get(asId);
    if (!entries) return;
    for (const entry of entries) this.#items -= entry.items.length;
    this.#byAs.delete(asId);
  }
}

function seqsOf(entry: StoredEntry): number[] {
  return entry.items.map((item) => item.seq);
}

/**
 * A creation's outcome: a failed build() or a refusal is handed back, not thrown, so the caller
 * rethrows it unwrapped. `stored`: every transaction the creation stored, in id order.
 */
export type CreateOutcome = { txn: StoredTransaction | null; stored?: readonly StoredEntry[] } | { error: unknown };

/**
 * Runs a sender write that may create, keeping `cache` to what it stored (the AS is forgotten
 * when it stored nothing known, or failed), and returns the transaction or throws its error.
 *
 * @example
 * ```ts
 * return settleCreation(cache, 'irc', () => createTransaction(tables, 'irc', fence, limits, build));
 * ```
 */
export async function settleCreation(
  cache: StoredCache,
  asId: string,
  run: () => Promise<CreateOutcome>,
): Promise<StoredTransaction | null> {
  let outcome: CreateOutcome;
  try {
    outcome = await run();
  } catch (error) {
    cache.forget(asId);
    throw error;
  }
  if ('txn' in outcome && outcome.stored) cache.set(asId, outcome.stored);
  else cache.forget(asId);
  // A creation's own error is rethrown as itself (a throwing build() is not wrapped).
  if ('error' in outcome) throw outcome.error;
  return outcome.txn;
}
