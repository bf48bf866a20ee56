/**
 * Acknowledgements SqliteStore writes with the AS's next write instead of in a commit of their own.
 *
 * While a queue drains, the sender sends a transaction created ahead as soon as the AS answered
 * the one before, and acknowledges that one meanwhile (see `Store.nextStored`). Each of those
 * acknowledgements was a commit of its own, and a commit costs about the same whatever it holds:
 * catching up a backlog spent more of the event loop committing them than sending. An
 * acknowledgement is allowed to be lost (the AS is then sent the same id and bytes again, and
 * deduplicates them), so one that has a transaction created ahead behind it is kept here and
 * written at the start of the AS's next write, or before any read of the AS's state that it
 * changes (`inFlight`, `backlog`), or at close: the drain of a backlog then commits once per
 * TRANSACTIONS_AHEAD + 1 transactions.
 */
import type { TxnKey } from './operations.ts';

/** At most this many per AS: the sender has at most TRANSACTIONS_AHEAD of them pending. */
const MAX_PER_AS = 16;

/**
 * @example
 * const deferred = new DeferredAcks();
 * if (!deferred.defer('irc', key)) acknowledgeNow('irc', key);
 * for (const key of deferred.take('irc')) acknowledge('irc', key); // inside the AS's next write
 */
export class DeferredAcks {
  readonly #byAs = new Map<string, TxnKey[]>();

  /** Keeps the acknowledgement for later; false when it must be written now (too many kept). */
  defer(asId: string, key: TxnKey): boolean {
    const keys = this.#byAs.get(asId);
    if (keys === undefined) {
      this.#byAs.set(asId, [key]);
      return true;
    }
    if (keys.length >= MAX_PER_AS) return false;
    keys.push(key);
    return true;
  }

  has(asId: string): boolean {
    return this.#byAs.has(asId);
  }

  /** The AS's kept acknowledgements, oldest first; forgotten here (write them now). */
  take(asId: string): readonly TxnKey[] {
    const keys = this.#byAs.get(asId);
    if (keys === undefined) return [];
    this.#byAs.delete(asId);
    return keys;
  }

  /** The ASes with acknowledgements kept. */
  asIds(): string[] {
    return [...this.#byAs.keys()];
  }
}
