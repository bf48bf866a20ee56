/**
 * Per-AS up/down state and retry delays for the sender. Pure bookkeeping, no timers: the sender
 * owns the sleeping, so that `wake()` can cut a sleep short and tests can read the delays.
 */

export interface BackoffOptions {
  /** Delay after the first failure. Default 1000. */
  readonly initialMs?: number;
  /** The delay doubles per consecutive failure up to this. Default 60 000. */
  readonly maxMs?: number;
}

/**
 * Exponential backoff: `initialMs`, then doubling, capped at `maxMs`; a success or a wake resets it.
 *
 * @example
 * const b = new Backoff({ initialMs: 1000, maxMs: 60_000 });
 * b.fail(); // 1000
 * b.fail(); // 2000
 * b.succeed(); // up again, next failure waits 1000
 */
export class Backoff {
  readonly initialMs: number;
  readonly maxMs: number;
  #failures = 0;

  constructor(options: BackoffOptions = {}) {
    this.initialMs = options.initialMs ?? 1000;
    this.maxMs = options.maxMs ?? 60_000;
    if (!Number.isFinite(this.initialMs) || this.initialMs < 0) throw new TypeError(`backoff initialMs must be a number >= 0, got ${this.initialMs}`);
    if (!Number.isFinite(this.maxMs) || this.maxMs < this.initialMs) {
      throw new TypeError(`backoff maxMs must be a number >= initialMs (${this.initialMs}), got ${this.maxMs}`);
    }
  }

  /** True until a failure, and again after a success or a reset. */
  get up(): boolean {
    return this.#failures === 0;
  }

  /** Consecutive failures since the last success or reset. */
  get failures(): number {
    return this.#failures;
  }

  /** Records a failure; returns how long to wait before the next attempt. */
  fail(): number {
    this.#failures += 1;
    // Math.min before the power would overflow to Infinity after ~1000 failures; cap the exponent.
    const exponent = Math.min(this.#failures - 1, 52);
    return Math.min(this.maxMs, this.initialMs * 2 ** exponent);
  }

  /** Records a success: the AS is up and the next failure starts from `initialMs`. */
  succeed(): void {
    this.#failures = 0;
  }

  /** A ping or a good query says the AS is back: forget the failures. */
  reset(): void {
    this.#failures = 0;
  }
}
