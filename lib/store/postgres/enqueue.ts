/**
 * How PostgresStore writes an enqueue, and how other processes hear of it.
 *
 * Rows go in with one `COPY … FROM STDIN`, in call order so that `seq` follows it, sent in the
 * same query string as a `pg_notify` with the AS ids concerned: one round trip, one transaction
 * (or the caller's). PostgreSQL delivers the notification at commit, and only then, to every
 * session that LISTENs, so a rolled-back outbox enqueue wakes nobody. COPY spares the driver
 * quoting every event into an array literal and the server parsing it back, and inserts its rows
 * in batches. A caller's client that cannot take COPY (not a `pg` client) gets multi-row INSERTs
 * of unnested arrays instead (one statement per few thousand rows).
 */
import type pg from 'pg';
import type { EnqueueItem } from '../store.ts';
import { uniqueAsIds } from '../check-input.ts';
import { GroupCommit } from '../group-commit.ts';
import { isQueryable, sqlLiteral, type Queryable } from './connection.ts';
import { copyField, copyIn, CopyLines } from './copy-in.ts';

export interface PendingEnqueue {
  readonly items: readonly EnqueueItem[];
  readonly enqueuedAt: number;
}

/** One multi-row INSERT carries at most this many rows: bounded parameter size, same transaction. */
export const ROWS_PER_STATEMENT = 5000;
/** NOTIFY payloads must stay under 8000 bytes; a larger set of AS ids is sent as `*` (all). */
const MAX_NOTIFY_BYTES = 7000;

type Columns = [asIds: string[], kinds: string[], jsons: string[], enqueuedAt: number[]];

/**
 * The statements that queue `batch` into `queueTable` and notify `channel`; none when no item
 * names an AS.
 *
 * @example
 * ```ts
 * for (const statement of enqueueStatements('"koa_appservice".queue', batch, 'koa_appservice.koa_appservice')) {
 *   await client.query(statement);
 * }
 * ```
 */
export function enqueueStatements(
  queueTable: string,
  batch: readonly PendingEnqueue[],
  channel: string,
): pg.QueryConfig[] {
  const { asIds, chunks } = columns(batch);
  const insert = `INSERT INTO ${queueTable} (as_id, kind, json, enqueued_at)
    SELECT a, k, j, t FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) WITH ORDINALITY AS u(a, k, j, t, n)
    ORDER BY n`;
  const payload = notifyPayload(asIds);
  return chunks.map((values, i) =>
    i < chunks.length - 1
      ? { text: insert, values }
      : // A data-modifying WITH runs whether or not the outer query reads it.
        { text: `WITH inserted AS (${insert}) SELECT pg_notify($5, $6)`, values: [...values, channel, payload] },
  );
}

/**
 * The query string and COPY data that queue `batch` into `queueTable` and notify `channel`, for
 * `copyIn`; null when no item names an AS.
 *
 * @example
 * ```ts
 * const copy = enqueueCopy('"koa_appservice".queue', batch, 'koa_appservice.koa_appservice');
 * if (copy) await copyIn(client, copy.sql, copy.data);
 * ```
 */
export function enqueueCopy(
  queueTable: string,
  batch: readonly PendingEnqueue[],
  channel: string,
): { sql: string; data: Buffer[] } | null {
  const lines = new CopyLines();
  const asIds = new Set<string>();
  // Each line is `as_id \t kind \t json \t enqueued_at \n`: the parts around the body repeat.
  const prefixes = new Map<string, Buffer>();
  for (const { items, enqueuedAt } of batch) {
    const suffix = Buffer.from(`\t${enqueuedAt}\n`);
    for (const item of items) {
      const unique = uniqueAsIds(item.asIds);
      if (unique.length === 0) continue;
      // One escaped copy of the body, however many ASes share it.
      const json = copyField(item.json);
      for (const asId of unique) {
        const key = `${item.kind}\t${asId}`;
        let prefix = prefixes.get(key);
        if (prefix === undefined) {
          prefix = Buffer.from(`${copyField(asId)}\t${copyField(item.kind)}\t`);
          prefixes.set(key, prefix);
        }
        lines.add(prefix, json, suffix);
        asIds.add(asId);
      }
    }
  }
  if (lines.lines === 0) return null;
  const sql =
    `COPY ${queueTable} (as_id, kind, json, enqueued_at) FROM STDIN; ` +
    `SELECT pg_notify(${sqlLiteral(channel)}, ${sqlLiteral(notifyPayload(asIds))})`;
  return { sql, data: lines.finish() };
}

function notifyPayload(asIds: ReadonlySet<string>): string {
  const payload = JSON.stringify([...asIds]);
  return Buffer.byteLength(payload) > MAX_NOTIFY_BYTES ? '*' : payload;
}

/** A pg client takes COPY; anything else with a `query()` (a wrapper, pg-native) gets INSERTs. */
function takesCopy(client: Queryable): boolean {
  const c = client as { connection?: { sendCopyFromChunk?: unknown }; pipeline?: unknown };
  // A client in pipeline mode refuses query objects of its own kind (the COPY is one).
  return typeof c.connection?.sendCopyFromChunk === 'function' && c.pipeline !== true;
}

function columns(batch: readonly PendingEnqueue[]): { asIds: Set<string>; chunks: Columns[] } {
  const chunks: Columns[] = [];
  const asIds = new Set<string>();
  let cols: Columns = [[], [], [], []];
  for (const { items, enqueuedAt } of batch) {
    for (const item of items) {
      for (const asId of uniqueAsIds(item.asIds)) {
        if (cols[0].length === 0) chunks.push(cols);
        cols[0].push(asId);
        cols[1].push(item.kind);
        cols[2].push(item.json);
        cols[3].push(enqueuedAt);
        asIds.add(asId);
        if (cols[0].length >= ROWS_PER_STATEMENT) cols = [[], [], [], []];
      }
    }
  }
  return { asIds, chunks };
}

/**
 * The write side of `PostgresStore.enqueue`, for items the store has checked: into the caller's
 * transaction (the outbox), or gathered with the other calls of this moment into one commit.
 *
 * @example
 * ```ts
 * const writer = new EnqueueWriter(pool, '"koa_appservice".queue', channel, (op, run) => run());
 * await writer.write([{ kind: 'event', json, asIds: ['irc'] }], undefined);
 * ```
 */
export class EnqueueWriter {
  readonly #pool: pg.Pool;
  readonly #queueTable: string;
  readonly #channel: string;
  /** Wraps driver failures as the store's errors (PostgresStore's `#sql`). */
  readonly #sql: <T>(operation: string, run: () => Promise<T>) => Promise<T>;
  readonly #group = new GroupCommit<PendingEnqueue>((batch) => this.#commit(batch));

  constructor(
    pool: pg.Pool,
    queueTable: string,
    channel: string,
    sql: <T>(operation: string, run: () => Promise<T>) => Promise<T>,
  ) {
    this.#pool = pool;
    this.#queueTable = queueTable;
    this.#channel = channel;
    this.#sql = sql;
  }

  /** `outbox`: the caller's pg client from `enqueue(items, { client })`, or undefined. */
  write(items: readonly EnqueueItem[], outbox: unknown): Promise<void> {
    // PostgreSQL text cannot hold U+0000. Refused here, it fails only its own caller instead of
    // the whole group commit. (JSON.stringify never writes it raw: it writes \u0000.)
    const nul = items.findIndex((item) => item.json.includes('\0'));
    if (nul >= 0) {
      return Promise.reject(
        new TypeError(`enqueue(items): items[${nul}].json contains a raw NUL character, which PostgreSQL cannot store`),
      );
    }
    if (outbox !== undefined) {
      if (!isQueryable(outbox)) {
        return Promise.reject(
          new TypeError('enqueue(items, { client }): client must be a pg client (it has no query())'),
        );
      }
      const batch = [{ items, enqueuedAt: Date.now() }];
      // No BEGIN/COMMIT: the caller's transaction decides.
      return this.#sql('enqueue', () => this.#insertRows(outbox, batch));
    }
    if (!items.some((item) => item.asIds.length > 0)) return Promise.resolve();
    return this.#group.add({ items, enqueuedAt: Date.now() });
  }

  /** Commits the enqueues still gathering. */
  flush(): Promise<void> {
    return this.#group.flush();
  }

  async #commit(batch: readonly PendingEnqueue[]): Promise<void> {
    const copy = enqueueCopy(this.#queueTable, batch, this.#channel);
    if (copy === null) return;
    await this.#sql('enqueue', async () => {
      // The query string is its own transaction: no BEGIN/COMMIT round trips.
      const client = await this.#pool.connect();
      // A connection lost while checked out is an 'error' event on the client (fatal unheard); the
      // COPY's promise carries it.
      const ignore = (): void => {};
      client.on('error', ignore);
      try {
        if (takesCopy(client)) await copyIn(client, copy.sql, copy.data);
        else await this.#insertInTransaction(client, batch);
      } catch (err) {
        // A client that failed mid-COPY is not worth the doubt: destroy it rather than reuse it.
        client.release(err instanceof Error ? err : true);
        throw err;
      } finally {
        client.removeListener('error', ignore);
      }
      client.release();
    });
  }

  /** The INSERT path on a pool client of our own, for a pool whose clients refuse the COPY. */
  async #insertInTransaction(client: Queryable, batch: readonly PendingEnqueue[]): Promise<void> {
    await client.query({ text: 'BEGIN' });
    try {
      await this.#insertRows(client, batch);
      await client.query({ text: 'COMMIT' });
    } catch (err) {
      await client.query({ text: 'ROLLBACK' }).catch(() => {});
      throw err;
    }
  }

  /** Writes the batch; the same string or last statement also NOTIFYs the ASes concerned. */
  async #insertRows(client: Queryable, batch: readonly PendingEnqueue[]): Promise<void> {
    if (takesCopy(client)) {
      const copy = enqueueCopy(this.#queueTable, batch, this.#channel);
      if (copy !== null) await copyIn(client, copy.sql, copy.data);
      return;
    }
    for (const statement of enqueueStatements(this.#queueTable, batch, this.#channel)) await client.query(statement);
  }
}

/** The `onEnqueued` listeners of one store, fed with NOTIFY payloads. */
export class EnqueueListeners {
  readonly #listeners = new Set<(asIds: readonly string[] | null) => void>();

  get size(): number {
    return this.#listeners.size;
  }

  /** Adds a listener; returns the function that removes it. */
  add(listener: (asIds: readonly string[] | null) => void): () => void {
    this.#listeners.add(listener);
    return () => void this.#listeners.delete(listener);
  }

  /** `payload`: a JSON array of AS ids, `*`, or null after a reconnect (something may have been missed). */
  dispatch(payload: string | null): void {
    let asIds: readonly string[] | null = null;
    if (payload !== null && payload !== '*') {
      try {
        asIds = JSON.parse(payload) as string[];
      } catch {
        asIds = null;
      }
    }
    for (const listener of this.#listeners) {
      try {
        listener(asIds);
      } catch {
        // A listener's failure is its own; the others still hear about the enqueue.
      }
    }
  }
}
