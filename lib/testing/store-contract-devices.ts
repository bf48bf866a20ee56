/**
 * The MSC3202 kinds in the Store contract: `deviceList` and `keyCounts` items are queued, cut,
 * counted, kept across a reopen and set aside like the older kinds, with limits of their own
 * that callers written for the older kinds may leave out.
 */
import { expect } from 'chai';
import { it } from 'mocha';
import { withOversizeSupport } from '../store/dead-letters.ts';
import type { BatchLimits, EnqueueItem, ItemKind } from '../store/store.ts';
import { LIMITS, bodyNumbers, build, drain, item, rejection, type ContractFixture } from './store-contract-support.ts';

const ALL: BatchLimits = { event: 100, ephemeral: 100, toDevice: 100, deviceList: 100, keyCounts: 100 };

function items(kinds: readonly ItemKind[], asIds: readonly string[] = ['a'], from = 1): EnqueueItem[] {
  return kinds.map((kind, i) => item(kind, from + i, asIds));
}

/**
 * Registers the MSC3202 kind cases in the enclosing `describe` (see `storeContractTests`).
 *
 * @example
 * describe('Store contract', () => deviceKindContractTests(contractFixture(makeStore)));
 */
export function deviceKindContractTests(f: ContractFixture): void {
  it('queues deviceList and keyCounts items in order with the other kinds, and counts them', async () => {
    const kinds: ItemKind[] = ['event', 'deviceList', 'keyCounts', 'toDevice', 'deviceList', 'ephemeral'];
    await f.store.enqueue(items(kinds, ['a', 'b']));
    const txn = await f.store.createTransaction('a', ALL, build);
    expect(bodyNumbers(txn)).to.deep.equal([1, 2, 3, 4, 5, 6]);
    expect(txn!.counts).to.deep.equal({ event: 1, ephemeral: 1, toDevice: 1, deviceList: 2, keyCounts: 1 });
    expect(await drain(f.store, 'b')).to.deep.equal([1, 2, 3, 4, 5, 6]);
  });

  it('stops a batch at the first item over its kind limit, each MSC3202 kind on its own limit', async () => {
    const kinds: ItemKind[] = ['deviceList', 'keyCounts', 'deviceList', 'keyCounts', 'deviceList', 'event'];
    await f.store.enqueue(items(kinds));
    const limits = { ...ALL, deviceList: 2, keyCounts: 1 };
    const first = await f.store.createTransaction('a', limits, build);
    expect(bodyNumbers(first)).to.deep.equal([1, 2, 3]);
    expect(first!.counts).to.deep.equal({ event: 0, ephemeral: 0, toDevice: 0, deviceList: 2, keyCounts: 1 });
    await f.store.acknowledge('a', first!.txnId);
    expect(await drain(f.store, 'a', limits)).to.deep.equal([4, 5, 6]);
  });

  it('takes the MSC3202 kinds under limits that leave them out (default 100), and names only present kinds in counts', async () => {
    await f.store.enqueue(items(Array<ItemKind>(101).fill('keyCounts')));
    await f.store.enqueue([item('event', 200, ['a'])]);
    const first = await f.store.createTransaction('a', LIMITS, build);
    expect(first!.counts).to.deep.equal({ event: 0, ephemeral: 0, toDevice: 0, keyCounts: 100 });
    await f.store.acknowledge('a', first!.txnId);
    const second = await f.store.createTransaction('a', LIMITS, build);
    expect(bodyNumbers(second)).to.deep.equal([101, 200]);
    expect(second!.counts).to.deep.equal({ event: 1, ephemeral: 0, toDevice: 0, keyCounts: 1 });
  });

  it('counts them the same through acknowledgeAndCreate', async function () {
    if (!f.store.acknowledgeAndCreate) this.skip();
    await f.store.enqueue(items(['event', 'deviceList', 'keyCounts', 'deviceList']));
    const one = { ...ALL, event: 1, deviceList: 1, keyCounts: 1 };
    const first = await f.store.createTransaction('a', one, build);
    const second = await f.store.acknowledgeAndCreate('a', first!.txnId, one, build);
    expect(bodyNumbers(second)).to.deep.equal([4]);
    expect(second!.counts).to.deep.equal({ event: 0, ephemeral: 0, toDevice: 0, deviceList: 1 });
  });

  it('refuses a limit of 0 for an MSC3202 kind with a TypeError naming it', async () => {
    await f.store.enqueue(items(['deviceList']));
    const err = await rejection(f.store.createTransaction('a', { ...ALL, deviceList: 0 }, build));
    expect(err).to.be.instanceOf(TypeError).with.property('message').that.contains('limits.deviceList');
  });

  it('keeps an in-flight transaction of MSC3202 items, body and counts, across close and reopen', async function () {
    if (!f.subject.reopen) this.skip();
    await f.store.enqueue(items(['keyCounts', 'deviceList', 'event']));
    const txn = await f.store.createTransaction('a', ALL, build);
    await f.reopen();
    expect(await f.store.inFlight('a', build)).to.deep.equal(txn);
    expect(txn!.counts).to.deep.equal({ event: 1, ephemeral: 0, toDevice: 0, deviceList: 1, keyCounts: 1 });
  });

  it('sets an MSC3202 item aside as a dead letter and replays it with its kind', async function () {
    const store = withOversizeSupport(f.store);
    if (store === null) this.skip();
    await store.enqueue(items(['deviceList', 'keyCounts']));
    const txn = await store.createTransaction('a', { ...ALL, keyCounts: 1, deviceList: 1, bytes: 1 }, build);
    expect(await store.setAside('a', txn!.txnId, 'HTTP 413')).to.equal(1);
    const [letter] = await store.deadLetters('a');
    expect(letter).to.deep.include({ kind: 'deviceList', json: items(['deviceList'])[0]!.json });
    expect(await store.replayDeadLetter('a', letter!.id)).to.equal(true);
    expect(await drain(store, 'a', ALL)).to.deep.equal([2, 1]);
  });
}
