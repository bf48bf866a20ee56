/**
 * Fencing PostgresStore's writes to the sender that may make them.
 *
 * The advisory lock that elects a sender lives on a connection of its own; the writes go through
 * the pool. Without a fence, a sender that has lost its lock (SIGKILLed, or its lock connection
 * terminated) can still commit a write it had started, after another process has become the
 * sender and read the store: the new sender then finds a transaction "in flight" it never saw, or
 * creates a transaction from rows the old one has just acknowledged, and the AS gets those events
 * twice under two ids.
 *
 * So each AS has an epoch (`as_state.sender_epoch`). Winning the lock increments it; every write
 * transaction of a sender first takes the AS's `as_state` row `FOR UPDATE` and checks that the
 * epoch is still the one it got. The row lock orders every write against the increment: a write
 * that holds the row first commits before the new sender's increment (which waits for the row),
 * so the new sender reads after it; a write that comes after the increment sees the new epoch
 * and changes nothing. Under READ COMMITTED each later statement of the write reads a snapshot
 * taken after the row lock was granted, so it sees everything the previous holder committed.
 */
import type pg from 'pg';
import { InFlightMismatchError } from '../../errors.ts';
import type { SenderLock } from '../store.ts';
import { inTransaction, sqlLiteral, type Ending, type StoreTables } from './connection.ts';

/** A fence no epoch matches: the process held the lock once and has lost or released it. */
export const REVOKED = '-1';

/**
 * A write refused because this process is no longer the AS's sender. An InFlightMismatchError, so
 * that a sender re-reads the store rather than back off, as for any other surprise about what
 * is in flight; nothing was written.
 *
 * @example
 * if (err instanceof SenderFencedError) await lock.release(); // another process sends now
 */
export class SenderFencedError extends InFlightMismatchError {
  constructor(asId: string) {
    super(asId);
    this.message = `appservice "${asId}": this process is no longer its sender (another process took over); nothing was written`;
  }
}

/**
 * Increments the AS's sender epoch and returns it: called by a process that has just won the
 * AS's sender lock, before it reads anything. Waits while a write holds the AS's row, so that
 * what the previous sender committed is visible to the reads that follow.
 *
 * @example
 * ```ts
 * const epoch = await bumpSenderEpoch(tables, 'irc');
 * ```
 */
export async function bumpSenderEpoch({ pool, t }: StoreTables, asId: string): Promise<string> {
  const {
    rows: [row],
  } = await pool.query<{ sender_epoch: string }>(
    `INSERT INTO ${t('as_state')} AS s (as_id, sender_epoch) VALUES ($1, 1)
     ON CONFLICT (as_id) DO UPDATE SET sender_epoch = s.sender_epoch + 1 RETURNING sender_epoch`,
    [asId],
  );
  return row!.sender_epoch;
}

/**
 * The sender's reads of a queue's head (`WHERE as_id = $1 ORDER BY seq LIMIT n`) must walk the
 * `(as_id, seq)` index in order. A queue table's statistics are always stale (it churns faster
 * than autovacuum analyzes it), and on a stale estimate the planner picks a bitmap scan of every
 * row of the AS and a sort: with a backlog that is every queued row read per transaction, and a
 * bitmap scan never marks the dead index entries of acknowledged rows, so they pile up at the
 * head for the next read. An ordered index scan stops after n live rows and marks the dead
 * entries it passes, so the next read skips them. Local to the sender's write transaction.
 */
export const QUEUE_SCAN_SETTINGS = 'SET LOCAL enable_bitmapscan = off; SET LOCAL enable_seqscan = off;';

/**
 * The statements that lock the AS's `as_state` row (created first when the AS has none yet) and
 * read its sender epoch. The row always exists to be locked, so every sender write of an AS
 * waits for the one before it, including the very first ones of a new AS: that, not a key on
 * `transactions`, is what keeps two creations for one AS from both seeing nothing in flight.
 * The INSERT writes nothing when the row exists, and waits only while another session's insert
 * of it is uncommitted.
 */
export function lockAsState(t: (table: string) => string, asIdSql: string): string {
  return (
    `INSERT INTO ${t('as_state')} (as_id) VALUES (${asIdSql}) ON CONFLICT (as_id) DO NOTHING; ` +
    `SELECT sender_epoch FROM ${t('as_state')} WHERE as_id = ${asIdSql} FOR UPDATE;`
  );
}

/**
 * Runs `work` in a database transaction that first locks the AS's `as_state` row, and checks
 * `fence` (the epoch this process got with the lock; undefined when it never took the lock,
 * as in single-process use, then only the row lock orders the write). Commits when `commit(result)`
 * says so; a failed check rolls back and rejects with SenderFencedError, having written nothing.
 * BEGIN, the queue scan settings and the lock go in one round trip, with `first` when given: more
 * statements (parameters inlined as literals), run after the lock, whose results `work` gets (the
 * last one's, and all of them in order).
 *
 * @example
 * ```ts
 * await fencedTransaction(tables, 'irc', fence, async (client) => client.query('DELETE ...'), () => true);
 * ```
 */
export async function fencedTransaction<T>(
  { pool, t }: StoreTables,
  asId: string,
  fence: string | undefined,
  work: (client: pg.PoolClient, first: pg.QueryResult | undefined, all: readonly pg.QueryResult[]) => Promise<T>,
  commit: (result: T) => Ending,
  first?: string,
): Promise<T> {
  type Begun = { last: pg.QueryResult | undefined; all: pg.QueryResult[] };
  const run = (client: pg.PoolClient, begun: Begun): Promise<T> => work(client, begun.last, begun.all);
  return inTransaction<T, Begun>(pool, run, commit, async (client) => {
    // Several statements in one simple query, so no parameters: the AS id goes in as a literal.
    const results = (await client.query(
      `BEGIN; ${QUEUE_SCAN_SETTINGS} ${lockAsState(t, sqlLiteral(asId))}${first ?? ''}`,
    )) as unknown as pg.QueryResult[];
    // The first SELECT is the lock's (BEGIN, the settings and the INSERT come before it).
    const at = results.findIndex((result) => result.command === 'SELECT');
    const epoch = (results[at]?.rows[0] as { sender_epoch: string } | undefined)?.sender_epoch;
    // `first` ran after the lock, in this transaction: a refusal rolls it back with the rest.
    if (fence !== undefined && epoch !== fence) throw new SenderFencedError(asId);
    const all = results.slice(at + 1);
    return { last: all.at(-1), all };
  });
}

/**
 * Per AS, the epoch this process got with the AS's sender lock (REVOKED once the lock is gone):
 * the `fence` its writes are checked against.
 *
 * @example
 * ```ts
 * const held = await fences.hold('irc', lock, () => bumpSenderEpoch(tables, 'irc'));
 * await fencedTransaction(tables, 'irc', fences.get('irc'), work, () => true);
 * ```
 */
export class SenderFences {
  readonly #fences = new Map<string, string>();

  /** Undefined when this process never took the AS's lock (single-process use). */
  get(asId: string): string | undefined {
    return this.#fences.get(asId);
  }

  /**
   * Takes a lock just won: bumps the AS's epoch before anything is read (from then on a write of
   * the previous sender either committed already or is refused), and returns the lock with its
   * release revoking the fence. Releases the lock and rethrows when the bump fails.
   * `beforeRelease` runs first on release, while the fence still holds: the acknowledgements held
   * back are written there, since afterwards the fence refuses them and the next sender would
   * resend those transactions. Its failure does not stop the release.
   */
  async hold(
    asId: string,
    lock: SenderLock,
    bump: () => Promise<string>,
    beforeRelease: () => Promise<void> = async () => {},
  ): Promise<SenderLock> {
    let epoch: string;
    try {
      epoch = await bump();
    } catch (err) {
      await lock.release();
      throw err;
    }
    this.#fences.set(asId, epoch);
    // Once the lock is gone this process's writes for the AS must fail, even before it notices.
    const revoke = (): void => {
      if (this.#fences.get(asId) === epoch) this.#fences.set(asId, REVOKED);
    };
    void lock.lost.then(revoke);
    return {
      lost: lock.lost,
      release: async () => {
        await beforeRelease().catch(() => {});
        revoke();
        await lock.release();
      },
    };
  }
}
