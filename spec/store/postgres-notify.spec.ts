import { expect } from 'chai';
import pg from 'pg';
import { advisoryLockKey } from '../../lib/store/postgres/advisory-locks.ts';
import { postgresStoresPerTest } from '../support/postgres-server.ts';

type Heard = (readonly string[] | null)[];

/** Resolves once `heard` has at least `n` entries; mocha's timeout bounds the wait. */
async function hear(heard: Heard, n: number): Promise<void> {
  for (let i = 0; i < 200 && heard.length < n; i++) await new Promise((resolve) => setTimeout(resolve, 25));
  expect(heard.length, `notifications heard: ${JSON.stringify(heard)}`).to.be.at.least(n);
}

describe('PostgresStore.onEnqueued: enqueues in other processes wake this one', () => {
  const shared = postgresStoresPerTest();
  const openStore = () => shared.openStore();

  it('tells a listening store which ASes got items', async () => {
    const [publisher, sender] = [await openStore(), await openStore()];
    const heard: Heard = [];
    sender.onEnqueued((asIds) => heard.push(asIds));
    // LISTEN is issued as the dedicated connection opens; an election attempt waits for it.
    await sender.acquireSenderLock('warm-up');
    await publisher.enqueue([
      { kind: 'event', json: '1', asIds: ['irc', 'slack'] },
      { kind: 'event', json: '2', asIds: ['irc'] },
    ]);
    await hear(heard, 1);
    expect(heard[0]).to.have.members(['irc', 'slack']);
    await publisher.enqueue([{ kind: 'event', json: '3', asIds: [] }]);
    await publisher.enqueue([{ kind: 'event', json: '4', asIds: ['irc'] }]);
    await hear(heard, 2);
    expect(heard[1], 'an enqueue that queues nothing notifies nobody').to.deep.equal(['irc']);
  });

  it('notifies at commit of an outbox transaction, and not at all on rollback', async () => {
    const [publisher, sender] = [await openStore(), await openStore()];
    const heard: Heard = [];
    const off = sender.onEnqueued((asIds) => heard.push(asIds));
    await sender.acquireSenderLock('warm-up');
    const client = new pg.Client({ connectionString: shared.url });
    await client.connect();
    try {
      await client.query('BEGIN');
      await publisher.enqueue([{ kind: 'event', json: '1', asIds: ['rolled-back'] }], { client });
      await client.query('ROLLBACK');
      await client.query('BEGIN');
      await publisher.enqueue([{ kind: 'event', json: '2', asIds: ['committed'] }], { client });
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(heard, 'nothing before the commit').to.deep.equal([]);
      await client.query('COMMIT');
    } finally {
      await client.end();
    }
    await hear(heard, 1);
    expect(heard).to.deep.equal([['committed']]);
    off();
    await publisher.enqueue([{ kind: 'event', json: '3', asIds: ['after-off'] }]);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(heard).to.have.length(1);
  });

  it('says null (check everything) after its connection was replaced', async () => {
    const [publisher, sender] = [await openStore(), await openStore()];
    const heard: Heard = [];
    sender.onEnqueued((asIds) => heard.push(asIds));
    const lock = (await sender.acquireSenderLock('irc'))!;
    const admin = new pg.Client({ connectionString: shared.url });
    await admin.connect();
    const key = BigInt.asUintN(64, BigInt(advisoryLockKey(`koa-appservice:sender:${shared.schema}:irc`)));
    const { rowCount } = await admin.query(
      `SELECT pg_terminate_backend(pid) FROM pg_locks
       WHERE locktype = 'advisory' AND granted AND objsubid = 1 AND classid = $1::oid AND objid = $2::oid`,
      [String(key >> 32n), String(key & 0xffffffffn)],
    );
    expect(rowCount).to.equal(1);
    await admin.end();
    await lock.lost;
    // The next election attempt reconnects and LISTENs again.
    await sender.acquireSenderLock('irc');
    await hear(heard, 1);
    expect(heard[0]).to.equal(null);
    await publisher.enqueue([{ kind: 'event', json: '1', asIds: ['irc'] }]);
    await hear(heard, 2);
    expect(heard[1]).to.deep.equal(['irc']);
  });

  it('sends * for a set of AS ids too large for a notification', async () => {
    const [publisher, sender] = [await openStore(), await openStore()];
    const heard: Heard = [];
    sender.onEnqueued((asIds) => heard.push(asIds));
    await sender.acquireSenderLock('warm-up');
    const asIds = Array.from({ length: 1000 }, (_, i) => `appservice-${i}`);
    await publisher.enqueue([{ kind: 'event', json: '1', asIds }]);
    await hear(heard, 1);
    expect(heard[0]).to.equal(null);
    expect((await publisher.backlog('appservice-999')).size).to.equal(1);
  });
});
