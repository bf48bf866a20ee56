/**
 * How SqliteStore hands a stored transaction out again: from its row, and, for a row stored
 * without a body (schema version 5 on), with the body rebuilt from its items.
 *
 * A transaction's items are its AS's queue rows after the previous stored transaction's
 * `last_seq` (none before it: from the head of the queue) up to its own `last_seq`: transactions
 * take consecutive runs of the queue, and acknowledging or setting one aside deletes its run.
 * The sender's builder is pure, so those rows rebuild the bytes first sent.
 */
import type Database from 'better-sqlite3';
import { StoreError } from '../../errors.ts';
import { buildBody } from '../batch.ts';
import type { ItemKind, QueuedItem, StoredTransaction, TransactionBuilder } from '../store.ts';
import { TRANSACTION_COLUMNS, toStoredTransaction, type TransactionRow } from '../transaction-row.ts';
import { formatTxnId } from '../txn-id.ts';

/** A `transactions` row with its range's end. */
export interface SqliteTransactionRow extends TransactionRow {
  readonly txn_id: number;
  readonly last_seq: number;
}

/** The select list that fills a SqliteTransactionRow. */
export const SQLITE_TRANSACTION_COLUMNS = `${TRANSACTION_COLUMNS}, last_seq`;

/**
 * Bodies of transactions created ahead, kept in memory up to this many bytes in all (beyond it
 * they are rebuilt): handing one out then costs no read of its rows and no build.
 */
const CACHED_BYTES = 8 * 2 ** 20;

/** A body built when its transaction was created ahead (see `remember`). */
interface Built {
  readonly n: number;
  readonly lastSeq: number;
  readonly items: number;
  readonly build: TransactionBuilder;
  readonly body: string;
}

/** Rebuilds transactions stored without a body. */
export interface StoredTransactions {
  /**
   * The transaction of `row`: its stored body, or `build` over its items. `operation` names the
   * Store method in the TypeError thrown when a body must be rebuilt and no `build` was given.
   */
  toStored(
    operation: string,
    asId: string,
    row: SqliteTransactionRow,
    build: TransactionBuilder | undefined,
  ): StoredTransaction;
  /** Keeps the body `txn` was created with, for handing it out later (created ahead). */
  remember(asId: string, txn: StoredTransaction, lastSeq: number, build: TransactionBuilder): void;
  /**
   * False when the AS surely has no transaction stored behind the one in flight: then there is
   * nothing to look up. True means "maybe" (a creation ahead rolled back leaves it true).
   */
  mayHaveAhead(asId: string): boolean;
  /** A look-up found nothing stored behind the AS's transaction in flight. */
  noneAhead(asId: string): void;
  /**
   * After a write SQLite rolled back: `noneAhead` inside it is not undone with it, so the ASes
   * with transactions ahead in the file are added back (an AS kept here needlessly costs only a look-up).
   */
  rereadAhead(): void;
  /** Drops what `remember` kept for the AS's transactions up to counter `n` (acknowledged). */
  forget(asId: string, n: number): void;
}

/** The items of a transaction, by its counts. */
function itemCount(counts: StoredTransaction['counts']): number {
  return counts.event + counts.ephemeral + counts.toDevice + (counts.deviceList ?? 0) + (counts.keyCounts ?? 0);
}

/**
 * Prepares the statement that reads a transaction's items, on an open, migrated database.
 *
 * @example
 * const stored = storedTransactions(db);
 * const txn = row ? stored.toStored('inFlight', 'irc', row, build) : null;
 */
export function storedTransactions(db: Database.Database): StoredTransactions {
  const items = db
    .prepare<[string, string, number, number], [number, ItemKind, string]>(
      `SELECT seq, kind, json FROM queue WHERE as_id = ?
       AND seq > coalesce((SELECT max(last_seq) FROM transactions WHERE as_id = ? AND txn_id < ?), 0)
       AND seq <= ? ORDER BY seq`,
    )
    .raw();

  // A kept body stands for a row only when the AS, the counter, the last seq, the item count and
  // the builder all match: an AS's queued seqs are contiguous and a queued row never changes, so
  // the same count of rows ending at the same seq are the same items, and the same pure builder
  // gives the same bytes. That holds even for a body kept by a creation that was rolled back.
  const kept = new Map<string, Built[]>();
  let keptBytes = 0;
  // The ASes that may have transactions created ahead: only creations ahead (remember) add one, so
  // an AS not here has none, and the sender's look-up after each answer (nextStored, and the read
  // after an acknowledgement) costs no statement. With a thousand ASes that each get a transaction
  // now and then, the look-up found nothing nearly every time. One process per file: nothing else
  // creates ahead in this file meanwhile; those of an earlier run are read here.
  const aheadInFile = db
    .prepare<[], string>('SELECT as_id FROM transactions GROUP BY as_id HAVING count(*) > 1')
    .pluck();
  const ahead = new Set(aheadInFile.all());
  // A re-read that failed (the database failing as a whole): every AS may have some, until one succeeds.
  let unsure = false;

  return {
    mayHaveAhead: (asId) => unsure || ahead.has(asId),
    noneAhead: (asId) => void ahead.delete(asId),
    rereadAhead() {
      try {
        for (const asId of aheadInFile.all()) ahead.add(asId);
        unsure = false;
      } catch {
        unsure = true;
      }
    },
    remember(asId, txn, lastSeq, build) {
      ahead.add(asId);
      if (keptBytes + txn.body.length > CACHED_BYTES) return;
      const n = Number(txn.txnId.slice(txn.txnId.lastIndexOf('.') + 1));
      const list = kept.get(asId) ?? [];
      list.push({ n, lastSeq, items: itemCount(txn.counts), build, body: txn.body });
      kept.set(asId, list);
      keptBytes += txn.body.length;
    },
    forget(asId, n) {
      const list = kept.get(asId);
      if (list === undefined) return;
      const left = list.filter((b) => b.n > n);
      for (const b of list) if (b.n <= n) keptBytes -= b.body.length;
      if (left.length === 0) kept.delete(asId);
      else kept.set(asId, left);
    },
    toStored(operation, asId, row, build) {
      if (row.body !== null) return toStoredTransaction(asId, row);
      const txnId = formatTxnId(row.id_prefix, row.txn_id);
      if (build === undefined) {
        throw new TypeError(
          `SqliteStore.${operation}(): transaction ${txnId} of ${asId} is stored without its body; ` +
            'pass the TransactionBuilder it was created with, which rebuilds it',
        );
      }
      const expected =
        row.event_count + row.ephemeral_count + row.to_device_count + row.device_list_count + row.key_counts_count;
      const built = kept
        .get(asId)
        ?.find((b) => b.n === row.txn_id && b.lastSeq === row.last_seq && b.items === expected && b.build === build);
      if (built !== undefined) return toStoredTransaction(asId, row, built.body);
      const rows = items.all(asId, asId, row.txn_id, row.last_seq);
      // Fewer rows than counted would rebuild other bytes than were sent under this id: refuse.
      if (rows.length !== expected) {
        throw new StoreError(
          `sqlite store: transaction ${txnId} of ${asId} has ${expected} items, but ${rows.length} are queued for it`,
        );
      }
      const queued: QueuedItem[] = rows.map(([seq, kind, json]) => ({ seq, kind, json }));
      return toStoredTransaction(asId, row, buildBody(build, queued));
    },
  };
}
