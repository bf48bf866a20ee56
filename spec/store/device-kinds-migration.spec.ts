/**
 * Schema version 4 of both SQL stores: a store at version 3, with items queued, a transaction in
 * flight and (SQLite) dead letters, opens under the new code losing nothing, and then takes the
 * MSC3202 kinds, which the version 3 `kind` CHECK refused.
 */
import Database from 'better-sqlite3';
import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { migratePostgres } from '../../lib/store/postgres/migrate.ts';
import { postgresMigrations } from '../../lib/store/postgres/migrations/index.ts';
import { PostgresStore } from '../../lib/store/postgres/postgres-store.ts';
import { migrateSqlite } from '../../lib/store/sqlite/migrate.ts';
import { sqliteMigrations } from '../../lib/store/sqlite/migrations/index.ts';
import { SqliteStore } from '../../lib/store/sqlite/sqlite-store.ts';
import type { QueuedItem } from '../../lib/store/store.ts';
import { freshSchema } from '../support/postgres-server.ts';

const LIMITS = { event: 100, ephemeral: 100, toDevice: 100 };
const build = (items: readonly QueuedItem[]): string => `[${items.map((i) => i.json).join(',')}]`;
const deviceList = { kind: 'deviceList' as const, json: '{"user_id":"@a:hs","change":"changed"}', asIds: ['a'] };

describe('schema version 4 (MSC3202 item kinds)', function () {
  this.timeout(30_000);

  it('SqliteStore: migrates a version 3 database, keeping the queue, the transaction in flight and the dead letter ids', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'koa-as-v4-'));
    const path = join(dir, 'store.db');
    const db = new Database(path);
    try {
      migrateSqlite(db, path, sqliteMigrations.slice(0, 3));
      expect(() =>
        db
          .prepare("INSERT INTO queue (as_id, seq, kind, json, enqueued_at) VALUES ('x', 1, 'deviceList', '{}', 1)")
          .run(),
      ).to.throw(/CHECK constraint/);
      db.prepare(
        "INSERT INTO queue (as_id, seq, kind, json, enqueued_at) VALUES ('a', 1, 'event', '[1]', 11), ('a', 2, 'event', '[2]', 12)",
      ).run();
      db.prepare("INSERT INTO as_state (as_id, next_txn_id, next_seq) VALUES ('a', 6, 3)").run();
      db.prepare(
        "INSERT INTO transactions (as_id, txn_id, id_prefix, body, event_count, ephemeral_count, to_device_count, last_seq, created_at) VALUES ('a', 5, 'b1', '[[1]]', 1, 0, 0, 1, 0)",
      ).run();
      // The dead letters table as version 3 code made it on first use; letters 2 and 3 were dropped since.
      db.exec(`CREATE TABLE dead_letters (
        id INTEGER PRIMARY KEY AUTOINCREMENT, as_id TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('event', 'ephemeral', 'toDevice')), json TEXT NOT NULL,
        txn_id TEXT NOT NULL, reason TEXT NOT NULL, set_aside_at INTEGER NOT NULL)`);
      for (let i = 1; i <= 3; i++)
        db.prepare("INSERT INTO dead_letters VALUES (?, 'a', 'event', '[0]', 'b1.1', 'HTTP 413', 0)").run(i);
      db.prepare('DELETE FROM dead_letters WHERE id > 1').run();
    } finally {
      db.close();
    }
    const store = new SqliteStore(path);
    try {
      await store.open();
      const counts = { event: 1, ephemeral: 0, toDevice: 0 };
      expect(await store.inFlight('a')).to.deep.equal({ asId: 'a', txnId: 'b1.5', body: '[[1]]', counts });
      expect(await store.backlog('a')).to.deep.equal({ size: 2, oldestEnqueuedAt: 11 });
      await store.acknowledge('a', 'b1.5');
      const next = await store.createTransaction('a', LIMITS, build);
      expect(next!.body).to.equal('[[2]]');
      await store.acknowledge('a', next!.txnId);
      await store.enqueue([deviceList]);
      const last = await store.createTransaction('a', LIMITS, build);
      expect(last!.counts).to.deep.equal({ event: 0, ephemeral: 0, toDevice: 0, deviceList: 1 });
      expect(await store.setAside('a', last!.txnId, 'HTTP 413')).to.equal(1);
      // Ids 2 and 3 were handed out before: the new letter must not take one of them.
      expect((await store.deadLetters('a')).map((l) => [l.id, l.kind])).to.deep.equal([
        [1, 'event'],
        [4, 'deviceList'],
      ]);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('PostgresStore: migrates a version 3 schema, keeping the queue and the transaction in flight', async () => {
    const { url, schema, drop } = await freshSchema();
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    const store = new PostgresStore({ connectionString: url, schema, max: 2 });
    try {
      await migratePostgres(admin, schema, 'spec', postgresMigrations.slice(0, 3));
      const refused = await admin
        .query(`INSERT INTO "${schema}".queue (as_id, kind, json, enqueued_at) VALUES ('x', 'keyCounts', '{}', 1)`)
        .then(
          () => null,
          (error: Error) => error,
        );
      expect(refused?.message).to.match(/queue_kind_check/);
      await admin.query(
        `INSERT INTO "${schema}".queue (as_id, kind, json, enqueued_at) VALUES ('a', 'event', '[1]', 11), ('a', 'event', '[2]', 12)`,
      );
      const { rows } = await admin.query<{ seq: string }>(`SELECT seq FROM "${schema}".queue ORDER BY seq LIMIT 1`);
      await admin.query(`INSERT INTO "${schema}".as_state (as_id, next_txn_id) VALUES ('a', 6)`);
      await admin.query(
        `INSERT INTO "${schema}".transactions (as_id, txn_id, id_prefix, body, event_count, ephemeral_count, to_device_count, seqs, created_at)
         VALUES ('a', 5, 'b1', '[[1]]', 1, 0, 0, ARRAY[$1::bigint], 0)`,
        [rows[0]!.seq],
      );
      await store.open();
      const counts = { event: 1, ephemeral: 0, toDevice: 0 };
      expect(await store.inFlight('a')).to.deep.equal({ asId: 'a', txnId: 'b1.5', body: '[[1]]', counts });
      await store.enqueue([{ ...deviceList, kind: 'keyCounts' }]);
      await store.acknowledge('a', 'b1.5');
      const next = await store.createTransaction('a', LIMITS, build);
      expect(next!.body).to.equal(`[[2],${deviceList.json}]`);
      expect(next!.counts).to.deep.equal({ event: 1, ephemeral: 0, toDevice: 0, keyCounts: 1 });
    } finally {
      await store.close();
      await admin.end();
      await drop();
    }
  });
});
