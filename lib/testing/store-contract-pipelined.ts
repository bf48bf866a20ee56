/**
 * The optional methods a pipelining sender uses, `acknowledgeAndCreate` and `nextStored`: they
 * must hand out exactly what `acknowledge` then `createTransaction` would. A store without them
 * skips these cases.
 */
import { expect } from 'chai';
import { beforeEach, describe, it } from 'mocha';
import { InFlightMismatchError } from '../errors.ts';
import {
  LIMITS,
  bodyNumbers,
  build,
  counter,
  item,
  rejection,
  type ContractFixture,
} from './store-contract-support.ts';

/**
 * Registers the `acknowledgeAndCreate` and `nextStored` cases in the enclosing `describe`
 * (see `storeContractTests`).
 *
 * @example
 * describe('Store contract', () => pipelinedContractTests(contractFixture(makeStore)));
 */
export function pipelinedContractTests(f: ContractFixture): void {
  describe('acknowledgeAndCreate (optional)', () => {
    beforeEach(function () {
      if (!f.store.acknowledgeAndCreate) this.skip();
    });

    it('acknowledges the transaction and creates the next from the rest of the queue', async () => {
      await f.store.enqueue([1, 2, 3, 4, 5].map((n) => item('event', n, ['a'])));
      const limits = { event: 2, ephemeral: 1, toDevice: 1 };
      const first = await f.store.createTransaction('a', limits, build);
      const second = await f.store.acknowledgeAndCreate!('a', first!.txnId, limits, build);
      expect(bodyNumbers(second)).to.deep.equal([3, 4]);
      expect(counter(second!.txnId)).to.be.greaterThan(counter(first!.txnId));
      expect(await f.store.inFlight('a', build)).to.deep.equal(second);
      expect((await f.store.backlog('a')).size).to.equal(3);
      const third = await f.store.acknowledgeAndCreate!('a', second!.txnId, limits, build);
      expect(bodyNumbers(third)).to.deep.equal([5]);
      expect(await f.store.acknowledgeAndCreate!('a', third!.txnId, limits, build)).to.equal(null);
      expect(await f.store.inFlight('a', build)).to.equal(null);
      expect(await f.store.backlog('a')).to.deep.equal({ size: 0, oldestEnqueuedAt: null });
    });

    it('creates after an unknown id as createTransaction would, refusing while one is in flight', async () => {
      await f.store.enqueue([item('event', 1, ['a']), item('event', 2, ['a'])]);
      const one = { event: 1, ephemeral: 1, toDevice: 1 };
      const first = await f.store.acknowledgeAndCreate!('a', '999', one, build);
      expect(bodyNumbers(first)).to.deep.equal([1]);
      const err = await rejection(f.store.acknowledgeAndCreate!('a', `${first!.txnId}1`, one, build));
      expect(err).to.be.instanceOf(InFlightMismatchError).and.include({ asId: 'a' });
      expect(await f.store.inFlight('a', build)).to.deep.equal(first);
      expect((await f.store.backlog('a')).size).to.equal(2);
    });

    it('keeps the acknowledgement when build() throws, and leaves the queue as it was', async () => {
      await f.store.enqueue([item('event', 1, ['a']), item('event', 2, ['a'])]);
      const one = { event: 1, ephemeral: 1, toDevice: 1 };
      const first = await f.store.createTransaction('a', one, build);
      const boom = new Error('boom');
      const err = await rejection(
        f.store.acknowledgeAndCreate!('a', first!.txnId, one, () => {
          throw boom;
        }),
      );
      expect(err).to.equal(boom);
      expect(await f.store.inFlight('a', build)).to.equal(null);
      expect(await f.store.backlog('a')).to.include({ size: 1 });
      const next = await f.store.createTransaction('a', one, build);
      expect(bodyNumbers(next)).to.deep.equal([2]);
      expect(counter(next!.txnId)).to.be.greaterThan(counter(first!.txnId));
    });

    it('drains a long queue in order with increasing ids, across a reopen in the middle', async () => {
      await f.store.enqueue(
        Array.from({ length: 1000 }, (_, n) => item(n % 7 === 0 ? 'ephemeral' : 'event', n, ['a'])),
      );
      const limits = { event: 90, ephemeral: 10, toDevice: 10 };
      const seen: number[] = [];
      const ids: string[] = [];
      let txn = await f.store.createTransaction('a', limits, build);
      for (let round = 0; txn && round < 100; round++) {
        seen.push(...bodyNumbers(txn));
        ids.push(txn.txnId);
        if (round === 3 && f.subject.reopen) {
          await f.reopen();
          // The transaction in flight comes back as it was, and so does what follows it.
          expect(await f.store.inFlight('a', build)).to.deep.equal(txn);
        }
        txn = await f.store.acknowledgeAndCreate!('a', txn.txnId, limits, build);
      }
      expect(seen).to.deep.equal(Array.from({ length: 1000 }, (_, n) => n));
      for (let i = 1; i < ids.length; i++) expect(counter(ids[i]!)).to.be.greaterThan(counter(ids[i - 1]!));
      expect(await f.store.backlog('a')).to.deep.equal({ size: 0, oldestEnqueuedAt: null });
    });

    it('rejects bad limits with a TypeError before acknowledging anything', async () => {
      await f.store.enqueue([item('event', 1, ['a'])]);
      const txn = await f.store.createTransaction('a', LIMITS, build);
      const err = await rejection(
        f.store.acknowledgeAndCreate!('a', txn!.txnId, { event: 0, ephemeral: 1, toDevice: 1 }, build),
      );
      expect(err).to.be.instanceOf(TypeError);
      expect(await f.store.inFlight('a', build)).to.deep.equal(txn);
    });
  });

  describe('nextStored (optional)', () => {
    beforeEach(function () {
      if (!f.store.nextStored) this.skip();
    });

    it('is null when nothing is stored after the transaction in flight, and writes nothing', async () => {
      await f.store.enqueue([item('event', 1, ['a']), item('event', 2, ['a'])]);
      const one = { event: 1, ephemeral: 1, toDevice: 1 };
      const txn = await f.store.createTransaction('a', one, build);
      expect(await f.store.nextStored!('a', txn!.txnId, build)).to.equal(null);
      expect(await f.store.nextStored!('b', txn!.txnId, build)).to.equal(null);
      expect(await f.store.inFlight('a', build)).to.deep.equal(txn);
      expect((await f.store.backlog('a')).size).to.equal(2);
    });

    it('gives the transaction the next acknowledgement hands out, without acknowledging anything', async function () {
      if (!f.store.acknowledgeAndCreate) this.skip();
      await f.store.enqueue(Array.from({ length: 20 }, (_, n) => item('event', n, ['a'])));
      const limits = { event: 2, ephemeral: 1, toDevice: 1 };
      let txn = await f.store.createTransaction('a', limits, build);
      const seen: number[] = [];
      while (txn) {
        seen.push(...bodyNumbers(txn));
        const ahead = await f.store.nextStored!('a', txn.txnId, build);
        // Reading it changes nothing: the one in flight is still in flight.
        expect(await f.store.inFlight('a', build)).to.deep.equal(txn);
        const next = await f.store.acknowledgeAndCreate!('a', txn.txnId, limits, build);
        if (ahead) expect(next).to.deep.equal(ahead);
        txn = next;
      }
      expect(seen).to.deep.equal(Array.from({ length: 20 }, (_, n) => n));
    });

    it('lets the sender acknowledge the one before after reading the next: same ids and bytes, in order', async function () {
      if (!f.store.acknowledgeAndCreate) this.skip();
      await f.store.enqueue(Array.from({ length: 30 }, (_, n) => item('event', n, ['a'])));
      const limits = { event: 3, ephemeral: 1, toDevice: 1 };
      const first = await f.store.createTransaction('a', limits, build);
      const second = await f.store.acknowledgeAndCreate!('a', first!.txnId, limits, build);
      const ahead = await f.store.nextStored!('a', second!.txnId, build);
      if (!ahead) this.skip(); // this store creates nothing ahead
      await f.store.acknowledge('a', second!.txnId);
      expect(await f.store.inFlight('a', build)).to.deep.equal(ahead);
      expect(bodyNumbers(ahead)).to.deep.equal([6, 7, 8]);
      expect((await f.store.backlog('a')).size).to.equal(24);
    });
  });
}
