import { expect } from 'chai';
import { afterEach, beforeEach, describe, it } from 'mocha';
import { InFlightMismatchError, StoreError } from '../errors.ts';
import type { BatchLimits, EnqueueItem, ItemKind, QueuedItem, Store, StoredTransaction } from '../store/store.ts';
import { oversizeContractTests } from './oversize-contract.ts';

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

const LIMITS: BatchLimits = { event: 100, ephemeral: 100, toDevice: 100 };

function item(kind: ItemKind, n: number, asIds: readonly string[]): EnqueueItem {
  return { kind, json: JSON.stringify({ type: `test.${kind}`, content: { n } }), asIds };
}

/** The body a sender would build: the items' JSON texts, spliced in unchanged. */
function build(items: readonly QueuedItem[]): string {
  return `[${items.map((i) => i.json).join(',')}]`;
}

function bodyNumbers(txn: StoredTransaction | null): number[] {
  expect(txn, 'a transaction').to.not.equal(null);
  return (JSON.parse(txn!.body) as { content: { n: number } }[]).map((e) => e.content.n);
}

/** The counter part of a `<birth>.<n>` transaction id: it grows with every transaction a store creates. */
function counter(txnId: string): number {
  return Number(txnId.slice(txnId.lastIndexOf('.') + 1));
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  expect.fail('expected the promise to reject');
}

/** Sends every queued transaction of the AS and returns the item numbers, in order. */
async function drain(store: Store, asId: string, limits: BatchLimits = LIMITS): Promise<number[]> {
  const seen: number[] = [];
  for (let round = 0; round < 1000; round++) {
    const txn = await store.createTransaction(asId, limits, build);
    if (!txn) return seen;
    seen.push(...bodyNumbers(txn));
    await store.acknowledge(asId, txn.txnId);
  }
  throw new Error('drain: the queue never emptied');
}

/**
 * Registers a mocha `describe` block that any `Store` implementation must pass: ordering,
 * per-AS isolation, atomic enqueue, batch limits, transaction ids that are never reused, the
 * in-flight transaction surviving a reopen, backlog figures. Needs mocha and chai (optional peer
 * dependencies), which is why it has its own subpath apart from `koa-appservice/testing`.
 *
 * @example
 * ```ts
 * // spec/my-store.spec.ts
 * import { storeContractTests } from 'koa-appservice/testing/store-contract';
 * import { MyStore } from '../lib/my-store.ts';
 *
 * storeContractTests('MyStore', async () => {
 *   const url = await createTestDatabase();
 *   return {
 *     store: new MyStore(url),
 *     reopen: async () => new MyStore(url),
 *     cleanup: () => dropTestDatabase(url),
 *   };
 * });
 * ```
 */
export function storeContractTests(name: string, makeStore: () => Promise<StoreContractSubject>): void {
  describe(`Store contract: ${name}`, () => {
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

    async function reopen(): Promise<Store> {
      await store.close();
      store = await subject.reopen!();
      await store.open();
      return store;
    }

    it('open() is idempotent and an empty store has nothing to send', async () => {
      await store.open();
      expect(await store.createTransaction('a', LIMITS, build)).to.equal(null);
      expect(await store.inFlight('a')).to.equal(null);
      expect(await store.backlog('a')).to.deep.equal({ size: 0, oldestEnqueuedAt: null });
    });

    it('gives items back in enqueue order, with growing seq and the exact JSON', async () => {
      const odd = { kind: 'event' as const, json: '{"body":"é 😀 \\u2028 \\"q\\"",  "n" : 1}', asIds: ['a'] };
      await store.enqueue([item('event', 0, ['a']), odd, item('ephemeral', 2, ['a'])]);
      await store.enqueue([item('toDevice', 3, ['a']), item('event', 4, ['a'])]);
      let seen: readonly QueuedItem[] = [];
      await store.createTransaction('a', LIMITS, (items) => {
        seen = items;
        return build(items);
      });
      expect(seen.map((i) => i.kind)).to.deep.equal(['event', 'event', 'ephemeral', 'toDevice', 'event']);
      expect(seen[1]!.json).to.equal(odd.json);
      for (let i = 1; i < seen.length; i++) expect(seen[i]!.seq).to.be.greaterThan(seen[i - 1]!.seq);
    });

    it('keeps each AS its own queue', async () => {
      await store.enqueue([item('event', 1, ['a']), item('event', 2, ['b']), item('event', 3, ['a', 'b'])]);
      const a = await store.createTransaction('a', LIMITS, build);
      expect(bodyNumbers(a)).to.deep.equal([1, 3]);
      // A transaction in flight for a does not hold b back, nor take b's items.
      expect(await drain(store, 'b')).to.deep.equal([2, 3]);
      expect(await store.inFlight('a')).to.deep.equal(a);
      expect((await store.backlog('a')).size).to.equal(2);
      expect(await store.backlog('c')).to.deep.equal({ size: 0, oldestEnqueuedAt: null });
    });

    it('queues an item named for several ASes in each of them, an AS named twice once', async () => {
      await store.enqueue([item('event', 1, ['a', 'b', 'c', 'a'])]);
      for (const asId of ['a', 'b', 'c']) expect(await drain(store, asId)).to.deep.equal([1]);
    });

    it('enqueues all or nothing: a malformed item rejects the whole call', async () => {
      const bad = { kind: 'nonsense', json: '{}', asIds: ['a'] } as unknown as EnqueueItem;
      await rejection(store.enqueue([item('event', 1, ['a', 'b']), bad]));
      const notJson = { kind: 'event', json: { n: 1 }, asIds: ['a'] } as unknown as EnqueueItem;
      await rejection(store.enqueue([item('event', 2, ['b']), notJson]));
      expect(await store.backlog('a')).to.deep.equal({ size: 0, oldestEnqueuedAt: null });
      expect(await store.backlog('b')).to.deep.equal({ size: 0, oldestEnqueuedAt: null });
      await store.enqueue([item('event', 3, ['a'])]);
      expect(await drain(store, 'a')).to.deep.equal([3]);
    });

    it('stops a batch before the first item whose kind reached its limit', async () => {
      const kinds: ItemKind[] = ['event', 'event', 'ephemeral', 'event', 'event', 'toDevice', 'ephemeral'];
      await store.enqueue(kinds.map((kind, n) => item(kind, n, ['a'])));
      const limits = { event: 3, ephemeral: 5, toDevice: 5 };
      const first = await store.createTransaction('a', limits, build);
      // Item 4 is a fourth event: the batch ends there, though the to-device after it would fit.
      expect(bodyNumbers(first)).to.deep.equal([0, 1, 2, 3]);
      expect(first!.counts).to.deep.equal({ event: 3, ephemeral: 1, toDevice: 0 });
      await store.acknowledge('a', first!.txnId);
      const second = await store.createTransaction('a', limits, build);
      expect(bodyNumbers(second)).to.deep.equal([4, 5, 6]);
      expect(second!.counts).to.deep.equal({ event: 1, ephemeral: 1, toDevice: 1 });
    });

    it('splits a long queue into full transactions', async () => {
      await store.enqueue(Array.from({ length: 250 }, (_, n) => item('event', n, ['a'])));
      const sizes: number[] = [];
      for (let round = 0; round < 10; round++) {
        const txn = await store.createTransaction('a', LIMITS, build);
        if (!txn) break;
        sizes.push(txn.counts.event);
        await store.acknowledge('a', txn.txnId);
      }
      expect(sizes).to.deep.equal([100, 100, 50]);
    });

    it('refuses a second transaction while one is in flight', async () => {
      await store.enqueue([item('event', 1, ['a']), item('event', 2, ['a'])]);
      const txn = await store.createTransaction('a', { event: 1, ephemeral: 1, toDevice: 1 }, build);
      const err = await rejection(store.createTransaction('a', LIMITS, build));
      expect(err)
        .to.be.instanceOf(InFlightMismatchError)
        .and.include({ asId: 'a', txnId: String(txn!.txnId) });
      expect(await store.inFlight('a')).to.deep.equal(txn);
    });

    it('cuts a batch at the byte limit too, and sends an item larger than the limit alone', async () => {
      const sized = (n: number, bytes: number): EnqueueItem => ({
        kind: 'event',
        json: JSON.stringify({ content: { n }, pad: 'x'.repeat(bytes) }),
        asIds: ['a'],
      });
      // Each small item is about 40 bytes of JSON; 100 bytes hold two of them, not three.
      await store.enqueue([sized(0, 10), sized(1, 10), sized(2, 10), sized(3, 500), sized(4, 10)]);
      const limits = { ...LIMITS, bytes: 100 };
      const sizes: number[][] = [];
      for (let round = 0; round < 10; round++) {
        const txn = await store.createTransaction('a', limits, build);
        if (!txn) break;
        sizes.push(bodyNumbers(txn));
        await store.acknowledge('a', txn.txnId);
      }
      expect(sizes).to.deep.equal([[0, 1], [2], [3], [4]]);
    });

    it('stores the transaction: inFlight returns the same id, counts and byte-identical body', async () => {
      await store.enqueue([item('event', 1, ['a']), item('ephemeral', 2, ['a'])]);
      const body = '{"events":[1],"ephemeral":[2],"x":"é😀\\u0000"}';
      const txn = await store.createTransaction('a', LIMITS, () => body);
      expect(txn).to.deep.equal({
        asId: 'a',
        txnId: txn!.txnId,
        body,
        counts: { event: 1, ephemeral: 1, toDevice: 0 },
      });
      const again = await store.inFlight('a');
      expect(again).to.deep.equal(txn);
      expect(Buffer.from(again!.body).equals(Buffer.from(body))).to.equal(true);
    });

    it('leaves everything as it was when build() throws', async () => {
      await store.enqueue([item('event', 1, ['a'])]);
      const boom = new Error('boom');
      const err = await rejection(
        store.createTransaction('a', LIMITS, () => {
          throw boom;
        }),
      );
      expect(err).to.equal(boom);
      expect(await store.inFlight('a')).to.equal(null);
      expect(await drain(store, 'a')).to.deep.equal([1]);
    });

    it('acknowledge removes the transaction and its items', async () => {
      await store.enqueue([item('event', 1, ['a']), item('event', 2, ['a']), item('event', 3, ['a'])]);
      const txn = await store.createTransaction('a', { event: 2, ephemeral: 1, toDevice: 1 }, build);
      expect((await store.backlog('a')).size).to.equal(3);
      await store.acknowledge('a', txn!.txnId);
      expect(await store.inFlight('a')).to.equal(null);
      expect((await store.backlog('a')).size).to.equal(1);
      expect(await drain(store, 'a')).to.deep.equal([3]);
      expect(await store.backlog('a')).to.deep.equal({ size: 0, oldestEnqueuedAt: null });
    });

    it('ignores acknowledge of an unknown id', async () => {
      await store.acknowledge('nobody', '1');
      await store.enqueue([item('event', 1, ['a'])]);
      const txn = await store.createTransaction('a', LIMITS, build);
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
        if (other !== txn!.txnId) await store.acknowledge('a', other);
      }
      await store.acknowledge('b', txn!.txnId);
      expect(await store.inFlight('a')).to.deep.equal(txn);
      expect((await store.backlog('a')).size).to.equal(1);
    });

    describe('acknowledgeAndCreate (optional)', () => {
      beforeEach(function () {
        if (!store.acknowledgeAndCreate) this.skip();
      });

      it('acknowledges the transaction and creates the next from the rest of the queue', async () => {
        await store.enqueue([1, 2, 3, 4, 5].map((n) => item('event', n, ['a'])));
        const limits = { event: 2, ephemeral: 1, toDevice: 1 };
        const first = await store.createTransaction('a', limits, build);
        const second = await store.acknowledgeAndCreate!('a', first!.txnId, limits, build);
        expect(bodyNumbers(second)).to.deep.equal([3, 4]);
        expect(counter(second!.txnId)).to.be.greaterThan(counter(first!.txnId));
        expect(await store.inFlight('a')).to.deep.equal(second);
        expect((await store.backlog('a')).size).to.equal(3);
        const third = await store.acknowledgeAndCreate!('a', second!.txnId, limits, build);
        expect(bodyNumbers(third)).to.deep.equal([5]);
        expect(await store.acknowledgeAndCreate!('a', third!.txnId, limits, build)).to.equal(null);
        expect(await store.inFlight('a')).to.equal(null);
        expect(await store.backlog('a')).to.deep.equal({ size: 0, oldestEnqueuedAt: null });
      });

      it('creates after an unknown id as createTransaction would, refusing while one is in flight', async () => {
        await store.enqueue([item('event', 1, ['a']), item('event', 2, ['a'])]);
        const one = { event: 1, ephemeral: 1, toDevice: 1 };
        const first = await store.acknowledgeAndCreate!('a', '999', one, build);
        expect(bodyNumbers(first)).to.deep.equal([1]);
        const err = await rejection(store.acknowledgeAndCreate!('a', `${first!.txnId}1`, one, build));
        expect(err).to.be.instanceOf(InFlightMismatchError).and.include({ asId: 'a' });
        expect(await store.inFlight('a')).to.deep.equal(first);
        expect((await store.backlog('a')).size).to.equal(2);
      });

      it('keeps the acknowledgement when build() throws, and leaves the queue as it was', async () => {
        await store.enqueue([item('event', 1, ['a']), item('event', 2, ['a'])]);
        const one = { event: 1, ephemeral: 1, toDevice: 1 };
        const first = await store.createTransaction('a', one, build);
        const boom = new Error('boom');
        const err = await rejection(
          store.acknowledgeAndCreate!('a', first!.txnId, one, () => {
            throw boom;
          }),
        );
        expect(err).to.equal(boom);
        expect(await store.inFlight('a')).to.equal(null);
        expect(await store.backlog('a')).to.include({ size: 1 });
        const next = await store.createTransaction('a', one, build);
        expect(bodyNumbers(next)).to.deep.equal([2]);
        expect(counter(next!.txnId)).to.be.greaterThan(counter(first!.txnId));
      });

      it('drains a long queue in order with increasing ids, across a reopen in the middle', async () => {
        await store.enqueue(
          Array.from({ length: 1000 }, (_, n) => item(n % 7 === 0 ? 'ephemeral' : 'event', n, ['a'])),
        );
        const limits = { event: 90, ephemeral: 10, toDevice: 10 };
        const seen: number[] = [];
        const ids: string[] = [];
        let txn = await store.createTransaction('a', limits, build);
        for (let round = 0; txn && round < 100; round++) {
          seen.push(...bodyNumbers(txn));
          ids.push(txn.txnId);
          if (round === 3 && subject.reopen) {
            await reopen();
            // The transaction in flight comes back as it was, and so does what follows it.
            expect(await store.inFlight('a')).to.deep.equal(txn);
          }
          txn = await store.acknowledgeAndCreate!('a', txn.txnId, limits, build);
        }
        expect(seen).to.deep.equal(Array.from({ length: 1000 }, (_, n) => n));
        for (let i = 1; i < ids.length; i++) expect(counter(ids[i]!)).to.be.greaterThan(counter(ids[i - 1]!));
        expect(await store.backlog('a')).to.deep.equal({ size: 0, oldestEnqueuedAt: null });
      });

      it('rejects bad limits with a TypeError before acknowledging anything', async () => {
        await store.enqueue([item('event', 1, ['a'])]);
        const txn = await store.createTransaction('a', LIMITS, build);
        const err = await rejection(
          store.acknowledgeAndCreate!('a', txn!.txnId, { event: 0, ephemeral: 1, toDevice: 1 }, build),
        );
        expect(err).to.be.instanceOf(TypeError);
        expect(await store.inFlight('a')).to.deep.equal(txn);
      });
    });

    describe('nextStored (optional)', () => {
      beforeEach(function () {
        if (!store.nextStored) this.skip();
      });

      it('is null when nothing is stored after the transaction in flight, and writes nothing', async () => {
        await store.enqueue([item('event', 1, ['a']), item('event', 2, ['a'])]);
        const one = { event: 1, ephemeral: 1, toDevice: 1 };
        const txn = await store.createTransaction('a', one, build);
        expect(await store.nextStored!('a', txn!.txnId)).to.equal(null);
        expect(await store.nextStored!('b', txn!.txnId)).to.equal(null);
        expect(await store.inFlight('a')).to.deep.equal(txn);
        expect((await store.backlog('a')).size).to.equal(2);
      });

      it('gives the transaction the next acknowledgement hands out, without acknowledging anything', async function () {
        if (!store.acknowledgeAndCreate) this.skip();
        await store.enqueue(Array.from({ length: 20 }, (_, n) => item('event', n, ['a'])));
        const limits = { event: 2, ephemeral: 1, toDevice: 1 };
        let txn = await store.createTransaction('a', limits, build);
        const seen: number[] = [];
        while (txn) {
          seen.push(...bodyNumbers(txn));
          const ahead = await store.nextStored!('a', txn.txnId);
          // Reading it changes nothing: the one in flight is still in flight.
          expect(await store.inFlight('a')).to.deep.equal(txn);
          const next = await store.acknowledgeAndCreate!('a', txn.txnId, limits, build);
          if (ahead) expect(next).to.deep.equal(ahead);
          txn = next;
        }
        expect(seen).to.deep.equal(Array.from({ length: 20 }, (_, n) => n));
      });

      it('lets the sender acknowledge the one before after reading the next: same ids and bytes, in order', async function () {
        if (!store.acknowledgeAndCreate) this.skip();
        await store.enqueue(Array.from({ length: 30 }, (_, n) => item('event', n, ['a'])));
        const limits = { event: 3, ephemeral: 1, toDevice: 1 };
        const first = await store.createTransaction('a', limits, build);
        const second = await store.acknowledgeAndCreate!('a', first!.txnId, limits, build);
        const ahead = await store.nextStored!('a', second!.txnId);
        if (!ahead) this.skip(); // this store creates nothing ahead
        await store.acknowledge('a', second!.txnId);
        expect(await store.inFlight('a')).to.deep.equal(ahead);
        expect(bodyNumbers(ahead)).to.deep.equal([6, 7, 8]);
        expect((await store.backlog('a')).size).to.equal(24);
      });
    });

    it('hands out strictly increasing, URL-safe ids, never reused after everything is acknowledged', async () => {
      const ids: string[] = [];
      for (let round = 0; round < 5; round++) {
        await store.enqueue([item('event', round, ['a'])]);
        const txn = await store.createTransaction('a', LIMITS, build);
        ids.push(txn!.txnId);
        await store.acknowledge('a', txn!.txnId);
        expect(await store.backlog('a')).to.deep.equal({ size: 0, oldestEnqueuedAt: null });
      }
      for (let i = 1; i < ids.length; i++) expect(counter(ids[i]!)).to.be.greaterThan(counter(ids[i - 1]!));
      for (const id of ids) expect(id).to.match(/^[A-Za-z0-9._~-]+$/);
    });

    it('gives a new store ids that no other new store gave, so an AS that dedupes by txnId drops nothing', async () => {
      // A second store, as new as the first: the database lost, or a homeserver started elsewhere.
      const other = await makeStore();
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
        const mine = await idsOf(store);
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

    it('keeps ids increasing across close and reopen', async function () {
      if (!subject.reopen) this.skip();
      await store.enqueue([item('event', 1, ['a'])]);
      const first = await store.createTransaction('a', LIMITS, build);
      await store.acknowledge('a', first!.txnId);
      await reopen();
      await store.enqueue([item('event', 2, ['a'])]);
      const second = await store.createTransaction('a', LIMITS, build);
      expect(counter(second!.txnId)).to.be.greaterThan(counter(first!.txnId));
    });

    it('keeps the in-flight transaction and the queue across close and reopen', async function () {
      if (!subject.reopen) this.skip();
      await store.enqueue([item('event', 1, ['a']), item('toDevice', 2, ['a']), item('event', 3, ['a', 'b'])]);
      const txn = await store.createTransaction('a', { event: 1, ephemeral: 1, toDevice: 1 }, build);
      const before = await store.backlog('a');
      await reopen();
      expect(await store.inFlight('a')).to.deep.equal(txn);
      expect(await store.backlog('a')).to.deep.equal(before);
      await rejection(store.createTransaction('a', LIMITS, build));
      await store.acknowledge('a', txn!.txnId);
      expect(await drain(store, 'a')).to.deep.equal([3]);
      expect(await drain(store, 'b')).to.deep.equal([3]);
    });

    it('reports backlog size (in-flight included) and the oldest enqueue time', async () => {
      const t0 = Date.now();
      await store.enqueue([item('event', 1, ['a']), item('event', 2, ['a'])]);
      const t1 = Date.now();
      // Let the clock move on so the second enqueue time is distinguishable from the first.
      for (let i = 0; i < 50 && Date.now() <= t1; i++) await new Promise((r) => setTimeout(r, 2));
      const t2 = Date.now();
      await store.enqueue([item('event', 3, ['a'])]);
      const t3 = Date.now();
      const all = await store.backlog('a');
      expect(all.size).to.equal(3);
      expect(all.oldestEnqueuedAt).to.be.within(t0, t1);
      const txn = await store.createTransaction('a', { event: 2, ephemeral: 1, toDevice: 1 }, build);
      expect(await store.backlog('a')).to.deep.equal(all);
      await store.acknowledge('a', txn!.txnId);
      const rest = await store.backlog('a');
      expect(rest.size).to.equal(1);
      expect(rest.oldestEnqueuedAt).to.be.within(Math.max(t2, t1 + 1), t3);
    });

    it('lands concurrent enqueues, all of them, in call order', async () => {
      const calls = Array.from({ length: 60 }, (_, c) =>
        store.enqueue([item('event', 2 * c, ['a', 'b']), item('ephemeral', 2 * c + 1, ['a'])]),
      );
      await Promise.all(calls);
      const expected = Array.from({ length: 120 }, (_, n) => n);
      expect(await drain(store, 'a')).to.deep.equal(expected);
      expect(await drain(store, 'b')).to.deep.equal(expected.filter((n) => n % 2 === 0));
    });

    it('accepts an empty enqueue and items wanted by no AS', async () => {
      await store.enqueue([]);
      await store.enqueue([item('event', 1, [])]);
      await store.enqueue([item('event', 2, []), item('event', 3, ['a'])]);
      expect(await drain(store, 'a')).to.deep.equal([3]);
    });

    it('rejects bad limits with a TypeError', async () => {
      await store.enqueue([item('event', 1, ['a'])]);
      const err = await rejection(store.createTransaction('a', { event: 0, ephemeral: 1, toDevice: 1 }, build));
      expect(err).to.be.instanceOf(TypeError);
      expect(await drain(store, 'a')).to.deep.equal([1]);
    });

    it('rejects use after close with a StoreError; close twice is fine', async () => {
      await store.close();
      await store.close();
      expect(await rejection(store.enqueue([item('event', 1, ['a'])]))).to.be.instanceOf(StoreError);
      expect(await rejection(store.backlog('a'))).to.be.instanceOf(StoreError);
      expect(await rejection(store.createTransaction('a', LIMITS, build))).to.be.instanceOf(StoreError);
    });

    oversizeContractTests(makeStore);
  });
}
