import pg from 'pg';
import { StoreError } from '../../errors.ts';
import { checkLimits } from '../batch.ts';
import { checkEnqueueItems } from '../check-input.ts';
import type { OversizeSupport } from '../dead-letters.ts';
import { StoreLifecycle } from '../lifecycle.ts';
import type {
  Backlog,
  BatchLimits,
  EnqueueItem,
  EnqueueOptions,
  SenderLock,
  Store,
  StoredTransaction,
  TransactionBuilder,
} from '../store.ts';
import { acknowledge } from './acknowledge.ts';
import { acknowledgeAndCreate } from './acknowledge-create.ts';
import { AdvisoryLocks } from './advisory-locks.ts';
import { readBacklog } from './backlog.ts';
import { describeConnection, errorText, type StoreTables } from './connection.ts';
import { createTransaction } from './create-transaction.ts';
import { PostgresOversize } from './dead-letters.ts';
import { bumpSenderEpoch, REVOKED, SenderFences } from './fence.ts';
import { EnqueueListeners, EnqueueWriter } from './enqueue.ts';
import { migratePostgres, quoteIdent } from './migrate.ts';
import { settleCreation, StoredCache } from './stored-cache.ts';
import { readInFlight, readNextStored } from './stored-row.ts';
import { resolvePostgresOptions, type PostgresStoreOptions } from './options.ts';

export type { PostgresStoreOptions } from './options.ts';

/**
 * A `Store` on PostgreSQL for homeservers that run several processes on one database. Each
 * process opens its own PostgresStore; `acquireSenderLock` makes exactly one of them the sender
 * for each AS (an advisory lock that PostgreSQL frees when its holder dies), and `enqueue` can
 * join the homeserver's own transaction so an event and its queue entries commit together.
 * Concurrent `enqueue()` calls of one process share one commit (group commit).
 *
 * @example
 * ```ts
 * import { PostgresStore } from 'koa-appservice/postgres';
 *
 * const store = new PostgresStore({ connectionString: process.env.DATABASE_URL, max: 10 });
 * await store.open(); // creates or migrates the koa_appservice schema
 * // Outbox: the queue entries commit or roll back with the homeserver's event write.
 * const client = await homeserverPool.connect();
 * await client.query('BEGIN');
 * await client.query('INSERT INTO events ...');
 * await store.enqueue([{ kind: 'event', json, asIds: ['irc'] }], { client });
 * await client.query('COMMIT');
 * ```
 */
export class PostgresStore implements Store, OversizeSupport {
  readonly #pool: pg.Pool;
  readonly #ownsPool: boolean;
  readonly #schema: string;
  readonly #t: (table: string) => string;
  readonly #where: string;
  readonly #locks: AdvisoryLocks;
  readonly #channel: string;
  readonly #listeners = new EnqueueListeners();
  readonly #writer: EnqueueWriter;
  readonly #life: StoreLifecycle;
  /** Set by open(): the store's birth is read from the database. */
  #tables: StoreTables | null = null;
  readonly #fences = new SenderFences();
  readonly #stored = new StoredCache();
  readonly #oversize = new PostgresOversize({
    tables: () => (this.#ready(), this.#tables!),
    fence: (asId) => this.#fences.get(asId),
    // What this process holds back or remembers of the AS is written, then forgotten (stored-cache.ts).
    beforeChange: (asId) => this.#catchUp(asId).then(() => this.#stored.forget(asId)),
    sql: (op, run) => this.#sql(op, run),
    createTransaction: (asId, limits, build) => this.createTransaction(asId, limits, build),
    enqueue: (items) => this.enqueue(items),
  });

  constructor(options: PostgresStoreOptions) {
    const { connectionString, pool, max, schema, connectTimeoutMs, lockHeartbeatMs } = resolvePostgresOptions(options);
    const config: pg.PoolConfig = pool
      ? { ...pool.options, password: pool.options.password }
      : { connectionString, max, connectionTimeoutMillis: connectTimeoutMs };
    this.#ownsPool = !pool;
    this.#pool = pool ?? new pg.Pool(config);
    // An idle client whose server went away emits 'error' on the pool; unhandled it would crash
    // the homeserver. The pool drops that client; the next query reconnects or fails as a StoreError.
    if (this.#ownsPool) this.#pool.on('error', () => {});
    this.#schema = schema;
    const id = quoteIdent(schema);
    this.#t = (table) => `${id}.${table}`;
    this.#where = describeConnection(connectionString, config);
    this.#life = new StoreLifecycle(`PostgreSQL ${this.#where}`);
    this.#channel = `koa_appservice.${schema}`;
    this.#writer = new EnqueueWriter(this.#pool, this.#t('queue'), this.#channel, (op, run) => this.#sql(op, run));
    this.#locks = AdvisoryLocks.forConfig(config, connectTimeoutMs, this.#where, lockHeartbeatMs);
  }

  /** Connects and migrates. A failed open (server down) may be retried; opening twice is a no-op. */
  open(): Promise<void> {
    return this.#life.open(() => this.#open());
  }

  async #open(): Promise<void> {
    let client: pg.PoolClient;
    try {
      client = await this.#pool.connect();
    } catch (err) {
      throw this.#life.error(`cannot connect: ${errorText(err)}`, { cause: err });
    }
    try {
      await migratePostgres(client, this.#schema, this.#where);
      const {
        rows: [identity],
      } = await client.query<{ birth: string }>(`SELECT birth FROM ${this.#t('store_identity')}`);
      this.#tables = { pool: this.#pool, t: this.#t, birth: identity!.birth };
      client.release();
    } catch (err) {
      client.release(true);
      if (err instanceof StoreError) throw err;
      throw this.#life.error(`cannot open: ${errorText(err)}`, { cause: err });
    }
  }

  enqueue(items: readonly EnqueueItem[], options?: EnqueueOptions): Promise<void> {
    try {
      this.#ready();
      checkEnqueueItems(items);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#writer.write(items, options?.client);
  }

  /**
   * The AS's transaction in flight. Transactions keep no body (each event is written once, as its
   * queue row): it is rebuilt from the transaction's items with `build`; without `build` that
   * rejects with a TypeError (see `Store.inFlight`). Rows stored before schema version 5 keep theirs.
   */
  async inFlight(asId: string, build?: TransactionBuilder): Promise<StoredTransaction | null> {
    this.#ready();
    await this.#catchUp(asId);
    return this.#sql('inFlight', () => readInFlight(this.#tables!, asId, build));
  }

  /** The transaction created ahead after `txnId`, if there is one (see acknowledgeAndCreate); `build` as for inFlight. */
  async nextStored(asId: string, txnId: string, build?: TransactionBuilder): Promise<StoredTransaction | null> {
    this.#ready();
    // What this process stored in its last creation, unless its sender lock is gone (stored-cache.ts).
    const cached = this.#fences.get(asId) === REVOKED ? undefined : this.#stored.next(asId, txnId, build);
    return cached !== undefined
      ? cached
      : this.#sql('nextStored', () => readNextStored(this.#tables!, asId, txnId, build));
  }

  async createTransaction(asId: string, limits: BatchLimits, build: TransactionBuilder) {
    this.#ready();
    checkLimits(limits);
    await this.#catchUp(asId);
    return settleCreation(this.#stored, asId, () =>
      this.#sql('createTransaction', () =>
        createTransaction(this.#tables!, asId, this.#fences.get(asId), limits, build),
      ),
    );
  }

  async acknowledge(asId: string, txnId: string): Promise<void> {
    this.#ready();
    const fence = this.#fences.get(asId);
    if (fence !== REVOKED && this.#stored.defer(asId, txnId)) return; // written with the AS's next write
    await this.#write(asId, [...this.#stored.pending(asId), txnId]);
    this.#stored.acknowledged(asId, txnId);
  }

  /**
   * `acknowledge` then `createTransaction` in one database transaction and two round trips
   * (see acknowledge-create.ts). When it has to create, it also stores up to TRANSACTIONS_AHEAD
   * full transactions after the one it returns, in the same commit; later calls (and
   * `nextStored`) hand those out. When the creation fails the acknowledgement still commits, and
   * the creation's error is thrown.
   *
   * @example
   * ```ts
   * const next = await store.acknowledgeAndCreate('irc', sent.txnId, limits, build); // null: queue empty
   * ```
   */
  async acknowledgeAndCreate(asId: string, txnId: string, limits: BatchLimits, build: TransactionBuilder) {
    this.#ready();
    checkLimits(limits);
    const [fence, held] = [this.#fences.get(asId), this.#stored.pending(asId)];
    const seqs = this.#stored.seqs(asId, [...held, txnId]);
    return settleCreation(this.#stored, asId, () =>
      this.#sql('acknowledgeAndCreate', () =>
        acknowledgeAndCreate(this.#tables!, asId, fence, txnId, limits, build, held, seqs),
      ),
    );
  }

  /** `OversizeSupport` (lib/store/dead-letters.ts): these five are in ./dead-letters.ts. */
  replaceInFlight(...a: Parameters<OversizeSupport['replaceInFlight']>) {
    return this.#oversize.replaceInFlight(...a);
  }
  setAside(...a: Parameters<OversizeSupport['setAside']>) {
    return this.#oversize.setAside(...a);
  }
  deadLetters(...a: Parameters<OversizeSupport['deadLetters']>) {
    return this.#oversize.deadLetters(...a);
  }
  replayDeadLetter(...a: Parameters<OversizeSupport['replayDeadLetter']>) {
    return this.#oversize.replayDeadLetter(...a);
  }
  dropDeadLetter(...a: Parameters<OversizeSupport['dropDeadLetter']>) {
    return this.#oversize.dropDeadLetter(...a);
  }

  async backlog(asId: string): Promise<Backlog> {
    this.#ready();
    await this.#catchUp(asId);
    return this.#sql('backlog', () => readBacklog(this.#tables!, asId));
  }

  /**
   * Makes this process the sender for `asId`, or returns null when another process is. The lock is
   * a session advisory lock on a connection of its own, keyed on the schema and the AS id; winning
   * it also increments the AS's sender epoch, which fences this process's writes for the AS from
   * then until the lock is lost or released (see fence.ts).
   */
  async acquireSenderLock(asId: string): Promise<SenderLock | null> {
    this.#ready();
    const lock = await this.#locks.tryAcquire(`koa-appservice:sender:${this.#schema}:${asId}`);
    if (!lock) return null;
    this.#stored.forget(asId); // another process may have sent for the AS meanwhile
    return this.#fences.hold(
      asId,
      lock,
      () => this.#sql('acquireSenderLock', () => bumpSenderEpoch(this.#tables!, asId)),
      () => this.#catchUp(asId),
    );
  }

  /**
   * Calls `listener` after an enqueue commits in any process sharing the database (this one
   * included), with the AS ids concerned, or null when they are unknown (many of them, or after a
   * reconnect that may have missed some): a standby-turned-sender in another process learns that
   * there is work without polling. Rides on the sender-lock connection (LISTEN/NOTIFY).
   * Returns the function that unsubscribes.
   *
   * @example
   * ```ts
   * const off = store.onEnqueued((asIds) => (asIds ?? allIds).forEach((id) => senders.get(id)?.notify()));
   * ```
   */
  onEnqueued(listener: (asIds: readonly string[] | null) => void): () => void {
    this.#ready();
    if (this.#listeners.size === 0) this.#locks.listen(this.#channel, (payload) => this.#listeners.dispatch(payload));
    return this.#listeners.add(listener);
  }

  /** Commits the enqueues still gathering, frees the sender locks and ends the pool it opened. Idempotent. */
  close(): Promise<void> {
    return this.#life.close(async (wasOpen) => {
      try {
        if (wasOpen) await this.#writer.flush().catch(() => {});
        for (const asId of this.#stored.pendingAsIds()) await this.#catchUp(asId).catch(() => {});
      } finally {
        await this.#locks.close();
        if (this.#ownsPool) await this.#pool.end().catch(() => {});
      }
    });
  }

  /** Writes the AS's acknowledgements held back (stored-cache.ts), before a read or write of the AS. */
  async #catchUp(asId: string): Promise<void> {
    const txnIds = this.#stored.pending(asId);
    if (txnIds.length > 0) await this.#write(asId, txnIds);
  }

  #write(asId: string, txnIds: readonly string[]): Promise<void> {
    const fence = this.#fences.get(asId);
    const seqs = this.#stored.seqs(asId, txnIds);
    return this.#stored.writing(asId, txnIds, () =>
      this.#sql('acknowledge', () => acknowledge(this.#tables!, asId, fence, txnIds, seqs)),
    );
  }

  #ready(): void {
    this.#life.assertOpen();
  }

  /** Driver and server failures become StoreErrors naming the server; ours pass through as they are. */
  async #sql<T>(operation: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      if (err instanceof StoreError || err instanceof TypeError) throw err;
      throw this.#life.error(`${operation} failed: ${errorText(err)}`, { cause: err });
    }
  }
}
