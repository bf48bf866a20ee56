/**
 * PostgresStore deletes an acknowledged transaction's queue rows by the seqs it knows from the
 * creation (one walk of the index over their range, filtered by value), and only those: a row
 * whose seq lies inside that range but that was not yet committed when the transaction was cut
 * stays queued and goes in the next transaction.
 */
import { expect } from 'chai';
import pg from 'pg';
import { PostgresStore } from '../../lib/store/postgres/postgres-store.ts';
import type { QueuedItem, StoredTransaction } from '../../lib/store/store.ts';
import { freshSchema } from '../support/postgres-server.ts';

const build = (items: readonly QueuedItem[]): string => `[${items.map((i) => i.json).join(',')}]`;
const event = (n: number, asId = 'a') => ({ kind: 'event' as const, json: JSON.stringify({ n }), asIds: [asId] });
const numbers = (txn: StoredTransaction | null): number[] => (JSON.parse(txn!.body) as { n: number }[]).map((e) => e.n);
const TEN = { event: 10, ephemeral: 10, toDevice: 10 };

/** The text of every statement the store's pool runs. */
const statements: string[] = [];
class RecordingClient extends pg.Client {
  override query(...args: unknown[]): never {
    const first = args[0] as string | { text?: string };
    const text = typeof first === 'string' ? first : first?.text;
    if (typeof text === 'string') statements.push(text);
    return (super.query as (...a: unknown[]) => never)(...args);
  }
}

describe('PostgresStore: acknowledgements delete queue rows by their known seqs', function () {
  this.timeout(30_000);
  let url: string;
  let schema: string;
  let drop: () => Promise<void>;
  let admin: pg.Client;
  let pool: pg.Pool;
  let store: PostgresStore;

  beforeEach(async () => {
    ({ url, schema, drop } = await freshSchema());
    admin = new pg.Client({ connectionString: url });
    await admin.connect();
    pool = new pg.Pool({ connectionString: url, max: 3, Client: RecordingClient });
    store = new PostgresStore({ pool, schema });
    await store.open();
    statements.length = 0;
  });

  afterEach(async () => {
    await store.close();
    await pool.end();
    await admin.end();
    await drop();
  });

  async function queued(): Promise<number[]> {
    const { rows } = await admin.query<{ json: string }>(`SELECT json FROM "${schema}".queue ORDER BY seq`);
    return rows.map((row) => (JSON.parse(row.json) as { n: number }).n);
  }

  it('deletes over the range of the seqs it created the transactions from, filtered by value', async () => {
    await store.enqueue(Array.from({ length: 45 }, (_, n) => event(n)));
    const first = await store.createTransaction('a', TEN, build);
    const second = await store.acknowledgeAndCreate('a', first!.txnId, TEN, build);
    expect(numbers(second)).to.deep.equal([10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
    // `second` and the ones created ahead with it are known to this process: acknowledging them
    // (the first held back, then both written with the next write) deletes by their seqs.
    statements.length = 0;
    const third = await store.nextStored('a', second!.txnId, build);
    await store.acknowledge('a', second!.txnId);
    const fourth = await store.acknowledgeAndCreate('a', third!.txnId, TEN, build);
    expect(numbers(fourth)).to.deep.equal([30, 31, 32, 33, 34, 35, 36, 37, 38, 39]);
    const ack = statements.find((text) => text.includes(`"${schema}".queue`) && text.includes('DELETE'));
    expect(ack).to.match(/seq BETWEEN \d+ AND \d+\s+AND seq \+ 0 = ANY \('\{[\d,]+\}'::bigint\[\]\)/);
    expect(await queued()).to.deep.equal(Array.from({ length: 15 }, (_, i) => 30 + i));
  });

  it('leaves a row inside that range that was committed after the cut, and sends it next', async () => {
    await store.enqueue([0, 1, 2, 3, 4].map((n) => event(n)));
    // Another session takes the next seq and commits only after the transaction is cut.
    const late = new pg.Client({ connectionString: url });
    await late.connect();
    try {
      await late.query('BEGIN');
      await late.query(
        `INSERT INTO "${schema}".queue (as_id, kind, json, enqueued_at) VALUES ('a', 'event', '{"n":100}', 0)`,
      );
      await store.enqueue([5, 6, 7, 8, 9].map((n) => event(n)));
      const first = await store.createTransaction('a', TEN, build);
      expect(numbers(first)).to.deep.equal([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      await late.query('COMMIT');
      statements.length = 0;
      const next = await store.acknowledgeAndCreate('a', first!.txnId, TEN, build);
      expect(statements.some((text) => /seq BETWEEN \d+ AND \d+/.test(text))).to.equal(true);
      expect(numbers(next)).to.deep.equal([100]);
    } finally {
      await late.end();
    }
  });

  it('deletes nothing by value when one of the acknowledged is not in flight after all', async () => {
    await store.enqueue(Array.from({ length: 40 }, (_, n) => event(n)));
    const first = await store.createTransaction('a', TEN, build);
    const second = await store.acknowledgeAndCreate('a', first!.txnId, TEN, build);
    // Behind this process's back an older transaction appears (as another writer's would): the
    // ones this process knows are no longer in flight, so acknowledging them deletes nothing.
    await admin.query(
      `INSERT INTO "${schema}".transactions (as_id, txn_id, id_prefix, body, event_count, ephemeral_count, to_device_count, seqs, created_at)
       SELECT 'a', 0, id_prefix, '[]', 0, 0, 0, '{}', 0 FROM "${schema}".transactions LIMIT 1`,
    );
    const third = await store.nextStored('a', second!.txnId, build);
    const fourth = await store.nextStored('a', third!.txnId, build);
    await store.acknowledge('a', second!.txnId);
    await store.acknowledge('a', third!.txnId);
    await store.acknowledge('a', fourth!.txnId);
    expect(await queued()).to.deep.equal(Array.from({ length: 30 }, (_, i) => 10 + i));
    const { rows } = await admin.query(`SELECT count(*)::int AS n FROM "${schema}".transactions`);
    expect(rows[0]).to.deep.equal({ n: 4 });
  });

  // An AS id is any string without `|`: SQL words in it must stay words inside its literal.
  it('deletes the queue rows of those it took when another write took one first, whatever the AS id says', async () => {
    const asId = 'bridge RETURNING seq';
    await store.enqueue(Array.from({ length: 40 }, (_, n) => event(n, asId)));
    const first = await store.createTransaction(asId, TEN, build);
    const second = await store.acknowledgeAndCreate(asId, first!.txnId, TEN, build);
    const third = await store.nextStored(asId, second!.txnId, build);
    const fourth = await store.nextStored(asId, third!.txnId, build);
    await store.acknowledge(asId, second!.txnId); // held back
    await store.acknowledge(asId, third!.txnId); // held back
    // The one in flight is acknowledged by another write first (as a concurrent catch-up's would be).
    await admin.query(
      `WITH d AS (DELETE FROM "${schema}".transactions WHERE as_id = $1
                  AND txn_id = (SELECT min(txn_id) FROM "${schema}".transactions WHERE as_id = $1) RETURNING seqs)
       DELETE FROM "${schema}".queue WHERE seq IN (SELECT unnest(seqs) FROM d)`,
      [asId],
    );
    await store.acknowledge(asId, fourth!.txnId); // writes all three: two of them are still there
    expect(await queued()).to.deep.equal([]);
    expect(await store.createTransaction(asId, TEN, build)).to.equal(null);
  });
});
