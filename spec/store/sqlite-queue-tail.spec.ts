import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { expect } from 'chai';
import { QueueTail } from '../../lib/store/sqlite/queue-tail.ts';
import { SqliteStore } from '../../lib/store/sqlite/sqlite-store.ts';
import type { EnqueueItem, QueuedItem } from '../../lib/store/store.ts';

const LIMITS = { event: 100, ephemeral: 100, toDevice: 100 };
const build = (rows: readonly QueuedItem[]): string => `[${rows.map((r) => r.json).join(',')}]`;
const row = (seq: number): QueuedItem => ({ seq, kind: 'event', json: `{"n":${seq}}` });
const event = (n: number, asIds: readonly string[] = ['a']): EnqueueItem => ({
  kind: 'event',
  json: `{"n":${n}}`,
  asIds,
});

describe('QueueTail', () => {
  it('hands out the rows from a seq it holds, and none past the newest', () => {
    const tail = new QueueTail();
    tail.append('a', [row(1), row(2)]);
    tail.append('a', [row(3)]);
    const from2 = tail.from('a', 2)!;
    expect(from2.items.slice(from2.index).map((r) => r.seq)).to.deep.equal([2, 3]);
    const past = tail.from('a', 4)!;
    expect(past.items.slice(past.index)).to.deep.equal([]);
    expect(tail.from('a', 5)).to.equal(undefined);
    expect(tail.from('b', 1)).to.equal(undefined);
  });

  it('knows nothing before its first row, nor before a gap', () => {
    const tail = new QueueTail();
    tail.append('a', [row(5), row(6)]);
    expect(tail.from('a', 4)).to.equal(undefined);
    // A gap (rows committed without the tail): only the rows after it are a complete run.
    tail.append('a', [row(9)]);
    expect(tail.from('a', 5)).to.equal(undefined);
    const after = tail.from('a', 9)!;
    expect(after.items.slice(after.index).map((r) => r.seq)).to.deep.equal([9]);
  });

  it('drops acknowledged rows, and the whole run once it is empty', () => {
    const tail = new QueueTail();
    tail.append('a', [row(1), row(2), row(3)]);
    tail.dropThrough('a', 2);
    expect(tail.from('a', 2)).to.equal(undefined);
    const rest = tail.from('a', 3)!;
    expect(rest.items.slice(rest.index).map((r) => r.seq)).to.deep.equal([3]);
    tail.dropThrough('a', 3);
    expect(tail.from('a', 4)).to.equal(undefined);
  });

  it('stays within its budget: an AS whose rows would go over it loses its run', () => {
    const tail = new QueueTail();
    const big = (seq: number): QueuedItem => ({ seq, kind: 'event', json: 'x'.repeat(3 * 2 ** 20) });
    tail.append('a', [big(1), big(2)]);
    tail.append('a', [big(3)]);
    expect(tail.from('a', 1)).to.equal(undefined);
    // Dropped runs give their budget back.
    tail.append('b', [big(1), big(2)]);
    expect(tail.from('b', 1)).to.not.equal(undefined);
  });
});

describe('SqliteStore with its queue tail', () => {
  let dir: string;
  let path: string;
  const toClose: { close(): unknown }[] = [];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'koa-as-sqlite-tail-'));
    path = join(dir, 'store.db');
  });

  afterEach(async () => {
    for (const resource of toClose.splice(0)) await resource.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function openStore(): Promise<SqliteStore> {
    const store = new SqliteStore(path);
    toClose.push(store);
    await store.open();
    return store;
  }

  function peek(): Database.Database {
    const db = new Database(path);
    toClose.push(db);
    return db;
  }

  it('creates a transaction from the rows just committed without reading them back', async () => {
    const store = await openStore();
    await store.enqueue([event(1), event(2)]);
    // Queue rows never change, so a changed row can only show up in a body that was read back.
    peek().exec(`UPDATE queue SET json = '{"changed":true}'`);
    const txn = await store.createTransaction('a', LIMITS, build);
    expect(txn!.body).to.equal('[{"n":1},{"n":2}]');
  });

  it('never hands out the rows of an enqueue that was rolled back', async () => {
    const store = await openStore();
    const db = peek();
    await store.enqueue([event(1)]);
    db.exec(`CREATE TRIGGER refuse BEFORE INSERT ON queue WHEN NEW.as_id = 'boom'
      BEGIN SELECT RAISE(ABORT, 'injected failure'); END;`);
    const failed = await Promise.allSettled([store.enqueue([event(2)]), store.enqueue([event(3, ['boom'])])]);
    expect(failed.map((f) => f.status)).to.deep.equal(['rejected', 'rejected']);
    const first = await store.createTransaction('a', LIMITS, build);
    expect(first!.body).to.equal('[{"n":1}]');
    db.exec('DROP TRIGGER refuse');
    // The rolled-back row's seq is handed out again, to this one.
    await store.enqueue([event(4)]);
    const second = await store.acknowledgeAndCreate('a', first!.txnId, LIMITS, build);
    expect(second!.body).to.equal('[{"n":4}]');
  });

  it('reads rows from before the tail, and rows replayed from the dead letters, from SQLite', async () => {
    const first = await openStore();
    await first.enqueue([event(1), event(2)]);
    await first.close();
    const store = await openStore();
    await store.enqueue([event(3)]);
    const txn = await store.createTransaction('a', { ...LIMITS, event: 2 }, build);
    expect(txn!.body).to.equal('[{"n":1},{"n":2}]');
    expect(await store.setAside('a', txn!.txnId, 'refused')).to.equal(2);
    const [letter] = await store.deadLetters('a');
    expect(await store.replayDeadLetter('a', letter!.id)).to.equal(true);
    await store.enqueue([event(5)]);
    const next = await store.createTransaction('a', LIMITS, build);
    expect(next!.body).to.equal('[{"n":3},{"n":1},{"n":5}]');
  });
});
