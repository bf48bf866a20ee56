/**
 * The durability part of the Store contract: ids keep growing and the in-flight transaction and
 * queue come back after close and reopen. Skipped for a store whose subject has no `reopen`.
 */
import { expect } from 'chai';
import { it } from 'mocha';
import { LIMITS, build, counter, drain, item, rejection, type ContractFixture } from './store-contract-support.ts';

/**
 * Registers the reopen cases in the enclosing `describe` (see `storeContractTests`).
 *
 * @example
 * describe('Store contract', () => reopenContractTests(contractFixture(makeStore)));
 */
export function reopenContractTests(f: ContractFixture): void {
  it('keeps ids increasing across close and reopen', async function () {
    if (!f.subject.reopen) this.skip();
    await f.store.enqueue([item('event', 1, ['a'])]);
    const first = await f.store.createTransaction('a', LIMITS, build);
    await f.store.acknowledge('a', first!.txnId);
    await f.reopen();
    await f.store.enqueue([item('event', 2, ['a'])]);
    const second = await f.store.createTransaction('a', LIMITS, build);
    expect(counter(second!.txnId)).to.be.greaterThan(counter(first!.txnId));
  });

  it('keeps the in-flight transaction and the queue across close and reopen', async function () {
    if (!f.subject.reopen) this.skip();
    await f.store.enqueue([item('event', 1, ['a']), item('toDevice', 2, ['a']), item('event', 3, ['a', 'b'])]);
    const txn = await f.store.createTransaction('a', { event: 1, ephemeral: 1, toDevice: 1 }, build);
    const before = await f.store.backlog('a');
    await f.reopen();
    expect(await f.store.inFlight('a', build)).to.deep.equal(txn);
    expect(await f.store.backlog('a')).to.deep.equal(before);
    await rejection(f.store.createTransaction('a', LIMITS, build));
    await f.store.acknowledge('a', txn!.txnId);
    expect(await drain(f.store, 'a')).to.deep.equal([3]);
    expect(await drain(f.store, 'b')).to.deep.equal([3]);
  });
}
