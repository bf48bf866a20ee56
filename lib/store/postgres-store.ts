import pg from 'pg';
import { StoreError } from '../errors.ts';
import { fitsBytes, itemBytes } from './batch-bytes.ts';
import { checkEnqueueItems, checkLimits } from './check-input.ts';
import type { DeadLetter, OversizeSupport } from './dead-letters.ts';
import { postgresDeadLetters } from './dead-letters-postgres.ts';
import { GroupCommit } from './group-commit.ts';
import { acknowledgeAndCreate } from './postgres-acknowledge-create.ts';
import { EnqueueListeners, enqueueStatements, ROWS_PER_STATEMENT, type PendingEnqueue } from './postgres-enqueue.ts';
import { migratePostgres, quoteIdent } from './migrations/postgres/migrate.ts';
import {
  describeConnection, errorText, inTransaction, isQueryable, looksLikeConnectionString, type Queryable,
} from './postgres-connection.ts';
import { AdvisoryLocks } from './sender-lock.ts';
import type {
  Backlog, BatchLimits, EnqueueItem, EnqueueOptions, ItemKind, QueuedItem, SenderLock, Store, StoredTransaction,
} from './store.ts';

export interface PostgresStoreOptions {
  /** `postgres://user:password@host:port/database`. Needed unless `pool` is given. */
  readonly connectionString?: string;
  /** Use this pool instead of opening one; `close()` then leaves it open for its owner. */
  readonly pool?: pg.Pool;
  /** Size of the pool the store opens. Default 10. */
  readonly max?: number;
  /** Schema holding the tables, created when missing. Default `koa_appservice`. */
  readonly schema?: string;
  /** Give up connecting after this long. Default 10 000 ms. */
  readonly connectTimeoutMs?: number;
  /** How often a held sender lock checks its connection. Default 5000 ms; 0 turns it off. */
  readonly lockHeartbeatMs?: number;
}

const SCHEMA_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

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
  #dead: ReturnType<typeof postgresDeadLetters> | null = null;
  readonly #channel: string;
  readonly #listeners = new EnqueueListeners();
  #state: 'new' | 'open' | 'closing' | 'closed' = 'new';
  #opening: Promise<void> | null = null;
  #closed: Promise<void> | null = null;
  readonly #group = new GroupCommit<PendingEnqueue>((batch) => this.#commitEnqueues(batch));

  constructor(options: PostgresStoreOptions) {
    const { connectionString, pool, max = 10, schema = 'koa_appservice', connectTimeoutMs = 10_000, lockHeartbeatMs = 5000 } =
      options ?? {};
    if (!pool && (typeof connectionString !== 'string' || connectionString === '')) {
      throw new TypeError('PostgresStore: give options.connectionString or options.pool');
    }
    if (!pool && !looksLikeConnectionString(connectionString!)) {
      // Not echoed: a mistyped string may still hold a password.
      throw new TypeError('PostgresStore: options.connectionString must be a postgres://user:password@host:port/database URL');
    }
    if (typeof schema !== 'string' || !SCHEMA_NAME.test(schema)) {
      throw new TypeError('PostgresStore: options.schema must be a plain SQL identifier (letters, digits, _)');
    }
    if (!Number.isSafeInteger(max) || max < 1) throw new TypeError('PostgresStore: options.max must be a positive integer');
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
    this.#channel = `koa_appservice.${schema}`;
    this.#locks = new AdvisoryLocks(
      () => new pg.Client({
        ...config, keepAlive: true, connectionTimeoutMillis: connectTimeoutMs, application_name: 'koa-appservice sender lock',
        // Its queries never wait on a lock, so a slow one means a dead link: drop it, reconnect.
        query_timeout: Math.max(connectTimeoutMs, 5000),
      }),
      this.#where,
      lockHeartbeatMs,
    );
  }

  /** Connects and migrates. A failed open (server down) may be retried; opening twice is a no-op. */
  open(): Promise<void> {
    if (this.#state === 'open') return Promise.resolve();
    if (this.#state !== 'new') return Promise.reject(new StoreError(`PostgreSQL ${this.#where}: cannot reopen a closed store`));
    this.#opening ??= this.#open().then(
      () => void (this.#state = this.#state === 'new' ? 'open' : this.#state),
      (err: unknown) => {
        this.#opening = null;
        throw err;
      },
    );
    return this.#opening;
  }

  async #open(): Promise<void> {
    let client: pg.PoolClient;
    try {
      client = await this.#pool.connect();
    } catch (err) {
      throw new StoreError(`PostgreSQL ${this.#where}: cannot connect: ${errorText(err)}`, { cause: err });
    }
    try {
      await migratePostgres(client, this.#schema, this.#where);
      client.release();
    } catch (err) {
      client.release(true);
      if (err instanceof StoreError) throw err;
      throw new StoreError(`PostgreSQL ${this.#where}: cannot open: ${errorText(err)}`, { cause: err });
    }
  }

  enqueue(items: readonly EnqueueItem[], options?: EnqueueOptions): Promise<void> {
    try {
      this.#ready();
      checkEnqueueItems(items);
      // PostgreSQL text cannot hold U+0000. Refused here, it fails only its own caller instead of
      // the whole group commit. (JSON.stringify never writes it raw: it writes \u0000.)
      const nul = items.findIndex((item) => item.json.includes('\0'));
      if (nul >= 0) throw new TypeError(`enqueue(items): items[${nul}].json contains a raw NUL character, which PostgreSQL cannot store`);
    } catch (err) {
      return Promise.reject(err);
    }
    const outbox = options?.client;
    if (outbox !== undefined) {
      if (!isQueryable(outbox)) {
        return Promise.reject(new TypeError('enqueue(items, { client }): client must be a pg client (it has no query())'));
      }
      const batch = [{ items, enqueuedAt: Date.now() }];
      // No BEGIN/COMMIT: the caller's transaction decides.
      return this.#sql('enqueue', () => this.#insertRows(outbox, batch));
    }
    if (!items.some((item) => item.asIds.length > 0)) return Promise.resolve();
    return this.#group.add({ items, enqueuedAt: Date.now() });
  }

  async inFlight(asId: string): Promise<StoredTransaction | null> {
    this.#ready();
    const { rows } = await this.#sql('inFlight', () =>
      this.#pool.query<TxnRow>(
        `SELECT txn_id, body, event_count, ephemeral_count, to_device_count FROM ${this.#t('transactions')} WHERE as_id = $1`,
        [asId]));
    return rows[0] ? toTransaction(asId, rows[0]) : null;
  }

  async createTransaction(
    asId: string,
    limits: BatchLimits,
    build: (items: readonly QueuedItem[]) => string,
  ): Promise<StoredTransaction | null> {
    this.#ready();
    checkLimits(limits);
    // Look first without writing: an idle sender's polls then cost one read and no counter update.
    const { rows: [look] } = await this.#sql('createTransaction', () =>
      this.#pool.query<{ in_flight: string | null; pending: boolean }>(
        `SELECT (SELECT txn_id FROM ${this.#t('transactions')} WHERE as_id = $1) AS in_flight,
                EXISTS (SELECT 1 FROM ${this.#t('queue')} WHERE as_id = $1) AS pending`, [asId]));
    if (look?.in_flight != null) throw inFlightError(asId, look.in_flight);
    if (!look?.pending) return null;
    let buildError: { err: unknown } | null = null;
    const txn = await this.#sql('createTransaction', () => inTransaction(this.#pool, async (client) => {
      // Taking the counter row locks it: creations for one AS take turns across processes, and
      // each sees what the previous one committed.
      const { rows: [id] } = await client.query<{ txn_id: string }>(
        `INSERT INTO ${this.#t('as_state')} AS s (as_id, next_txn_id) VALUES ($1, 2)
         ON CONFLICT (as_id) DO UPDATE SET next_txn_id = s.next_txn_id + 1 RETURNING next_txn_id - 1 AS txn_id`, [asId]);
      const current = await client.query<{ txn_id: string }>(`SELECT txn_id FROM ${this.#t('transactions')} WHERE as_id = $1`, [asId]);
      if (current.rows[0]) throw inFlightError(asId, current.rows[0].txn_id);
      // No transaction is in flight, so every queued row of the AS is free to take.
      const { rows } = await client.query<{ seq: string; kind: ItemKind; json: string }>(
        `SELECT seq, kind, json FROM ${this.#t('queue')} WHERE as_id = $1 ORDER BY seq LIMIT $2`,
        [asId, limits.event + limits.ephemeral + limits.toDevice]);
      const counts: Record<ItemKind, number> = { event: 0, ephemeral: 0, toDevice: 0 };
      const items: QueuedItem[] = [];
      let bytes = 0;
      for (const row of rows) {
        const size = limits.bytes === undefined ? 0 : itemBytes(row.json);
        if (counts[row.kind] >= limits[row.kind] || !fitsBytes(limits, items.length, bytes, size)) break;
        bytes += size;
        counts[row.kind]++;
        items.push({ seq: Number(row.seq), kind: row.kind, json: row.json });
      }
      if (items.length === 0) return null; // rolls back: the id is not used up
      const txnId = Number(id!.txn_id);
      let body: string;
      try {
        body = build(items);
      } catch (err) {
        buildError = { err };
        throw err;
      }
      if (typeof body !== 'string') throw new TypeError('createTransaction(): build() must return a string');
      await client.query(
        `INSERT INTO ${this.#t('transactions')} (as_id, txn_id, body, event_count, ephemeral_count, to_device_count, seqs, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7::bigint[], $8)`,
        [asId, txnId, body, counts.event, counts.ephemeral, counts.toDevice, rows.slice(0, items.length).map((r) => r.seq), Date.now()]);
      return { asId, txnId, body, counts };
    }, (result) => result !== null)).catch((err: unknown) => {
      // A throwing build() reaches the caller as itself, not wrapped.
      throw buildError ? buildError.err : err;
    });
    return txn;
  }

  /** See `OversizeSupport` (lib/store/dead-letters.ts) for this and the dead-letter methods below. */
  async replaceInFlight(asId: string, txnId: number, limits: BatchLimits, build: (items: readonly QueuedItem[]) => string): Promise<StoredTransaction | null> {
    this.#ready();
    checkLimits(limits);
    if (!(await this.#sql('replaceInFlight', () => this.#deadLetters().dropInFlight(asId, txnId)))) return null;
    return this.createTransaction(asId, limits, build);
  }

  async setAside(asId: string, txnId: number, reason: string): Promise<number> {
    this.#ready();
    return this.#sql('setAside', () => this.#deadLetters().setAside(asId, txnId, reason));
  }

  async deadLetters(asId: string): Promise<readonly DeadLetter[]> {
    this.#ready();
    return this.#sql('deadLetters', () => this.#deadLetters().list(asId));
  }

  async replayDeadLetter(asId: string, id: number): Promise<boolean> {
    this.#ready();
    const letter = await this.#sql('replayDeadLetter', () => this.#deadLetters().get(asId, id));
    if (letter === undefined) return false;
    // Queued first, then forgotten: a crash in between leaves a duplicate to drop, never a loss.
    await this.enqueue([{ kind: letter.kind, json: letter.json, asIds: [asId] }]);
    return this.#sql('replayDeadLetter', () => this.#deadLetters().drop(asId, id));
  }

  async dropDeadLetter(asId: string, id: number): Promise<boolean> {
    this.#ready();
    return this.#sql('dropDeadLetter', () => this.#deadLetters().drop(asId, id));
  }

  #deadLetters(): ReturnType<typeof postgresDeadLetters> {
    this.#dead ??= postgresDeadLetters(this.#pool, this.#t);
    return this.#dead;
  }

  async acknowledge(asId: string, txnId: number): Promise<void> {
    this.#ready();
    // One statement, so atomic: the transaction row and its queue rows go together.
    await this.#sql('acknowledge', () => this.#pool.query(
      `WITH done AS (DELETE FROM ${this.#t('transactions')} WHERE as_id = $1 AND txn_id = $2 RETURNING seqs)
       DELETE FROM ${this.#t('queue')} WHERE as_id = $1 AND seq IN (SELECT unnest(seqs) FROM done)`, [asId, txnId]));
  }

  /**
   * `acknowledge` then `createTransaction` in one database transaction and four round trips
   * (see postgres-acknowledge-create.ts). When the creation fails the acknowledgement still
   * commits, and the creation's error is thrown.
   *
   * @example
   * ```ts
   * const next = await store.acknowledgeAndCreate('irc', sent.txnId, limits, build); // null: queue empty
   * ```
   */
  async acknowledgeAndCreate(
    asId: string,
    txnId: number,
    limits: BatchLimits,
    build: (items: readonly QueuedItem[]) => string,
  ): Promise<StoredTransaction | null> {
    this.#ready();
    checkLimits(limits);
    const outcome = await this.#sql('acknowledgeAndCreate', () => acknowledgeAndCreate(this.#pool, this.#t, asId, txnId, limits, build));
    // Outside #sql: a throwing build() reaches the caller as itself, not wrapped.
    if ('error' in outcome) throw outcome.error;
    return outcome.txn;
  }

  async backlog(asId: string): Promise<Backlog> {
    this.#ready();
    const { rows: [row] } = await this.#sql('backlog', () => this.#pool.query<{ size: string; oldest: string | null }>(
      `SELECT count(*) AS size,
              (SELECT enqueued_at FROM ${this.#t('queue')} WHERE as_id = $1 ORDER BY seq LIMIT 1) AS oldest
       FROM ${this.#t('queue')} WHERE as_id = $1`, [asId]));
    const size = Number(row?.size ?? 0);
    return { size, oldestEnqueuedAt: size > 0 && row?.oldest != null ? Number(row.oldest) : null };
  }

  /**
   * Makes this process the sender for `asId`, or returns null when another process is. The lock is
   * a session advisory lock on a connection of its own, keyed on the schema and the AS id.
   */
  async acquireSenderLock(asId: string): Promise<SenderLock | null> {
    this.#ready();
    return this.#locks.tryAcquire(`koa-appservice:sender:${this.#schema}:${asId}`);
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
    this.#closed ??= this.#close();
    return this.#closed;
  }

  async #close(): Promise<void> {
    const wasOpen = this.#state === 'open';
    this.#state = 'closing';
    try {
      if (wasOpen) await this.#group.flush().catch(() => {});
    } finally {
      await this.#locks.close();
      if (this.#ownsPool) await this.#pool.end().catch(() => {});
      this.#state = 'closed';
    }
  }

  async #commitEnqueues(batch: readonly PendingEnqueue[]): Promise<void> {
    if (this.#state === 'closed') throw new StoreError(`PostgreSQL ${this.#where}: the store is closed`);
    const rows = batch.reduce((n, { items }) => n + items.reduce((m, item) => m + item.asIds.length, 0), 0);
    await this.#sql('enqueue', () => rows <= ROWS_PER_STATEMENT
      // One statement is atomic on its own: no BEGIN/COMMIT round trips.
      ? this.#insertRows(this.#pool, batch)
      : inTransaction(this.#pool, (client) => this.#insertRows(client, batch), () => true));
  }

  /** Runs the INSERTs of the batch; the last one also NOTIFYs the ASes concerned (see postgres-enqueue.ts). */
  async #insertRows(client: Queryable, batch: readonly PendingEnqueue[]): Promise<void> {
    for (const statement of enqueueStatements(this.#t('queue'), batch, this.#channel)) await client.query(statement);
  }

  #ready(): void {
    if (this.#state === 'open') return;
    if (this.#state === 'new') throw new StoreError(`PostgreSQL ${this.#where}: call open() first`);
    throw new StoreError(`PostgreSQL ${this.#where}: the store is closed`);
  }

  /** Driver and server failures become StoreErrors naming the server; ours pass through as they are. */
  async #sql<T>(operation: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      if (err instanceof StoreError || err instanceof TypeError) throw err;
      throw new StoreError(`PostgreSQL ${this.#where}: ${operation} failed: ${errorText(err)}`, { cause: err });
    }
  }
}

interface TxnRow {
  txn_id: string;
  body: string;
  event_count: number;
  ephemeral_count: number;
  to_device_count: number;
}

function toTransaction(asId: string, row: TxnRow): StoredTransaction {
  return {
    asId,
    txnId: Number(row.txn_id),
    body: row.body,
    counts: { event: row.event_count, ephemeral: row.ephemeral_count, toDevice: row.to_device_count },
  };
}

function inFlightError(asId: string, txnId: string): StoreError {
  return new StoreError(`appservice "${asId}" already has transaction ${txnId} in flight`);
}
