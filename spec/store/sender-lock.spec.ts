import { expect } from 'chai';
import pg from 'pg';
import { StoreError } from '../../lib/errors.ts';
import { advisoryLockKey } from '../../lib/store/postgres/advisory-locks.ts';
import { electSender } from '../../lib/store/sender-lock.ts';
import type { SenderLock } from '../../lib/store/store.ts';
import { postgresStoresPerTest } from '../support/postgres-server.ts';

const neverLost = (): SenderLock => ({ lost: new Promise(() => {}), release: async () => {} });

describe('advisoryLockKey', () => {
  it('is a stable signed 64-bit integer per name', () => {
    const key = advisoryLockKey('koa-appservice:sender:koa_appservice:irc');
    expect(key).to.equal(advisoryLockKey('koa-appservice:sender:koa_appservice:irc'));
    expect(key).to.match(/^-?\d+$/);
    const n = BigInt(key);
    expect(n >= -(2n ** 63n) && n < 2n ** 63n).to.equal(true);
    // Pinned: a change would let old and new versions hold "the same" lock under two keys.
    expect(advisoryLockKey('')).to.equal(BigInt.asIntN(64, 0xe3b0c44298fc1c14n).toString());
    expect(advisoryLockKey('koa-appservice:sender:koa_appservice:slack')).to.not.equal(key);
  });
});

describe('electSender', () => {
  it('makes the process the sender at once when the store has no election', async () => {
    const lock = await electSender({}, 'irc');
    await lock.release();
    let lost = false;
    void lock.lost.then(() => (lost = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(lost).to.equal(false);
  });

  it('polls until the lock is free, reporting failed attempts and going on', async () => {
    const outcomes: (SenderLock | null | Error)[] = [null, new StoreError('down'), null, neverLost()];
    const errors: unknown[] = [];
    let calls = 0;
    const store = {
      acquireSenderLock: async (asId: string) => {
        expect(asId).to.equal('irc');
        const next = outcomes[calls++]!;
        if (next instanceof Error) throw next;
        return next;
      },
    };
    const lock = await electSender(store, 'irc', { retryIntervalMs: 5, onError: (err) => errors.push(err) });
    expect(lock).to.equal(outcomes[3]);
    expect(calls).to.equal(4);
    expect(errors).to.have.length(1);
  });

  it('stops waiting when aborted, with the signal reason', async () => {
    let calls = 0;
    const store = { acquireSenderLock: async () => (calls++, null) };
    const controller = new AbortController();
    const election = electSender(store, 'irc', { retryIntervalMs: 60_000, signal: controller.signal });
    await new Promise((resolve) => setTimeout(resolve, 20));
    const reason = new Error('closing');
    controller.abort(reason);
    try {
      await election;
      expect.fail('electSender resolved after abort');
    } catch (err) {
      expect(err).to.equal(reason);
    }
    expect(calls).to.equal(1);
  });
});

describe('PostgresStore.acquireSenderLock', () => {
  const shared = postgresStoresPerTest();
  const openStore = () => shared.openStore();

  it('lets one store hold an AS, and the next take it after release', async () => {
    const [a, b] = [await openStore(), await openStore()];
    const lock = await a.acquireSenderLock('irc');
    expect(lock).to.not.equal(null);
    expect(await b.acquireSenderLock('irc')).to.equal(null);
    expect(await a.acquireSenderLock('irc'), 'a second holder in the same process').to.equal(null);
    const slack = await b.acquireSenderLock('slack');
    expect(slack, 'ASes are elected independently').to.not.equal(null);
    await lock!.release();
    await lock!.release();
    expect(await b.acquireSenderLock('irc')).to.not.equal(null);
  });

  it('resolves lost when the lock connection dies, and another store can take over', async () => {
    const [a, b] = [await openStore(), await openStore()];
    const lock = (await a.acquireSenderLock('irc'))!;
    const admin = new pg.Client({ connectionString: shared.url });
    await admin.connect();
    try {
      // pg_locks shows a bigint advisory key as two 32-bit halves (objsubid 1 marks a bigint key).
      const key = BigInt.asUintN(64, BigInt(advisoryLockKey(`koa-appservice:sender:${shared.schema}:irc`)));
      const { rowCount } = await admin.query(
        `SELECT pg_terminate_backend(pid) FROM pg_locks
         WHERE locktype = 'advisory' AND granted AND objsubid = 1 AND classid = $1::oid AND objid = $2::oid`,
        [String(key >> 32n), String(key & 0xffffffffn)],
      );
      expect(rowCount).to.equal(1);
    } finally {
      await admin.end();
    }
    await lock.lost; // mocha's timeout fails the test if this never resolves
    let taken: SenderLock | null = null;
    for (let attempt = 0; attempt < 50 && !taken; attempt++) {
      taken = await b.acquireSenderLock('irc');
      if (!taken) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(taken).to.not.equal(null);
    // a reconnects for its next attempt, and sees b holding the lock.
    expect(await a.acquireSenderLock('irc')).to.equal(null);
  });

  it('frees the locks on close, resolving lost', async () => {
    const [a, b] = [await openStore(), await openStore()];
    const lock = (await a.acquireSenderLock('irc'))!;
    await a.close();
    await lock.lost;
    expect(await b.acquireSenderLock('irc')).to.not.equal(null);
    try {
      await a.acquireSenderLock('irc');
      expect.fail('acquireSenderLock after close resolved');
    } catch (err) {
      expect(err).to.be.instanceOf(StoreError);
    }
  });
});
