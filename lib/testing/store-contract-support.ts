/**
 * What the parts of the Store contract suite share: the subject a store's spec hands in, the
 * fixture that opens a fresh store for each test, and the helpers that read transactions back.
 * Kept apart from store-contract.ts so the parts need not import the entry point that imports them.
 */
import { expect } from 'chai';
import { afterEach, beforeEach } from 'mocha';
import type { BatchLimits, EnqueueItem, ItemKind, QueuedItem, Store, StoredTransaction } from '../store/store.ts';

/** What `makeStore` gives the suite for each test. */
export interface StoreContractSubject {
  /** A fresh, empty store, not yet opened: the suite calls `open()`. */
  readonly store: Store;
  /**
   * For durable stores: a new store over the same data. The suite closes the previous store
   * before calling it, and opens what it returns. Without it, the reopen tests are skipped.
   */
  readonly reopen?: () => Promise<Store>;
  /** Called after each test, once every store of the test is closed (delete temp files here). */
  readonly cleanup?: () => Promise<void>;
}

/** The store under test, read through getters because `reopen` replaces it mid-test. */
export interface ContractFixture {
  readonly store: Store;
  readonly subject: StoreContractSubject;
  /** The spec's factory, for tests that need a second, independent store. */
  readonly makeStore: () => Promise<StoreContractSubject>;
  /** Closes the store and opens the subject's `reopen()` in its place. */
  reopen(): Promise<Store>;
}

/**
 * Registers, in the enclosing `describe`, hooks that open a fresh store before each test and close
 * it (and clean up) after.
 *
 * @example
 * describe('my part', () => {
 *   const f = contractFixture(makeStore);
 *   it('is empty', async () => expect(await f.store.inFlight('a', build)).to.equal(null));
 * });
 */
export function contractFixture(makeStore: () => Promise<StoreContractSubject>): ContractFixture {
  let subject: StoreContractSubject;
  let store: Store;

  beforeEach(async () => {
    subject = await makeStore();
    store = subject.store;
    await store.open();
  });

  afterEach(async () => {
    await store.close();
    await subject.cleanup?.();
  });

  return {
    get store() {
      return store;
    },
    get subject() {
      return subject;
    },
    makeStore,
    async reopen() {
      await store.close();
      store = await subject.reopen!();
      await store.open();
      return store;
    },
  };
}

export const LIMITS: BatchLimits = { event: 100, ephemeral: 100, toDevice: 100 };

export function item(kind: ItemKind, n: number, asIds: readonly string[]): EnqueueItem {
  return { kind, json: JSON.stringify({ type: `test.${kind}`, content: { n } }), asIds };
}

/** The body a sender would build: the items' JSON texts, spliced in unchanged. */
export function build(items: readonly QueuedItem[]): string {
  return `[${items.map((i) => i.json).join(',')}]`;
}

export function bodyNumbers(txn: StoredTransaction | null): number[] {
  expect(txn, 'a transaction').to.not.equal(null);
  return (JSON.parse(txn!.body) as { content: { n: number } }[]).map((e) => e.content.n);
}

/** The counter part of a `<birth>.<n>` transaction id: it grows with every transaction a store creates. */
export function counter(txnId: string): number {
  return Number(txnId.slice(txnId.lastIndexOf('.') + 1));
}

export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  expect.fail('expected the promise to reject');
}

/** Sends every queued transaction of the AS and returns the item numbers, in order. */
export async function drain(store: Store, asId: string, limits: BatchLimits = LIMITS): Promise<number[]> {
  const seen: number[] = [];
  for (let round = 0; round < 1000; round++) {
    const txn = await store.createTransaction(asId, limits, build);
    if (!txn) return seen;
    seen.push(...bodyNumbers(txn));
    await store.acknowledge(asId, txn.txnId);
  }
  throw new Error('drain: the queue never emptied');
}
