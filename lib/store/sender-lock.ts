/**
 * Sender election: exactly one process sends for an AS, and another takes over when it dies.
 *
 * Stores shared by several processes implement `acquireSenderLock` (PostgresStore: an advisory
 * lock, see postgres/advisory-locks.ts); `electSender` polls it until this process wins. Single-
 * process stores have no `acquireSenderLock`, and `electSender` then returns at once: that process
 * is always the sender.
 *
 * This module loads no driver, so the sender can use `electSender` whatever the store.
 */
import type { SenderLock, Store } from './store.ts';

export interface ElectSenderOptions {
  /** Pause between attempts while another process is the sender. Default 1000 ms. */
  readonly retryIntervalMs?: number;
  /** Stops waiting: `electSender` then rejects with the signal's reason. */
  readonly signal?: AbortSignal;
  /** Told about each failed attempt (the database is down, say); the attempts go on. */
  readonly onError?: (err: unknown) => void;
}

const SOLE_SENDER: SenderLock = Object.freeze({
  lost: new Promise<void>(() => {}),
  release: async () => {},
});

/**
 * Waits until this process is the sender for `asId` and returns the lock. The caller sends while
 * it holds the lock, stops when `lock.lost` resolves, and calls `lock.release()` when it stops.
 *
 * @example
 * ```ts
 * const lock = await electSender(store, 'irc', { retryIntervalMs: 1000, signal: closing.signal });
 * lock.lost.then(() => sender.pause()); // another process may be sending now
 * // ... send ...
 * await lock.release();
 * ```
 */
export async function electSender(
  store: Pick<Store, 'acquireSenderLock'>,
  asId: string,
  options: ElectSenderOptions = {},
): Promise<SenderLock> {
  const { retryIntervalMs = 1000, signal, onError } = options;
  if (!store.acquireSenderLock) return SOLE_SENDER;
  for (;;) {
    signal?.throwIfAborted();
    try {
      const lock = await store.acquireSenderLock(asId);
      if (lock) {
        if (!signal?.aborted) return lock;
        await lock.release();
      }
    } catch (err) {
      onError?.(err);
    }
    signal?.throwIfAborted();
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, retryIntervalMs);
      signal?.addEventListener('abort', done, { once: true });
    });
  }
}
