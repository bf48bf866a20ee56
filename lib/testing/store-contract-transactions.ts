/**
 * The transaction part of the Store contract: the batch rule (kind and byte limits), one
 * transaction in flight per AS stored byte for byte, acknowledgement, and transaction ids that
 * grow and are never reused, not even by another new store.
 */
import { expect } from 'chai';
import { it } from 'mocha';
import { InFlightMismatchError } from '../errors.ts';
import type { EnqueueItem, ItemKind, Store } from '../store/store.ts';
import {
  LIMITS,
  bodyNumbers,
  build,
  counter,
  drain,
  item,
  rejection,
  type ContractFixture,
} from './store-contract-support.ts';

/**
 * Registers the transaction cases in the enclosing `describe` (see `storeContractTests`).
 *
 * @example
 * describe('Store contract', () => transactionContractTests(contractFixture(makeStore)));
 */
export function transactionContractTests(f: ContractFixture): void {
  it('stops a batch before the first item whose kind reached its limit', async () => {
    const kinds: ItemKind[] = ['event', 'event', 'ephemeral', 'event', 'event', 'toDevice', 'ephemeral'];
    await f.store.enqueue(kinds.map((kind, n) => item(kind, n, ['a'])));
    const limits = { event: 3, ephemeral: 5, toDevice: 5 };
    const first = await f.store.createTransaction('a', limits, build);
    // Item 4 is a fourth event: the batch ends there, though the to-device after it would fit.
    expect(bodyNumbers(first)).to.deep.equal([0, 1, 2, 3]);
    expect(first!.counts).to.deep.equal({ event: 3, ephemeral: 1, toDevice: 0 });
    await f.store.acknowledge('a', first!.txnId);
    const second = await f.store.createTransaction('a', limits, build);
    expect(bodyNumbers(second)).to.deep.equal([4, 5, 6]);
    expect(second!.counts).to.deep.equal({ event: 1, ephemeral: 1, toDevice: 1 });
  });

  it('splits a long queue into full transactions', async () => {
    await f.store.enqueue(Array.from({ length: 250 }, (_, n) => item('event', n, ['a'])));
    const sizes: number[] = [];
    for (let round = 0; round < 10; round++) {
      const txn = await f.store.createTransaction('a', LIMITS, build);
      if (!txn) break;
      sizes.push(txn.counts.event);
      await f.store.acknowledge('a', txn.txnId);
    }
    expect(sizes).to.deep.equal([100, 100, 50]);
  });

  it('refuses a second transaction while one is in flight', async () => {
    await f.store.enqueue([item('event', 1, ['a']), item('event', 2, ['a'])]);
    const txn = await f.store.createTransaction('a', { event: 1, ephemeral: 1, toDevice: 1 }, build);
    const err = await rejection(f.store.createTransaction('a', LIMITS, build));
    expect(err)
      .to.be.instanceOf(InFlightMismatchError)
      .and.include({ asId: 'a', txnId: String(txn!.txnId) });
    expect(await f.store.inFlight('a', build)).to.deep.equal(txn);
  });

  it('cuts a batch at the byte limit too, and sends an item larger than the limit alone', async () => {
    const sized = (n: number, bytes: number): EnqueueItem => ({
      kind: 'event',
      json: JSON.stringify({ content: { n }, pad: 'x'.repeat(bytes) }),
      asIds: ['a'],
    });
    // Each small item is about 40 bytes of JSON; 100 bytes hold two of them, not three.
    await f.store.enqueue([sized(0, 10), sized(1, 10), sized(2, 10), sized(3, 500), sized(4, 10)]);
    const limits = { ...LIMITS, bytes: 100 };
    const sizes: number[][] = [];
    for (let round = 0; round < 10; round++) {
      const txn = await f.store.createTransaction('a', limits, build);
      if (!txn) break;
      sizes.push(bodyNumbers(txn));
      await f.store.acknowledge('a', txn.txnId);
    }
    expect(sizes).to.deep.equal([[0, 1], [2], [3], [4]]);
  });

  it('stores the transaction: inFlight returns the same id, counts and byte-identical body', async () => {
    await f.store.enqueue([item('event', 1, ['a']), item('ephemeral', 2, ['a'])]);
    const body = '{"events":[1],"ephemeral":[2],"x":"é😀\\u0000"}';
    const constant = (): string => body;
    const txn = await f.store.createTransaction('a', LIMITS, constant);
    expect(txn).to.deep.equal({
      asId: 'a',
      txnId: txn!.txnId,
      body,
      counts: { event: 1, ephemeral: 1, toDevice: 0 },
    });
    const again = await f.store.inFlight('a', constant);
    expect(again).to.deep.equal(txn);
    expect(Buffer.from(again!.body).equals(Buffer.from(body))).to.equal(true);
  });

  it('leaves everything as it was when build() throws', async () => {
    await f.store.enqueue([item('event', 1, ['a'])]);
    const boom = new Error('boom');
    const err = await rejection(
      f.store.createTransaction('a', LIMITS, () => {
        throw boom;
      }),
    );
    expect(err).to.equal(boom);
    expect(await f.store.inFlight('a', build)).to.equal(null);
    expect(await drain(f.store, 'a')).to.deep.equal([1]);
  });

  it('acknowledge removes the transaction and its items', async () => {
    await f.store.enqueue([item('event', 1, ['a']), item('event', 2, ['a']), item('event', 3, ['a'])]);
    const txn = await f.store.createTransaction('a', { event: 2, ephemeral: 1, toDevice: 1 }, build);
    expect((await f.store.backlog('a')).size).to.equal(3);
    await f.store.acknowledge('a', txn!.txnId);
    expect(await f.store.inFlight('a', build)).to.equal(null);
    expect((await f.store.backlog('a')).size).to.equal(1);
    expect(await drain(f.store, 'a')).to.deep.equal([3]);
    expect(await f.store.backlog('a')).to.deep.equal({ size: 0, oldestEnqueuedAt: null });
  });

  it('ignores acknowledge of an unknown id', async () => {
    await f.store.acknowledge('nobody', '1');
    await f.store.enqueue([item('event', 1, ['a'])]);
    const txn = await f.store.createTransaction('a', LIMITS, build);
    const n = counter(txn!.txnId);
    // The same counter under another store's birth, or none: an id this store never gave out.
    for (const other of [
      `${n + 1}`,
      `${n}`,
      `0123456789ab.${n}`,
      `${txn!.txnId}0`,
      `x${txn!.txnId}`,
      '',
      'not an id',
    ]) {
      if (other !== txn!.txnId) await f.store.acknowledge('a', other);
    }
    await f.store.acknowledge('b', txn!.txnId);
    expect(await f.store.inFlight('a', build)).to.deep.equal(txn);
    expect((await f.store.backlog('a')).size).to.equal(1);
  });

  it('hands out strictly increasing, URL-safe ids, never reused after everything is acknowledged', async () => {
    const ids: string[] = [];
    for (let round = 0; round < 5; round++) {
      await f.store.enqueue([item('event', round, ['a'])]);
      const txn = await f.store.createTransaction('a', LIMITS, build);
      ids.push(txn!.txnId);
      await f.store.acknowledge('a', txn!.txnId);
      expect(await f.store.backlog('a')).to.deep.equal({ size: 0, oldestEnqueuedAt: null });
    }
    for (let i = 1; i < ids.length; i++) expect(counter(ids[i]!)).to.be.greaterThan(counter(ids[i - 1]!));
    for (const id of ids) expect(id).to.match(/^[A-Za-z0-9._~-]+$/);
  });

  it('gives a new store ids that no other new store gave, so an AS that dedupes by txnId drops nothing', async () => {
    // A second store, as new as the first: the database lost, or a homeserver started elsewhere.
    const other = await f.makeStore();
    await other.store.open();
    try {
      const idsOf = async (s: Store): Promise<string[]> => {
        const ids: string[] = [];
        for (let round = 0; round < 3; round++) {
          await s.enqueue([item('event', round, ['a'])]);
          const txn = await s.createTransaction('a', LIMITS, build);
          ids.push(txn!.txnId);
          await s.acknowledge('a', txn!.txnId);
        }
        return ids;
      };
      const mine = await idsOf(f.store);
      const theirs = await idsOf(other.store);
      expect(
        mine.filter((id) => theirs.includes(id)),
        'ids both stores gave out',
      ).to.deep.equal([]);
    } finally {
      await other.store.close();
      await other.cleanup?.();
    }
  });
}
