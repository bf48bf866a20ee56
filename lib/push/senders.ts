/**
 * All the senders of a homeserver: one per AS with a url, started, notified and stopped together.
 */
import type { Registration } from '../registration/registration.ts';
import type { Store } from '../store/store.ts';
import { Sender, type SendTransaction, type SenderOptions } from './sender.ts';
import { TurnBudget } from './turn-budget.ts';

/**
 * Transactions the senders create in one turn of the event loop, all ASes together (see
 * turn-budget.ts); fewer busy ASes than this never wait. Measured with 1,000 busy ASes
 * (bench/many-ases.ts, in-run pairs): 64 per turn made 2,152 transactions of 20,000 events, 16
 * made 1,288, with about 10% less CPU and a better ratio to 1 AS in every pair; 8 and 4 made a few
 * fewer again and were no better (more turns). Each turn costs one commit (an fsync) of the senders' writes,
 * which is why a busy spell's writes share the turn's group (lib/store/sqlite/commit-group.ts).
 */
export const CREATES_PER_TURN = 16;

/**
 * One Sender per registration with a url (`url: null` gets none), started and stopped together.
 * Each runs its own loop: nothing one AS does (down, slow) is awaited by another's.
 *
 * @example
 * const senders = new Senders({ registrations, store, send: (reg, id, body, signal) => clients.get(reg.id)!.sendTransaction(id, body, signal) });
 * senders.start();
 * const asIds = await publisher.publish(event); senders.notify(asIds);
 * senders.wake('irc'); // after a ping from the IRC bridge
 * await senders.stop();
 */
export class Senders {
  readonly #senders: ReadonlyMap<string, Sender>;

  constructor(
    deps: {
      registrations: readonly Registration[];
      store: Store;
      send: (registration: Registration, txnId: string, body: string, signal: AbortSignal) => Promise<void>;
    },
    options: SenderOptions = {},
  ) {
    const senders = new Map<string, Sender>();
    const budget = new TurnBudget(CREATES_PER_TURN);
    for (const registration of deps.registrations) {
      if (registration.url === null) continue;
      const send: SendTransaction = (txnId, body, signal) => deps.send(registration, txnId, body, signal);
      senders.set(registration.id, new Sender({ registration, store: deps.store, send, budget }, options));
    }
    this.#senders = senders;
  }

  /** The sender of this AS, or undefined (unknown id, or `url: null`). */
  get(asId: string): Sender | undefined {
    return this.#senders.get(asId);
  }

  get size(): number {
    return this.#senders.size;
  }

  [Symbol.iterator](): IterableIterator<Sender> {
    return this.#senders.values();
  }

  start(): void {
    for (const sender of this.#senders.values()) sender.start();
  }

  /** Items were queued for these ASes (what `Publisher.publish` resolved to). */
  notify(asIds: readonly string[]): void {
    for (const id of asIds) this.#senders.get(id)?.notify();
  }

  /** The AS pinged or answered a query: retry it now. Unknown ids are ignored. */
  wake(asId: string): void {
    this.#senders.get(asId)?.wake();
  }

  async stop(): Promise<void> {
    await Promise.all([...this.#senders.values()].map((s) => s.stop()));
  }
}
