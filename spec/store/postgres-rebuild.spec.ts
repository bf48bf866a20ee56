/**
 * PostgresStore keeps no body for the transactions it stores from schema version 5 on: only the
 * seqs of their queue rows, from which the body is rebuilt with the sender's builder whenever the
 * transaction is handed out again. Every resend must carry the same bytes: after a crash (a new
 * store object on the same data), for the transactions created ahead, and after a split.
 */
import { expect } from 'chai';
import pg from 'pg';
import { StoreError } from '../../lib/errors.ts';
import { cutBatch } from '../../lib/store/batch.ts';
import { TRANSACTIONS_AHEAD } from '../../lib/store/postgres/acknowledge-create.ts';
import { migratePostgres } from '../../lib/store/postgres/migrate.ts';
import { postgresMigrations } from '../../lib/store/postgres/migrations/index.ts';
import { PostgresStore } from '../../lib/store/postgres/postgres-store.ts';
import type { BatchLimits, EnqueueItem, QueuedItem, StoredTransaction } from '../../lib/store/store.ts';
import { rejection } from '../support/rejection.ts';
import { freshSchema } from '../support/postgres-server.ts';

/** Tells kinds apart and keeps each item's bytes, so a rebuild from other rows shows. */
const build = (items: readonly QueuedItem[]): string =>
  `[${items.map((i) => `[${JSON.stringify(i.kind)},${i.json}]`).join(',')}]`;

function mixed(count: number): EnqueueItem[] {
  return Array.from({ length: count }, (_, n) => ({
    kind: n % 5 === 3 ? 'ephemeral' : n % 7 === 5 ? 'toDevice' : 'event',
    json: JSON.stringify({ n, text: `it's "${n}" \\ é 😀` }),
    asIds: ['a'],
  }));
}

/** The bodies the batch rule cuts from `items`, in order. */
function expectedBodies(items: readonly EnqueueItem[], limits: BatchLimits): string[] {
  let rest: QueuedItem[] = items.map((i, seq) => ({ seq, kind: i.kind, json: i.json }));
  const bodies: string[] = [];
  while (rest.length > 0) {
    const cut = cutBatch(rest, limits);
    bodies.push(build(cut.items));
    rest = rest.slice(cut.items.length);
  }
  return bodies;
}

const LIMITS = { event: 4, ephemeral: 2, toDevice: 1 };

describe('PostgresStore: transactions keep no body, resends are byte-identical', function () {
  this.timeout(30_000);
  let url: string;
  let schema: string;
  let drop: () => Promise<void>;
  let admin: pg.Client;
  const stores: PostgresStore[] = [];

  async function openStore(): Promise<PostgresStore> {
    const store = new PostgresStore({ connectionString: url, schema, max: 2 });
    stores.push(store);
    await store.open();
    return store;
  }

  /** Hands out every remaining transaction from `txn` on, as a sender would, and returns their bodies. */
  async function drain(store: PostgresStore, txn: StoredTransaction | null): Promise<string[]> {
    const bodies: string[] = [];
    for (let round = 0; txn !== null && round < 200; round++) {
      bodies.push(txn.body);
      expect(await store.inFlight('a', build), `in flight, round ${round}`).to.deep.equal(txn);
      const ahead = await store.nextStored('a', txn.txnId, build);
      const next = await store.acknowledgeAndCreate('a', txn.txnId, LIMITS, build);
      if (ahead) expect(next, `created ahead, round ${round}`).to.deep.equal(ahead);
      txn = next;
    }
    return bodies;
  }

  beforeEach(async () => {
    ({ url, schema, drop } = await freshSchema());
    admin = new pg.Client({ connectionString: url });
    await admin.connect();
  });

  afterEach(async () => {
    await Promise.all(stores.splice(0).map((s) => s.close()));
    await admin.end();
    await drop();
  });

  it('writes each event once: stored transactions keep only their seqs', async () => {
    const store = await openStore();
    await store.enqueue(mixed(100));
    const first = await store.createTransaction('a', LIMITS, build);
    await store.acknowledgeAndCreate('a', first!.txnId, LIMITS, build);
    const { rows } = await admin.query<{ body: string | null; seqs: string[] }>(
      `SELECT body, seqs FROM "${schema}".transactions ORDER BY txn_id`,
    );
    expect(rows).to.have.length(1 + TRANSACTIONS_AHEAD);
    expect(rows.map((row) => row.body)).to.deep.equal(rows.map(() => null));
    expect(rows.every((row) => row.seqs.length > 0)).to.equal(true);
  });

  it('hands every transaction out with the bytes of exactly its items, also after a crash', async () => {
    const items = mixed(90);
    const want = expectedBodies(items, LIMITS);
    const crashed = await openStore();
    await crashed.enqueue(items);
    const first = await crashed.createTransaction('a', LIMITS, build);
    const second = await crashed.acknowledgeAndCreate('a', first!.txnId, LIMITS, build);
    const ahead = await crashed.nextStored('a', second!.txnId, build);
    expect([first!.body, second!.body, ahead!.body]).to.deep.equal(want.slice(0, 3));
    // The first process stops here without closing anything; another opens the same data.
    const next = await openStore();
    const resent = await next.inFlight('a', build);
    expect(resent).to.deep.equal(second);
    expect(Buffer.from(resent!.body).equals(Buffer.from(second!.body))).to.equal(true);
    expect(await next.nextStored('a', second!.txnId, build)).to.deep.equal(ahead);
    expect(await drain(next, resent)).to.deep.equal(want.slice(1));
  });

  it('after a split, the smaller transactions and those after them carry exactly their items', async () => {
    const items = mixed(60);
    const store = await openStore();
    await store.enqueue(items);
    const first = await store.createTransaction('a', LIMITS, build);
    const second = await store.acknowledgeAndCreate('a', first!.txnId, LIMITS, build);
    const done = first!.counts.event + first!.counts.ephemeral + first!.counts.toDevice;
    const smaller = { event: 2, ephemeral: 1, toDevice: 1 };
    const want = expectedBodies(items.slice(done), smaller);
    // The ones created ahead go with it: the split takes the queue from its head again.
    const split = await store.replaceInFlight('a', second!.txnId, smaller, build);
    expect(split!.body).to.equal(want[0]);
    const bodies: string[] = [];
    for (let txn: StoredTransaction | null = split; txn !== null;) {
      bodies.push(txn.body);
      expect(await store.inFlight('a', build)).to.deep.equal(txn);
      txn = await store.acknowledgeAndCreate('a', txn.txnId, smaller, build);
    }
    expect(bodies).to.deep.equal(want);
  });

  it('needs the builder for a transaction without a body (a TypeError naming the method), not for one stored before', async () => {
    await migratePostgres(admin, schema, 'spec', postgresMigrations.slice(0, 4));
    await admin.query(
      `INSERT INTO "${schema}".queue (as_id, kind, json, enqueued_at) VALUES ('a', 'event', '{"n":1}', 1), ('a', 'event', '{"n":2}', 2)`,
    );
    const { rows } = await admin.query<{ seq: string }>(`SELECT seq FROM "${schema}".queue ORDER BY seq LIMIT 1`);
    await admin.query(`INSERT INTO "${schema}".as_state (as_id, next_txn_id) VALUES ('a', 4)`);
    await admin.query(
      `INSERT INTO "${schema}".transactions (as_id, txn_id, id_prefix, body, event_count, ephemeral_count, to_device_count, seqs, created_at)
       VALUES ('a', 3, 'b1', 'the bytes sent before', 1, 0, 0, ARRAY[$1::bigint], 0)`,
      [rows[0]!.seq],
    );
    const store = await openStore();
    // Stored before: its own bytes, whatever the builder would make of its items.
    const old = {
      asId: 'a',
      txnId: 'b1.3',
      body: 'the bytes sent before',
      counts: { event: 1, ephemeral: 0, toDevice: 0 },
    };
    expect(await store.inFlight('a')).to.deep.equal(old);
    expect(await store.inFlight('a', build)).to.deep.equal(old);
    const next = await store.acknowledgeAndCreate('a', 'b1.3', LIMITS, build);
    expect(next!.body).to.equal('[["event",{"n":2}]]');
    const err = await rejection(store.inFlight('a'));
    expect(err).to.be.instanceOf(TypeError);
    expect((err as Error).message).to.match(/^inFlight\(asId, build\)/);
    expect(await store.inFlight('a', build)).to.deep.equal(next);
  });

  it('refuses with a StoreError, rather than other bytes, a transaction whose queue rows are not all there', async () => {
    const store = await openStore();
    await store.enqueue(mixed(3));
    const txn = await store.createTransaction('a', LIMITS, build);
    await admin.query(`DELETE FROM "${schema}".queue WHERE seq = (SELECT max(seq) FROM "${schema}".queue)`);
    const err = await rejection(store.inFlight('a', build));
    expect(err).to.be.instanceOf(StoreError);
    expect((err as Error).message).to.match(new RegExp(`${txn!.txnId.replace('.', '\\.')}.*2 of its 3 queue rows`));
  });
});
