import { expect } from 'chai';
import { StoreError } from '../../lib/errors.ts';
import { MemoryStore } from '../../lib/store/memory-store.ts';
import { storeContractTests } from '../../lib/testing/store-contract.ts';

storeContractTests('MemoryStore', async () => ({ store: new MemoryStore() }));

describe('MemoryStore', () => {
  it('must be opened before use', async () => {
    const store = new MemoryStore();
    try {
      await store.backlog('a');
      expect.fail('backlog() before open() resolved');
    } catch (err) {
      expect(err).to.be.instanceOf(StoreError);
    }
  });

  it('refuses to join a foreign transaction (enqueue with a client)', async () => {
    const store = new MemoryStore();
    await store.open();
    try {
      await store.enqueue([{ kind: 'event', json: '{}', asIds: ['a'] }], { client: { query: async () => ({}) } });
      expect.fail('enqueue with a client resolved');
    } catch (err) {
      expect(err).to.be.instanceOf(StoreError);
    }
    expect((await store.backlog('a')).size).to.equal(0);
    await store.close();
  });

  it('keeps a long queue intact while compacting acknowledged entries', async () => {
    const store = new MemoryStore();
    await store.open();
    const total = 5000;
    await store.enqueue(
      Array.from({ length: total }, (_, n) => ({ kind: 'event' as const, json: String(n), asIds: ['a'] })),
    );
    const seen: number[] = [];
    for (let round = 0; round < 100; round++) {
      const txn = await store.createTransaction(
        'a',
        { event: 100, ephemeral: 1, toDevice: 1 },
        (items) => `[${items.map((i) => i.json).join(',')}]`,
      );
      if (!txn) break;
      seen.push(...(JSON.parse(txn.body) as number[]));
      await store.acknowledge('a', txn.txnId);
      // Interleave new items so compaction happens with a live tail behind the head.
      if (round === 20) await store.enqueue([{ kind: 'event', json: String(total), asIds: ['a'] }]);
    }
    expect(seen).to.deep.equal(Array.from({ length: total + 1 }, (_, n) => n));
    await store.close();
  });
});
