/**
 * The life of every store: new → open → closing → closed, the same rules and messages for all.
 * `open()` is idempotent and may be retried after it failed (a database that was down); a closed
 * store never reopens; `close()` is idempotent and waits for the store's own teardown; every
 * operation first asks `assertOpen()`.
 */
import { StoreError } from '../errors.ts';

type State = 'new' | 'open' | 'closing' | 'closed';

/**
 * @example
 * ```ts
 * class MyStore implements Store {
 *   readonly #life = new StoreLifecycle('my store ./data');
 *   open() { return this.#life.open(() => this.#connect()); }
 *   async backlog(asId: string) { this.#life.assertOpen(); ... }
 *   close() { return this.#life.close((wasOpen) => this.#disconnect(wasOpen)); }
 * }
 * ```
 */
export class StoreLifecycle {
  /** Names the store in messages: `sqlite store ./appservice.db`, `PostgreSQL postgres://db/hs`. */
  readonly #name: string;
  #state: State = 'new';
  #opening: Promise<void> | null = null;
  #closed: Promise<void> | null = null;

  constructor(name: string) {
    this.#name = name;
  }

  get isOpen(): boolean {
    return this.#state === 'open';
  }

  /** Runs `connect` once; concurrent callers share it, and a failure lets the next call try again. */
  open(connect: () => void | Promise<void>): Promise<void> {
    if (this.#state === 'open') return Promise.resolve();
    if (this.#state !== 'new') return Promise.reject(this.error('cannot reopen a closed store'));
    this.#opening ??= (async () => connect())().then(
      () => {
        // A close() that came while connecting wins: its teardown frees what connect() opened.
        if (this.#state === 'new') this.#state = 'open';
      },
      (err: unknown) => {
        this.#opening = null;
        throw err;
      },
    );
    return this.#opening;
  }

  /** Throws the StoreError every operation of a store that is not open throws. */
  assertOpen(): void {
    if (this.#state === 'open') return;
    throw this.error(this.#state === 'new' ? 'call open() first' : 'the store is closed');
  }

  /** Runs `teardown` once (`wasOpen`: whether the store had opened); later calls share it. */
  close(teardown: (wasOpen: boolean) => void | Promise<void>): Promise<void> {
    this.#closed ??= (async () => {
      const wasOpen = this.#state === 'open';
      this.#state = 'closing';
      try {
        // A connect still running finishes first, so that the teardown frees what it opened.
        await this.#opening?.catch(() => {});
        await teardown(wasOpen);
      } finally {
        this.#state = 'closed';
      }
    })();
    return this.#closed;
  }

  /** A StoreError naming the store. */
  error(message: string, options?: { cause?: unknown }): StoreError {
    return new StoreError(`${this.#name}: ${message}`, options);
  }
}
