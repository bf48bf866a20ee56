import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { OptionsError, StoreError } from '../../errors.ts';
import { storeDefaults } from '../../options.ts';
import { checkLimits } from '../batch.ts';
import { checkEnqueueItems } from '../check-input.ts';
import type { DeadLetter, OversizeSupport } from '../dead-letters.ts';
import { GroupCommit } from '../group-commit.ts';
import { StoreLifecycle } from '../lifecycle.ts';
import { NO_TXN, parseTxnId } from '../txn-id.ts';
import { CommitGroup } from './commit-group.ts';
import { migrateSqlite, sqliteSchemaVersion } from './migrate.ts';
import { sqliteDeadLetters, type SqliteDeadLetters } from './dead-letters.ts';
import { sqliteMigrations } from './migrations/index.ts';
import { sqliteOperations, type PendingEnqueue, type SqliteOperations } from './statements.ts';
import type {
  Backlog,
  BatchLimits,
  EnqueueItem,
  EnqueueOptions,
  Store,
  StoredTransaction,
  TransactionBuilder,
} from '../store.ts';

/**
 * SQLite opens a file it may not write read-only without a word, and reads go on working: a store
 * on it would start, and then fail every enqueue. Refuse at open instead, naming the path. The
 * probe writes the header's user_version (unchanged) in a transaction that is rolled back, so
 * nothing reaches the file; on a read-only file or directory the write itself is refused.
 */
function refuseReadOnly(db: Database.Database, path: string): void {
  try {
    const version = sqliteSchemaVersion(db);
    db.prepare('BEGIN IMMEDIATE').run();
    try {
      db.pragma(`user_version = ${version}`);
    } finally {
      db.prepare('ROLLBACK').run();
    }
  } catch (err) {
    if (!(err instanceof Database.SqliteError) || !err.code.startsWith('SQLITE_READONLY')) throw err;
    const file = resolve(path);
    throw new StoreError(
      `sqlite store ${path}: cannot open: ${file} is read-only, or its directory ${dirname(file)} is ` +
        '(the queue must be writable, and SQLite creates its -wal and -shm files beside it)',
      { cause: err },
    );
  }
}

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
  readonly #life: StoreLifecycle;
  #db: Database.Database | null = null;
  #ops: SqliteOperations | null = null;
  #deadLetterOps: SqliteDeadLetters | null = null;
  #commits: CommitGroup | null = null; // the senders' writes: many ASes' in one turn share a commit
  readonly #group = new GroupCommit<PendingEnqueue>((batch) => this.#commitEnqueues(batch));

  constructor(path: string, options: SqliteStoreOptions = {}) {
    if (typeof path !== 'string' || path === '')
      throw new OptionsError('path', 'must be a non-empty string', 'SqliteStore');
    const synchronous = options?.synchronous ?? storeDefaults.sqliteSynchronous;
    if (synchronous !== 'full' && synchronous !== 'normal') {
      throw new OptionsError(
        'synchronous',
        `must be "full" or "normal", got ${JSON.stringify(synchronous)}`,
        'SqliteStore',
      );
    }
    this.#path = path;
    this.#synchronous = synchronous;
    this.#life = new StoreLifecycle(`sqlite store ${path}`);
  }

  /** Opens the file, creating or migrating its schema. Idempotent; refuses a closed store. */
  open(): Promise<void> {
    return this.#life.open(() => this.#open());
  }

  #open(): void {
    let db: Database.Database | null = null;
    try {
      db = new Database(this.#path);
      refuseReadOnly(db, this.#path);
      // A database from a newer version is refused by migrateSqlite below, and left as it was.
      if (sqliteSchemaVersion(db) <= sqliteMigrations.length) {
        // WAL: readers never block the writer, and a commit is one append (plus one fsync when full).
        db.pragma('journal_mode = WAL');
        db.pragma(`synchronous = ${this.#synchronous}`);
        // After a burst (a long outage's backlog), give the WAL file's space back at checkpoints.
        db.pragma('journal_size_limit = 67108864');
      }
      migrateSqlite(db, this.#path);
      const birth = db.prepare<[], string>('SELECT birth FROM store_identity').pluck().get()!;
      this.#ops = sqliteOperations(db, this.#synchronous === 'full', birth);
      this.#commits = new CommitGroup(db, this.#synchronous === 'full', (op, err) => this.#wrap(op, err));
    } catch (err) {
      db?.close();
      if (err instanceof StoreError) throw err;
      throw this.#life.error(`cannot open: ${(err as Error).message}`, { cause: err });
    }
    this.#db = db;
  }

  enqueue(items: readonly EnqueueItem[], options?: EnqueueOptions): Promise<void> {
    try {
      this.#ready();
      if (options?.client !== undefined) {
        throw this.#life.error('cannot join a foreign transaction: enqueue({ client }) needs PostgresStore');
      }
      checkEnqueueItems(items);
    } catch (err) {
      return Promise.reject(err);
    }
    if (!items.some((item) => item.asIds.length > 0)) return Promise.resolve();
    return this.#group.add({ items, enqueuedAt: Date.now() });
  }

  /** `build` rebuilds the body, which is not stored (see stored-transactions.ts); without it, a TypeError. */
  async inFlight(asId: string, build?: TransactionBuilder): Promise<StoredTransaction | null> {
    const ops = this.#ready();
    return this.#sql('inFlight', () => ops.inFlight(asId, build));
  }

  /** The transaction created ahead after `txnId`, if there is one (see acknowledgeAndCreate); `build` as for inFlight. */
  async nextStored(asId: string, txnId: string, build?: TransactionBuilder): Promise<StoredTransaction | null> {
    const ops = this.#ready();
    const key = parseTxnId(txnId);
    if (!key) return null;
    return this.#sql('nextStored', () => ops.nextStored(asId, key, build));
  }

  async createTransaction(
    asId: string,
    limits: BatchLimits,
    build: TransactionBuilder,
  ): Promise<StoredTransaction | null> {
    const ops = this.#ready();
    checkLimits(limits);
    return this.#commits!.run('createTransaction', true, () => ops.createTransaction(asId, limits, build));
  }

  async acknowledge(asId: string, txnId: string): Promise<void> {
    const ops = this.#ready();
    // No fsync of its own (false), and none at all while a transaction created ahead follows (it
    // waits for the AS's next write: deferred-acks.ts). Lost, in a power cut or a crash, it only makes
    // the sender resend a transaction the AS already has, same id and body, which it deduplicates.
    await this.#commits!.run('acknowledge', false, () => ops.acknowledge(asId, parseTxnId(txnId) ?? NO_TXN));
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
    txnId: string,
    limits: BatchLimits,
    build: TransactionBuilder,
  ): Promise<StoredTransaction | null> {
    const ops = this.#ready();
    checkLimits(limits);
    const outcome = await this.#commits!.run('acknowledgeAndCreate', true, () =>
      ops.acknowledgeAndCreate(asId, parseTxnId(txnId) ?? NO_TXN, limits, build),
    );
    if ('error' in outcome) throw this.#wrap('createTransaction', outcome.error);
    return outcome.txn;
  }

  /** See `OversizeSupport` (lib/store/dead-letters.ts) for this and the dead-letter methods below. */
  async replaceInFlight(
    asId: string,
    txnId: string,
    limits: BatchLimits,
    build: TransactionBuilder,
  ): Promise<StoredTransaction | null> {
    const dead = this.#deadLetters();
    checkLimits(limits);
    return this.#sql('replaceInFlight', () => dead.replaceInFlight(asId, txnId, limits, build));
  }

  async setAside(asId: string, txnId: string, reason: string): Promise<number> {
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
    const ops = this.#ready();
    this.#deadLetterOps ??= this.#sql('deadLetters', () => sqliteDeadLetters(this.#db!, ops));
    return this.#deadLetterOps;
  }

  async backlog(asId: string): Promise<Backlog> {
    const ops = this.#ready();
    return this.#sql('backlog', () => ops.backlog(asId));
  }

  /** Commits the enqueues still gathering, then closes the database. Idempotent. */
  close(): Promise<void> {
    return this.#life.close(async (wasOpen) => {
      try {
        if (wasOpen) await this.#group.flush();
        this.#commits?.flush();
        this.#ops?.catchUpAll();
      } finally {
        this.#db?.close();
        this.#db = null;
        this.#ops = null;
        this.#deadLetterOps = null;
      }
    });
  }

  #commitEnqueues(batch: readonly PendingEnqueue[]): void {
    const ops = this.#ops;
    if (!ops) throw this.#life.error('the store is closed');
    this.#sql('enqueue', () => ops.enqueue(batch));
  }

  /** The operations of the open database; throws the lifecycle's StoreError otherwise. */
  #ready(): SqliteOperations {
    this.#life.assertOpen();
    return this.#ops!;
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
      // Out of a transaction now: whatever the failed write changed in the file was undone.
      if (this.#db?.open && !this.#db.inTransaction) this.#ops?.rolledBack();
      return this.#life.error(`${operation} failed: ${err.message}`, { cause: err });
    }
    return err;
  }
}
