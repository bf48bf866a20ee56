/**
 * The durable per-AS queues behind `publish()` and the senders. Three implementations
 * (MemoryStore, SqliteStore, PostgresStore) pass one shared suite, `storeContractTests`.
 *
 * The life of an item: `enqueue` appends it to the queue of every AS named, atomically with the
 * other items of the call. A sender calls `createTransaction`, which takes the oldest items of its
 * AS up to the limits, gives them the AS's next transaction id and stores the transaction (its
 * body, or only which items it holds: see `inFlight`), all in one store transaction, before
 * anything is sent. The sender sends that body (again and
 * again if it must, always the same id and bytes) until the AS acknowledges, then calls
 * `acknowledge`, which deletes the transaction and its items. After a crash, `inFlight` returns
 * the transaction that was created but not acknowledged, so the sender resends it first.
 */

export type ItemKind = 'event' | 'ephemeral' | 'toDevice' | DeviceItemKind;

/**
 * The MSC3202 kinds (`publishDeviceListUpdate`, `publishKeyCounts`): a device list change and a
 * device's key counts. Their counts and limits are optional in `ItemCounts` and `BatchLimits`,
 * so that a store or a caller written for the three older kinds keeps working unchanged.
 */
export type DeviceItemKind = 'deviceList' | 'keyCounts';

/**
 * Items of a transaction by kind. The MSC3202 kinds are present only when the transaction
 * carries some (every store agrees on that, so equal transactions compare equal).
 */
export type ItemCounts = Readonly<Record<Exclude<ItemKind, DeviceItemKind>, number>> &
  Readonly<Partial<Record<DeviceItemKind, number>>>;

/** One thing to queue: its JSON text, and the ASes that want it. */
export interface EnqueueItem {
  readonly kind: ItemKind;
  /** The item serialised as JSON; stored and sent as these exact bytes. */
  readonly json: string;
  readonly asIds: readonly string[];
}

/** An item as it comes back out of an AS's queue, in enqueue order (`seq` grows). */
export interface QueuedItem {
  readonly seq: number;
  readonly kind: ItemKind;
  readonly json: string;
}

/** How much one transaction may carry (the cut is `BatchCut` in batch.ts, the same for every store). */
export interface BatchLimits {
  readonly event: number;
  readonly ephemeral: number;
  readonly toDevice: number;
  /** Device list changes (MSC3202); default `DEVICE_KIND_LIMIT` in batch.ts. */
  readonly deviceList?: number;
  /** Key count updates (MSC3202); default `DEVICE_KIND_LIMIT` in batch.ts. */
  readonly keyCounts?: number;
  /**
   * Optional cap on the sum of the items' JSON bytes (plus one per item for its separator). An
   * item larger than the cap on its own still goes, alone.
   */
  readonly bytes?: number;
}

/**
 * Builds a transaction's JSON body from its items, in queue order. Pure: the same items give the
 * same bytes, which is what lets a store rebuild a body instead of keeping it (see `inFlight`).
 */
export type TransactionBuilder = (items: readonly QueuedItem[]) => string;

/** A stored transaction: sent with this id and these exact bytes until acknowledged. */
export interface StoredTransaction {
  readonly asId: string;
  /**
   * `<birth>.<n>` (see txn-id.ts): `birth` is random per store database, `n` grows per AS. Never
   * reused: not across restarts and processes, and not by another store (a new database).
   * URL-safe. Opaque to the sender, which sends it and hands it back.
   */
  readonly txnId: string;
  /** The JSON body to PUT. */
  readonly body: string;
  readonly counts: ItemCounts;
}

export interface Backlog {
  /** Items queued for the AS, including those in an unacknowledged transaction. */
  readonly size: number;
  /** Enqueue time (ms since the epoch) of the oldest of them, or null when the queue is empty. */
  readonly oldestEnqueuedAt: number | null;
}

/**
 * The homeserver's database client for an outbox enqueue: a `pg` `PoolClient` or `Client` fits.
 * Declared by shape, with the one call PostgresStore makes, so that the main entry point needs
 * neither `pg` nor its types.
 */
export interface OutboxClient {
  query(query: { text: string; values?: unknown[] }): Promise<unknown>;
}

/** Options of `Store.enqueue`. */
export interface EnqueueOptions {
  /**
   * PostgresStore: a `pg` client inside the homeserver's own open transaction; the items commit
   * or roll back with it (an outbox: the event and its queue entries are written together).
   * Stores that cannot join a foreign transaction reject an enqueue that passes one.
   */
  readonly client?: OutboxClient;
}

/**
 * Held by the one process that sends for an AS (see `Store.acquireSenderLock`). While a process
 * holds it, no other process can acquire the same AS's lock.
 */
export interface SenderLock {
  /**
   * Resolves when the lock is gone without `release()` (the database connection died, or the
   * store was closed): another process may be the sender now, so stop sending. Never rejects.
   */
  readonly lost: Promise<void>;
  /** Gives the lock up so that another process can take over. Idempotent. */
  release(): Promise<void>;
}

export interface Store {
  /** Opens the store and applies pending migrations. Idempotent. */
  open(): Promise<void>;

  /**
   * Appends every item to the queue of every AS it names, all or nothing; when the promise
   * resolves the items are durable. Items are queued in array order.
   */
  enqueue(items: readonly EnqueueItem[], options?: EnqueueOptions): Promise<void>;

  /**
   * The transaction created for this AS and not yet acknowledged, if any. `build` is the function
   * the transaction was created with: a store that keeps only the items of a transaction, not its
   * body, rebuilds the body from them with it (the same items and the same pure `build` give the
   * same bytes). Callers that resend pass it; a store that keeps bodies ignores it.
   *
   * Without `build`, a store that would have to rebuild the body rejects with a TypeError naming
   * the method (SqliteStore does, for every transaction stored from schema version 5 on). It does
   * not guess a builder: bytes other than those first sent under the same id would break the
   * AS's deduplication. MemoryStore keeps bodies and never needs it.
   */
  inFlight(asId: string, build?: TransactionBuilder): Promise<StoredTransaction | null>;

  /**
   * Takes the AS's oldest queued items, in order, stopping before the first item that does not fit
   * the limits (see BatchCut); allocates the next transaction id; stores `build(items)` as the
   * body. Returns null when the queue is empty. Throws an InFlightMismatchError when a transaction
   * is already in flight.
   */
  createTransaction(asId: string, limits: BatchLimits, build: TransactionBuilder): Promise<StoredTransaction | null>;

  /** Deletes the acknowledged transaction and its items. Acknowledging an unknown id is a no-op. */
  acknowledge(asId: string, txnId: string): Promise<void>;

  /**
   * Optional: `acknowledge(asId, txnId)` then `createTransaction(asId, limits, build)`, in one
   * store transaction where the store can, so that a draining queue costs one commit per
   * transaction sent instead of two. The sender uses it when present. The acknowledgement holds
   * even when the creation then fails (build() throws, a transaction is still in flight): the
   * creation's error is thrown, as createTransaction would throw it.
   *
   * A store may also create the next few full transactions ahead, in the same commit, and return
   * them from later calls without writing them again (SqliteStore does, to pay one fsync for
   * several); a store that keeps no bodies rebuilds theirs with this call's `build`, which must
   * be the builder they were created with (a sender always passes the same one). They are stored transactions in every sense: `inFlight` returns the AS's oldest,
   * only that one can be acknowledged, `createTransaction` refuses while any exists, and each is
   * sent with its stored id and bytes, one at a time, in id order.
   */
  acknowledgeAndCreate?(
    asId: string,
    txnId: string,
    limits: BatchLimits,
    build: TransactionBuilder,
  ): Promise<StoredTransaction | null>;

  /**
   * Optional, for stores that create transactions ahead (see `acknowledgeAndCreate`): the stored
   * transaction that follows `txnId`, read without writing anything, or null when none is stored
   * yet. Once the AS has acknowledged `txnId`, the sender sends that next transaction while the
   * acknowledgement is being stored, instead of waiting for the write. If the process dies in
   * between, `txnId` is still in flight after the restart and is resent first; the AS has seen
   * both ids and deduplicates them. `build` as for `inFlight`.
   */
  nextStored?(asId: string, txnId: string, build?: TransactionBuilder): Promise<StoredTransaction | null>;

  backlog(asId: string): Promise<Backlog>;

  /**
   * Stores shared by several processes elect one sender per AS: resolves with the lock when this
   * process is now the AS's sender, or null when another process (or another caller in this one)
   * is. Stores without this method are single-process: their process is always the sender.
   * Poll it with `electSender()` (lib/store/sender-lock.ts).
   */
  acquireSenderLock?(asId: string): Promise<SenderLock | null>;

  /**
   * Stores shared by several processes: calls `listener` after an enqueue commits in any process
   * (this one included) with the AS ids concerned, or null when unknown (then check them all), so
   * that the sender of an AS wakes for items another process published. Returns the function
   * that unsubscribes. Single-process stores leave it out: the publisher notifies its senders.
   */
  onEnqueued?(listener: (asIds: readonly string[] | null) => void): () => void;

  /** Releases the database. The store cannot be used afterwards. */
  close(): Promise<void>;
}
