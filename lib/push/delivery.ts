/**
 * One term of a sender's delivery: a chain of steps, each deciding the next.
 *
 *   reread ──► send ──► (AS answered) ──► send the one created ahead ─┐
 *     ▲  │       ▲  │                  └─► acknowledge (and create) ──┼─► send
 *     │  ▼       │  └─ failed: backoff, same transaction again       └─► idle ─► create ─► send
 *     │ create ──┘
 *     └── a store failure whose outcome is unknown, or an in-flight mismatch
 *
 * `reread` asks the store what is in flight (after an election, a crash, a store failure):
 * that transaction goes out again, same id and bytes, before any new batch is created. A 413
 * (too large) sends a smaller transaction with a new id instead, or sets a lone item aside and
 * re-reads (lib/push/oversize.ts); a ping aborts a hanging attempt and sends it again at once.
 */
import { InFlightMismatchError } from '../errors.ts';
import type { Store, StoredTransaction, TransactionBuilder } from '../store/store.ts';
import type { Backoff } from './backoff.ts';
import type { Oversize } from './oversize.ts';
import { callHook, type FailedInfo, type LoopControl, type SendTransaction, type SentInfo } from './sender-types.ts';

export interface DeliveryDeps {
  readonly asId: string;
  readonly store: Store;
  readonly send: SendTransaction;
  /** The batch limits (counts and bytes) and what to do with a 413. */
  readonly oversize: Oversize;
  readonly build: TransactionBuilder;
  /** One attempt is abandoned (and retried after the backoff) when the AS has not answered by then. */
  readonly attemptTimeoutMs: number;
  readonly backoff: Backoff;
  readonly loop: LoopControl;
  readonly onSent?: ((info: SentInfo) => void) | undefined;
  readonly onFailed?: ((info: FailedInfo) => void) | undefined;
}

/**
 * The reason an attempt is aborted when the AS is known to be back (it pinged): the attempt in
 * flight may hang on a connection the AS has lost, so it is resent at once, without a backoff.
 */
export class ResendNow extends Error {
  constructor() {
    super('the appservice is back: resending at once');
  }
}

/** Sent by the AS, acknowledgement not stored yet: written while the next one is in flight. */
interface Acknowledged {
  readonly txn: StoredTransaction;
  readonly started: number;
}

/** What the loop does next. */
type Step =
  | { readonly kind: 'reread' }
  | { readonly kind: 'create' }
  | { readonly kind: 'idle' }
  | { readonly kind: 'send'; readonly txn: StoredTransaction; readonly unstored: Acknowledged | null };

const REREAD: Step = { kind: 'reread' };
const CREATE: Step = { kind: 'create' };
const IDLE: Step = { kind: 'idle' };
const send = (txn: StoredTransaction, unstored: Acknowledged | null = null): Step => ({ kind: 'send', txn, unstored });

/**
 * The steps of delivery for one AS; `term()` runs them while the sender is active.
 *
 * @example
 * const delivery = new Delivery({ asId: 'irc', store, send, limits, build, backoff, loop });
 * await delivery.term(); // returns once loop.isActive() turns false
 */
export class Delivery {
  readonly #d: DeliveryDeps;
  /** In-flight mismatches since the last transaction the store gave out to send. */
  #surprises = 0;

  constructor(deps: DeliveryDeps) {
    this.#d = deps;
  }

  get #asId(): string {
    return this.#d.asId;
  }

  /** Delivers until the sender stops or loses its lock; starts by re-reading the store. */
  async term(): Promise<void> {
    const loop = this.#d.loop;
    loop.dirty = true;
    loop.setState('sending');
    // Re-read on every election: another process may have sent and acknowledged meanwhile.
    let step: Step = REREAD;
    while (loop.isActive()) step = await this.#take(step);
  }

  #take(step: Step): Promise<Step> {
    switch (step.kind) {
      case 'reread':
        return this.#reread();
      case 'create':
        return this.#create();
      case 'idle':
        return this.#idle();
      case 'send':
        return this.#sendOne(step.txn, step.unstored);
    }
  }

  /** The store's truth: the transaction in flight is resent before anything else. */
  async #reread(): Promise<Step> {
    let txn: StoredTransaction | null;
    try {
      txn = await this.#d.store.inFlight(this.#asId, this.#d.build);
    } catch (error) {
      return this.#storeFailed(error, REREAD);
    }
    if (txn === null) return CREATE;
    this.#surprises = 0;
    return send(txn);
  }

  async #create(): Promise<Step> {
    const turn = this.#d.loop.createTurn();
    if (turn !== null) await turn;
    if (!this.#d.loop.isActive()) return CREATE;
    // Cleared before asking, so a notify() racing with an empty answer is not lost.
    this.#d.loop.dirty = false;
    let txn: StoredTransaction | null;
    try {
      txn = await this.#d.store.createTransaction(this.#asId, this.#d.oversize.limits, this.#d.build);
    } catch (error) {
      return this.#storeFailed(error, CREATE);
    }
    return txn === null ? IDLE : send(txn);
  }

  /** The queue was empty: wait for notify() unless something was queued meanwhile. */
  async #idle(): Promise<Step> {
    const loop = this.#d.loop;
    if (!loop.dirty) {
      loop.setState('idle');
      await loop.wait();
    }
    return CREATE;
  }

  /** Sends `txn`; meanwhile stores the acknowledgement of the one before, when the AS answered it already. */
  async #sendOne(txn: StoredTransaction, unstored: Acknowledged | null): Promise<Step> {
    const loop = this.#d.loop;
    loop.setState('sending');
    const started = performance.now();
    const controller = new AbortController();
    loop.setAttempt(controller);
    const sending = this.#beginSend(txn, controller);
    if (unstored !== null) {
      try {
        await this.#d.store.acknowledge(this.#asId, unstored.txn.txnId);
      } catch (error) {
        // As after a failed acknowledgeAndCreate: re-read the stored state, which still holds
        // `unstored` in flight, so it is resent (the AS dedups by id) and then this one.
        controller.abort(new Error('acknowledgement not stored'));
        await sending.catch(() => {});
        loop.setAttempt(null);
        return this.#storeFailed(error, REREAD);
      }
      this.#reportSent(unstored);
    }
    try {
      await sending;
    } catch (error) {
      if (!loop.isActive() || controller.signal.reason instanceof ResendNow) return send(txn);
      return this.#sendFailed(txn, error);
    } finally {
      loop.setAttempt(null);
    }
    return this.#afterSent({ txn, started });
  }

  /** The AS did not take `txn`: a 413 splits it or sets it aside; anything else backs off and resends it. */
  async #sendFailed(txn: StoredTransaction, error: unknown): Promise<Step> {
    const status = (error as { status?: unknown } | null)?.status;
    if (status === 413) {
      let outcome;
      try {
        outcome = await this.#d.oversize.refused(txn, status);
      } catch (storeError) {
        return this.#storeFailed(storeError, REREAD);
      }
      if (outcome.next === 'send') return send(outcome.txn);
      if (outcome.next === 'reread') return REREAD;
    }
    await this.#failed(txn.txnId, error);
    return send(txn);
  }

  /** The AS has `sent`: send a transaction created ahead at once, or store the acknowledgement (and create the next). */
  async #afterSent(sent: Acknowledged): Promise<Step> {
    const { store, backoff, loop } = this.#d;
    let next: Step;
    try {
      const ahead =
        store.nextStored && loop.isActive() ? await store.nextStored(this.#asId, sent.txn.txnId, this.#d.build) : null;
      if (ahead) {
        backoff.succeed();
        return send(ahead, sent);
      }
      next = await this.#acknowledge(sent.txn);
    } catch (error) {
      // Which part failed is unknown: re-read the stored state before anything else. If the
      // acknowledgement was lost, inFlight() gives `sent` back and it is resent (the AS dedups
      // by id); if it held, the queue goes on from the next batch.
      return this.#storeFailed(error, REREAD);
    }
    backoff.succeed();
    this.#reportSent(sent);
    return next;
  }

  /**
   * Acknowledges `sent`. When the store can, it also creates the next transaction in the same
   * store transaction (one commit instead of two on the path every batch waits for).
   */
  async #acknowledge(sent: StoredTransaction): Promise<Step> {
    const { store, loop } = this.#d;
    const turn = store.acknowledgeAndCreate ? loop.createTurn() : null;
    if (turn !== null) await turn;
    if (!store.acknowledgeAndCreate || !loop.isActive()) {
      await store.acknowledge(this.#asId, sent.txnId);
      return CREATE;
    }
    // Cleared before asking, as for createTransaction: a notify() meanwhile sets it again.
    loop.dirty = false;
    const next = await store.acknowledgeAndCreate(this.#asId, sent.txnId, this.#d.oversize.limits, this.#d.build);
    return next === null ? IDLE : send(next);
  }

  /** Starts sending `txn`, abandoned after attemptTimeoutMs; the request is written before this returns, as undici does. */
  #beginSend(txn: StoredTransaction, controller: AbortController): Promise<void> {
    const ms = this.#d.attemptTimeoutMs;
    // A TimeoutError, so that the AS client reports the attempt as timed out.
    const timer = setTimeout(() => controller.abort(new DOMException(`no answer within ${ms} ms`, 'TimeoutError')), ms);
    let sending: Promise<void>;
    try {
      sending = this.#d.send(txn.txnId, txn.body, controller.signal);
    } catch (error) {
      sending = Promise.reject(error);
    }
    sending = sending.finally(() => clearTimeout(timer));
    // Awaited later, possibly after the acknowledgement: not an unhandled rejection meanwhile.
    sending.catch(() => {});
    return sending;
  }

  /**
   * A store call failed. A refusal because a transaction is in flight means the store knows
   * something this sender does not (another writer, a late commit of a dead sender): re-read
   * its truth and carry on at once. Anything else backs off, then goes on with `then`.
   */
  async #storeFailed(error: unknown, then: Step): Promise<Step> {
    if (!this.#d.loop.isActive()) return then;
    if (error instanceof InFlightMismatchError) {
      // A store that keeps refusing while its re-read shows nothing in flight would make this a
      // busy loop: a second surprise with no send in between backs off like any other failure.
      if (++this.#surprises > 1) await this.#failed(null, error);
      return REREAD;
    }
    await this.#failed(null, error);
    return then;
  }

  async #failed(txnId: string | null, error: unknown): Promise<void> {
    const { backoff, loop } = this.#d;
    const asked = (error as { retryAfterMs?: unknown } | null)?.retryAfterMs;
    const retryInMs = backoff.fail(typeof asked === 'number' ? asked : undefined);
    callHook(this.#d.onFailed, { asId: this.#asId, txnId, error, failures: backoff.failures, retryInMs });
    loop.setState('backoff');
    await loop.wait(retryInMs);
  }

  #reportSent({ txn, started }: Acknowledged): void {
    callHook(this.#d.onSent, {
      asId: this.#asId,
      txnId: txn.txnId,
      counts: txn.counts,
      durationMs: performance.now() - started,
    });
  }
}
