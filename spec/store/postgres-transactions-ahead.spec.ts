/**
 * PostgresStore creates transactions ahead (schema version 5): one commit stores the next few full
 * transactions, which are then handed out in id order, one in flight at a time; a schema at
 * version 4 with a transaction in flight migrates without losing it; and two processes creating
 * for a new AS at once never both store a transaction.
 */
import { expect } from 'chai';
import pg from 'pg';
import { InFlightMismatchError } from '../../lib/errors.ts';
import { TRANSACTIONS_AHEAD } from '../../lib/store/postgres/acknowledge-create.ts';
import { migratePostgres } from '../../lib/store/postgres/migrate.ts';
import { postgresMigrations } from '../../lib/store/postgres/migrations/index.ts';
import { PostgresStore } from '../../lib/store/postgres/postgres-store.ts';
import type { QueuedItem, StoredTransaction } from '../../lib/store/store.ts';
import { freshSchema } from '../support/postgres-server.ts';

const build = (items: readonly QueuedItem[]): string => `[${items.map((i) => i.json).join(',')}]`;
const event = (n: number, asId = 'a') => ({ kind: 'event' as const, json: JSON.stringify({ n }), asIds: [asId] });
const numbers = (txn: StoredTransaction | null): number[] => (JSON.parse(txn!.body) as { n: number }[]).map((e) => e.n);
const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);
const TEN = { event: 10, ephemeral: 10, toDevice: 10 };

describe('PostgresStore: transactions created ahead', function () {
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

  async function storedIds(): Promise<string[]> {
    const { rows } = await admin.query<{ txn_id: string }>(
      `SELECT txn_id FROM "${schema}".transactions WHERE as_id = 'a' ORDER BY txn_id`,
    );
    return rows.map((row) => row.txn_id);
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

  it('stores the next full transactions in the commit that creates, and hands them out in order', async () => {
    const store = await openStore();
    await store.enqueue(range(0, 100).map((n) => event(n)));
    const first = await store.createTransaction('a', TEN, build);
    expect(await storedIds()).to.have.length(1);
    const second = await store.acknowledgeAndCreate('a', first!.txnId, TEN, build);
    expect(numbers(second)).to.deep.equal(range(10, 20));
    // One commit stored the one returned and TRANSACTIONS_AHEAD more after it.
    expect(await storedIds()).to.have.length(1 + TRANSACTIONS_AHEAD);
    expect(await store.inFlight('a', build)).to.deep.equal(second);
    const seen = [...numbers(second)];
    let txn = second;
    for (let k = 0; k < TRANSACTIONS_AHEAD; k++) {
      const ahead = await store.nextStored('a', txn!.txnId, build);
      const next = await store.acknowledgeAndCreate('a', txn!.txnId, TEN, build);
      expect(next).to.deep.equal(ahead);
      seen.push(...numbers(next));
      txn = next;
    }
    expect(seen).to.deep.equal(range(10, 50));
    // Handing out a stored one creates nothing: the last of them is alone now.
    expect(await storedIds()).to.have.length(1);
  });

  it('acknowledges only the transaction in flight, never one created ahead', async () => {
    const store = await openStore();
    await store.enqueue(range(0, 60).map((n) => event(n)));
    const first = await store.createTransaction('a', TEN, build);
    const second = await store.acknowledgeAndCreate('a', first!.txnId, TEN, build);
    const ahead = await store.nextStored('a', second!.txnId, build);
    expect(ahead).to.not.equal(null);
    await store.acknowledge('a', ahead!.txnId);
    expect(await store.inFlight('a', build)).to.deep.equal(second);
    expect(await store.backlog('a')).to.include({ size: 50 });
    const refused = await store.acknowledgeAndCreate('a', ahead!.txnId, TEN, build).catch((error: unknown) => error);
    expect(refused).to.be.instanceOf(InFlightMismatchError);
    expect(await storedIds()).to.have.length(1 + TRANSACTIONS_AHEAD);
  });

  it('migrates a version 4 schema with a transaction in flight: it keeps its id, body and items', async () => {
    await migratePostgres(admin, schema, 'spec', postgresMigrations.slice(0, 4));
    await admin.query(
      `INSERT INTO "${schema}".queue (as_id, kind, json, enqueued_at) SELECT 'a', 'event', json_build_object('n', n)::text, n FROM generate_series(0, 49) AS n`,
    );
    const { rows } = await admin.query<{ seq: string }>(`SELECT seq FROM "${schema}".queue ORDER BY seq LIMIT 3`);
    await admin.query(`INSERT INTO "${schema}".as_state (as_id, next_txn_id) VALUES ('a', 6)`);
    await admin.query(
      `INSERT INTO "${schema}".transactions (as_id, txn_id, id_prefix, body, event_count, ephemeral_count, to_device_count, seqs, created_at)
       VALUES ('a', 5, 'b1', '[{"n":0},{"n":1},{"n":2}]', 3, 0, 0, $1::bigint[], 0)`,
      [rows.map((row) => row.seq)],
    );
    const store = await openStore();
    const { rows: version } = await admin.query(`SELECT version FROM "${schema}".schema_version`);
    expect(version).to.deep.equal([{ version: postgresMigrations.length }]);
    const counts = { event: 3, ephemeral: 0, toDevice: 0 };
    expect(await store.inFlight('a')).to.deep.equal({
      asId: 'a',
      txnId: 'b1.5',
      body: '[{"n":0},{"n":1},{"n":2}]',
      counts,
    });
    const next = await store.acknowledgeAndCreate('a', 'b1.5', TEN, build);
    expect(numbers(next)).to.deep.equal(range(3, 13));
    expect(Number(next!.txnId.split('.')[1])).to.equal(6);
    expect(await storedIds()).to.deep.equal(['6', '7', '8', '9']);
    expect(await store.backlog('a')).to.include({ size: 47 });
  });

  it('holds back the acknowledgement of a transaction with one created ahead behind it until the next write or read of the AS', async () => {
    const store = await openStore();
    await store.enqueue(range(0, 100).map((n) => event(n)));
    const first = await store.createTransaction('a', TEN, build);
    const second = await store.acknowledgeAndCreate('a', first!.txnId, TEN, build);
    const ids = await storedIds();
    expect(ids).to.have.length(4);
    // As the sender does: read the next one, acknowledge the one the AS answered while sending it.
    let txn = second!;
    for (let k = 1; k < 4; k++) {
      const next = await store.nextStored('a', txn.txnId, build);
      await store.acknowledge('a', txn.txnId);
      expect(await storedIds(), `acknowledgement ${k} held back`).to.deep.equal(ids);
      txn = next!;
    }
    expect(await store.nextStored('a', txn.txnId, build)).to.equal(null);
    // The next write of the AS writes them, and creates.
    const fifth = await store.acknowledgeAndCreate('a', txn.txnId, TEN, build);
    expect(numbers(fifth)).to.deep.equal(range(50, 60));
    expect(await storedIds()).to.have.length(4);
    expect(await store.backlog('a')).to.include({ size: 50 });
    // A read of the AS writes them first too.
    const sixth = await store.nextStored('a', fifth!.txnId, build);
    await store.acknowledge('a', fifth!.txnId);
    expect(await store.inFlight('a', build)).to.deep.equal(sixth);
    expect(await storedIds()).to.have.length(3);
    // A crash loses what is held back: the AS is sent the same id and bytes again.
    await store.acknowledge('a', sixth!.txnId);
    const after = await openStore();
    expect(await after.inFlight('a', build)).to.deep.equal(sixth);
    // close() writes what is held back.
    await store.close();
    expect(await after.inFlight('a', build)).to.deep.include({
      body: `[${range(70, 80)
        .map((n) => JSON.stringify({ n }))
        .join(',')}]`,
    });
  });

  it('keeps an acknowledgement held back while a backlog() read is writing the ones before it', async () => {
    const store = await openStore();
    await store.enqueue(range(0, 100).map((n) => event(n)));
    const first = await store.createTransaction('a', TEN, build);
    const second = await store.acknowledgeAndCreate('a', first!.txnId, TEN, build); // and 3 ahead
    const third = await store.nextStored('a', second!.txnId, build);
    await store.acknowledge('a', second!.txnId); // held back
    const fourth = await store.nextStored('a', third!.txnId, build);
    // A metrics scrape writes what is held back; meanwhile the sender holds back the next one.
    const scrape = store.backlog('a');
    await store.acknowledge('a', third!.txnId);
    await scrape;
    expect(await store.inFlight('a', build)).to.deep.equal(fourth);
  });

  it('writes the acknowledgements held back when the sender lock is released, before the fence refuses them', async () => {
    const store = await openStore();
    const lock = await store.acquireSenderLock('a');
    await store.enqueue(range(0, 100).map((n) => event(n)));
    const first = await store.createTransaction('a', TEN, build);
    const second = await store.acknowledgeAndCreate('a', first!.txnId, TEN, build); // and 3 ahead
    const third = await store.nextStored('a', second!.txnId, build);
    await store.acknowledge('a', second!.txnId); // held back
    await lock!.release();
    await store.close();
    const after = await openStore();
    expect(await after.inFlight('a', build)).to.deep.equal(third);
  });

  it('a process whose sender lock is gone reads what the new sender stored, not what it created ahead itself', async () => {
    const old = new PostgresStore({ connectionString: url, schema, max: 2, lockHeartbeatMs: 0 });
    stores.push(old);
    await old.open();
    const oldLock = await old.acquireSenderLock('a');
    await old.enqueue(range(0, 60).map((n) => event(n)));
    const first = await old.createTransaction('a', TEN, build);
    const second = await old.acknowledgeAndCreate('a', first!.txnId, TEN, build);
    expect(numbers(await old.nextStored('a', second!.txnId, build))).to.deep.equal(range(20, 30));
    // What a SIGKILL does to the old sender's lock: its session ends.
    await admin.query(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'koa-appservice sender lock'",
    );
    await oldLock!.lost;
    const next = await openStore();
    expect(await next.acquireSenderLock('a')).to.not.equal(null);
    // The new sender splits what is in flight: the transactions created ahead are gone.
    const split = await next.replaceInFlight('a', second!.txnId, { event: 2, ephemeral: 1, toDevice: 1 }, build);
    expect(numbers(split)).to.deep.equal([10, 11]);
    expect(await old.nextStored('a', first!.txnId, build)).to.deep.equal(split);
    expect(await old.nextStored('a', second!.txnId, build)).to.deep.equal(split);
  });

  it('never stores two creations for a new AS when two processes create for it at once', async () => {
    const [one, two] = [await openStore(), await openStore()];
    const asIds = range(0, 20).map((n) => `new${n}`);
    await one.enqueue(asIds.flatMap((asId) => range(0, 30).map((n) => event(n, asId))));
    for (const asId of asIds) {
      const outcomes = await Promise.all(
        [one, two].map((store) =>
          store.acknowledgeAndCreate(asId, 'unknown', TEN, build).then(
            (txn) => txn,
            (error: unknown) => error,
          ),
        ),
      );
      const created = outcomes.filter((o) => o !== null && !(o instanceof Error));
      expect(created, asId).to.have.length(1);
      expect(
        outcomes.filter((o) => o instanceof InFlightMismatchError),
        asId,
      ).to.have.length(1);
      const { rows } = await admin.query<{ n: string }>(
        `SELECT count(*) AS n FROM "${schema}".transactions WHERE as_id = $1`,
        [asId],
      );
      expect(Number(rows[0]!.n), asId).to.equal(3);
    }
  });
});
