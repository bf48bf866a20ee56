/**
 * The part of the store contract about transactions an AS refuses as too large: the byte cap
 * of the batch rule, `replaceInFlight`, and dead letters (`OversizeSupport`, lib/store/dead-letters.ts).
 * Runs inside `storeContractTests`; a store without `OversizeSupport` skips its cases.
 */
import { expect } from 'chai';
import { afterEach, beforeEach, describe, it } from 'mocha';
import { withOversizeSupport, type OversizeSupport } from '../store/dead-letters.ts';
import type { Store } from '../store/store.ts';
import { LIMITS, build, counter, type StoreContractSubject } from './store-contract-support.ts';

/** Items of about 1 000 bytes, numbered. */
const big = (n: number, asId = 'a') => ({
  kind: 'event' as const,
  json: JSON.stringify({ n, pad: 'x'.repeat(980) }),
  asIds: [asId],
});
const numbers = (body: string): number[] => (JSON.parse(body) as { n: number }[]).map((e) => e.n);
/** The id after a `<birth>.<n>` transaction id (see lib/store/txn-id.ts). */
const nextId = (txnId: string): string => `${txnId.slice(0, txnId.lastIndexOf('.') + 1)}${counter(txnId) + 1}`;

/**
 * Registers the oversize cases for the store `makeStore` gives (see `storeContractTests`).
 *
 * @example
 * oversizeContractTests(async () => ({ store: new MemoryStore() }));
 */
export function oversizeContractTests(makeStore: () => Promise<StoreContractSubject>): void {
  describe('transactions too large for the AS', () => {
    let subject: StoreContractSubject;
    let store: Store;
    let oversize: (Store & OversizeSupport) | null;

    beforeEach(async () => {
      subject = await makeStore();
      store = subject.store;
      await store.open();
      oversize = withOversizeSupport(store);
    });

    afterEach(async () => {
      await store.close();
      await subject.cleanup?.();
    });

    /** Creates and acknowledges until empty; the item numbers in order. */
    async function drain(s: Store): Promise<number[]> {
      const seen: number[] = [];
      for (
        let txn = await s.createTransaction('a', LIMITS, build);
        txn;
        txn = await s.createTransaction('a', LIMITS, build)
      ) {
        seen.push(...numbers(txn.body));
        await s.acknowledge('a', txn.txnId);
      }
      return seen;
    }

    it('caps a batch in bytes, and an item larger than the cap goes alone', async function () {
      if (!oversize) this.skip();
      await store.enqueue([0, 1, 2, 3, 4].map((n) => big(n)));
      const txn = await store.createTransaction('a', { ...LIMITS, bytes: 2_500 }, build);
      expect(numbers(txn!.body)).to.deep.equal([0, 1]);
      await store.acknowledge('a', txn!.txnId);
      const alone = await store.createTransaction('a', { ...LIMITS, bytes: 10 }, build);
      expect(numbers(alone!.body)).to.deep.equal([2]);
    });

    it('replaceInFlight drops the in-flight transaction (and those created ahead) for a smaller one with a new id', async function () {
      if (!oversize) this.skip();
      await store.enqueue([0, 1, 2, 3, 4, 5].map((n) => big(n)));
      const whole = await store.createTransaction('a', LIMITS, build);
      expect(await oversize!.replaceInFlight('a', nextId(whole!.txnId), LIMITS, build), 'not in flight').to.equal(null);
      const half = await oversize!.replaceInFlight('a', whole!.txnId, { ...LIMITS, bytes: 3_100 }, build);
      expect(numbers(half!.body)).to.deep.equal([0, 1, 2]);
      expect(counter(half!.txnId)).to.be.greaterThan(counter(whole!.txnId));
      expect((await store.inFlight('a', build))?.txnId).to.equal(half!.txnId);
      await store.acknowledge('a', whole!.txnId); // the old id is gone: a no-op
      expect((await store.inFlight('a', build))?.txnId).to.equal(half!.txnId);
      await store.acknowledge('a', half!.txnId);
      const rest = await store.createTransaction('a', LIMITS, build);
      expect(numbers(rest!.body)).to.deep.equal([3, 4, 5]);
      expect(counter(rest!.txnId)).to.be.greaterThan(counter(half!.txnId));
    });

    it('setAside keeps a refused transaction’s items as dead letters; the queue moves on; replay queues them at the end', async function () {
      if (!oversize) this.skip();
      await store.enqueue([0, 1, 2].map((n) => big(n)));
      await store.enqueue([big(9, 'b')]);
      const first = await store.createTransaction('a', { ...LIMITS, event: 1 }, build);
      expect(await oversize!.setAside('a', nextId(first!.txnId), 'HTTP 413'), 'not in flight').to.equal(0);
      expect(await oversize!.setAside('a', first!.txnId, 'HTTP 413')).to.equal(1);
      expect(await store.inFlight('a', build)).to.equal(null);
      expect((await store.backlog('a')).size).to.equal(2);
      const letters = await oversize!.deadLetters('a');
      expect(letters.map((l) => [l.asId, l.kind, numbers(`[${l.json}]`)[0], l.txnId, l.reason])).to.deep.equal([
        ['a', 'event', 0, first!.txnId, 'HTTP 413'],
      ]);
      expect(await oversize!.deadLetters('b')).to.deep.equal([]);
      expect(await oversize!.replayDeadLetter('b', letters[0]!.id), 'another AS’s id').to.equal(false);
      expect(await oversize!.replayDeadLetter('a', letters[0]!.id)).to.equal(true);
      expect(await oversize!.replayDeadLetter('a', letters[0]!.id), 'replayed once').to.equal(false);
      expect(await oversize!.deadLetters('a')).to.deep.equal([]);
      expect(await drain(store)).to.deep.equal([1, 2, 0]);
    });

    it('never gives a dead letter the id of one replayed before (an operator may hold an old listing)', async function () {
      if (!oversize) this.skip();
      await store.enqueue([big(0)]);
      const first = await store.createTransaction('a', LIMITS, build);
      await oversize!.setAside('a', first!.txnId, 'HTTP 413');
      const [before] = await oversize!.deadLetters('a');
      await oversize!.replayDeadLetter('a', before!.id);
      const again = await store.createTransaction('a', LIMITS, build);
      await oversize!.setAside('a', again!.txnId, 'HTTP 413');
      const [after] = await oversize!.deadLetters('a');
      expect(after!.id).to.not.equal(before!.id);
      expect(await oversize!.dropDeadLetter('a', before!.id), 'the old id names nothing now').to.equal(false);
    });

    it('dead letters survive a reopen and can be dropped', async function () {
      if (!oversize) this.skip();
      await store.enqueue([big(0), big(1)]);
      const first = await store.createTransaction('a', { ...LIMITS, event: 1 }, build);
      await oversize!.setAside('a', first!.txnId, 'HTTP 413');
      if (subject.reopen) {
        await store.close();
        store = await subject.reopen();
        await store.open();
        oversize = withOversizeSupport(store)!;
      }
      const [letter] = await oversize!.deadLetters('a');
      expect(letter?.txnId).to.equal(first!.txnId);
      expect(await oversize!.dropDeadLetter('a', letter!.id)).to.equal(true);
      expect(await oversize!.deadLetters('a')).to.deep.equal([]);
      expect(await drain(store)).to.deep.equal([1]);
    });
  });
}
