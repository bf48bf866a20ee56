import { expect } from 'chai';
import { rejection } from '../support/rejection.ts';
import pg from 'pg';
import { OptionsError, StoreError } from '../../lib/errors.ts';
import { fencedTransaction } from '../../lib/store/postgres/fence.ts';
import { migratePostgres } from '../../lib/store/postgres/migrate.ts';
import { migration001 } from '../../lib/store/postgres/migrations/001-initial.ts';
import { postgresMigrations } from '../../lib/store/postgres/migrations/index.ts';
import { PostgresStore } from '../../lib/store/postgres/postgres-store.ts';
import type { QueuedItem } from '../../lib/store/store.ts';
import { storeContractTests } from '../../lib/testing/store-contract.ts';
import { freshSchema } from '../support/postgres-server.ts';

storeContractTests('PostgresStore', async () => {
  const { url, schema, drop } = await freshSchema();
  return {
    store: new PostgresStore({ connectionString: url, schema }),
    reopen: async () => new PostgresStore({ connectionString: url, schema }),
    cleanup: drop,
  };
});

const LIMITS = { event: 100, ephemeral: 100, toDevice: 100 };
const build = (items: readonly QueuedItem[]): string => `[${items.map((i) => i.json).join(',')}]`;

describe('PostgresStore', () => {
  let url: string;
  let schema: string;
  let drop: () => Promise<void>;
  const stores: PostgresStore[] = [];
  let admin: pg.Client;

  function newStore(): PostgresStore {
    const store = new PostgresStore({ connectionString: url, schema, max: 4 });
    stores.push(store);
    return store;
  }

  beforeEach(async () => {
    ({ url, schema, drop } = await freshSchema());
    admin = new pg.Client({ connectionString: url });
    await admin.connect();
  });

  afterEach(async () => {
    await Promise.all(stores.splice(0).map((s) => s.close()));
    await admin?.end();
    await drop?.();
  });

  describe('migrations', () => {
    it('migrates once when several processes open a new schema at the same time', async () => {
      const opening = Array.from({ length: 6 }, () => newStore());
      await Promise.all(opening.map((s) => s.open()));
      const { rows } = await admin.query(`SELECT version FROM "${schema}".schema_version`);
      expect(rows).to.deep.equal([{ version: postgresMigrations.length }]);
      await opening[0]!.enqueue([{ kind: 'event', json: '{}', asIds: ['a'] }]);
      expect((await opening[5]!.backlog('a')).size).to.equal(1);
    });

    it('refuses a schema from a newer version with a StoreError, and changes nothing', async () => {
      await newStore().open();
      await admin.query(`UPDATE "${schema}".schema_version SET version = 99`);
      const err = await rejection(newStore().open());
      expect(err).to.be.instanceOf(StoreError);
      expect(err.message)
        .to.match(/version 99/)
        .and.match(/upgrade koa-appservice/);
      const { rows } = await admin.query(`SELECT version FROM "${schema}".schema_version`);
      expect(rows).to.deep.equal([{ version: 99 }]);
    });

    it('migrates a version 1 schema: the transaction in flight keeps its plain id, new ids carry the birth', async () => {
      await migratePostgres(admin, schema, 'spec', [migration001]);
      await admin.query(
        `INSERT INTO "${schema}".queue (as_id, kind, json, enqueued_at) VALUES ('a', 'event', '{"n":1}', 1), ('a', 'event', '{"n":2}', 2)`,
      );
      const {
        rows: [first],
      } = await admin.query(`SELECT seq FROM "${schema}".queue ORDER BY seq LIMIT 1`);
      await admin.query(`INSERT INTO "${schema}".as_state (as_id, next_txn_id) VALUES ('a', 8)`);
      await admin.query(
        `INSERT INTO "${schema}".transactions VALUES ('a', 7, '[{"n":1}]', 1, 0, 0, ARRAY[$1::bigint], 0)`,
        [first.seq],
      );
      const store = newStore();
      await store.open();
      expect(await store.inFlight('a')).to.deep.equal({
        asId: 'a',
        txnId: '7',
        body: '[{"n":1}]',
        counts: { event: 1, ephemeral: 0, toDevice: 0 },
      });
      await store.acknowledge('a', '7');
      const next = await store.createTransaction('a', LIMITS, build);
      const {
        rows: [identity],
      } = await admin.query(`SELECT birth FROM "${schema}".store_identity`);
      expect(identity.birth).to.match(/^[0-9a-f]{12}$/);
      expect(next).to.deep.include({ txnId: `${identity.birth}.8`, body: '[{"n":2}]' });
    });

    it('uses an existing schema without needing CREATE on the database', async () => {
      await admin.query(`CREATE SCHEMA "${schema}"`);
      await newStore().open();
      const { rows } = await admin.query(`SELECT version FROM "${schema}".schema_version`);
      expect(rows).to.deep.equal([{ version: postgresMigrations.length }]);
    });
  });

  describe('connection errors', () => {
    it('names the server, not the password, when nothing listens there', async () => {
      const store = new PostgresStore({
        connectionString: 'postgres://hs:s3cret-pw@127.0.0.1:1/hs',
        connectTimeoutMs: 2000,
      });
      stores.push(store);
      const err = await rejection(store.open());
      expect(err).to.be.instanceOf(StoreError);
      expect(err.message)
        .to.include('postgres://127.0.0.1:1/hs')
        .and.match(/cannot connect/);
      expect(err.message).to.not.include('s3cret-pw');
      expect(err.cause).to.be.instanceOf(Error);
    });

    it('says which database does not exist', async () => {
      const wrong = new URL(url);
      wrong.pathname = '/no_such_database';
      const store = new PostgresStore({ connectionString: wrong.href });
      stores.push(store);
      const err = await rejection(store.open());
      expect(err).to.be.instanceOf(StoreError);
      expect(err.message).to.match(/no_such_database/);
    });

    it('refuses bad options with an OptionsError naming the option and PostgresStore', () => {
      expect(() => new PostgresStore({})).to.throw(OptionsError, /PostgresStore: option "connectionString"/);
      expect(() => new PostgresStore({ connectionString: 'hs:s3cret@db/hs' }))
        .to.throw(OptionsError, /postgres:\/\//)
        .and.satisfy((err: Error) => !err.message.includes('s3cret'));
      expect(() => new PostgresStore({ connectionString: url, schema: 'x"; DROP' })).to.throw(OptionsError, /"schema"/);
      expect(() => new PostgresStore({ connectionString: url, max: 0 }))
        .to.throw(OptionsError, /"max"/)
        .with.property('source', 'PostgresStore');
      expect(() => new PostgresStore({ connectionString: url, lockHeartbeatMs: -1 })).to.throw(
        OptionsError,
        /"lockHeartbeatMs"/,
      );
    });
  });

  describe('enqueue', () => {
    it('writes a call larger than one statement in order, in one transaction', async () => {
      const store = newStore();
      await store.open();
      const n = 12_000;
      await store.enqueue(
        Array.from({ length: n }, (_, i) => ({ kind: 'event' as const, json: String(i), asIds: ['a'] })),
      );
      const { rows } = await admin.query(`SELECT json FROM "${schema}".queue WHERE as_id = 'a' ORDER BY seq`);
      expect(rows.map((r: { json: string }) => Number(r.json))).to.deep.equal(Array.from({ length: n }, (_, i) => i));
    });

    it('writes nothing of a large call when a late statement fails', async () => {
      const store = newStore();
      await store.open();
      // A trigger stands in for a database failure in the third multi-row INSERT.
      await admin.query(`
        CREATE FUNCTION "${schema}".boom() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN IF NEW.json = '"boom"' THEN RAISE EXCEPTION 'boom'; END IF; RETURN NEW; END $$;
        CREATE TRIGGER boom BEFORE INSERT ON "${schema}".queue FOR EACH ROW EXECUTE FUNCTION "${schema}".boom();`);
      const items = Array.from({ length: 12_000 }, (_, i) => ({
        kind: 'event' as const,
        json: i === 11_000 ? '"boom"' : String(i),
        asIds: ['a'],
      }));
      const err = await rejection(store.enqueue(items));
      expect(err).to.be.instanceOf(StoreError);
      expect(err.message).to.match(/enqueue failed: boom/);
      expect((await store.backlog('a')).size).to.equal(0);
    });

    it("keeps raw tabs, newlines, carriage returns and backslashes byte for byte (COPY's escapes)", async () => {
      const store = newStore();
      await store.open();
      const asId = 'tab\\slash';
      // Not JSON.stringify's output: a caller's own serializer may leave these raw.
      const jsons = ['{"a":\t"b\\tc"}', '{\n"a":\r\n"\\\\n"}', '"\\\\\t"', '"\\N"', '"\\."'];
      await Promise.all(jsons.map((json) => store.enqueue([{ kind: 'event', json, asIds: [asId, 'b'] }])));
      for (const as of [asId, 'b']) {
        const { rows } = await admin.query(`SELECT json FROM "${schema}".queue WHERE as_id = $1 ORDER BY seq`, [as]);
        expect(rows.map((r: { json: string }) => r.json)).to.deep.equal(jsons);
      }
    });

    it('refuses a raw NUL with a TypeError before it can fail a group', async () => {
      const store = newStore();
      await store.open();
      const good = store.enqueue([{ kind: 'event', json: '1', asIds: ['a'] }]);
      const err = await rejection(store.enqueue([{ kind: 'event', json: '"a\u0000b"', asIds: ['a'] }]));
      expect(err).to.be.instanceOf(TypeError);
      await good;
      expect((await store.backlog('a')).size).to.equal(1);
    });
  });

  describe('transaction ids across processes', () => {
    it('stay unique and increasing when several stores take turns and race', async () => {
      const [one, two, three] = [newStore(), newStore(), newStore()];
      await Promise.all([one!.open(), two!.open(), three!.open()]);
      const ids: string[] = [];
      for (let round = 0; round < 20; round++) {
        await one!.enqueue([{ kind: 'event', json: String(round), asIds: ['a'] }]);
        // Three stores race to create: exactly one transaction comes out of it.
        const results = await Promise.allSettled(
          [one, two, three].map((s) => s!.createTransaction('a', LIMITS, build)),
        );
        const made = results.flatMap((r) => (r.status === 'fulfilled' && r.value ? [r.value] : []));
        expect(made, `round ${round}`).to.have.length(1);
        for (const r of results) if (r.status === 'rejected') expect(r.reason).to.be.instanceOf(StoreError);
        ids.push(made[0]!.txnId);
        await [one, two, three][round % 3]!.acknowledge('a', made[0]!.txnId);
      }
      for (let i = 1; i < ids.length; i++)
        expect(Number(ids[i]!.split('.')[1])).to.be.greaterThan(Number(ids[i - 1]!.split('.')[1]));
    });
  });

  describe("the sender's writes", () => {
    it('store ids, items and bodies with quotes, backslashes and any Unicode byte for byte', async () => {
      const store = newStore();
      await store.open();
      const asId = "o'brien\\' \\\\x";
      const jsons = [
        JSON.stringify({ body: "it's \\'quoted\\' \\\\ and \\n" }),
        JSON.stringify({ body: "é 😀 \u2028 \u0001 $1 $$ E''" }),
        '"\\\\\\\\\'"',
      ];
      for (const json of [...jsons, ...jsons]) await store.enqueue([{ kind: 'event', json, asIds: [asId] }]);
      const small = { ...LIMITS, event: 3 };
      const first = await store.createTransaction(asId, small, build);
      expect(first!.body).to.equal(`[${jsons.join(',')}]`);
      const second = await store.acknowledgeAndCreate(asId, first!.txnId, small, build);
      expect(second!.body).to.equal(`[${jsons.join(',')}]`);
      expect((await store.inFlight(asId, build))!.body).to.equal(second!.body);
      expect(await store.acknowledgeAndCreate(asId, second!.txnId, small, build)).to.equal(null);
      expect((await store.backlog(asId)).size).to.equal(0);
    });

    it('fill a transaction of mixed kinds up to every limit, reading past the first rows', async () => {
      const store = newStore();
      await store.open();
      const kinds = ['event', 'ephemeral', 'toDevice'] as const;
      await store.enqueue(Array.from({ length: 30 }, (_, i) => ({ kind: kinds[i % 3]!, json: `${i}`, asIds: ['a'] })));
      const three = { event: 3, ephemeral: 3, toDevice: 3 };
      const first = await store.createTransaction('a', three, build);
      expect(first!.body).to.equal('[0,1,2,3,4,5,6,7,8]');
      const second = await store.acknowledgeAndCreate('a', first!.txnId, three, build);
      expect(second!.body).to.equal('[9,10,11,12,13,14,15,16,17]');
      expect(second!.counts).to.deep.equal({ event: 3, ephemeral: 3, toDevice: 3 });
    });

    it("read the queue's head with an ordered index scan, whatever the table's statistics say", async () => {
      const store = newStore();
      await store.open();
      // A backlog the planner has no statistics for, as a queue table usually has.
      for (let i = 0; i < 10; i++) {
        await store.enqueue(
          Array.from({ length: 1000 }, (_, j) => ({ kind: 'event' as const, json: `${i * 1000 + j}`, asIds: ['a'] })),
        );
      }
      const pool = new pg.Pool({ connectionString: url, max: 1 });
      try {
        const plan = await fencedTransaction(
          { pool, t: (table) => `"${schema}".${table}`, birth: '' },
          'a',
          undefined,
          async (_client, explained) =>
            explained!.rows.map((row: { 'QUERY PLAN': string }) => row['QUERY PLAN']).join('\n'),
          () => false,
          `EXPLAIN SELECT seq, kind, json FROM "${schema}".queue WHERE as_id = 'a' ORDER BY seq LIMIT 300`,
        );
        expect(plan).to.match(/Index Scan using queue_pkey/);
        expect(plan).not.to.match(/Bitmap|Seq Scan|Sort/);
      } finally {
        await pool.end();
      }
    });
  });
});
