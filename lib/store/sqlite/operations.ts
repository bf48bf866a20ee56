/**
 * The types of SqliteStore's operations (statements.ts), apart so that the files around them
 * (the store, its dead letters, its deferred acknowledgements) can name them.
 */
import type { Backlog, BatchLimits, EnqueueItem, StoredTransaction, TransactionBuilder } from '../store.ts';

type Build = TransactionBuilder;

/** A transaction id taken apart (see txn-id.ts). */
export interface TxnKey {
  readonly birth: string;
  readonly n: number;
}

export interface PendingEnqueue {
  readonly items: readonly EnqueueItem[];
  readonly enqueuedAt: number;
}

/** What `acknowledgeAndCreate` hands back from inside the SQLite transaction. */
export type CreateOutcome = { txn: StoredTransaction | null } | { error: unknown };

/** SqliteStore's operations on one open database; each runs in its own IMMEDIATE transaction. */
export interface SqliteOperations {
  enqueue(batch: readonly PendingEnqueue[]): void;
  /** `build` rebuilds a body stored as NULL; without it such a transaction is a TypeError. */
  inFlight(asId: string, build: Build | undefined): StoredTransaction | null;
  /** The transaction stored after `txnId` (created ahead), if any. */
  nextStored(asId: string, txn: TxnKey, build: Build | undefined): StoredTransaction | null;
  createTransaction(asId: string, limits: BatchLimits, build: Build): StoredTransaction | null;
  /** Deferred (deferred-acks.ts) when a transaction created ahead follows `txn`. */
  acknowledge(asId: string, txn: TxnKey): void;
  /** Writes the AS's deferred acknowledgements: inside the caller's transaction, or in one of their own. */
  catchUp(asId: string): void;
  /** `catchUp` for every AS (before the database closes). */
  catchUpAll(): void;
  /**
   * Returns the next transaction created ahead when there is one; otherwise creates it, and up
   * to TRANSACTIONS_AHEAD full ones after it, in the same commit. The acknowledgement commits
   * even when the creation fails: that error is returned, not thrown.
   */
  acknowledgeAndCreate(asId: string, txn: TxnKey, limits: BatchLimits, build: Build): CreateOutcome;
  backlog(asId: string): Backlog;
  /** After a write that SQLite rolled back: what is kept in memory about the file is read again where it may be wrong. */
  rolledBack(): void;
}
