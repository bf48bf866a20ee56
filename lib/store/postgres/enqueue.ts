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
