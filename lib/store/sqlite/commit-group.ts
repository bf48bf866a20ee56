/**
 * Sender writes of many ASes share one SQLite commit. Each AS's sender writes one transaction at a
 * time (create, acknowledge, acknowledge-and-create), and each write was its own commit: with a
 * thousand ASes that each get an event or two, every event paid a whole commit (an fsync with
 * synchronous = FULL). The answers of many ASes arrive in one turn of the event loop, so their
 * writes are gathered until `setImmediate` and run together in one transaction.
 */
import type Database from 'better-sqlite3';

interface Waiting {
  readonly operation: string;
  readonly write: () => unknown;
  readonly durable: boolean;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
}

type Outcome = { readonly value: unknown } | { readonly error: unknown };

/**
 * Runs SqliteStore's sender writes, grouping those that arrive in the same turn of the event loop.
 *
 * A write that finds no group gathering runs at once, in its own transaction, exactly as without
 * grouping: a single AS never waits for a turn of the loop. Writes that arrive after it in the same
 * turn wait for `setImmediate` and then share one transaction, each in its own savepoint: a write
 * that throws (an in-flight mismatch, a throwing `build()`) undoes its own part only, and its error
 * goes to its own caller; the others commit. Every caller's promise settles after the commit that
 * holds its write, so nothing is handed out (and sent) before it is on disk. When SQLite itself
 * rolls the whole transaction back under a write (disk full, I/O error), that write and those
 * before it in the group fail with its error, and the rest run in a new transaction.
 *
 * While many ASes are busy (the last group held several writes), the first write of a turn joins
 * the group as well: that saves a commit, an fsync, per turn. A write that was alone in its group
 * ends the spell, so a single busy AS waits for a turn at most once after the others went quiet.
 *
 * @example
 * ```ts
 * const group = new CommitGroup(db, true, (operation, err) => err);
 * const [a, b] = await Promise.all([
 *   group.run('createTransaction', true, () => ops.createTransaction('irc', limits, build)), // at once
 *   group.run('createTransaction', true, () => ops.createTransaction('slack', limits, build)), // at setImmediate
 * ]);
 * ```
 */
export class CommitGroup {
  readonly #db: Database.Database;
  readonly #relaxable: boolean;
  readonly #wrap: (operation: string, error: unknown) => unknown;
  readonly #begin: Database.Statement;
  readonly #commit: Database.Statement;
  readonly #rollback: Database.Statement;
  /** Each write of a group in its own savepoint (better-sqlite3 nests transactions as savepoints). */
  readonly #savepoint: (write: () => unknown) => unknown;
  #waiting: Waiting[] = [];
  /** A write ran (or a group was gathered) in this turn: later ones wait for setImmediate. */
  #turn = false;
  /**
   * The last group held several writes: many ASes are busy, and the first write of a turn joins
   * the group too instead of paying a commit (an fsync) of its own. A lone write that had to wait
   * ends it, so a single busy AS waits at most once.
   */
  #busy = false;
  /** A relaxed group could not set FULL back (a failed ROLLBACK left its transaction open): do it first. */
  #fullPending = false;

  /**
   * @param relaxable the database runs with synchronous = FULL, and a group of writes none of which
   *   is durable (acknowledgements only) may commit with synchronous = NORMAL, as each would alone.
   * @param wrap turns a write's failure, or the group's BEGIN or COMMIT failure, into the error its
   *   callers get (SqliteStore's StoreError naming the file; its own errors pass unchanged).
   */
  constructor(db: Database.Database, relaxable: boolean, wrap: (operation: string, error: unknown) => unknown) {
    this.#db = db;
    this.#relaxable = relaxable;
    this.#wrap = wrap;
    this.#begin = db.prepare('BEGIN IMMEDIATE');
    this.#commit = db.prepare('COMMIT');
    this.#rollback = db.prepare('ROLLBACK');
    this.#savepoint = db.transaction((write: () => unknown) => write());
  }

  /**
   * Runs `write` (which opens its own SQLite transaction) now, or in the turn's group; `operation`
   * names it in the error of a failure.
   * `durable`: its commit must reach the disk before the promise resolves (anything it creates is
   * about to be sent); false only for acknowledgements, which may be lost in a power cut.
   */
  run<T>(operation: string, durable: boolean, write: () => T): Promise<T> {
    if (this.#fullPending) this.#fullPending = !this.#setLevel('FULL');
    if (!this.#turn && !this.#busy) {
      this.#openTurn();
      try {
        return Promise.resolve(write());
      } catch (error) {
        return Promise.reject(this.#wrap(operation, error));
      }
    }
    if (!this.#turn) this.#openTurn();
    return new Promise<T>((resolve, reject) => {
      this.#waiting.push({ operation, write, durable, resolve: resolve as (value: unknown) => void, reject });
    });
  }

  /** Commits the writes still waiting now (before the database closes). */
  flush(): void {
    const group = this.#waiting;
    this.#waiting = [];
    this.#busy = group.length > 1;
    if (group.length === 1) {
      const only = group[0]!;
      try {
        only.resolve(only.write());
      } catch (error) {
        only.reject(this.#wrap(only.operation, error));
      }
    } else if (group.length > 1) {
      for (let start = 0; start < group.length;) start = this.#commitFrom(group, start);
    }
  }

  /**
   * exec, not a prepared statement: SQLite applies this PRAGMA when it compiles it, and exec
   * compiles and runs it each time. SQLite refuses it inside a transaction; false when not set.
   */
  #setLevel(level: 'NORMAL' | 'FULL'): boolean {
    if (this.#db.inTransaction) return false;
    try {
      this.#db.exec(`PRAGMA synchronous = ${level}`);
      return true;
    } catch {
      return false;
    }
  }

  #openTurn(): void {
    this.#turn = true;
    setImmediate(() => {
      this.#turn = false;
      this.flush();
    });
  }

  /**
   * Runs `group[start..]` in one transaction and settles them; returns where the next transaction
   * has to start (the end, unless SQLite rolled this one back under a write).
   */
  #commitFrom(group: readonly Waiting[], start: number): number {
    if (this.#fullPending) this.#fullPending = !this.#setLevel('FULL');
    const relaxed =
      this.#relaxable &&
      !this.#fullPending &&
      !group.some((w, i) => i >= start && w.durable) &&
      this.#setLevel('NORMAL');
    const outcomes: Outcome[] = [];
    let end = start;
    try {
      this.#begin.run();
      for (; end < group.length; end++) {
        try {
          outcomes.push({ value: this.#savepoint(group[end]!.write) });
        } catch (raw) {
          const error = this.#wrap(group[end]!.operation, raw);
          outcomes.push({ error });
          if (!this.#db.inTransaction) {
            for (let i = start; i <= end; i++) group[i]!.reject(error);
            return end + 1;
          }
        }
      }
      this.#commit.run();
    } catch (error) {
      try {
        if (this.#db.inTransaction) this.#rollback.run();
      } catch {
        // The callers get the commit's error, which says more than the rollback's.
      }
      const failed = this.#wrap('commit', error);
      for (let i = start; i < group.length; i++) group[i]!.reject(failed);
      return group.length;
    } finally {
      if (relaxed && !this.#setLevel('FULL')) this.#fullPending = true;
    }
    outcomes.forEach((outcome, i) => {
      const waiting = group[start + i]!;
      if ('error' in outcome) waiting.reject(outcome.error);
      else waiting.resolve(outcome.value);
    });
    return group.length;
  }
}
