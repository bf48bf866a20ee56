/**
 * The dead-letter part of the `Appservices` object: what an operator uses to see, replay or drop
 * the items an AS refused even alone (413), over whatever store the plugin runs on.
 */
import { withOversizeSupport, type DeadLetter } from '../store/dead-letters.ts';
import type { Store } from '../store/store.ts';

export interface DeadLetterApi {
  /**
   * Items an AS refused even alone (413, too large), set aside so that its queue moves on; oldest
   * first. Empty when the store keeps no dead letters (MemoryStore, SqliteStore and PostgresStore do).
   */
  deadLetters(asId: string): Promise<readonly DeadLetter[]>;
  /** Queues a dead letter again at the end of its AS's queue (after the AS raised its limit). False when unknown. */
  replayDeadLetter(asId: string, id: number): Promise<boolean>;
  /** Forgets a dead letter. False when unknown. */
  dropDeadLetter(asId: string, id: number): Promise<boolean>;
}

/**
 * @example
 * ```ts
 * const api = deadLetterApi(store, (asIds) => senders.notify(asIds));
 * for (const letter of await api.deadLetters('irc')) await api.replayDeadLetter('irc', letter.id);
 * ```
 */
export function deadLetterApi(store: Store, notify: (asIds: readonly string[]) => void): DeadLetterApi {
  return {
    deadLetters: async (asId) => (await withOversizeSupport(store)?.deadLetters(asId)) ?? [],
    replayDeadLetter: async (asId, id) => {
      const replayed = (await withOversizeSupport(store)?.replayDeadLetter(asId, id)) ?? false;
      // The sender may be idle: a replayed item is new work.
      if (replayed) notify([asId]);
      return replayed;
    },
    dropDeadLetter: async (asId, id) => (await withOversizeSupport(store)?.dropDeadLetter(asId, id)) ?? false,
  };
}
