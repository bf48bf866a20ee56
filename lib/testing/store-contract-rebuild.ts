/**
 * The part of the Store contract that holds a store to the bytes it hands out. A store may keep a
 * transaction's items instead of its body and rebuild the body with the builder the sender passes
 * (see `Store.inFlight`); whichever it does, every transaction it hands out, from
 * `createTransaction`, `acknowledgeAndCreate` (created ahead or not), `nextStored`, `inFlight`
 * after a reopen, `replaceInFlight` or after `setAside`, must carry exactly the bytes the builder
 * gives for exactly its items: a resend under the same id with other bytes, or with a neighbour's
 * items, would be deduplicated away or delivered twice by the AS.
 */
import { expect } from 'chai';
import { it } from 'mocha';
import { cutBatch } from '../store/batch.ts';
import { withOversizeSupport } from '../store/dead-letters.ts';
import type { BatchLimits, EnqueueItem, QueuedItem, Store, StoredTransaction } from '../store/store.ts';
import { item, type ContractFixture } from './store-contract-support.ts';

/** A builder that tells kinds apart and keeps every item's JSON text, as the library's does. */
export function kindBuild(items: readonly QueuedItem[]): string {
  return `[${items.map((i) => `[${JSON.stringify(i.kind)},${i.json}]`).join(',')}]`;
}

/** Mixed kinds, so that a rebuild from the wrong rows or the wrong count shows in the bytes. */
function mixed(count: number, asIds: readonly string[] = ['a']): EnqueueItem[] {
  return Array.from({ length: count }, (_, n) =>
    item(n % 5 === 3 ? 'ephemeral' : n % 7 === 5 ? 'toDevice' : 'event', n, asIds),
  );
}

/** The bodies of the transactions the batch rule cuts from `items`, in order, with `limits`. */
function expectedBodies(items: readonly EnqueueItem[], limits: BatchLimits): string[] {
  let rest: QueuedItem[] = items.map((i, seq) => ({ seq, kind: i.kind, json: i.json }));
  const bodies: string[] = [];
  while (rest.length > 0) {
    const cut = cutBatch(rest, limits);
    bodies.push(kindBuild(cut.items));
    rest = rest.slice(cut.items.length);
  }
  return bodies;
}

/** The transaction `inFlight` gives now, which must be `txn` with the same bytes. */
async function expectInFlight(store: Store, txn: StoredTransaction | null, why: string): Promise<void> {
  const now = await store.inFlight('a', kindBuild);
  expect(now, `inFlight ${why}`).to.deep.equal(txn);
  if (txn !== null) expect(Buffer.from(now!.body).equals(Buffer.from(txn.body)), `bytes ${why}`).to.equal(true);
}

/** What `nextStored` reads after `txn`, when the store has one: the next transaction, `want`. */
async function expectNext(store: Store, txn: StoredTransaction, want: string | undefined, why: string): Promise<void> {
  const ahead = (await store.nextStored?.('a', txn.txnId, kindBuild)) ?? null;
  if (ahead !== null) expect(ahead.body, `nextStored ${why}`).to.equal(want);
}

/**
 * Registers the rebuild cases in the enclosing `describe` (see `storeContractTests`).
 *
 * @example
 * describe('Store contract', () => rebuildContractTests(contractFixture(makeStore)));
 */
export function rebuildContractTests(f: ContractFixture): void {
  it('hands every transaction out with the bytes of exactly its items: created ahead, read next, across a reopen', async () => {
    const items = mixed(60);
    await f.store.enqueue(items);
    const limits = { event: 4, ephemeral: 2, toDevice: 1 };
    const want = expectedBodies(items, limits);
    const got: string[] = [];
    let txn = await f.store.createTransaction('a', limits, kindBuild);
    for (let round = 0; txn !== null && round < 100; round++) {
      got.push(txn.body);
      await expectInFlight(f.store, txn, `in round ${round}`);
      if (round === 2 && f.subject.reopen) {
        await f.reopen();
        await expectInFlight(f.store, txn, 'after a reopen');
      }
      const ahead = (await f.store.nextStored?.('a', txn.txnId, kindBuild)) ?? null;
      if (ahead !== null) expect(ahead.body, `nextStored in round ${round}`).to.equal(want[round + 1]);
      if (f.store.acknowledgeAndCreate) {
        const next = await f.store.acknowledgeAndCreate('a', txn.txnId, limits, kindBuild);
        if (ahead !== null) expect(next).to.deep.equal(ahead);
        txn = next;
      } else {
        await f.store.acknowledge('a', txn.txnId);
        txn = await f.store.createTransaction('a', limits, kindBuild);
      }
    }
    expect(got).to.deep.equal(want);
  });

  it('gives a transaction from replaceInFlight, and each after it, the bytes of exactly its items', async function () {
    const store = withOversizeSupport(f.store);
    if (store === null) this.skip();
    const items = mixed(30);
    await store.enqueue(items);
    const limits = { event: 6, ephemeral: 3, toDevice: 2 };
    const first = await store.createTransaction('a', limits, kindBuild);
    // Acknowledged with the next created: a store that creates ahead has several stored now.
    const second = await (store.acknowledgeAndCreate
      ? store.acknowledgeAndCreate('a', first!.txnId, limits, kindBuild)
      : store.acknowledge('a', first!.txnId).then(() => store.createTransaction('a', limits, kindBuild)));
    const rest = items.slice(first!.counts.event + first!.counts.ephemeral + first!.counts.toDevice);
    const smaller = { event: 2, ephemeral: 1, toDevice: 1 };
    const want = expectedBodies(rest, smaller);
    let txn = await store.replaceInFlight('a', second!.txnId, smaller, kindBuild);
    const got: string[] = [];
    for (let round = 0; txn !== null && round < 100; round++) {
      got.push(txn.body);
      await expectInFlight(store, txn, `after the split, round ${round}`);
      await expectNext(store, txn, want[round + 1], `after the split, round ${round}`);
      txn = store.acknowledgeAndCreate
        ? await store.acknowledgeAndCreate('a', txn.txnId, smaller, kindBuild)
        : await store.acknowledge('a', txn.txnId).then(() => store.createTransaction('a', smaller, kindBuild));
    }
    expect(got).to.deep.equal(want);
  });

  it('after a transaction is set aside, gives each next one the bytes of exactly its items', async function () {
    const store = withOversizeSupport(f.store);
    if (store === null) this.skip();
    const items = mixed(12);
    await store.enqueue(items);
    const one = { event: 1, ephemeral: 1, toDevice: 1 };
    const want = expectedBodies(items, one);
    const first = await store.createTransaction('a', one, kindBuild);
    const second = await (store.acknowledgeAndCreate
      ? store.acknowledgeAndCreate('a', first!.txnId, one, kindBuild)
      : store.acknowledge('a', first!.txnId).then(() => store.createTransaction('a', one, kindBuild)));
    expect(second!.body).to.equal(want[1]);
    expect(await store.setAside('a', second!.txnId, 'HTTP 413')).to.equal(1);
    const got: string[] = [];
    let txn = await store.inFlight('a', kindBuild);
    if (txn === null) txn = await store.createTransaction('a', one, kindBuild);
    for (let round = 0; txn !== null && round < 100; round++) {
      got.push(txn.body);
      if (f.subject.reopen && round === 1) await expectInFlight(await f.reopen(), txn, 'after a reopen');
      const s = f.store;
      await expectNext(s, txn, want[round + 3], `after the one set aside, round ${round}`);
      txn = s.acknowledgeAndCreate
        ? await s.acknowledgeAndCreate('a', txn.txnId, one, kindBuild)
        : await s.acknowledge('a', txn.txnId).then(() => s.createTransaction('a', one, kindBuild));
    }
    expect(got).to.deep.equal(want.slice(2));
  });
}
