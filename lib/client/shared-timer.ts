/**
 * One timer for many {@link Deadline}s: it fires at the earliest due time among the deadlines it
 * holds and times out every one past its own, then waits for the next earliest.
 *
 * Why: a query attempt that is answered in time (nearly all of them) would otherwise arm and clear
 * a timer of its own, about 1 µs of a ~110 µs loopback round trip. Here an attempt only records its
 * due time; the timer is touched only when a deadline is due sooner than the one it is armed for.
 * A deadline that ends early is just forgotten: the timer may then fire for nothing, and finds the
 * next earliest. The timer never fires after the earliest due time it holds, so no deadline fires
 * later than its own timer would have.
 *
 * The timer is unref'd: what it times out is a request in flight, whose own socket keeps the
 * process alive, and an idle gate must not.
 */
import type { Deadline, DeadlineTimers } from './deadline.ts';

const MAX_DELAY_MS = 2 ** 31 - 1;

/**
 * @example
 * const timers = new SharedTimer();
 * const deadline = new Deadline(3_000, undefined, timers); // no timer of its own
 * try {
 *   await client.queryAlias(alias, deadline);
 * } finally {
 *   deadline.dispose(); // forgets its due time; the shared timer is not touched
 * }
 */
export class SharedTimer implements DeadlineTimers {
  /** Each deadline held, with when it is due (a `performance.now()`). */
  readonly #due = new Map<Deadline, number>();
  #timer: NodeJS.Timeout | undefined;
  /** When the timer fires; Infinity while it is not armed. */
  #armedFor = Infinity;

  /** How many deadlines are held, for tests. */
  get size(): number {
    return this.#due.size;
  }

  /** Times `deadline` out at `dueAt` (a `performance.now()`) unless it is {@link remove}d first. */
  add(deadline: Deadline, dueAt: number): void {
    this.#due.set(deadline, dueAt);
    if (dueAt < this.#armedFor) this.#arm(dueAt);
  }

  /** Forgets `deadline` (it ended). The timer stays as it is: see the class comment. */
  remove(deadline: Deadline): void {
    this.#due.delete(deadline);
  }

  #arm(dueAt: number): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#armedFor = dueAt;
    // Node fires a delay past 2^31 - 1 ms after 1 ms; expire() finds nothing due then and re-arms.
    const delay = Math.min(MAX_DELAY_MS, Math.max(1, Math.ceil(dueAt - performance.now())));
    this.#timer = setTimeout(fire, delay, this);
    this.#timer.unref();
  }

  /** Called by the timer: times out what is due, re-arms for the earliest of the rest. */
  expire(): void {
    this.#timer = undefined;
    this.#armedFor = Infinity;
    const now = performance.now();
    let next = Infinity;
    const due: Deadline[] = [];
    for (const [deadline, dueAt] of this.#due) {
      if (dueAt <= now) due.push(deadline);
      else if (dueAt < next) next = dueAt;
    }
    try {
      for (const deadline of due) {
        // Ended meanwhile by an abort handler of one before it: not timed out, as with a timer of its own.
        if (this.#due.delete(deadline)) deadline.timeOut();
      }
    } finally {
      // Even past a throwing abort listener, the rest stay timed. One added by a listener above
      // armed the timer already, if it is due sooner.
      if (this.#due.size > 0) this.#rearm(next);
    }
  }

  /** `next`, or sooner: a walk cut short by a throwing listener left deadlines already due. */
  #rearm(next: number): void {
    for (const dueAt of this.#due.values()) if (dueAt < next) next = dueAt;
    if (next < this.#armedFor) this.#arm(next);
  }
}

function fire(timers: SharedTimer): void {
  timers.expire();
}
