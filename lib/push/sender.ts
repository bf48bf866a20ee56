/*
 * One sender per AS: a loop that turns the AS's durable queue into transactions, one at a time.
 *
 *            start()                       createTransaction() → null
 *   stopped ─────────► sending ─────────────────────────────────────► idle
 *      ▲               │  ▲  ▲                                          │
 *      │        send   │  │  └──────────── notify() / wake() ───────────┘
 *      │        failed │  │ timer (1 s, 2 s, … 60 s) or wake()
 *      │               ▼  │
 *      │              backoff
 *      └──── stop() from any state: aborts the send in flight, waits for it to settle
 *
 * In `sending` the loop first resends the transaction the store holds as in flight (after a crash,
 * or after a failure) with the same id and the same bytes; only when that is acknowledged does it
 * ask the store for the next batch. So at most one transaction per AS is ever in flight, the order
 * is the publish order, and a backlog lives in the store, never in this process's memory.
 */
import { Backoff, type BackoffOptions } from './backoff.ts';
import { buildTransactionBody } from './transaction-body.ts';
import type { Registration } from '../registration/registration.ts';
import type { BatchLimits, ItemKind, Store, StoredTransaction } from '../store/store.ts';

export type SenderState = 'idle' | 'sending' | 'backoff' | 'stopped';

/** Sends one transaction body; resolves on any 2xx, rejects otherwise. Must honour the signal. */
export type SendTransaction = (txnId: string, body: string, signal: AbortSignal) => Promise<void>;

export interface SentInfo {
  readonly asId: string;
  readonly txnId: string;
  readonly counts: Readonly<Record<ItemKind, number>>;
  /** From the start of the successful attempt to the acknowledgement being stored. */
  readonly durationMs: number;
}

export interface FailedInfo {
  readonly asId: string;
  /** Null when the store, not the AS, failed before a transaction existed. */
  readonly txnId: string | null;
  readonly error: unknown;
  readonly failures: number;
  readonly retryInMs: number;
}

export interface SenderOptions {
  /** Items per transaction by kind; default 100 each (the spec suggests no limit; Synapse uses 100). */
  readonly limits?: Partial<BatchLimits>;
  readonly backoff?: BackoffOptions;
  /** Called after each acknowledged transaction (for metrics). Exceptions are swallowed. */
  readonly onSent?: (info: SentInfo) => void;
  /** Called after each failed attempt, with the delay before the next one. Exceptions are swallowed. */
  readonly onFailed?: (info: FailedInfo) => void;
}

const DEFAULT_LIMITS: BatchLimits = { event: 100, ephemeral: 100, toDevice: 100 };

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
  readonly #send: SendTransaction;
  readonly #limits: BatchLimits;
  readonly #backoff: Backoff;
  readonly #onSent: SenderOptions['onSent'];
  readonly #onFailed: SenderOptions['onFailed'];
  #state: SenderState = 'stopped';
  #loop: Promise<void> | null = null;
  #stopping = false;
  /** Set by notify(): something may have been queued since the store last said "empty". */
  #dirty = true;
  #kick: (() => void) | null = null;
  #controller: AbortController | null = null;

  constructor(
    deps: { registration: Registration; store: Store; send: SendTransaction },
    options: SenderOptions = {},
  ) {
    this.#registration = deps.registration;
    this.#store = deps.store;
    this.#send = deps.send;
    this.#limits = { ...DEFAULT_LIMITS, ...options.limits };
    for (const [kind, n] of Object.entries(this.#limits)) {
      if (!Number.isInteger(n) || n < 1) throw new TypeError(`limits.${kind} must be a positive integer, got ${n}`);
    }
    this.#backoff = new Backoff(options.backoff);
    this.#onSent = options.onSent;
    this.#onFailed = options.onFailed;
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
    this.#dirty = true;
    this.#state = 'sending';
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
    this.#dirty = true;
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
    this.#dirty = true;
    if (this.#state === 'idle' || this.#state === 'backoff') this.#wakeLoop();
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
    this.#controller?.abort(new Error('sender stopped'));
    this.#wakeLoop();
    await this.#loop;
  }

  #wakeLoop(): void {
    const kick = this.#kick;
    this.#kick = null;
    kick?.();
  }

  /** Waits for a kick (notify, wake, stop) or, when given, until `ms` have passed. */
  #wait(ms?: number): Promise<void> {
    if (this.#stopping) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = ms === undefined ? undefined : setTimeout(() => this.#wakeLoop(), ms);
      this.#kick = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  async #run(): Promise<void> {
    const asId = this.#registration.id;
    let txn: StoredTransaction | null = null;
    let resumed = false;
    while (!this.#stopping) {
      try {
        if (txn === null && !resumed) {
          txn = await this.#store.inFlight(asId);
          resumed = true;
        }
        if (txn === null) {
          // Cleared before asking, so a notify() racing with an empty answer is not lost.
          this.#dirty = false;
          txn = await this.#store.createTransaction(asId, this.#limits, (items) => buildTransactionBody(items, this.#registration));
        }
      } catch (error) {
        await this.#failed(null, error);
        continue;
      }
      if (txn === null) {
        if (this.#dirty) continue;
        this.#state = 'idle';
        await this.#wait();
        continue;
      }
      this.#state = 'sending';
      const started = performance.now();
      const controller = new AbortController();
      this.#controller = controller;
      try {
        await this.#send(String(txn.txnId), txn.body, controller.signal);
        // An ack that fails leaves `txn` set: it is resent (the AS dedups by id) and acked again.
        await this.#store.acknowledge(asId, txn.txnId);
      } catch (error) {
        if (this.#stopping) break;
        await this.#failed(String(txn.txnId), error);
        continue;
      } finally {
        this.#controller = null;
      }
      const info: SentInfo = { asId, txnId: String(txn.txnId), counts: txn.counts, durationMs: performance.now() - started };
      txn = null;
      this.#backoff.succeed();
      call(this.#onSent, info);
    }
  }

  async #failed(txnId: string | null, error: unknown): Promise<void> {
    // An AS that says when to come back (429 / 503 with Retry-After) is believed, up to maxMs.
    const asked = (error as { retryAfterMs?: unknown } | null)?.retryAfterMs;
    const backoffMs = this.#backoff.fail();
    const retryInMs = typeof asked === 'number' && asked > backoffMs ? Math.min(asked, this.#backoff.maxMs) : backoffMs;
    call(this.#onFailed, { asId: this.#registration.id, txnId, error, failures: this.#backoff.failures, retryInMs });
    this.#state = 'backoff';
    await this.#wait(retryInMs);
  }
}

function call<T>(hook: ((info: T) => void) | undefined, info: T): void {
  try {
    hook?.(info);
  } catch {
    // A metrics hook must never stop delivery.
  }
}

/**
 * One Sender per registration with a url (`url: null` gets none), started and stopped together.
 * Each runs its own loop: nothing one AS does (down, slow) is awaited by another's.
 *
 * @example
 * const senders = new Senders({ registrations, store, send: (reg, id, body, signal) => clients.get(reg.id)!.sendTransaction(id, body, signal) });
 * senders.start();
 * const asIds = await publisher.publish(event); senders.notify(asIds);
 * senders.wake('irc'); // after a ping from the IRC bridge
 * await senders.stop();
 */
export class Senders {
  readonly #senders: ReadonlyMap<string, Sender>;

  constructor(
    deps: {
      registrations: readonly Registration[];
      store: Store;
      send: (registration: Registration, txnId: string, body: string, signal: AbortSignal) => Promise<void>;
    },
    options: SenderOptions = {},
  ) {
    const senders = new Map<string, Sender>();
    for (const registration of deps.registrations) {
      if (registration.url === null) continue;
      const send: SendTransaction = (txnId, body, signal) => deps.send(registration, txnId, body, signal);
      senders.set(registration.id, new Sender({ registration, store: deps.store, send }, options));
    }
    this.#senders = senders;
  }

  /** The sender of this AS, or undefined (unknown id, or `url: null`). */
  get(asId: string): Sender | undefined {
    return this.#senders.get(asId);
  }

  get size(): number {
    return this.#senders.size;
  }

  [Symbol.iterator](): IterableIterator<Sender> {
    return this.#senders.values();
  }

  start(): void {
    for (const sender of this.#senders.values()) sender.start();
  }

  /** Items were queued for these ASes (what `Publisher.publish` resolved to). */
  notify(asIds: readonly string[]): void {
    for (const id of asIds) this.#senders.get(id)?.notify();
  }

  /** The AS pinged or answered a query: retry it now. Unknown ids are ignored. */
  wake(asId: string): void {
    this.#senders.get(asId)?.wake();
  }

  async stop(): Promise<void> {
    await Promise.all([...this.#senders.values()].map((s) => s.stop()));
  }
}
