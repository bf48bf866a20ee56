import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { expect } from 'chai';
import { rejection } from '../support/rejection.ts';
import { OptionsError, StoreError } from '../../lib/errors.ts';
import { migrateSqlite, sqliteSchemaVersion } from '../../lib/store/sqlite/migrate.ts';
import { migration001 } from '../../lib/store/sqlite/migrations/001-initial.ts';
import { sqliteMigrations } from '../../lib/store/sqlite/migrations/index.ts';
import { sqliteOperations, TRANSACTIONS_AHEAD } from '../../lib/store/sqlite/statements.ts';
import { SqliteStore } from '../../lib/store/sqlite/sqlite-store.ts';
import type { EnqueueItem } from '../../lib/store/store.ts';
import { storeContractTests } from '../../lib/testing/store-contract.ts';

const LIMITS = { event: 100, ephemeral: 100, toDevice: 100 };
const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const STORE_MODULE = new URL('../../lib/store/sqlite/sqlite-store.ts', import.meta.url).href;

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'koa-as-sqlite-'));
}

function event(n: number, asIds: readonly string[]): EnqueueItem {
  return { kind: 'event', json: JSON.stringify({ type: 'm.room.message', content: { n } }), asIds };
}

storeContractTests('SqliteStore', async () => {
  const dir = tempDir();
  const path = join(dir, 'store.db');
  return {
    store: new SqliteStore(path),
    reopen: async () => new SqliteStore(path),
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  };
});

describe('SqliteStore', () => {
  let dir: string;
  let path: string;
  const toClose: { close(): unknown }[] = [];

  beforeEach(() => {
    dir = tempDir();
    path = join(dir, 'store.db');
  });

  afterEach(async () => {
    for (const resource of toClose.splice(0)) await resource.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function openStore(options?: { synchronous?: 'full' | 'normal' }): Promise<SqliteStore> {
    const store = new SqliteStore(path, options);
    toClose.push(store);
    await store.open();
    return store;
  }

  /** A second connection to the same file: it sees only what the store committed. */
  function peek(): Database.Database {
    const db = new Database(path);
    toClose.push(db);
    return db;
  }

  function count(db: Database.Database, table: 'queue' | 'transactions'): number {
    return (db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
  }

  it('creates the schema on a fresh file and records its version', async () => {
    await openStore();
    const db = peek();
    expect(sqliteSchemaVersion(db)).to.equal(sqliteMigrations.length);
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all();
    expect(tables).to.include.members(['as_state', 'queue', 'transactions']);
    expect(tables).to.not.include('items');
  });

  it('runs in WAL mode', async () => {
    const store = await openStore();
    await store.enqueue([event(1, ['a'])]);
    expect(peek().pragma('journal_mode', { simple: true })).to.equal('wal');
    expect(existsSync(`${path}-wal`)).to.equal(true);
  });

  it('refuses a database from a newer version, untouched, with a clear message', async () => {
    const known = sqliteMigrations.length;
    const db = new Database(path);
    db.pragma(`user_version = ${known + 7}`);
    db.close();
    const err = await rejection(new SqliteStore(path).open());
    expect(err).to.be.instanceOf(StoreError);
    expect(err.message).to.equal(
      `database ${path} is at schema version ${known + 7}, this koa-appservice knows up to ${known}: upgrade koa-appservice`,
    );
    const after = peek();
    expect(sqliteSchemaVersion(after)).to.equal(known + 7);
    expect(after.prepare('SELECT count(*) FROM sqlite_master').pluck().get()).to.equal(0);
  });

  it('rolls a failing migration back, leaving the previous version', () => {
    const db = peek();
    const err = (() => {
      try {
        migrateSqlite(db, path, [...sqliteMigrations, 'CREATE TABLE half_done (x); CREATE TABLE broken (']);
      } catch (e) {
        return e as Error;
      }
      return expect.fail('the migration succeeded');
    })();
    expect(err).to.be.instanceOf(StoreError);
    expect(err.message).to.contain(`migration to schema version ${sqliteMigrations.length + 1} failed`);
    expect(sqliteSchemaVersion(db)).to.equal(0);
    expect(db.prepare('SELECT count(*) FROM sqlite_master').pluck().get()).to.equal(0);
  });

  it('migrates a version 1 database with queued items and a transaction in flight, losing nothing', async () => {
    const db = new Database(path);
    migrateSqlite(db, path, [migration001]);
    const json = (n: number): string => JSON.stringify({ type: 'm.room.message', content: { n } });
    // Version 1 layout: items stored once, queue rows per AS with a global seq, refs counting them.
    const rows: [number, string[]][] = [
      [1, ['a', 'b']],
      [2, ['b']],
      [3, ['a']],
      [4, ['a', 'b']],
      [5, ['a']],
    ];
    for (const [n, asIds] of rows) {
      db.prepare("INSERT INTO items (id, kind, json, enqueued_at, refs) VALUES (?, 'event', ?, ?, ?)").run(
        n,
        json(n),
        1000 + n,
        asIds.length,
      );
      for (const asId of asIds) db.prepare('INSERT INTO queue (as_id, item_id) VALUES (?, ?)').run(asId, n);
    }
    // a's transaction 7 holds items 1 and 3 (global seqs 1 and 4); a and b have sent 6 and 2 before.
    db.prepare("INSERT INTO transactions VALUES ('a', 7, '[1,3]', 2, 0, 0, 4, 0)").run();
    db.prepare("INSERT INTO as_state (as_id, next_txn_id, queued) VALUES ('a', 8, 4), ('b', 3, 3)").run();
    db.close();

    const store = await openStore();
    expect(sqliteSchemaVersion(peek())).to.equal(sqliteMigrations.length);
    // Stored before the store had a birth: resent under the plain id the AS may have seen.
    expect(await store.inFlight('a')).to.deep.equal({
      asId: 'a',
      txnId: '7',
      body: '[1,3]',
      counts: { event: 2, ephemeral: 0, toDevice: 0 },
    });
    expect(await store.backlog('a')).to.deep.equal({ size: 4, oldestEnqueuedAt: 1001 });
    expect(await store.backlog('b')).to.deep.equal({ size: 3, oldestEnqueuedAt: 1001 });
    await store.enqueue([event(6, ['a', 'b'])]);
    const numbers = (body: string): number[] =>
      (JSON.parse(body) as { content: { n: number } }[]).map((e) => e.content.n);
    const drain = async (asId: string): Promise<{ ids: string[]; ns: number[] }> => {
      const out = { ids: [] as string[], ns: [] as number[] };
      for (let txn = await store.createTransaction(asId, LIMITS, (r) => `[${r.map((i) => i.json).join(',')}]`); txn;) {
        out.ids.push(txn.txnId);
        out.ns.push(...numbers(txn.body));
        txn = await store.acknowledgeAndCreate(asId, txn.txnId, LIMITS, (r) => `[${r.map((i) => i.json).join(',')}]`);
      }
      return out;
    };
    await store.acknowledge('a', '7');
    // New ids carry the birth and go on from the counter.
    const birth = peek().prepare('SELECT birth FROM store_identity').pluck().get() as string;
    expect(birth).to.match(/^[0-9a-f]{12}$/);
    expect(await drain('a')).to.deep.equal({ ids: [`${birth}.8`], ns: [4, 5, 6] });
    expect(await drain('b')).to.deep.equal({ ids: [`${birth}.3`], ns: [1, 2, 4, 6] });
    expect(count(peek(), 'queue')).to.equal(0);
  });

  it('refuses a file that is not a database with a StoreError', async () => {
    const { writeFileSync } = await import('node:fs');
    writeFileSync(path, 'this is not a database, not at all, not even slightly'.repeat(20));
    const err = await rejection(new SqliteStore(path).open());
    expect(err).to.be.instanceOf(StoreError);
    expect(err.message).to.contain(path);
  });

  it('rejects bad options with an OptionsError naming the option and SqliteStore', () => {
    expect(() => new SqliteStore('')).to.throw(OptionsError, /SqliteStore: option "path"/);
    expect(() => new SqliteStore(path, { synchronous: 'off' as 'full' }))
      .to.throw(OptionsError, /SqliteStore: option "synchronous"/)
      .with.property('source', 'SqliteStore');
  });

  it('refuses to join a foreign transaction (enqueue with a client)', async () => {
    const store = await openStore();
    const err = await rejection(store.enqueue([event(1, ['a'])], { client: { query: async () => ({}) } }));
    expect(err).to.be.instanceOf(StoreError);
    expect(err.message).to.contain('PostgresStore');
    expect((await store.backlog('a')).size).to.equal(0);
  });

  it("queues an item wanted by several ASes once per AS, and deletes each AS's row at its acknowledge", async () => {
    const store = await openStore();
    await store.enqueue([event(1, ['a', 'b', 'c'])]);
    const db = peek();
    expect(count(db, 'queue')).to.equal(3);
    for (const [asId, left] of [
      ['a', 2],
      ['b', 1],
      ['c', 0],
    ] as const) {
      const txn = await store.createTransaction(asId, LIMITS, (rows) => rows[0]!.json);
      await store.acknowledge(asId, txn!.txnId);
      expect(count(db, 'queue'), `rows after ${asId}`).to.equal(left);
    }
    expect(count(db, 'transactions')).to.equal(0);
  });

  it('creates up to TRANSACTIONS_AHEAD full transactions ahead, stored without a body, and hands each out rebuilt from exactly its items, after a reopen too', async () => {
    let store = await openStore();
    await store.enqueue(Array.from({ length: 1000 }, (_, n) => event(n, ['a'])));
    const build = (rows: readonly { json: string }[]): string => `[${rows.map((r) => r.json).join(',')}]`;
    const first = await store.createTransaction('a', LIMITS, build);
    expect(count(peek(), 'transactions')).to.equal(1);
    const second = await store.acknowledgeAndCreate('a', first!.txnId, LIMITS, build);
    const db = peek();
    const stored = db.prepare("SELECT txn_id, body FROM transactions WHERE as_id = 'a' ORDER BY txn_id").all() as {
      txn_id: number;
      body: string;
    }[];
    const [birth, n] = second!.txnId.split('.') as [string, string];
    expect(stored.map((t) => t.txn_id)).to.deep.equal(
      Array.from({ length: TRANSACTIONS_AHEAD + 1 }, (_, i) => Number(n) + i),
    );
    // Each event is written once, as its queue row: the transactions keep only their range.
    expect(stored.map((t) => t.body)).to.deep.equal(stored.map(() => null));
    await store.close();
    store = await openStore();
    expect(await store.inFlight('a', build)).to.deep.equal(second);
    // Only the transaction in flight can be acknowledged, not one created ahead of it.
    await store.acknowledge('a', `${birth}.${Number(n) + 1}`);
    expect(await store.inFlight('a', build)).to.deep.equal(second);
    expect(count(peek(), 'transactions')).to.equal(stored.length);
    const handedOut = [second!];
    for (let txn = second; handedOut.length < stored.length;) {
      txn = await store.acknowledgeAndCreate('a', txn!.txnId, LIMITS, build);
      handedOut.push(txn!);
    }
    // Transaction k after the first holds events 100k .. 100k + 99, no more, no fewer.
    const bytesOf = (k: number): string => build(Array.from({ length: 100 }, (_, i) => event(100 * k + i, ['a'])));
    expect(handedOut.map((t) => [t.txnId, t.body])).to.deep.equal(
      stored.map((t, i) => [`${birth}.${t.txn_id}`, bytesOf(i + 1)]),
    );
  });

  it('rebuilds nothing without the builder: a TypeError naming the method', async () => {
    const store = await openStore();
    await store.enqueue(Array.from({ length: 250 }, (_, n) => event(n, ['a'])));
    const build = (rows: readonly { json: string }[]): string => `[${rows.map((r) => r.json).join(',')}]`;
    const first = await store.createTransaction('a', LIMITS, build);
    const second = await store.acknowledgeAndCreate('a', first!.txnId, LIMITS, build);
    const err = await store.inFlight('a').catch((e: unknown) => e);
    expect(err).to.be.instanceOf(TypeError).with.property('message').that.contains('SqliteStore.inFlight()');
    const ahead = await store.nextStored('a', second!.txnId).catch((e: unknown) => e);
    expect(ahead).to.be.instanceOf(TypeError).with.property('message').that.contains('SqliteStore.nextStored()');
    expect(await store.inFlight('a', build)).to.deep.equal(second);
  });

  describe('group commit', () => {
    /** Counts, from SQLite itself, the transactions that moved the per-AS next seq (once per AS per group). */
    function countCommits(db: Database.Database): () => number {
      db.exec(`CREATE TABLE commit_probe (n INTEGER);
        CREATE TRIGGER probe_insert AFTER INSERT ON as_state BEGIN INSERT INTO commit_probe VALUES (1); END;
        CREATE TRIGGER probe_update AFTER UPDATE OF next_seq ON as_state BEGIN INSERT INTO commit_probe VALUES (1); END;`);
      return () => db.prepare('SELECT count(*) FROM commit_probe').pluck().get() as number;
    }

    it('commits concurrent enqueues in one SQLite transaction', async () => {
      const store = await openStore();
      const commits = countCommits(peek());
      await Promise.all(Array.from({ length: 50 }, (_, n) => store.enqueue([event(n, ['a'])])));
      expect(commits()).to.equal(1);
      // The observable does see separate commits when the calls are not concurrent.
      for (let n = 50; n < 53; n++) await store.enqueue([event(n, ['a'])]);
      expect(commits()).to.equal(4);
      expect((await store.backlog('a')).size).to.equal(53);
    });

    it('gathers callers that reach enqueue through a few awaits', async () => {
      const store = await openStore();
      const commits = countCommits(peek());
      const publish = async (n: number): Promise<void> => {
        await Promise.resolve();
        await null;
        await store.enqueue([event(n, ['a'])]);
      };
      await Promise.all(Array.from({ length: 20 }, (_, n) => publish(n)));
      expect(commits()).to.equal(1);
    });

    it('rejects every caller of a failed group and writes nothing', async () => {
      const store = await openStore();
      const db = peek();
      // A real SQLite failure in the middle of the group's transaction, after other rows went in.
      db.exec(`CREATE TRIGGER refuse BEFORE INSERT ON queue WHEN NEW.as_id = 'boom'
        BEGIN SELECT RAISE(ABORT, 'injected failure'); END;`);
      const calls = [
        store.enqueue([event(1, ['a'])]),
        store.enqueue([event(2, ['a', 'b'])]),
        store.enqueue([event(3, ['boom'])]),
        store.enqueue([event(4, ['b'])]),
      ];
      const outcomes = await Promise.allSettled(calls);
      for (const outcome of outcomes) {
        expect(outcome.status).to.equal('rejected');
        const reason = (outcome as PromiseRejectedResult).reason as Error;
        expect(reason).to.be.instanceOf(StoreError);
        expect(reason.message).to.contain('injected failure');
      }
      expect(count(db, 'queue')).to.equal(0);
      expect((await store.backlog('a')).size).to.equal(0);
      db.exec('DROP TRIGGER refuse');
      await store.enqueue([event(5, ['a'])]);
      const txn = await store.createTransaction('a', LIMITS, (rows) => `[${rows.map((r) => r.json).join(',')}]`);
      expect(txn!.counts.event).to.equal(1);
    });

    it('commits what is gathering before close() resolves', async () => {
      const store = new SqliteStore(path);
      await store.open();
      const pending = store.enqueue([event(1, ['a'])]);
      await store.close();
      await pending;
      const reopened = await openStore();
      expect((await reopened.backlog('a')).size).to.equal(1);
    });
  });

  it('keeps resolved enqueues and the in-flight transaction when the process is SIGKILLed', async function () {
    this.timeout(30_000);
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', CHILD, STORE_MODULE, path], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      child.once('exit', (_code, signal) => resolve(signal)),
    );
    const report = await new Promise<string>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`child said only: ${out}`));
      }, 25_000);
      child.stdout!.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('\n')) {
          // Killed the moment it says its promises resolved: no chance to flush anything later.
          child.kill('SIGKILL');
          clearTimeout(timer);
          resolve(out.trim());
        }
      });
      child.once('exit', () => reject(new Error(`child exited early: ${out}`)));
    });
    expect(await exited).to.equal('SIGKILL');
    const { txnId, body } = JSON.parse(report) as { txnId: string; body: string };
    const store = await openStore();
    expect(await store.inFlight('a', (rows) => `[${rows.map((r) => r.json).join(',')}]`)).to.deep.equal({
      asId: 'a',
      txnId,
      body,
      counts: { event: 100, ephemeral: 0, toDevice: 0 },
    });
    expect((await store.backlog('a')).size).to.equal(1000);
    await store.acknowledge('a', txnId);
    const next = await store.createTransaction('a', LIMITS, (rows) => `[${rows.map((r) => r.json).join(',')}]`);
    expect(Number(next!.txnId.split('.')[1])).to.be.greaterThan(Number(txnId.split('.')[1]));
    expect((JSON.parse(next!.body) as { content: { n: number } }[])[0]!.content.n).to.equal(100);
  });
});

/** The child of the SIGKILL test: 1000 concurrent enqueues, a transaction, then it waits to die. */
const CHILD = `
const [moduleUrl, path] = process.argv.slice(1);
const { SqliteStore } = await import(moduleUrl);
const store = new SqliteStore(path);
await store.open();
await Promise.all(Array.from({ length: 1000 }, (_, n) =>
  store.enqueue([{ kind: 'event', json: JSON.stringify({ type: 'm.room.message', content: { n } }), asIds: ['a'] }])));
const txn = await store.createTransaction('a', { event: 100, ephemeral: 100, toDevice: 100 },
  (rows) => '[' + rows.map((r) => r.json).join(',') + ']');
process.stdout.write(JSON.stringify({ txnId: txn.txnId, body: txn.body }) + '\\n');
setInterval(() => {}, 1000);
`;

describe('SqliteStore synchronous', () => {
  /** The store's operations on a database of our own, so that its connection's setting can be read. */
  function operations(synchronous: 'full' | 'normal') {
    const dir = tempDir();
    const path = join(dir, 'store.db');
    const db = new Database(path);
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${synchronous}`);
    migrateSqlite(db, path);
    const birth = db.prepare<[], string>('SELECT birth FROM store_identity').pluck().get()!;
    const ops = sqliteOperations(db, synchronous === 'full', birth);
    const level = (): number => db.pragma('synchronous', { simple: true }) as number;
    const done = (): void => {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    };
    return { ops, level, done };
  }

  const build = (items: readonly { json: string }[]): string => `[${items.map((i) => i.json).join(',')}]`;

  /** Queues 25 items and sends them in transactions of 5, the way the sender does; `check` after every step. */
  function drain(ops: ReturnType<typeof sqliteOperations>, check: () => void): void {
    ops.enqueue([{ items: Array.from({ length: 25 }, (_, n) => event(n, ['a'])), enqueuedAt: Date.now() }]);
    check();
    const small = { ...LIMITS, event: 5 };
    let txn = ops.createTransaction('a', small, build);
    let sent = 0;
    while (txn) {
      check();
      sent++;
      const [birth, n] = txn.txnId.split('.');
      const key = { birth: birth!, n: Number(n) };
      const ahead = ops.nextStored('a', key, build);
      if (ahead) {
        ops.acknowledge('a', key);
        txn = ahead;
      } else {
        const outcome = ops.acknowledgeAndCreate('a', key, small, build);
        if ('error' in outcome) throw outcome.error;
        txn = outcome.txn;
      }
    }
    check();
    expect(sent).to.equal(5);
  }

  it("keeps a 'normal' store's connection at NORMAL through every operation", () => {
    const { ops, level, done } = operations('normal');
    try {
      drain(ops, () => expect(level(), 'PRAGMA synchronous (1 = NORMAL)').to.equal(1));
    } finally {
      done();
    }
  });

  it("keeps a 'full' store's connection at FULL around its relaxed acknowledgements", () => {
    const { ops, level, done } = operations('full');
    try {
      drain(ops, () => expect(level(), 'PRAGMA synchronous (2 = FULL)').to.equal(2));
    } finally {
      done();
    }
  });
});
