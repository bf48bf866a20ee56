/**
 * No stall on surprises: a transaction appears in flight behind the sender's back (another
 * writer created it between the sender's look at the store and its own create, as a dead
 * sender's late commit does). The store refuses the sender's create with InFlightMismatchError;
 * the sender re-reads what is in flight and delivers it at once, without a single backoff.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { AppserviceClient } from '../../lib/client/appservice-client.ts';
import { InFlightMismatchError } from '../../lib/errors.ts';
import { Sender, type FailedInfo } from '../../lib/push/sender.ts';
import { MemoryStore } from '../../lib/store/memory-store.ts';
import { SqliteStore } from '../../lib/store/sqlite/sqlite-store.ts';
import type { BatchLimits, QueuedItem, Store, StoredTransaction } from '../../lib/store/store.ts';
import { MockAppService } from '../../lib/testing/mock-appservice.ts';
import { registration } from '../push/registrations.ts';

type Build = (items: readonly QueuedItem[]) => string;
type Create = (asId: string, limits: BatchLimits, build: Build) => Promise<StoredTransaction | null>;

/**
 * Makes the next createTransaction of `store` meet a transaction that `otherWriter` has just
 * created for the same AS; records what the store refused.
 */
function interleave(store: Store, otherWriter: Create): { refused: unknown[]; otherTxnIds: string[] } {
  const seen = { refused: [] as unknown[], otherTxnIds: [] as string[] };
  const create = store.createTransaction.bind(store);
  let armed = true;
  store.createTransaction = async (asId, limits, build) => {
    if (armed) {
      armed = false;
      const other = await otherWriter(asId, limits, build);
      if (other) seen.otherTxnIds.push(other.txnId);
    }
    try {
      return await create(asId, limits, build);
    } catch (error) {
      seen.refused.push(error);
      throw error;
    }
  };
  return seen;
}

async function until(check: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('reliability: a transaction in flight behind the sender’s back', function () {
  this.timeout(10_000);
  let mock: MockAppService;
  let client: AppserviceClient;
  let sender: Sender | null;
  let dir: string;
  const cleanup: (() => Promise<void>)[] = [];

  beforeEach(async () => {
    mock = await MockAppService.start({ hsToken: 'hs-token-a' });
    client = new AppserviceClient(registration('a', { url: mock.url }));
    dir = mkdtempSync(join(tmpdir(), 'koa-as-mismatch-'));
    sender = null;
  });

  afterEach(async () => {
    await sender?.stop();
    for (const step of cleanup.splice(0).reverse()) await step();
    await client.close();
    await mock.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Runs a sender on `store` and checks that it delivers the other writer's transaction with no backoff. */
  async function deliversWithoutBackoff(
    store: Store,
    seen: { refused: unknown[]; otherTxnIds: string[] },
  ): Promise<void> {
    const reg = registration('a', { url: mock.url, users: ['@a_.*'] });
    await store.enqueue([0, 1, 2].map((i) => ({ kind: 'event' as const, json: `{"i":${i}}`, asIds: ['a'] })));
    const failed: FailedInfo[] = [];
    let backoffs = 0;
    sender = new Sender(
      { registration: reg, store, send: (txnId, body, signal) => client.sendTransaction(txnId, body, signal) },
      // Long enough that a backoff could not go unnoticed; counted, not timed.
      { backoff: { initialMs: 60_000, maxMs: 60_000 }, onFailed: (info) => failed.push(info) },
    );
    const watch = setInterval(() => {
      if (sender?.state === 'backoff') backoffs++;
    }, 1);
    cleanup.push(async () => clearInterval(watch));
    sender.start();
    await until(() => mock.events.length >= 3 || failed.length > 0, 5_000, 'delivery or a failure');
    expect(seen.refused).to.have.length(1);
    expect(seen.refused[0]).to.be.instanceOf(InFlightMismatchError);
    expect(failed, 'no backoff after the surprise').to.deep.equal([]);
    expect(backoffs).to.equal(0);
    expect(mock.events.map((e) => (e as { i: number }).i)).to.deep.equal([0, 1, 2]);
    expect([...mock.transactions.keys()]).to.deep.equal(seen.otherTxnIds.map(String));
  }

  it('MemoryStore: the other writer’s transaction goes out at once, same id, no backoff', async () => {
    const store = new MemoryStore();
    await store.open();
    cleanup.push(() => store.close());
    const create = store.createTransaction.bind(store);
    const seen = interleave(store, create);
    await deliversWithoutBackoff(store, seen);
  });

  it('SqliteStore: another connection to the same file created it; delivered at once, no backoff', async () => {
    const path = join(dir, 'queue.db');
    const store = new SqliteStore(path);
    const other = new SqliteStore(path);
    await store.open();
    await other.open();
    cleanup.push(
      () => store.close(),
      () => other.close(),
    );
    const seen = interleave(store, (asId, limits, build) => other.createTransaction(asId, limits, build));
    await deliversWithoutBackoff(store, seen);
  });

  it('a store that keeps refusing while showing nothing in flight gets backoff, not a busy loop', async () => {
    const store = new MemoryStore();
    await store.open();
    cleanup.push(() => store.close());
    let creates = 0;
    store.createTransaction = async (asId) => {
      creates++;
      throw new InFlightMismatchError(asId);
    };
    const failed: FailedInfo[] = [];
    sender = new Sender(
      { registration: registration('a', { url: mock.url }), store, send: async () => {} },
      { backoff: { initialMs: 60_000, maxMs: 60_000 }, onFailed: (info) => failed.push(info) },
    );
    sender.start();
    await until(() => failed.length > 0, 2_000, 'a backoff');
    expect(creates).to.equal(2);
    expect(sender.state).to.equal('backoff');
  });
});
