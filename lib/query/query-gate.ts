/**
 * What stands between the blocking queries and one AS: a bound on queries in flight, a bounded
 * queue for the rest, and the "this AS is down" state that every caller shares.
 *
 * Why both: a burst of lookups for ids nobody has asked about (10 000 clients probing aliases) must
 * neither open thousands of requests to an AS that is struggling nor hold every caller for the
 * whole deadline when the AS is gone. So at most `concurrency` attempts run at once, up to
 * `queueLimit` more wait (each for no longer than its own deadline), and any further caller is
 * refused at once (`overloaded`). When attempts keep failing in a way that says "unreachable"
 * (connection refused or reset, no answer in time, 502/503/504 from a proxy in front of it),
 * the AS is marked down: the queue is emptied and callers are refused (`down`) until `downForMs`
 * has passed; then one probe goes through, and its outcome opens or closes the gate for everyone.
 * An AS that answers anything at all, even an error, is reachable.
 */
import { AppserviceRequestError } from '../errors.ts';
import { Deadline, type AbortLike } from '../client/deadline.ts';
import { SharedTimer } from '../client/shared-timer.ts';

export interface QueryGateOptions {
  /** Attempts in flight at once. */
  readonly concurrency: number;
  /** Attempts waiting for a slot; beyond this, callers are refused. */
  readonly queueLimit: number;
  /** How long a down AS is skipped before one probe is let through. */
  readonly downForMs: number;
  /** Consecutive "unreachable" failures that mark the AS down. Default 3. */
  readonly failuresToDown?: number;
  /** Budget of one attempt in {@link QueryGate.attempt}, below the caller's deadline. Default: the deadline. */
  readonly attemptTimeoutMs?: number;
  /** Called when an answer ends a down period (the plugin wakes the AS's sender). */
  readonly onUp?: () => void;
  /** Called each time a caller is refused because the queue is full (for metrics). */
  readonly onQueueFull?: () => void;
}

/**
 * How an attempt ended, as far as the gate cares: the AS said something (even an error), it could
 * not be reached, or the caller gave up first (which says nothing about the AS).
 */
export type AttemptOutcome = 'answered' | 'unreachable' | 'abandoned';

interface Waiter {
  readonly signal: Deadline;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
  readonly onAbort: () => void;
}

/**
 * @example
 * const gate = new QueryGate('irc', { concurrency: 8, queueLimit: 1_000, downForMs: 5_000 });
 * const wait = gate.enter(deadline);
 * if (wait) await wait;
 * try {
 *   const answer = await client.queryAlias(alias, deadline);
 *   gate.report('answered');
 * } catch (error) {
 *   gate.report(isUnreachable(error) ? 'unreachable' : 'answered');
 *   throw error;
 * } finally {
 *   gate.leave();
 * }
 */
export class QueryGate {
  readonly #asId: string;
  readonly #concurrency: number;
  readonly #queueLimit: number;
  readonly #downForMs: number;
  readonly #failuresToDown: number;
  readonly #attemptTimeoutMs: number | undefined;
  readonly #onUp: (() => void) | undefined;
  readonly #onQueueFull: (() => void) | undefined;
  readonly #waiting = new Set<Waiter>();
  /** Times out the attempts in flight: an attempt answered in time arms no timer of its own. */
  readonly #timers = new SharedTimer();
  #inFlight = 0;
  #failures = 0;
  /** When the AS may be probed again; null while it is up. */
  #downUntil: number | null = null;
  #probing = false;

  constructor(asId: string, options: QueryGateOptions) {
    this.#asId = asId;
    this.#concurrency = options.concurrency;
    this.#queueLimit = options.queueLimit;
    this.#downForMs = options.downForMs;
    this.#failuresToDown = options.failuresToDown ?? 3;
    this.#attemptTimeoutMs = options.attemptTimeoutMs;
    this.#onUp = options.onUp;
    this.#onQueueFull = options.onQueueFull;
  }

  /**
   * One attempt through the gate: waits for a slot, runs `ask` under its own timeout (so that a
   * hung AS costs a part of the deadline rather than all of it), and reports how it ended.
   */
  async attempt<T>(deadline: Deadline, ask: (signal: AbortLike) => Promise<T>): Promise<T> {
    const wait = this.enter(deadline);
    if (wait !== undefined) await wait;
    if (this.#attemptTimeoutMs === undefined) return this.#run(deadline, deadline, false, ask);
    return this.#run(deadline, new Deadline(this.#attemptTimeoutMs, deadline, this.#timers), true, ask);
  }

  /**
   * A slot for a first attempt that needs no queue: when the AS is up and a slot is free right now,
   * takes it and returns the attempt's one signal, firing at the attempt's timeout or at `budgetMs`
   * if that is shorter (so no overall deadline is armed for the common case of an answer at once).
   * Returns undefined, having taken nothing, when the caller must go through {@link attempt}
   * instead. The caller makes its request under the signal and then calls {@link answered} or {@link failed} once;
   * after a failure it retries under what is left of its budget.
   */
  takeNow(budgetMs: number): Deadline | undefined {
    if (this.#downUntil !== null || this.#inFlight >= this.#concurrency || this.#waiting.size > 0) return undefined;
    this.#inFlight++;
    return new Deadline(Math.min(this.#attemptTimeoutMs ?? budgetMs, budgetMs), undefined, this.#timers);
  }

  /** Ends an attempt made in a slot from {@link takeNow} that got its answer (as {@link attempt} reports one). */
  answered(signal: Deadline): void {
    // Reported before the slot is handed on, as in attempt(): a waiter must see the AS's new state.
    try {
      if (this.report('answered')) this.#onUp?.();
    } finally {
      signal.dispose();
      this.leave();
    }
  }

  /** Ends an attempt made in a slot from {@link takeNow} that failed with `error` (reported as in {@link attempt}). */
  failed(signal: Deadline, error: unknown): void {
    this.report(outcomeOf(signal, error));
    signal.dispose();
    this.leave();
  }

  /** Runs `ask` in a slot already taken: reports how it ended, gives the slot back. */
  async #run<T>(
    deadline: Deadline,
    signal: Deadline,
    ownSignal: boolean,
    ask: (signal: AbortLike) => Promise<T>,
  ): Promise<T> {
    try {
      const answer = await ask(signal);
      if (this.report('answered')) this.#onUp?.();
      return answer;
    } catch (error) {
      this.report(outcomeOf(deadline, error));
      throw error;
    } finally {
      if (ownSignal) signal.dispose();
      this.leave();
    }
  }

  /** Whether the AS is down (refused, or only its probe let through). */
  get isDown(): boolean {
    return this.#downUntil !== null;
  }

  /** Attempts running now and attempts waiting, for tests and metrics. */
  get load(): { inFlight: number; waiting: number } {
    return { inFlight: this.#inFlight, waiting: this.#waiting.size };
  }

  /**
   * Whether {@link enter} would refuse right now (the AS is down, or the queue is full): lets a
   * caller skip the AS without building an error, which matters when thousands are refused at once.
   * A true for a full queue is counted as a refusal (`onQueueFull`): the caller skips the AS.
   */
  refusing(): boolean {
    if (this.#downUntil !== null) return this.#probing || performance.now() < this.#downUntil;
    if (this.#waiting.size < this.#queueLimit || this.#inFlight < this.#concurrency) return false;
    this.#onQueueFull?.();
    return true;
  }

  /**
   * Takes a slot: undefined when one was free (the hot path stays synchronous), else a promise
   * that resolves when a slot frees up. Throws (or rejects) with a `down` or `overloaded`
   * {@link AppserviceRequestError}, or a `timeout` one when `signal` fires while waiting. Every
   * successful enter must be paired with one {@link leave}.
   */
  enter(signal: Deadline): Promise<void> | undefined {
    if (this.#downUntil !== null) {
      if (this.#probing || performance.now() < this.#downUntil)
        throw this.#refusal('down', 'failed recently; not asked until it is probed');
      // The one probe: it runs whatever the load, and its outcome decides for everyone.
      this.#probing = true;
      this.#inFlight++;
      return undefined;
    }
    if (this.#inFlight < this.#concurrency && this.#waiting.size === 0) {
      this.#inFlight++;
      return undefined;
    }
    if (this.#waiting.size >= this.#queueLimit) {
      this.#onQueueFull?.();
      throw this.#refusal(
        'overloaded',
        `${this.#inFlight} queries in flight and ${this.#waiting.size} waiting; not asked`,
      );
    }
    if (signal.aborted) throw this.#refusal('overloaded', 'the deadline passed before a slot was free; not asked');
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        signal,
        resolve,
        reject,
        onAbort: () => {
          this.#waiting.delete(waiter);
          // 'overloaded', not 'timeout': the AS was never asked, so this says nothing about it.
          reject(this.#refusal('overloaded', 'no free slot for the query before its deadline; not asked'));
        },
      };
      signal.once('abort', waiter.onAbort);
      this.#waiting.add(waiter);
    });
  }

  /** Gives the slot back; the longest waiter gets it. */
  leave(): void {
    this.#inFlight--;
    while (this.#inFlight < this.#concurrency && this.#waiting.size > 0) {
      const next = this.#waiting.values().next().value as Waiter;
      this.#settle(next);
      this.#inFlight++;
      next.resolve();
    }
  }

  /**
   * Records how an attempt ended. Returns true when this answer ended a down period (the caller
   * may tell the AS's sender to try again at once).
   */
  report(outcome: AttemptOutcome): boolean {
    if (outcome === 'answered') {
      this.#failures = 0;
      return this.markUp();
    }
    if (outcome === 'abandoned') {
      // A probe whose caller went away: let the next caller probe instead.
      this.#probing = false;
      return false;
    }
    this.#failures++;
    if (this.#probing || this.#failures >= this.#failuresToDown) this.markDown();
    return false;
  }

  /** The AS is down now: skip it for `downForMs`, and refuse everyone waiting. */
  markDown(): void {
    this.#downUntil = performance.now() + this.#downForMs;
    this.#probing = false;
    for (const waiter of [...this.#waiting]) {
      this.#settle(waiter);
      waiter.reject(this.#refusal('down', 'marked down while this query waited; not asked'));
    }
  }

  /** The AS is up (it answered, or pinged us). Returns whether it was down. */
  markUp(): boolean {
    const wasDown = this.#downUntil !== null;
    this.#downUntil = null;
    this.#probing = false;
    this.#failures = 0;
    return wasDown;
  }

  #settle(waiter: Waiter): void {
    this.#waiting.delete(waiter);
    waiter.signal.removeListener('abort', waiter.onAbort);
  }

  #refusal(kind: 'down' | 'overloaded', why: string): AppserviceRequestError {
    return new AppserviceRequestError(this.#asId, kind, why);
  }
}

/** How a failed attempt under `deadline` ended, as far as the gate cares. */
function outcomeOf(deadline: Deadline, error: unknown): AttemptOutcome {
  if (deadline.aborted && !deadline.timedOut) return 'abandoned';
  return isUnreachable(error) ? 'unreachable' : 'answered';
}

/**
 * Whether a failed attempt says the AS cannot be reached (as opposed to an answer we dislike).
 *
 * @example
 * isUnreachable(new AppserviceRequestError('irc', 'status', 'HTTP 503', { status: 503 })); // true
 * isUnreachable(new AppserviceRequestError('irc', 'status', 'HTTP 500', { status: 500 })); // false
 */
export function isUnreachable(error: unknown): boolean {
  if (!(error instanceof AppserviceRequestError)) return false;
  if (error.kind === 'connection' || error.kind === 'timeout') return true;
  return error.kind === 'status' && (error.status === 502 || error.status === 503 || error.status === 504);
}
