import Database from 'better-sqlite3';
import { StoreError } from '../errors.ts';
import { checkEnqueueItems, checkLimits } from './check-input.ts';
import type { DeadLetter, OversizeSupport } from './dead-letters.ts';
import { sqliteDeadLetters, type SqliteDeadLetters } from './dead-letters-sqlite.ts';
import { GroupCommit } from './group-commit.ts';
import { sqliteOperations, toStoredTransaction, type PendingEnqueue, type SqliteOperations } from './sqlite-statements.ts';
import { migrateSqlite, sqliteSchemaVersion } from './migrations/migrate-sqlite.ts';
import { sqliteMigrations } from './migrations/sqlite/index.ts';
import type {
  Backlog,
  BatchLimits,
  EnqueueItem,
  EnqueueOptions,
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
export class SqliteStore implements Store, OversizeSupport {
  readonly #path: string;
  readonly #synchronous: 'full' | 'normal';
  #db: Database.Database | null = null;
  #ops: SqliteOperations | null = null;
  #deadLetterOps: SqliteDeadLetters | null = null;
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
      this.#ops = sqliteOperations(db, this.#synchronous === 'full');
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
    const ops = this.#open();
    const row = this.#sql('inFlight', () => ops.inFlight(asId));
    return row ? toStoredTransaction(asId, row) : null;
  }

  /** The transaction created ahead after `txnId`, if there is one (see acknowledgeAndCreate). */
  async nextStored(asId: string, txnId: number): Promise<StoredTransaction | null> {
    const ops = this.#open();
    const row = this.#sql('nextStored', () => ops.nextStored(asId, txnId));
    return row ? toStoredTransaction(asId, row) : null;
  }

  async createTransaction(
    asId: string,
    limits: BatchLimits,
    build: (items: readonly QueuedItem[]) => string,
  ): Promise<StoredTransaction | null> {
    const ops = this.#open();
    checkLimits(limits);
    return this.#sql('createTransaction', () => ops.createTransaction(asId, limits, build));
  }

  async acknowledge(asId: string, txnId: number): Promise<void> {
    const ops = this.#open();
    // An acknowledgement needs no fsync of its own. The WAL is a log: losing this commit in a
    // power cut means losing every later one too, unless a later durable commit (an enqueue, the
    // next createTransaction) syncs it along. Lost, it only makes the sender resend a transaction
    // the AS already has, with the same id and body, which the AS must deduplicate anyway.
    // That halves the fsyncs of a sender that acknowledges without creating at once.
    this.#sql('acknowledge', () => ops.acknowledge(asId, txnId));
  }

  /**
   * `acknowledge` then `createTransaction` in one SQLite transaction: one commit (and, with
   * `synchronous: 'full'`, one fsync) per transaction sent instead of two. When the creation
   * fails the acknowledgement still commits, and the creation's error is thrown. When it has to
   * create, it also stores up to TRANSACTIONS_AHEAD full transactions after the one it returns,
   * in the same commit, and later calls hand those out with no fsync.
   *
   * @example
   * ```ts
   * let txn = await store.createTransaction('irc', limits, build);
   * while (txn) {
   *   await client.sendTransaction(String(txn.txnId), txn.body);
   *   txn = await store.acknowledgeAndCreate('irc', txn.txnId, limits, build);
   * }
   * ```
   */
  async acknowledgeAndCreate(
    asId: string,
    txnId: number,
    limits: BatchLimits,
    build: (items: readonly QueuedItem[]) => string,
  ): Promise<StoredTransaction | null> {
    const ops = this.#open();
    checkLimits(limits);
    const outcome = this.#sql('acknowledgeAndCreate', () => ops.acknowledgeAndCreate(asId, txnId, limits, build));
    if ('error' in outcome) throw this.#wrap('createTransaction', outcome.error);
    return outcome.txn;
  }

  /** See `OversizeSupport` (lib/store/dead-letters.ts) for this and the dead-letter methods below. */
  async replaceInFlight(asId: string, txnId: number, limits: BatchLimits, build: (items: readonly QueuedItem[]) => string): Promise<StoredTransaction | null> {
    const dead = this.#deadLetters();
    checkLimits(limits);
    return this.#sql('replaceInFlight', () => dead.replaceInFlight(asId, txnId, limits, build));
  }

  async setAside(asId: string, txnId: number, reason: string): Promise<number> {
    const dead = this.#deadLetters();
    return this.#sql('setAside', () => dead.setAside(asId, txnId, reason));
  }

  async deadLetters(asId: string): Promise<readonly DeadLetter[]> {
    const dead = this.#deadLetters();
    return this.#sql('deadLetters', () => dead.list(asId));
  }

  async replayDeadLetter(asId: string, id: number): Promise<boolean> {
    const dead = this.#deadLetters();
    // Behind the enqueues still gathering, so the replayed item is queued after them.
    await this.#group.flush();
    return this.#sql('replayDeadLetter', () => dead.replay(asId, id));
  }

  async dropDeadLetter(asId: string, id: number): Promise<boolean> {
    const dead = this.#deadLetters();
    return this.#sql('dropDeadLetter', () => dead.drop(asId, id));
  }

  #deadLetters(): SqliteDeadLetters {
    const ops = this.#open();
    this.#deadLetterOps ??= this.#sql('deadLetters', () => sqliteDeadLetters(this.#db!, ops));
    return this.#deadLetterOps;
  }

  async backlog(asId: string): Promise<Backlog> {
    const ops = this.#open();
    return this.#sql('backlog', () => ops.backlog(asId));
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
      this.#ops = null;
      this.#deadLetterOps = null;
      this.#state = 'closed';
    }
  }

  #commitEnqueues(batch: readonly PendingEnqueue[]): void {
    const ops = this.#ops;
    if (!ops) throw new StoreError(`sqlite store ${this.#path}: the store is closed`);
    this.#sql('enqueue', () => ops.enqueue(batch));
  }

  #open(): SqliteOperations {
    if (this.#state === 'open') return this.#ops!;
    if (this.#state === 'new') throw new StoreError(`sqlite store ${this.#path}: call open() first`);
    throw new StoreError(`sqlite store ${this.#path}: the store is closed`);
  }

  /** SQLite failures become StoreErrors naming the file; our own errors pass through unchanged. */
  #sql<T>(operation: string, run: () => T): T {
    try {
      return run();
    } catch (err) {
      throw this.#wrap(operation, err);
    }
  }

  #wrap(operation: string, err: unknown): unknown {
    if (err instanceof Database.SqliteError) {
      return new StoreError(`sqlite store ${this.#path}: ${operation} failed: ${err.message}`, { cause: err });
    }
    return err;
  }
}
