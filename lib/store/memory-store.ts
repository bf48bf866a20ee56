import { InFlightMismatchError } from '../errors.ts';
import { BatchCut, buildBody, checkLimits } from './batch.ts';
import { checkEnqueueItems, uniqueAsIds } from './check-input.ts';
import type { DeadLetter, OversizeSupport } from './dead-letters.ts';
import { StoreLifecycle } from './lifecycle.ts';
import { TRANSACTIONS_AHEAD } from './sqlite/statements.ts';
import { formatTxnId, newBirth } from './txn-id.ts';
import type {
  Backlog,
  BatchLimits,
  EnqueueItem,
  EnqueueOptions,
  ItemKind,
  QueuedItem,
  Store,
  StoredTransaction,
} from './store.ts';

/** One enqueued item, shared by the queues of every AS that wants it. */
interface Entry {
  readonly seq: number;
  readonly kind: ItemKind;
  readonly json: string;
  readonly enqueuedAt: number;
}

interface AsQueue {
  /** Entries from `head` on are queued; those before it are acknowledged and await compaction. */
  entries: Entry[];
  head: number;
  nextTxnId: number;
  /** Stored transactions, oldest first: the first is in flight, the others were created ahead. */
  stored: { readonly txn: StoredTransaction; readonly size: number }[];
}

/** Compaction threshold: acknowledged entries are dropped in bulk, not one `shift()` at a time. */
const COMPACT_AT = 1024;

/**
 * A `Store` held in process memory: the same semantics as `SqliteStore` (and the same shared
 * suite), nothing durable. For tests, and for embedding where losing queued items on a restart
 * is acceptable.
 *
 * @example
 * ```ts
 * import { MemoryStore } from 'koa-appservice';
 *
 * const store = new MemoryStore();
 * await store.open();
 * await store.enqueue([{ kind: 'event', json: '{"type":"m.room.message"}', asIds: ['irc'] }]);
 * const txn = await store.createTransaction('irc', { event: 100, ephemeral: 100, toDevice: 100 },
 *   (items) => `{"events":[${items.map((i) => i.json).join(',')}]}`);
 * // ... PUT txn.body to the AS as transaction txn.txnId, then:
 * await store.acknowledge('irc', txn!.txnId);
 * ```
 */
export class MemoryStore implements Store, OversizeSupport {
  readonly #life = new StoreLifecycle('memory store');
  readonly #queues = new Map<string, AsQueue>();
  /** Every MemoryStore is a new store: its ids must not repeat another's. */
  readonly #birth = newBirth();
  #nextSeq = 1;
  readonly #deadLetters = new Map<string, DeadLetter[]>();
  #nextDeadLetterId = 1;

  open(): Promise<void> {
    return this.#life.open(() => {});
  }

  async enqueue(items: readonly EnqueueItem[], options?: EnqueueOptions): Promise<void> {
    this.#assertOpen();
    if (options?.client !== undefined) {
      throw this.#life.error('cannot join a foreign transaction: enqueue({ client }) needs PostgresStore');
    }
    // Checked before anything is appended: the call is all or nothing.
    checkEnqueueItems(items);
    const enqueuedAt = Date.now();
    for (const item of items) {
      const asIds = uniqueAsIds(item.asIds);
      if (asIds.length === 0) continue;
      const entry: Entry = { seq: this.#nextSeq++, kind: item.kind, json: item.json, enqueuedAt };
      for (const asId of asIds) this.#queue(asId).entries.push(entry);
    }
  }

  async inFlight(asId: string): Promise<StoredTransaction | null> {
    this.#assertOpen();
    return this.#queues.get(asId)?.stored[0]?.txn ?? null;
  }

  async createTransaction(
    asId: string,
    limits: BatchLimits,
    build: (items: readonly QueuedItem[]) => string,
  ): Promise<StoredTransaction | null> {
    this.#assertOpen();
    checkLimits(limits);
    return this.#create(asId, limits, build, 0);
  }

  async acknowledge(asId: string, txnId: string): Promise<void> {
    this.#assertOpen();
    const queue = this.#queues.get(asId);
    const first = queue?.stored[0];
    if (!first || first.txn.txnId !== txnId) return;
    queue!.head += first.size;
    queue!.stored.shift();
    if (queue!.head >= COMPACT_AT && queue!.head * 2 >= queue!.entries.length) {
      queue!.entries = queue!.entries.slice(queue!.head);
      queue!.head = 0;
    }
  }

  /**
   * `acknowledge` then the next transaction. Like SqliteStore (whose model this store is in the
   * specs) it creates up to TRANSACTIONS_AHEAD full transactions ahead and hands them out later.
   *
   * @example
   * ```ts
   * const next = await store.acknowledgeAndCreate('irc', sent.txnId, { event: 100, ephemeral: 100, toDevice: 100 }, build);
   * ```
   */
  async acknowledgeAndCreate(
    asId: string,
    txnId: string,
    limits: BatchLimits,
    build: (items: readonly QueuedItem[]) => string,
  ): Promise<StoredTransaction | null> {
    this.#assertOpen();
    checkLimits(limits); // before anything changes, as in the stores that do this in one transaction
    const queue = this.#queues.get(asId);
    const acked = queue?.stored[0]?.txn.txnId === txnId;
    await this.acknowledge(asId, txnId);
    // After an acknowledgement, a transaction created ahead is the next one; without one, a
    // transaction still in flight makes #create refuse, as createTransaction would.
    return (acked ? queue!.stored[0]?.txn : undefined) ?? this.#create(asId, limits, build, TRANSACTIONS_AHEAD);
  }

  #create(
    asId: string,
    limits: BatchLimits,
    build: (items: readonly QueuedItem[]) => string,
    ahead: number,
  ): StoredTransaction | null {
    const queue = this.#queues.get(asId);
    if (!queue) return null;
    if (queue.stored.length > 0) throw new InFlightMismatchError(asId, queue.stored[0]!.txn.txnId);
    const created: { txn: StoredTransaction; size: number }[] = [];
    let start = queue.head;
    for (let n = 0; n <= ahead; n++) {
      const cut = new BatchCut(limits);
      for (let i = start; i < queue.entries.length; i++) {
        const entry = queue.entries[i]!;
        if (!cut.take({ seq: entry.seq, kind: entry.kind, json: entry.json })) break;
      }
      const { items, counts, full } = cut;
      if (items.length === 0) break;
      // build() runs before any state changes, so if it throws the queue is exactly as it was.
      const body = buildBody(build, items);
      created.push({
        txn: { asId, txnId: formatTxnId(this.#birth, queue.nextTxnId + n), body, counts },
        size: items.length,
      });
      start += items.length;
      if (!full) break;
    }
    if (created.length === 0) return null;
    queue.nextTxnId += created.length;
    queue.stored.push(...created);
    return created[0]!.txn;
  }

  /** See `OversizeSupport.replaceInFlight` (lib/store/dead-letters.ts). */
  async replaceInFlight(
    asId: string,
    txnId: string,
    limits: BatchLimits,
    build: (items: readonly QueuedItem[]) => string,
  ): Promise<StoredTransaction | null> {
    this.#assertOpen();
    checkLimits(limits);
    const queue = this.#queues.get(asId);
    if (queue?.stored[0]?.txn.txnId !== txnId) return null;
    const dropped = queue.stored;
    queue.stored = [];
    try {
      return this.#create(asId, limits, build, 0);
    } catch (error) {
      queue.stored = dropped; // all or nothing, as in a store transaction
      throw error;
    }
  }

  /** See `OversizeSupport.setAside` (lib/store/dead-letters.ts). */
  async setAside(asId: string, txnId: string, reason: string): Promise<number> {
    this.#assertOpen();
    const queue = this.#queues.get(asId);
    const first = queue?.stored[0];
    if (!first || first.txn.txnId !== txnId) return 0;
    const letters = this.#deadLetters.get(asId) ?? [];
    for (const entry of queue!.entries.slice(queue!.head, queue!.head + first.size)) {
      letters.push({
        id: this.#nextDeadLetterId++,
        asId,
        kind: entry.kind,
        json: entry.json,
        txnId,
        reason,
        setAsideAt: Date.now(),
      });
    }
    this.#deadLetters.set(asId, letters);
    await this.acknowledge(asId, txnId);
    return first.size;
  }

  async deadLetters(asId: string): Promise<readonly DeadLetter[]> {
    this.#assertOpen();
    return [...(this.#deadLetters.get(asId) ?? [])];
  }

  async replayDeadLetter(asId: string, id: number): Promise<boolean> {
    const letter = this.#takeDeadLetter(asId, id);
    if (letter === undefined) return false;
    await this.enqueue([{ kind: letter.kind, json: letter.json, asIds: [asId] }]);
    return true;
  }

  async dropDeadLetter(asId: string, id: number): Promise<boolean> {
    return this.#takeDeadLetter(asId, id) !== undefined;
  }

  #takeDeadLetter(asId: string, id: number): DeadLetter | undefined {
    this.#assertOpen();
    const letters = this.#deadLetters.get(asId) ?? [];
    const index = letters.findIndex((letter) => letter.id === id);
    return index < 0 ? undefined : letters.splice(index, 1)[0];
  }

  async backlog(asId: string): Promise<Backlog> {
    this.#assertOpen();
    const queue = this.#queues.get(asId);
    const size = queue ? queue.entries.length - queue.head : 0;
    return { size, oldestEnqueuedAt: size > 0 ? queue!.entries[queue!.head]!.enqueuedAt : null };
  }

  close(): Promise<void> {
    return this.#life.close(() => {
      this.#queues.clear();
      this.#deadLetters.clear();
    });
  }

  #queue(asId: string): AsQueue {
    let queue = this.#queues.get(asId);
    if (!queue) {
      queue = { entries: [], head: 0, nextTxnId: 1, stored: [] };
      this.#queues.set(asId, queue);
    }
    return queue;
  }

  #assertOpen(): void {
    this.#life.assertOpen();
  }
}
