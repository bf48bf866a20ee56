/**
 * How many senders may create a transaction in one turn of the event loop.
 *
 * Each sender creates its next transaction as soon as its AS has answered the last one. With a
 * thousand ASes busy at once, that is a thousand creations and requests in one turn (about 0.3 s
 * of work), while the homeserver publishes one burst of events per turn: every transaction then
 * carried the one or two events of the turn before, and the cost per transaction, not per event,
 * bounded the throughput. Past the budget, a sender waits for a later turn, in arrival order, and
 * meanwhile its AS's queue grows into a fuller transaction. A sender under the budget (a single
 * AS, a few busy ones) is never delayed, and there is no timer: a later turn comes as soon as the
 * loop has nothing else to do.
 */

/** The turn's budget is spent: `resume` is called, in arrival order, in a later turn. */
export type Resume = () => void;

/**
 * Shared by the senders of one homeserver (`Senders`).
 *
 * @example
 * const budget = new TurnBudget(64);
 * if (!budget.take(resume)) await waitForResume; // resume() is called in a later turn
 */
export class TurnBudget {
  readonly #perTurn: number;
  #used = 0;
  #waiting: Resume[] = [];
  #next = 0;
  #scheduled = false;

  constructor(perTurn: number) {
    this.#perTurn = perTurn;
  }

  /**
   * True when the caller may create now (this turn's budget is not spent); otherwise false, and
   * `resume` is called once a later turn has room for it.
   */
  take(resume: Resume): boolean {
    if (this.#used < this.#perTurn && this.#next === this.#waiting.length) {
      this.#used++;
      this.#schedule();
      return true;
    }
    this.#waiting.push(resume);
    this.#schedule();
    return false;
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => this.#turn());
  }

  /** A new turn: a full budget, spent first on those waiting longest. */
  #turn(): void {
    this.#scheduled = false;
    this.#used = 0;
    const end = Math.min(this.#waiting.length, this.#next + this.#perTurn);
    const resumed = this.#waiting.slice(this.#next, end);
    this.#next = end;
    if (this.#next === this.#waiting.length) {
      this.#waiting = [];
      this.#next = 0;
    }
    this.#used = resumed.length;
    if (this.#used > 0 || this.#waiting.length > 0) this.#schedule();
    for (const resume of resumed) resume();
  }
}
