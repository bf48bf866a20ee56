/**
 * The queue part of the Store contract: enqueue order and atomicity, one queue per AS, backlog
 * figures, bad arguments and use after close.
 */
import { expect } from 'chai';
import { it } from 'mocha';
import { StoreError } from '../errors.ts';
import type { EnqueueItem, QueuedItem } from '../store/store.ts';
import { LIMITS, bodyNumbers, build, drain, item, rejection, type ContractFixture } from './store-contract-support.ts';

/**
 * Registers the queue cases in the enclosing `describe` (see `storeContractTests`).
 *
 * @example
 * describe('Store contract', () => queueContractTests(contractFixture(makeStore)));
 */
export function queueContractTests(f: ContractFixture): void {
  it('open() is idempotent and an empty store has nothing to send', async () => {
    await f.store.open();
    expect(await f.store.createTransaction('a', LIMITS, build)).to.equal(null);
    expect(await f.store.inFlight('a', build)).to.equal(null);
    expect(await f.store.backlog('a')).to.deep.equal({ size: 0, oldestEnqueuedAt: null });
  });

  it('gives items back in enqueue order, with growing seq and the exact JSON', async () => {
    const odd = { kind: 'event' as const, json: '{"body":"é 😀 \\u2028 \\"q\\"",  "n" : 1}', asIds: ['a'] };
    await f.store.enqueue([item('event', 0, ['a']), odd, item('ephemeral', 2, ['a'])]);
    await f.store.enqueue([item('toDevice', 3, ['a']), item('event', 4, ['a'])]);
    let seen: readonly QueuedItem[] = [];
    await f.store.createTransaction('a', LIMITS, (items) => {
      seen = items;
      return build(items);
    });
    expect(seen.map((i) => i.kind)).to.deep.equal(['event', 'event', 'ephemeral', 'toDevice', 'event']);
    expect(seen[1]!.json).to.equal(odd.json);
    for (let i = 1; i < seen.length; i++) expect(seen[i]!.seq).to.be.greaterThan(seen[i - 1]!.seq);
  });

  it('keeps each AS its own queue', async () => {
    await f.store.enqueue([item('event', 1, ['a']), item('event', 2, ['b']), item('event', 3, ['a', 'b'])]);
    const a = await f.store.createTransaction('a', LIMITS, build);
    expect(bodyNumbers(a)).to.deep.equal([1, 3]);
    // A transaction in flight for a does not hold b back, nor take b's items.
    expect(await drain(f.store, 'b')).to.deep.equal([2, 3]);
    expect(await f.store.inFlight('a', build)).to.deep.equal(a);
    expect((await f.store.backlog('a')).size).to.equal(2);
    expect(await f.store.backlog('c')).to.deep.equal({ size: 0, oldestEnqueuedAt: null });
  });

  it('queues an item named for several ASes in each of them, an AS named twice once', async () => {
    await f.store.enqueue([item('event', 1, ['a', 'b', 'c', 'a'])]);
    for (const asId of ['a', 'b', 'c']) expect(await drain(f.store, asId)).to.deep.equal([1]);
  });

  it('enqueues all or nothing: a malformed item rejects the whole call', async () => {
    const bad = { kind: 'nonsense', json: '{}', asIds: ['a'] } as unknown as EnqueueItem;
    await rejection(f.store.enqueue([item('event', 1, ['a', 'b']), bad]));
    const notJson = { kind: 'event', json: { n: 1 }, asIds: ['a'] } as unknown as EnqueueItem;
    await rejection(f.store.enqueue([item('event', 2, ['b']), notJson]));
    expect(await f.store.backlog('a')).to.deep.equal({ size: 0, oldestEnqueuedAt: null });
    expect(await f.store.backlog('b')).to.deep.equal({ size: 0, oldestEnqueuedAt: null });
    await f.store.enqueue([item('event', 3, ['a'])]);
    expect(await drain(f.store, 'a')).to.deep.equal([3]);
  });

  it('reports backlog size (in-flight included) and the oldest enqueue time', async () => {
    const t0 = Date.now();
    await f.store.enqueue([item('event', 1, ['a']), item('event', 2, ['a'])]);
    const t1 = Date.now();
    // Let the clock move on so the second enqueue time is distinguishable from the first.
    for (let i = 0; i < 50 && Date.now() <= t1; i++) await new Promise((r) => setTimeout(r, 2));
    const t2 = Date.now();
    await f.store.enqueue([item('event', 3, ['a'])]);
    const t3 = Date.now();
    const all = await f.store.backlog('a');
    expect(all.size).to.equal(3);
    expect(all.oldestEnqueuedAt).to.be.within(t0, t1);
    const txn = await f.store.createTransaction('a', { event: 2, ephemeral: 1, toDevice: 1 }, build);
    expect(await f.store.backlog('a')).to.deep.equal(all);
    await f.store.acknowledge('a', txn!.txnId);
    const rest = await f.store.backlog('a');
    expect(rest.size).to.equal(1);
    expect(rest.oldestEnqueuedAt).to.be.within(Math.max(t2, t1 + 1), t3);
  });

  it('lands concurrent enqueues, all of them, in call order', async () => {
    const calls = Array.from({ length: 60 }, (_, c) =>
      f.store.enqueue([item('event', 2 * c, ['a', 'b']), item('ephemeral', 2 * c + 1, ['a'])]),
    );
    await Promise.all(calls);
    const expected = Array.from({ length: 120 }, (_, n) => n);
    expect(await drain(f.store, 'a')).to.deep.equal(expected);
    expect(await drain(f.store, 'b')).to.deep.equal(expected.filter((n) => n % 2 === 0));
  });

  it('accepts an empty enqueue and items wanted by no AS', async () => {
    await f.store.enqueue([]);
    await f.store.enqueue([item('event', 1, [])]);
    await f.store.enqueue([item('event', 2, []), item('event', 3, ['a'])]);
    expect(await drain(f.store, 'a')).to.deep.equal([3]);
  });

  it('rejects bad limits with a TypeError', async () => {
    await f.store.enqueue([item('event', 1, ['a'])]);
    const err = await rejection(f.store.createTransaction('a', { event: 0, ephemeral: 1, toDevice: 1 }, build));
    expect(err).to.be.instanceOf(TypeError);
    expect(await drain(f.store, 'a')).to.deep.equal([1]);
  });

  it('rejects use after close with a StoreError; close twice is fine', async () => {
    await f.store.close();
    await f.store.close();
    expect(await rejection(f.store.enqueue([item('event', 1, ['a'])]))).to.be.instanceOf(StoreError);
    expect(await rejection(f.store.backlog('a'))).to.be.instanceOf(StoreError);
    expect(await rejection(f.store.createTransaction('a', LIMITS, build))).to.be.instanceOf(StoreError);
  });
}
