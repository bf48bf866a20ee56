/**
 * The sender's terms: with a store shared by several processes (PostgresStore) only the holder
 * of an AS's sender lock may send for it. `whileElected` waits for the lock, runs one term of
 * delivery while it holds it, gives it up, and waits again, until it is told to stop.
 * Single-process stores have no lock: the first election returns at once and the term lasts
 * until the stop.
 */
import { electSender } from '../store/sender-lock.ts';
import type { Store } from '../store/store.ts';

export interface ElectionOptions {
  /** How often a standby process tries to take the lock. */
  readonly retryIntervalMs: number;
  /** Ends the waiting and, once the current term returns, the loop. */
  readonly signal: AbortSignal;
  /** Called each time the process goes back to waiting for the lock. */
  readonly onStandby?: () => void;
}

/**
 * Runs `term(lost)` once per election. `lost` aborts when the lock goes without being released
 * (its connection died): another process may be the sender by then, so the term must stop at once,
 * the send in flight included. A `lost` of an earlier term never aborts a later one.
 *
 * @example
 * await whileElected(store, 'irc', { retryIntervalMs: 1000, signal: stopping.signal }, async (lost) => {
 *   lost.addEventListener('abort', () => controller.abort());
 *   await deliver();
 * });
 */
export async function whileElected(
  store: Store,
  asId: string,
  options: ElectionOptions,
  term: (lost: AbortSignal) => Promise<void>,
): Promise<void> {
  while (!options.signal.aborted) {
    options.onStandby?.();
    let lock;
    try {
      lock = await electSender(store, asId, { retryIntervalMs: options.retryIntervalMs, signal: options.signal });
    } catch {
      return; // aborted while waiting
    }
    const lost = new AbortController();
    let over = false;
    void lock.lost.then(() => {
      if (!over) lost.abort(new Error('sender lock lost'));
    });
    try {
      await term(lost.signal);
    } finally {
      over = true;
      await lock.release().catch(() => {});
    }
  }
}
