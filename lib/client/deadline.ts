/**
 * A cheap abort signal with a built-in deadline, for the hot path of AS requests.
 *
 * Why not `AbortSignal.timeout()` + `AbortSignal.any()`: every AbortSignal listener costs several
 * microseconds to add and remove, and a timeout signal keeps its timer alive after the request is
 * done. On a loopback round trip of ~70 µs that was a third of the time. undici accepts any
 * EventEmitter with `aborted`/`reason` as a request signal, so this one is an EventEmitter whose
 * timer is cleared as soon as the work is over.
 */
import { EventEmitter } from 'node:events';

/** What the AS client accepts as a signal: a standard AbortSignal or a {@link Deadline}. */
export type AbortLike = AbortSignal | Deadline;

/**
 * @example
 * const deadline = new Deadline(10_000, ctx.req.signal);
 * try {
 *   await client.queryUser(userId, deadline);
 * } finally {
 *   deadline.dispose();
 * }
 */
export class Deadline extends EventEmitter {
  aborted = false;
  reason: unknown = undefined;
  /** True when the abort came from the timer rather than from the parent signal. */
  timedOut = false;
  /** Its own timer, or undefined when a {@link DeadlineTimers} times it out. */
  readonly #timer: NodeJS.Timeout | undefined;
  readonly #timers: DeadlineTimers | undefined;
  readonly #ms: number;
  readonly #parent: AbortLike | undefined;
  readonly #onParentAbort: (() => void) | undefined;
  /** The one request this deadline governs, told directly (see {@link govern}). */
  #governed: Governed | undefined;
  /** Requests made under this deadline while another one was governed. */
  #others: Set<Governed> | undefined;

  /**
   * `parent` may be another Deadline: an attempt's timeout inside a request's overall deadline.
   * With `timers`, the deadline is timed out by that shared timer instead of arming one of its own.
   */
  constructor(ms: number, parent?: AbortLike, timers?: DeadlineTimers) {
    super();
    this.#ms = ms;
    this.#timers = timers;
    if (timers !== undefined) timers.add(this, performance.now() + Math.max(0, ms));
    // The timer's callback is a module function given `this`: one closure less per request.
    else this.#timer = setTimeout(expire, Math.max(0, Math.ceil(ms)), this);
    this.#parent = parent;
    if (parent?.aborted) {
      this.abort(parent.reason);
    } else if (parent) {
      this.#onParentAbort = () => this.abort(parent.reason);
      if (parent instanceof Deadline) parent.once('abort', this.#onParentAbort);
      else parent.addEventListener('abort', this.#onParentAbort, { once: true });
    }
  }

  /** Aborts now; listeners run once, later calls do nothing. */
  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    this.#stopTimer();
    const governed = this.#governed;
    const others = this.#others;
    this.#governed = undefined;
    this.#others = undefined;
    governed?.deadlineAborted(reason);
    if (others) for (const request of others) request.deadlineAborted(reason);
    this.emit('abort');
  }

  /**
   * Tells `request` directly when this deadline aborts, before any listener: the same as an
   * `'abort'` listener for the one request an attempt makes, without a listener (and its closure)
   * per request. Meant for one request at a time; any more made under the same deadline are told
   * too, after it. {@link release} or a dispose ends it.
   */
  govern(request: Governed): void {
    if (this.#governed === undefined || this.#governed === request) this.#governed = request;
    else (this.#others ??= new Set()).add(request);
  }

  /** Ends {@link govern} for `request` (the request is over). */
  release(request: Governed): void {
    if (this.#governed === request) this.#governed = undefined;
    else this.#others?.delete(request);
  }

  /** Called by the timer. */
  timeOut(): void {
    if (this.aborted) return;
    this.timedOut = true;
    this.abort(new DOMException(`no answer within ${this.#ms} ms`, 'TimeoutError'));
  }

  /** Throws the abort reason when aborted, like `AbortSignal.throwIfAborted`. */
  throwIfAborted(): void {
    if (this.aborted) throw this.reason;
  }

  /** Stops the timer and lets go of the parent signal; call when the work is over. */
  dispose(): void {
    this.#stopTimer();
    this.#governed = undefined;
    this.#others = undefined;
    const parent = this.#parent;
    if (this.#onParentAbort && parent instanceof Deadline) parent.removeListener('abort', this.#onParentAbort);
    else if (this.#onParentAbort)
      (parent as AbortSignal | undefined)?.removeEventListener('abort', this.#onParentAbort);
    // Nearly always none (the request is told through govern): skip EventEmitter's reset then.
    if (this.listenerCount('abort') > 0) this.removeAllListeners();
  }

  #stopTimer(): void {
    if (this.#timers !== undefined) this.#timers.remove(this);
    else clearTimeout(this.#timer);
  }
}

/**
 * A timer shared by many deadlines (`SharedTimer` in lib/client/shared-timer.ts): it calls
 * {@link Deadline.timeOut} once a deadline added at `dueAt` (a `performance.now()`) is due, unless
 * the deadline was removed first.
 */
export interface DeadlineTimers {
  add(deadline: Deadline, dueAt: number): void;
  remove(deadline: Deadline): void;
}

/** What a {@link Deadline} governs: a request that ends when the deadline aborts. */
export interface Governed {
  deadlineAborted(reason: unknown): void;
}

function expire(deadline: Deadline): void {
  deadline.timeOut();
}

/**
 * Settles like `work`, or with undefined at the deadline or when `signal` aborts, whichever comes
 * first; `work` itself goes on (it may be shared with other waiters).
 *
 * @example
 * const found = await raceDeadline(sharedWalk, 5_000, ctx.req.signal); // undefined: gave up
 */
export function raceDeadline<T>(
  work: Promise<T>,
  deadlineMs: number,
  signal: AbortSignal | undefined,
): Promise<T | undefined> {
  if (signal?.aborted) return Promise.resolve(undefined);
  return new Promise<T | undefined>((resolve, reject) => {
    const finish = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    const onAbort = (): void => {
      finish();
      resolve(undefined);
    };
    const timer = setTimeout(onAbort, deadlineMs);
    signal?.addEventListener('abort', onAbort, { once: true });
    work.then(
      (result) => {
        finish();
        resolve(result);
      },
      (error: unknown) => {
        finish();
        reject(error);
      },
    );
  });
}
