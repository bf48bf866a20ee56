/**
 * PostgresStore's side of `OversizeSupport` (lib/store/dead-letters.ts). The `dead_letters` table
 * is created on first use (`IF NOT EXISTS`), outside the numbered migrations: a database without
 * dead letters never gets it.
 *
 * `replaceInFlight` and `setAside` are sender writes: like the sender's other writes they run in a
 * fenced database transaction (fence.ts), so a sender that has lost its lock changes nothing.
 * Splitting needs no transaction of its own beyond that: deleting a transaction row leaves its
 * items queued (a transaction only lists their seqs), so a crash between the delete and the
 * creation that follows loses nothing, and the refused id is gone either way.
 */
import type { DeadLetter, OversizeSupport } from '../dead-letters.ts';
import type { BatchLimits, EnqueueItem, ItemKind, QueuedItem, StoredTransaction } from '../store.ts';
import { parseTxnId } from '../txn-id.ts';
import type { StoreTables } from './connection.ts';
import { fencedTransaction } from './fence.ts';

type Build = (items: readonly QueuedItem[]) => string;

interface DeadLetterRow {
  id: string;
  kind: ItemKind;
  json: string;
  txn_id: string;
  reason: string;
  set_aside_at: string;
}

/** What the dead-letter code needs of its PostgresStore. */
export interface PostgresOversizeHost {
  /** The open store's tables; throws the store's StoreError when it is not open. */
  tables(): StoreTables;
  /** The AS's sender epoch held by this process (see fence.ts). */
  fence(asId: string): string | undefined;
  /** Called before a write that changes the AS's stored transactions otherwise than a sender's. */
  beforeChange(asId: string): Promise<void>;
  createTransaction(asId: string, limits: BatchLimits, build: Build): Promise<StoredTransaction | null>;
  enqueue(items: readonly EnqueueItem[]): Promise<void>;
  /** Runs `run`, turning driver failures into the store's StoreErrors. */
  sql<T>(operation: string, run: () => Promise<T>): Promise<T>;
}

/**
 * @example
 * ```ts
 * const oversize = new PostgresOversize(host);
 * await oversize.setAside('irc', txn.txnId, 'HTTP 413');
 * ```
 */
export class PostgresOversize implements OversizeSupport {
  readonly #host: PostgresOversizeHost;
  #created: Promise<unknown> | null = null;

  constructor(host: PostgresOversizeHost) {
    this.#host = host;
  }

  async replaceInFlight(
    asId: string,
    txnId: string,
    limits: BatchLimits,
    build: Build,
  ): Promise<StoredTransaction | null> {
    const tables = this.#host.tables();
    const key = parseTxnId(txnId);
    if (!key) return null;
    await this.#host.beforeChange(asId);
    const { t } = tables;
    const dropped = await this.#host.sql('replaceInFlight', () =>
      fencedTransaction(
        tables,
        asId,
        this.#host.fence(asId),
        // The ones created ahead go too: the new transaction takes the queue from its head again.
        (client) =>
          client.query(
            `DELETE FROM ${t('transactions')} WHERE as_id = $1 AND EXISTS (
               SELECT 1 FROM ${t('transactions')} WHERE as_id = $1 AND txn_id = $2 AND id_prefix = $3
               AND txn_id = (SELECT min(txn_id) FROM ${t('transactions')} WHERE as_id = $1))`,
            [asId, key.n, key.birth],
          ),
        () => true,
      ),
    );
    if ((dropped.rowCount ?? 0) === 0) return null;
    return this.#host.createTransaction(asId, limits, build);
  }

  /** One statement in a fenced transaction: the transaction goes, its items move to the dead letters. */
  async setAside(asId: string, txnId: string, reason: string): Promise<number> {
    const tables = this.#host.tables();
    const key = parseTxnId(txnId);
    if (!key) return 0;
    const { t } = tables;
    await this.#table();
    await this.#host.beforeChange(asId);
    const { rowCount } = await this.#host.sql('setAside', () =>
      fencedTransaction(
        tables,
        asId,
        this.#host.fence(asId),
        (client) =>
          client.query(
            `WITH done AS (DELETE FROM ${t('transactions')} WHERE as_id = $1 AND txn_id = $2 AND id_prefix = $3
                AND txn_id = (SELECT min(txn_id) FROM ${t('transactions')} WHERE as_id = $1) RETURNING seqs),
              moved AS (DELETE FROM ${t('queue')} WHERE as_id = $1 AND seq IN (SELECT unnest(seqs) FROM done) RETURNING seq, kind, json)
         INSERT INTO ${t('dead_letters')} (as_id, kind, json, txn_id, reason, set_aside_at)
         SELECT $1, kind, json, $4, $5, $6 FROM moved ORDER BY seq`,
            [asId, key.n, key.birth, txnId, reason, Date.now()],
          ),
        () => true,
      ),
    );
    return rowCount ?? 0;
  }

  async deadLetters(asId: string): Promise<readonly DeadLetter[]> {
    const { pool, t } = this.#host.tables();
    await this.#table();
    const { rows } = await this.#host.sql('deadLetters', () =>
      pool.query<DeadLetterRow>(
        `SELECT id, kind, json, txn_id, reason, set_aside_at FROM ${t('dead_letters')} WHERE as_id = $1 ORDER BY id`,
        [asId],
      ),
    );
    return rows.map((row) => ({
      id: Number(row.id),
      asId,
      kind: row.kind,
      json: row.json,
      txnId: row.txn_id,
      reason: row.reason,
      setAsideAt: Number(row.set_aside_at),
    }));
  }

  async replayDeadLetter(asId: string, id: number): Promise<boolean> {
    const { pool, t } = this.#host.tables();
    await this.#table();
    const {
      rows: [letter],
    } = await this.#host.sql('replayDeadLetter', () =>
      pool.query<{ kind: ItemKind; json: string }>(
        `SELECT kind, json FROM ${t('dead_letters')} WHERE as_id = $1 AND id = $2`,
        [asId, id],
      ),
    );
    if (letter === undefined) return false;
    // Queued first, then forgotten: a crash in between leaves a duplicate to drop, never a loss.
    await this.#host.enqueue([{ kind: letter.kind, json: letter.json, asIds: [asId] }]);
    return this.dropDeadLetter(asId, id);
  }

  async dropDeadLetter(asId: string, id: number): Promise<boolean> {
    const { pool, t } = this.#host.tables();
    await this.#table();
    const { rowCount } = await this.#host.sql('dropDeadLetter', () =>
      pool.query(`DELETE FROM ${t('dead_letters')} WHERE as_id = $1 AND id = $2`, [asId, id]),
    );
    return (rowCount ?? 0) > 0;
  }

  #table(): Promise<unknown> {
    const { pool, t } = this.#host.tables();
    this.#created ??= this.#host
      .sql('deadLetters', () =>
        pool.query(
          `CREATE TABLE IF NOT EXISTS ${t('dead_letters')} (
         id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
         as_id        text   NOT NULL,
         kind         text   NOT NULL,
         json         text   NOT NULL,
         txn_id       text   NOT NULL,
         reason       text   NOT NULL,
         set_aside_at bigint NOT NULL
       )`,
        ),
      )
      .catch((error: unknown) => {
        this.#created = null; // tried again next time
        throw error;
      });
    return this.#created;
  }
}
