/*
 * One sender per AS: a loop that turns the AS's durable queue into transactions, one at a time.
 *
 *            start()             elected            createTransaction() → null
 *   stopped ─────────► standby ─────────► sending ─────────────────────────────► idle
 *      ▲                  ▲                │  ▲  ▲                                 │
 *      │                  │         send   │  │  └──────── notify() / wake() ──────┘
 *      │                  │         failed │  │ timer (1 s, 2 s, … 60 s) or wake()
 *      │                  │                ▼  │
 *      │                  │               backoff
 *      │                  └── sender lock lost (from sending, idle or backoff)
 *      └──── stop() from any state: aborts the send in flight, waits for it to settle
 *
 * `standby` lasts no time with a single-process store (MemoryStore, SqliteStore); with a store
 * shared by several processes (PostgresStore) only the holder of the AS's sender lock sends
 * (lib/push/election.ts).
 *
 * In `sending` the loop first resends the transaction the store holds as in flight (after a crash,
 * a failure, or another process's death) with the same id and the same bytes; only when that is
 * acknowledged does it ask the store for the next batch. So at most one transaction per AS is in
 * flight, the order is the publish order, and a backlog lives in the store, never in memory.
 *
 * When the store already holds the next transaction (created ahead, `Store.nextStored`), it goes
 * out as soon as the AS has answered, and the acknowledgement is written while it is in flight:
 * the AS still has one transaction at a time, and the store's work leaves the path every batch
 * waits on. A crash in between leaves the earlier one in flight; it is resent first.
 *
 * The steps of one term live in lib/push/delivery.ts; this file is the lifecycle around them.
 */
import { OptionsError } from '../errors.ts';
import { pushDefaults, pushLimitDefaults } from '../options.ts';
import type { Registration } from '../registration/registration.ts';
import type { BatchLimits, QueuedItem, Store } from '../store/store.ts';
import { Backoff, type BackoffOptions } from './backoff.ts';
import { Delivery, ResendNow } from './delivery.ts';
import { Oversize, type DeadLetterInfo } from './oversize.ts';
import type { FailedInfo, LoopControl, SendTransaction, SenderState, SentInfo } from './sender-types.ts';
import { whileElected } from './election.ts';
import { buildTransactionBody } from './transaction-body.ts';
import type { TurnBudget } from './turn-budget.ts';

export type { FailedInfo, SendTransaction, SenderState, SentInfo } from './sender-types.ts';
export type { DeadLetterInfo } from './oversize.ts';

export interface SenderOptions {
  /** Items per transaction by kind; default `pushDefaults.limits` (100 each; the spec suggests no limit, Synapse uses 100). */
  readonly limits?: Partial<BatchLimits>;
  readonly backoff?: BackoffOptions;
  /** Called after each acknowledged transaction (for metrics). Exceptions are swallowed. */
  readonly onSent?: (info: SentInfo) => void;
  /** Called after each failed attempt, with the delay before the next one. Exceptions are swallowed. */
  readonly onFailed?: (info: FailedInfo) => void;
  /** Stores shared by several processes: how often a standby process tries to become the sender. Default `pushDefaults.electIntervalMs`. */
  readonly electIntervalMs?: number;
  /** Transaction bodies stay under this many bytes (an item larger than that goes alone). Default `pushLimitDefaults.maxTransactionBytes`. */
  readonly maxTransactionBytes?: number;
  /** One attempt is given up after this and retried after the backoff. Default `pushLimitDefaults.attemptTimeoutMs`. */
  readonly attemptTimeoutMs?: number;
  /** Called when an item the AS refused even alone (413) was set aside as a dead letter. Exceptions are swallowed. */
  readonly onDeadLetter?: (info: DeadLetterInfo) => void;
}

/**
 * The sending loop of one AS.
 *
 * @example
 * const sender = new Sender({ registration, store, send: (id, body, signal) => client.sendTransaction(id, body, signal) });
 * sender.start();
 * await store.enqueue(items); sender.notify();
 * await sender.stop();
 */
export class Sender {
  readonly #registration: Registration;
  readonly #store: Store;
  readonly #backoff: Backoff;
  readonly #electIntervalMs: number;
  readonly #delivery: Delivery;
  #state: SenderState = 'stopped';
  #loop: Promise<void> | null = null;
  #stopping = false;
  #kick: (() => void) | null = null;
  #attempt: AbortController | null = null;
  #electAbort: AbortController | null = null;
  #lockLost = false;
  /** What the delivery steps see of this lifecycle. */
  readonly #control: LoopControl;
  /** Shared with the other senders of the homeserver: creations per turn of the event loop. */
  readonly #budget: TurnBudget | undefined;
  /** Ends a wait for the budget: called by the budget in a later turn, or by stop() or a lost lock. */
  #turnResume: (() => void) | null = null;
  readonly #resume = (): void => {
    const resume = this.#turnResume;
    this.#turnResume = null;
    resume?.();
  };

  /** `budget`: given by `Senders`; a sender on its own creates whenever it must. */
  constructor(
    deps: { registration: Registration; store: Store; send: SendTransaction; budget?: TurnBudget },
    options: SenderOptions = {},
  ) {
    this.#registration = deps.registration;
    this.#budget = deps.budget;
    this.#store = deps.store;
    const limits: BatchLimits = { ...pushDefaults.limits, ...options.limits };
    for (const [kind, n] of Object.entries(limits)) {
      if (!Number.isSafeInteger(n) || n < 1)
        throw new OptionsError(`limits.${kind}`, `must be a positive integer, got ${String(n)}`, 'Sender');
    }
    this.#backoff = new Backoff(options.backoff, 'Sender');
    this.#electIntervalMs = options.electIntervalMs ?? pushDefaults.electIntervalMs;
    if (
      typeof this.#electIntervalMs !== 'number' ||
      !(this.#electIntervalMs > 0) ||
      !Number.isFinite(this.#electIntervalMs)
    ) {
      throw new OptionsError(
        'electIntervalMs',
        `must be a positive number, got ${String(this.#electIntervalMs)}`,
        'Sender',
      );
    }
    this.#control = {
      isActive: () => this.#active,
      dirty: true,
      setState: (state) => (this.#state = state),
      wait: (ms) => this.#wait(ms),
      setAttempt: (controller) => (this.#attempt = controller),
      createTurn: () => this.#createTurn(),
    };
    const maxTransactionBytes = positive(options, 'maxTransactionBytes', pushLimitDefaults.maxTransactionBytes);
    const attemptTimeoutMs = positive(options, 'attemptTimeoutMs', pushLimitDefaults.attemptTimeoutMs);
    const registration = deps.registration;
    const build = (items: readonly QueuedItem[]): string => buildTransactionBody(items, registration);
    const oversize = new Oversize({
      registration,
      store: deps.store,
      counts: limits,
      maxTransactionBytes,
      build,
      onDeadLetter: options.onDeadLetter,
    });
    this.#delivery = new Delivery({
      asId: registration.id,
      store: deps.store,
      send: deps.send,
      oversize,
      build,
      attemptTimeoutMs,
      backoff: this.#backoff,
      loop: this.#control,
      onSent: options.onSent,
      onFailed: options.onFailed,
    });
  }

  get asId(): string {
    return this.#registration.id;
  }

  get state(): SenderState {
    return this.#state;
  }

  /** False after a failed attempt until a success or a wake. */
  get up(): boolean {
    return this.#backoff.up;
  }

  /**
   * Starts the loop (a no-op when it runs). It resends the stored in-flight transaction first.
   *
   * @example
   * sender.start();
   */
  start(): void {
    if (this.#loop !== null) return;
    this.#stopping = false;
    this.#state = 'standby';
    this.#loop = this.#run().finally(() => {
      this.#state = 'stopped';
      this.#loop = null;
    });
  }

  /**
   * New items were queued for this AS: an idle sender starts sending. A sender in backoff keeps
   * waiting; the items go out when it retries.
   *
   * @example
   * await store.enqueue([{ kind: 'event', json, asIds: [sender.asId] }]);
   * sender.notify();
   */
  notify(): void {
    this.#control.dirty = true;
    if (this.#state === 'idle') this.#wakeLoop();
  }

  /**
   * The AS is known to be back (it pinged, or answered a query): retry now with a fresh backoff.
   *
   * @example
   * sender.wake();
   */
  wake(): void {
    this.#backoff.reset();
    this.#control.dirty = true;
    if (this.#state === 'idle' || this.#state === 'backoff') this.#wakeLoop();
    // An attempt still waiting for an AS that has just said it is back may hang on a connection
    // the AS lost: abort it and resend at once, same id and bytes (the AS dedups by id).
    if (this.#state === 'sending') this.#attempt?.abort(new ResendNow());
  }

  /**
   * Stops the loop: aborts the send in flight and waits for it to settle. The transaction stays
   * stored in flight and is resent, same id and bytes, by the next `start()` (in this or another process).
   *
   * @example
   * await sender.stop();
   */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#electAbort?.abort(new Error('sender stopped'));
    this.#attempt?.abort(new Error('sender stopped'));
    this.#wakeLoop();
    this.#resume();
    await this.#loop;
  }

  #wakeLoop(): void {
    const kick = this.#kick;
    this.#kick = null;
    kick?.();
  }

  /** Waits for a kick (notify, wake, stop) or, when given, until `ms` have passed. */
  #wait(ms?: number): Promise<void> {
    if (!this.#active) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = ms === undefined ? undefined : setTimeout(() => this.#wakeLoop(), ms);
      this.#kick = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  /** Null while this turn's budget lasts; else resolves in a later turn (or on stop or a lost lock). */
  #createTurn(): Promise<void> | null {
    if (this.#budget === undefined || !this.#active || this.#budget.take(this.#resume)) return null;
    // Not the kick: a notify() meanwhile (the sender may still read as idle) must not jump the queue.
    return new Promise((resolve) => (this.#turnResume = resolve));
  }

  /** One term of delivery per election (always one with a single-process store). */
  async #run(): Promise<void> {
    const elect = new AbortController();
    this.#electAbort = elect;
    const options = {
      retryIntervalMs: this.#electIntervalMs,
      signal: elect.signal,
      onStandby: () => (this.#state = 'standby'),
    };
    await whileElected(this.#store, this.asId, options, async (lost) => {
      this.#lockLost = false;
      // Another process may be the sender now: stop at once, including the send in flight.
      lost.addEventListener('abort', () => {
        this.#lockLost = true;
        this.#attempt?.abort(lost.reason);
        this.#wakeLoop();
        this.#resume();
      });
      await this.#delivery.term();
    });
    this.#electAbort = null;
  }

  get #active(): boolean {
    return !this.#stopping && !this.#lockLost;
  }
}

function positive(options: SenderOptions, name: 'maxTransactionBytes' | 'attemptTimeoutMs', fallback: number): number {
  const value = options[name] ?? fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new OptionsError(name, `must be a positive integer, got ${String(value)}`, 'Sender');
  }
  return value;
}
