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
 * shared by several processes (PostgresStore) only the holder of the AS's sender lock sends.
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
 */
import { Backoff, type BackoffOptions } from './backoff.ts';
import { buildTransactionBody } from './transaction-body.ts';
import type { Registration } from '../registration/registration.ts';
import { electSender } from '../store/sender-lock.ts';
import type { BatchLimits, ItemKind, QueuedItem, SenderLock, Store, StoredTransaction } from '../store/store.ts';

/** `standby`: waiting to become the AS's sender (a store shared by several processes; see the diagram). */
export type SenderState = 'standby' | 'idle' | 'sending' | 'backoff' | 'stopped';

/** Sends one transaction body; resolves on any 2xx, rejects otherwise. Must honour the signal. */
export type SendTransaction = (txnId: string, body: string, signal: AbortSignal) => Promise<void>;

export interface SentInfo {
  readonly asId: string;
  readonly txnId: string;
  readonly counts: Readonly<Record<ItemKind, number>>;
  /** From the start of the successful attempt to the acknowledgement being stored (with the next transaction, when the store creates both at once). */
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
  /** Stores shared by several processes: how often a standby process tries to become the sender. Default 1000. */
  readonly electIntervalMs?: number;
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
  #electAbort: AbortController | null = null;
  #lockLost = false;
  /** Counts elections, so that a late `lost` of an earlier lock cannot stop the current term. */
  #term = 0;
  readonly #electIntervalMs: number;
  readonly #build = (items: readonly QueuedItem[]): string => buildTransactionBody(items, this.#registration);

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
    this.#electIntervalMs = options.electIntervalMs ?? 1000;
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
    this.#electAbort?.abort(new Error('sender stopped'));
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
    if (this.#stopping || this.#lockLost) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = ms === undefined ? undefined : setTimeout(() => this.#wakeLoop(), ms);
      this.#kick = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  /** Holds the AS's sender lock (multi-process stores), delivers while it lasts, and elects again. */
  async #run(): Promise<void> {
    const elect = new AbortController();
    this.#electAbort = elect;
    while (!this.#stopping) {
      this.#state = 'standby';
      let lock: SenderLock;
      try {
        lock = await electSender(this.#store, this.#registration.id, { retryIntervalMs: this.#electIntervalMs, signal: elect.signal });
      } catch {
        break; // aborted by stop()
      }
      this.#lockLost = false;
      const term = ++this.#term;
      void lock.lost.then(() => {
        if (term !== this.#term) return; // a lock of an earlier term, already given up
        // Another process may be the sender now: stop at once, including the send in flight.
        this.#lockLost = true;
        this.#controller?.abort(new Error('sender lock lost'));
        this.#wakeLoop();
      });
      try {
        await this.#deliver();
      } finally {
        this.#term++;
        await lock.release().catch(() => {});
      }
    }
    this.#electAbort = null;
  }

  get #active(): boolean {
    return !this.#stopping && !this.#lockLost;
  }

  async #deliver(): Promise<void> {
    const asId = this.#registration.id;
    let txn: StoredTransaction | null = null;
    // Re-read on every election: another process may have sent and acknowledged meanwhile.
    let resumed = false;
    /** The acknowledgement just looked for the next batch (and cleared #dirty first). */
    let looked = false;
    /** Acknowledged by the AS but not yet in the store: written while `txn` is being sent. */
    let unstored: { txn: StoredTransaction; started: number } | null = null;
    this.#dirty = true;
    this.#state = 'sending';
    while (this.#active) {
      try {
        if (txn === null && !resumed) {
          txn = await this.#store.inFlight(asId);
          resumed = true;
        }
        if (txn === null && !looked) {
          // Cleared before asking, so a notify() racing with an empty answer is not lost.
          this.#dirty = false;
          txn = await this.#store.createTransaction(asId, this.#limits, this.#build);
        }
        looked = false;
      } catch (error) {
        if (!this.#active) break;
        await this.#failed(null, error);
        continue;
      }
      if (!this.#active) break;
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
      const sending = this.#beginSend(txn, controller.signal);
      if (unstored !== null) {
        const previous = unstored;
        unstored = null;
        try {
          await this.#store.acknowledge(asId, previous.txn.txnId);
        } catch (error) {
          // As after a failed acknowledgeAndCreate: re-read the stored state, which still holds
          // `previous` in flight, so it is resent (the AS dedups by id) and then this one.
          controller.abort(new Error('acknowledgement not stored'));
          await sending.catch(() => {});
          this.#controller = null;
          txn = null;
          resumed = false;
          if (!this.#active) break;
          await this.#failed(null, error);
          continue;
        }
        call(this.#onSent, { asId, txnId: String(previous.txn.txnId), counts: previous.txn.counts, durationMs: performance.now() - previous.started });
      }
      try {
        await sending;
      } catch (error) {
        if (!this.#active) break;
        await this.#failed(String(txn.txnId), error);
        continue;
      } finally {
        this.#controller = null;
      }
      const sent = txn;
      try {
        // A transaction created ahead goes out at once; the acknowledgement is written meanwhile.
        const ahead = this.#store.nextStored && this.#active ? await this.#store.nextStored(asId, sent.txnId) : null;
        if (ahead) {
          this.#backoff.succeed();
          unstored = { txn: sent, started };
          txn = ahead;
          continue;
        }
        ({ next: txn, looked } = await this.#acknowledge(sent));
      } catch (error) {
        // Which part failed is unknown: re-read the stored state before anything else. If the
        // acknowledgement was lost, inFlight() gives `sent` back and it is resent (the AS dedups
        // by id); if it held, the queue goes on from the next batch.
        txn = null;
        resumed = false;
        if (!this.#active) break;
        await this.#failed(null, error);
        continue;
      }
      this.#backoff.succeed();
      call(this.#onSent, { asId, txnId: String(sent.txnId), counts: sent.counts, durationMs: performance.now() - started });
    }
  }

  /** Starts sending `txn`; the request is written before this returns, as undici does. */
  #beginSend(txn: StoredTransaction, signal: AbortSignal): Promise<void> {
    let sending: Promise<void>;
    try {
      sending = this.#send(String(txn.txnId), txn.body, signal);
    } catch (error) {
      sending = Promise.reject(error);
    }
    // Awaited later, possibly after the acknowledgement: not an unhandled rejection meanwhile.
    sending.catch(() => {});
    return sending;
  }

  /**
   * Acknowledges `sent`. When the store can, it also creates the next transaction in the same
   * store transaction (one commit instead of two on the path every batch waits for): `looked`
   * then says the queue was read, and `next` is what it held.
   */
  async #acknowledge(sent: StoredTransaction): Promise<{ next: StoredTransaction | null; looked: boolean }> {
    const asId = this.#registration.id;
    if (!this.#store.acknowledgeAndCreate || !this.#active) {
      await this.#store.acknowledge(asId, sent.txnId);
      return { next: null, looked: false };
    }
    // Cleared before asking, as for createTransaction: a notify() meanwhile sets it again.
    this.#dirty = false;
    return { next: await this.#store.acknowledgeAndCreate(asId, sent.txnId, this.#limits, this.#build), looked: true };
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

export { Senders } from './senders.ts';
