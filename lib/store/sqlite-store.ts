import Database from 'better-sqlite3';
import { StoreError } from '../errors.ts';
import { checkEnqueueItems, checkLimits, uniqueAsIds } from './check-input.ts';
import { GroupCommit } from './group-commit.ts';
import { migrateSqlite, sqliteSchemaVersion } from './migrations/migrate-sqlite.ts';
import { sqliteMigrations } from './migrations/sqlite/index.ts';
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

export interface SqliteStoreOptions {
  /**
   * `full` (default): a resolved `enqueue()` survives a power cut (the WAL is fsynced at every
   * commit). `normal`: it survives a crash of the process but maybe not of the machine; faster.
   */
  readonly synchronous?: 'full' | 'normal';
}

interface PendingEnqueue {
  readonly items: readonly EnqueueItem[];
  readonly enqueuedAt: number;
}

interface TxnRow {
  txn_id: number;
  body: string;
  event_count: number;
  ephemeral_count: number;
  to_device_count: number;
  last_seq: number;
}

type Statements = ReturnType<typeof prepare>;

function prepare(db: Database.Database) {
  return {
    insertItem: db.prepare<[ItemKind, string, number, number]>(
      'INSERT INTO items (kind, json, enqueued_at, refs) VALUES (?, ?, ?, ?)'),
    insertQueue: db.prepare<[string, number | bigint]>('INSERT INTO queue (as_id, item_id) VALUES (?, ?)'),
    addQueued: db.prepare<[string, number]>(
      'INSERT INTO as_state (as_id, queued) VALUES (?, ?) ON CONFLICT (as_id) DO UPDATE SET queued = queued + excluded.queued'),
    inFlight: db.prepare<[string], TxnRow>(
      'SELECT txn_id, body, event_count, ephemeral_count, to_device_count, last_seq FROM transactions WHERE as_id = ?'),
    // Iterated and abandoned once the limits are reached: only one transaction's worth is read.
    pending: db.prepare<[string], QueuedItem>(
      'SELECT q.seq AS seq, i.kind AS kind, i.json AS json FROM queue q JOIN items i ON i.id = q.item_id WHERE q.as_id = ? ORDER BY q.seq'),
    takeTxnId: db.prepare<[string], { txn_id: number }>(
      'UPDATE as_state SET next_txn_id = next_txn_id + 1 WHERE as_id = ? RETURNING next_txn_id - 1 AS txn_id'),
    insertTxn: db.prepare<[string, number, string, number, number, number, number, number]>(
      `INSERT INTO transactions (as_id, txn_id, body, event_count, ephemeral_count, to_device_count, last_seq, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
    txnLastSeq: db.prepare<[string, number], { last_seq: number }>(
      'SELECT last_seq FROM transactions WHERE as_id = ? AND txn_id = ?'),
    // Items whose last reference this is go first, so that only shared items are rewritten.
    deleteItems: db.prepare<[string, number]>(
      'DELETE FROM items WHERE refs = 1 AND id IN (SELECT item_id FROM queue WHERE as_id = ? AND seq <= ?)'),
    releaseRefs: db.prepare<[string, number]>(
      'UPDATE items SET refs = refs - 1 WHERE id IN (SELECT item_id FROM queue WHERE as_id = ? AND seq <= ?)'),
    deleteQueue: db.prepare<[string, number]>('DELETE FROM queue WHERE as_id = ? AND seq <= ?'),
    subQueued: db.prepare<[number, string]>('UPDATE as_state SET queued = queued - ? WHERE as_id = ?'),
    deleteTxn: db.prepare<[string]>('DELETE FROM transactions WHERE as_id = ?'),
    queued: db.prepare<[string], { queued: number }>('SELECT queued FROM as_state WHERE as_id = ?'),
    oldest: db.prepare<[string], { enqueued_at: number }>(
      'SELECT i.enqueued_at AS enqueued_at FROM queue q JOIN items i ON i.id = q.item_id WHERE q.as_id = ? ORDER BY q.seq LIMIT 1'),
  };
}

/**
 * The default `Store`: one SQLite file (better-sqlite3, WAL), migrated on `open()`. Concurrent
 * `enqueue()` calls share one commit (group commit); queues are read a transaction at a time, so
 * memory stays flat however large a backlog grows. One process per file: two processes sending
 * from the same file would both send its transactions (use PostgresStore for several processes).
 *
 * @example
 * ```ts
 * import { SqliteStore } from 'koa-appservice/sqlite';
 *
 * const store = new SqliteStore('./appservice.db', { synchronous: 'full' });
 * await store.open(); // creates or migrates the schema; refuses a database from a newer version
 * await store.enqueue([{ kind: 'event', json: JSON.stringify(event), asIds: ['irc', 'slack'] }]);
 * console.log(await store.backlog('irc')); // { size: 1, oldestEnqueuedAt: 1764337000000 }
 * await store.close();
 * ```
 */
export class SqliteStore implements Store {
  readonly #path: string;
  readonly #synchronous: 'full' | 'normal';
  #db: Database.Database | null = null;
  #stmts: Statements | null = null;
  #state: 'new' | 'open' | 'closing' | 'closed' = 'new';
  #closed: Promise<void> | null = null;
  readonly #group = new GroupCommit<PendingEnqueue>((batch) => this.#commitEnqueues(batch));

  constructor(path: string, options: SqliteStoreOptions = {}) {
    if (typeof path !== 'string' || path === '') throw new TypeError('SqliteStore: path must be a non-empty string');
    const synchronous = options.synchronous ?? 'full';
    if (synchronous !== 'full' && synchronous !== 'normal') {
      throw new TypeError('SqliteStore: options.synchronous must be "full" or "normal"');
    }
    this.#path = path;
    this.#synchronous = synchronous;
  }

  async open(): Promise<void> {
    if (this.#state === 'open') return;
    if (this.#state !== 'new') throw new StoreError(`sqlite store ${this.#path}: cannot reopen a closed store`);
    let db: Database.Database | null = null;
    try {
      db = new Database(this.#path);
      // A database from a newer version is refused by migrateSqlite below, and left as it was.
      if (sqliteSchemaVersion(db) <= sqliteMigrations.length) {
        // WAL: readers never block the writer, and a commit is one append (plus one fsync when full).
        db.pragma('journal_mode = WAL');
        db.pragma(`synchronous = ${this.#synchronous}`);
        // After a burst (a long outage's backlog), give the WAL file's space back at checkpoints.
        db.pragma('journal_size_limit = 67108864');
      }
      migrateSqlite(db, this.#path);
      this.#stmts = prepare(db);
    } catch (err) {
      db?.close();
      if (err instanceof StoreError) throw err;
      throw new StoreError(`sqlite store ${this.#path}: cannot open: ${(err as Error).message}`, { cause: err });
    }
    this.#db = db;
    this.#state = 'open';
  }

  enqueue(items: readonly EnqueueItem[], options?: EnqueueOptions): Promise<void> {
    try {
      this.#open();
      if (options?.client !== undefined) {
        throw new StoreError('SqliteStore cannot join a foreign transaction: enqueue({ client }) needs PostgresStore');
      }
      checkEnqueueItems(items);
    } catch (err) {
      return Promise.reject(err);
    }
    if (!items.some((item) => item.asIds.length > 0)) return Promise.resolve();
    return this.#group.add({ items, enqueuedAt: Date.now() });
  }

  async inFlight(asId: string): Promise<StoredTransaction | null> {
    const stmts = this.#open();
    const row = this.#sql('inFlight', () => stmts.inFlight.get(asId));
    return row ? toTransaction(asId, row) : null;
  }

  async createTransaction(
    asId: string,
    limits: BatchLimits,
    build: (items: readonly QueuedItem[]) => string,
  ): Promise<StoredTransaction | null> {
    const stmts = this.#open();
    checkLimits(limits);
    return this.#sql('createTransaction', () =>
      this.#db!.transaction((): StoredTransaction | null => {
        const current = stmts.inFlight.get(asId);
        if (current) throw new StoreError(`appservice "${asId}" already has transaction ${current.txn_id} in flight`);
        const counts: Record<ItemKind, number> = { event: 0, ephemeral: 0, toDevice: 0 };
        const items: QueuedItem[] = [];
        for (const item of stmts.pending.iterate(asId)) {
          if (counts[item.kind] >= limits[item.kind]) break;
          counts[item.kind]++;
          items.push(item);
        }
        if (items.length === 0) return null;
        const { txn_id: txnId } = stmts.takeTxnId.get(asId)!;
        // A throwing build() rolls the whole transaction back, the txn id included.
        const body = build(items);
        if (typeof body !== 'string') throw new TypeError('createTransaction(): build() must return a string');
        const lastSeq = items[items.length - 1]!.seq;
        stmts.insertTxn.run(asId, txnId, body, counts.event, counts.ephemeral, counts.toDevice, lastSeq, Date.now());
        return { asId, txnId, body, counts };
      }).immediate(),
    );
  }

  async acknowledge(asId: string, txnId: number): Promise<void> {
    const stmts = this.#open();
    // An acknowledgement needs no fsync of its own. The WAL is a log: losing this commit in a
    // power cut means losing every later one too, unless a later durable commit (an enqueue, the
    // next createTransaction) syncs it along. Lost, it only makes the sender resend a transaction
    // the AS already has, with the same id and body, which the AS must deduplicate anyway.
    // That halves the fsyncs of a draining queue.
    const relaxed = this.#synchronous === 'full';
    if (relaxed) this.#db!.pragma('synchronous = NORMAL');
    try {
      this.#acknowledge(stmts, asId, txnId);
    } finally {
      if (relaxed) this.#db!.pragma('synchronous = FULL');
    }
  }

  #acknowledge(stmts: Statements, asId: string, txnId: number): void {
    this.#sql('acknowledge', () =>
      this.#db!.transaction(() => {
        const txn = stmts.txnLastSeq.get(asId, txnId);
        if (!txn) return;
        stmts.deleteItems.run(asId, txn.last_seq);
        stmts.releaseRefs.run(asId, txn.last_seq);
        const { changes } = stmts.deleteQueue.run(asId, txn.last_seq);
        stmts.subQueued.run(changes, asId);
        stmts.deleteTxn.run(asId);
      }).immediate(),
    );
  }

  async backlog(asId: string): Promise<Backlog> {
    const stmts = this.#open();
    return this.#sql('backlog', () => {
      const size = stmts.queued.get(asId)?.queued ?? 0;
      const oldest = size > 0 ? (stmts.oldest.get(asId)?.enqueued_at ?? null) : null;
      return { size, oldestEnqueuedAt: oldest };
    });
  }

  /** Commits the enqueues still gathering, then closes the database. Idempotent. */
  close(): Promise<void> {
    this.#closed ??= this.#close();
    return this.#closed;
  }

  async #close(): Promise<void> {
    const wasOpen = this.#state === 'open';
    this.#state = 'closing';
    try {
      if (wasOpen) await this.#group.flush();
    } finally {
      this.#db?.close();
      this.#db = null;
      this.#stmts = null;
      this.#state = 'closed';
    }
  }

  #commitEnqueues(batch: readonly PendingEnqueue[]): void {
    const stmts = this.#stmts;
    if (!stmts) throw new StoreError(`sqlite store ${this.#path}: the store is closed`);
    this.#sql('enqueue', () =>
      this.#db!.transaction(() => {
        // The queued counters move once per AS per group, not once per row.
        const added = new Map<string, number>();
        for (const { items, enqueuedAt } of batch) {
          for (const item of items) {
            const asIds = uniqueAsIds(item.asIds);
            if (asIds.length === 0) continue;
            const itemId = stmts.insertItem.run(item.kind, item.json, enqueuedAt, asIds.length).lastInsertRowid;
            for (const asId of asIds) {
              stmts.insertQueue.run(asId, itemId);
              added.set(asId, (added.get(asId) ?? 0) + 1);
            }
          }
        }
        for (const [asId, count] of added) stmts.addQueued.run(asId, count);
      }).immediate(),
    );
  }

  #open(): Statements {
    if (this.#state === 'open') return this.#stmts!;
    if (this.#state === 'new') throw new StoreError(`sqlite store ${this.#path}: call open() first`);
    throw new StoreError(`sqlite store ${this.#path}: the store is closed`);
  }

  /** SQLite failures become StoreErrors naming the file; our own errors pass through unchanged. */
  #sql<T>(operation: string, run: () => T): T {
    try {
      return run();
    } catch (err) {
      if (err instanceof Database.SqliteError) {
        throw new StoreError(`sqlite store ${this.#path}: ${operation} failed: ${err.message}`, { cause: err });
      }
      throw err;
    }
  }
}

function toTransaction(asId: string, row: TxnRow): StoredTransaction {
  return {
    asId,
    txnId: row.txn_id,
    body: row.body,
    counts: { event: row.event_count, ephemeral: row.ephemeral_count, toDevice: row.to_device_count },
  };
}
