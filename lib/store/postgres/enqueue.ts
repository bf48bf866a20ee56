/**
 * How PostgresStore writes an enqueue, and how other processes hear of it.
 *
 * Rows go in as multi-row INSERTs of unnested arrays (one statement per few thousand rows, all in
 * one transaction), in array order so that `seq` follows the call order. The last statement
 * also runs `pg_notify` with the AS ids concerned; PostgreSQL delivers it at commit, and only
 * then, to every session that LISTENs, so a rolled-back outbox enqueue wakes nobody.
 */
import type pg from 'pg';
import type { EnqueueItem } from '../store.ts';
import { uniqueAsIds } from '../check-input.ts';
import { GroupCommit } from '../group-commit.ts';
import { inTransaction, isQueryable, type Queryable } from './connection.ts';

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
  const insert = `INSERT INTO ${queueTable} (as_id, kind, json, enqueued_at)
    SELECT a, k, j, t FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) WITH ORDINALITY AS u(a, k, j, t, n)
    ORDER BY n`;
  let payload = JSON.stringify([...asIds]);
  if (Buffer.byteLength(payload) > MAX_NOTIFY_BYTES) payload = '*';
  return chunks.map((values, i) =>
    i < chunks.length - 1
      ? { text: insert, values }
      : // A data-modifying WITH runs whether or not the outer query reads it.
        { text: `WITH inserted AS (${insert}) SELECT pg_notify($5, $6)`, values: [...values, channel, payload] },
  );
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
    const rows = batch.reduce((n, { items }) => n + items.reduce((m, item) => m + item.asIds.length, 0), 0);
    await this.#sql('enqueue', () =>
      rows <= ROWS_PER_STATEMENT
        ? // One statement is atomic on its own: no BEGIN/COMMIT round trips.
          this.#insertRows(this.#pool, batch)
        : inTransaction(
            this.#pool,
            (client) => this.#insertRows(client, batch),
            () => true,
          ),
    );
  }

  /** Runs the INSERTs of the batch; the last one also NOTIFYs the ASes concerned. */
  async #insertRows(client: Queryable, batch: readonly PendingEnqueue[]): Promise<void> {
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
