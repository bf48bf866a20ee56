/**
 * SqliteStore remembers in memory which ASes may have transactions created ahead. A write that
 * SQLite rolls back (here a grouped write of another AS aborts the whole group, as SQLITE_FULL or an
 * I/O error may) puts the file back as it was, and what the store remembers must follow: otherwise
 * the transaction stored behind the one in flight is skipped and its events are created again
 * under a second txnId.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { expect } from 'chai';
import { migrateSqlite } from '../../lib/store/sqlite/migrate.ts';
import { SqliteStore } from '../../lib/store/sqlite/sqlite-store.ts';
import { storedTransactions } from '../../lib/store/sqlite/stored-transactions.ts';
import type { QueuedItem, StoredTransaction } from '../../lib/store/store.ts';

const FIVE = { event: 5, ephemeral: 5, toDevice: 5 };
const build = (items: readonly QueuedItem[]): string => `[${items.map((item) => item.json).join(',')}]`;
const numbers = (txn: StoredTransaction | null): number[] =>
  (JSON.parse(txn!.body) as { n: number }[]).map((event) => event.n);
const event = (asId: string, n: number) => ({ kind: 'event' as const, json: JSON.stringify({ n }), asIds: [asId] });

describe('SqliteStore: transactions created ahead, after a write SQLite rolled back', () => {
  let dir: string;
  let path: string;
  let store: SqliteStore;
  let inFlight: StoredTransaction;
  let ahead: StoredTransaction;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ahead-rollback-'));
    path = join(dir, 'queue.db');
    store = new SqliteStore(path);
    await store.open();
    await store.enqueue(Array.from({ length: 12 }, (_, n) => event('irc', n)));
    await store.enqueue([event('slack', 0), event('broken', 0)]);
    const first = await store.createTransaction('irc', FIVE, build);
    inFlight = (await store.acknowledgeAndCreate('irc', first!.txnId, FIVE, build))!; // 5..9; 10, 11 ahead
    ahead = (await store.nextStored('irc', inFlight.txnId, build))!;
    expect(numbers(ahead)).to.deep.equal([10, 11]);
    await store.acknowledge('irc', inFlight.txnId); // held back: `ahead` is sent meanwhile
    expect(await store.nextStored('irc', ahead.txnId, build)).to.equal(null);
    // Any transaction stored for 'broken' makes SQLite abort the whole SQL transaction it is in.
    const other = new Database(path);
    other.exec(`CREATE TRIGGER broken BEFORE INSERT ON transactions WHEN NEW.as_id = 'broken'
                BEGIN SELECT RAISE(ROLLBACK, 'as if the disk were full'); END`);
    other.close();
    const outcomes = await Promise.allSettled([
      store.createTransaction('slack', FIVE, build),
      store.acknowledgeAndCreate('irc', ahead.txnId, FIVE, build), // in the same group as the next
      store.createTransaction('broken', FIVE, build),
    ]);
    expect(outcomes[1]!.status, "irc's write went with the group").to.equal('rejected');
    // The held-back acknowledgement went with it: the sender reads and resends what is in flight.
    expect((await store.inFlight('irc', build))!.txnId).to.equal(inFlight.txnId);
  });

  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('hands out the transaction stored behind the one in flight again', async () => {
    const next = await store.nextStored('irc', inFlight.txnId, build);
    expect(next?.txnId).to.equal(ahead.txnId);
    expect(numbers(next)).to.deep.equal([10, 11]);
  });

  it('never creates its events again under a new id', async () => {
    const next = await store.acknowledgeAndCreate('irc', inFlight.txnId, FIVE, build);
    expect({ txnId: next!.txnId, events: numbers(next) }).to.deep.equal({ txnId: ahead.txnId, events: [10, 11] });
    const db = new Database(path, { readonly: true });
    try {
      expect(db.prepare("SELECT count(*) FROM transactions WHERE as_id = 'irc'").pluck().get()).to.equal(1);
    } finally {
      db.close();
    }
  });
});

describe('SqliteStore: the created-ahead set when the file cannot be read again', () => {
  it('never throws from the re-read, and then takes every AS to have some until a re-read succeeds', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ahead-reread-'));
    const db = new Database(join(dir, 'queue.db'));
    try {
      migrateSqlite(db, join(dir, 'queue.db'));
      const stored = storedTransactions(db);
      expect(stored.mayHaveAhead('irc')).to.equal(false);
      db.exec('ALTER TABLE transactions RENAME TO transactions_gone'); // the re-read's statement now fails
      expect(() => stored.rereadAhead()).not.to.throw();
      expect(stored.mayHaveAhead('irc')).to.equal(true);
      db.exec('ALTER TABLE transactions_gone RENAME TO transactions');
      stored.rereadAhead();
      expect(stored.mayHaveAhead('irc')).to.equal(false);
    } finally {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
