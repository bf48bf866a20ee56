/**
 * Per-AS up/down state and retry delays for the sender. Pure bookkeeping, no timers: the sender
 * owns the sleeping, so that `wake()` can cut a sleep short and tests can read the delays.
 */
import { OptionsError } from '../errors.ts';
import { defaults } from '../options.ts';

export interface BackoffOptions {
  /** Delay after the first failure. Default `defaults.backoffInitialMs` (1 000). */
  readonly initialMs?: number;
  /** The delay doubles per consecutive failure up to this. Default `defaults.backoffMaxMs` (60 000). */
  readonly maxMs?: number;
}

/**
 * Exponential backoff: `initialMs`, then doubling, capped at `maxMs`; a success or a wake resets
 * it. An AS that says when to come back (Retry-After) is believed when that is later, up to `maxMs`.
 *
 * @example
 * const b = new Backoff({ initialMs: 1000, maxMs: 60_000 });
 * b.fail(); // 1000
 * b.fail(); // 2000
 * b.fail(30_000); // 30000: the AS asked for 30 s, more than the 4 s due
 * b.succeed(); // up again, next failure waits 1000
 */
export class Backoff {
  readonly initialMs: number;
  readonly maxMs: number;
  #failures = 0;

  /** `source` names the component whose options these are, for the OptionsError. */
  constructor(options: BackoffOptions = {}, source = 'Backoff') {
    this.initialMs = options.initialMs ?? defaults.backoffInitialMs;
    this.maxMs = options.maxMs ?? defaults.backoffMaxMs;
    if (typeof this.initialMs !== 'number' || !Number.isFinite(this.initialMs) || this.initialMs < 0) {
      throw new OptionsError('backoff.initialMs', `must be a number >= 0, got ${String(this.initialMs)}`, source);
    }
    if (typeof this.maxMs !== 'number' || !Number.isFinite(this.maxMs) || this.maxMs < this.initialMs) {
      throw new OptionsError(
        'backoff.maxMs',
        `must be a number >= initialMs (${this.initialMs}), got ${String(this.maxMs)}`,
        source,
      );
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

  /**
   * Records a failure; returns how long to wait before the next attempt. `retryAfterMs` is what
   * the AS asked for (429 / 503 with Retry-After, or `retry_after_ms`): waited when longer than
   * the backoff's own delay, never longer than `maxMs`.
   */
  fail(retryAfterMs?: number): number {
    this.#failures += 1;
    // Math.min before the power would overflow to Infinity after ~1000 failures; cap the exponent.
    const exponent = Math.min(this.#failures - 1, 52);
    const delay = Math.min(this.maxMs, this.initialMs * 2 ** exponent);
    if (typeof retryAfterMs !== 'number' || !(retryAfterMs > delay)) return delay;
    return Math.min(retryAfterMs, this.maxMs);
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
