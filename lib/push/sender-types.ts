/**
 * The types the sender's parts share: what a send is, the hooks' payloads, and the lifecycle a
 * delivery term sees of its sender.
 */
import type { ItemCounts } from '../store/store.ts';

/** `standby`: waiting to become the AS's sender (a store shared by several processes). */
export type SenderState = 'standby' | 'idle' | 'sending' | 'backoff' | 'stopped';

/** Sends one transaction body; resolves on any 2xx, rejects otherwise. Must honour the signal. */
export type SendTransaction = (txnId: string, body: string, signal: AbortSignal) => Promise<void>;

export interface SentInfo {
  readonly asId: string;
  readonly txnId: string;
  readonly counts: ItemCounts;
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

/** What a delivery needs from the sender that runs it: its lifecycle, kept there. */
export interface LoopControl {
  /** False once stopping or once the sender lock is lost: every step then returns at once. */
  isActive(): boolean;
  /** Set by notify(): something may have been queued since the store last said "empty". */
  dirty: boolean;
  setState(state: SenderState): void;
  /** Waits for a kick (notify, wake, stop) or, when given, until `ms` have passed. */
  wait(ms?: number): Promise<void>;
  /** The attempt in flight, so that stop() or a lost lock can abort it. */
  setAttempt(controller: AbortController | null): void;
  /**
   * Called before creating a transaction: null to go on now, or a promise that resolves in a later
   * turn of the event loop when this turn's creations are spent (lib/push/turn-budget.ts), or on stop.
   */
  createTurn(): Promise<void> | null;
}

/**
 * Calls a metrics or logging hook; what it throws is swallowed.
 *
 * @example
 * callHook(options.onSent, info);
 */
export function callHook<T>(hook: ((info: T) => void) | undefined, info: T): void {
  try {
    hook?.(info);
  } catch {
    // A hook must never stop delivery.
  }
}
