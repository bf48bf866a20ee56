/**
 * SqliteStore groups the senders' writes of many ASes that arrive in one turn of the event loop
 * into one commit (lib/store/sqlite/commit-group.ts). Commits are counted in the WAL file: every
 * commit ends with a frame that carries the database size, the others carry zero.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { expect } from 'chai';
import { InFlightMismatchError, StoreError } from '../../lib/errors.ts';
import { CommitGroup } from '../../lib/store/sqlite/commit-group.ts';
import { SqliteStore } from '../../lib/store/sqlite/sqlite-store.ts';
import type { QueuedItem, StoredTransaction } from '../../lib/store/store.ts';
import { rejection } from '../support/rejection.ts';

const LIMITS = { event: 5, ephemeral: 5, toDevice: 5 };
const ASES = 40;
const CHILD = fileURLToPath(new URL('./support/commit-group-child.ts', import.meta.url));
const build = (rows: readonly QueuedItem[]): string => `[${rows.map((r) => r.json).join(',')}]`;
const asIds = Array.from({ length: ASES }, (_, i) => `as${i}`);

/** Commit frames in the WAL since it was last reset (frames with the current salts). */
function walCommits(path: string): number {
  const wal = readFileSync(`${path}-wal`);
  if (wal.length < 32) return 0;
  const pageSize = wal.readUInt32BE(8);
  const salt1 = wal.readUInt32BE(16);
  const salt2 = wal.readUInt32BE(20);
  let commits = 0;
  for (let at = 32; at + 24 + pageSize <= wal.length; at += 24 + pageSize) {
    if (wal.readUInt32BE(at + 8) !== salt1 || wal.readUInt32BE(at + 12) !== salt2) break;
    if (wal.readUInt32BE(at + 4) !== 0) commits++;
  }
  return commits;
}

/** The event numbers in a body built by `build` from the child's and these specs' items. */
function numbers(body: string): number[] {
  return (JSON.parse(body) as { n: number }[]).map((e) => e.n);
}

describe('SqliteStore: one commit for many ASes', () => {
  let dir: string;
  let path: string;
  let store: SqliteStore;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'koa-as-commit-group-'));
    path = join(dir, 'store.db');
    store = new SqliteStore(path);
    await store.open();
    for (let n = 0; n < 12; n++) {
      await store.enqueue(asIds.map((asId) => ({ kind: 'event', json: JSON.stringify({ asId, n }), asIds: [asId] })));
    }
  });

  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates and acknowledges the transactions of 40 ASes asked in one turn in at most two commits each', async () => {
    let before = walCommits(path);
    const created = await Promise.all(asIds.map((asId) => store.createTransaction(asId, LIMITS, build)));
    // The first write of a turn runs at once, alone; the other 39 share one commit.
    expect(walCommits(path) - before).to.be.within(1, 2);
    expect(created.map((txn) => numbers(txn!.body))).to.deep.equal(asIds.map(() => [0, 1, 2, 3, 4]));

    before = walCommits(path);
    const next = await Promise.all(
      created.map((txn) => store.acknowledgeAndCreate(txn!.asId, txn!.txnId, LIMITS, build)),
    );
    expect(walCommits(path) - before).to.be.within(1, 2);
    expect(next.map((txn) => numbers(txn!.body))).to.deep.equal(asIds.map(() => [5, 6, 7, 8, 9]));

    // Each AS has a transaction created ahead behind its second ([10, 11]): the sender sends it
    // and acknowledges the second meanwhile, and that acknowledgement waits for the AS's next write.
    const ahead = await Promise.all(next.map((txn) => store.nextStored(txn!.asId, txn!.txnId, build)));
    expect(ahead.map((txn) => numbers(txn!.body))).to.deep.equal(asIds.map(() => [10, 11]));
    before = walCommits(path);
    await Promise.all(next.map((txn) => store.acknowledge(txn!.asId, txn!.txnId)));
    expect(walCommits(path) - before, 'acknowledgements kept for the next write').to.equal(0);
    const last = await Promise.all(
      ahead.map((txn) => store.acknowledgeAndCreate(txn!.asId, txn!.txnId, LIMITS, build)),
    );
    expect(walCommits(path) - before).to.be.within(1, 2);
    expect(last).to.deep.equal(asIds.map(() => null));
    for (const asId of asIds) expect((await store.backlog(asId)).size).to.equal(0);
  });

  it('while many ASes are busy, gives the first write of a turn to the group too; a lone write ends that', async () => {
    const created = await Promise.all(asIds.map((asId) => store.createTransaction(asId, LIMITS, build)));
    // The last group held 39 writes: the next turn's 40 share one commit, the first one included.
    let before = walCommits(path);
    const next = await Promise.all(
      created.map((txn) => store.acknowledgeAndCreate(txn!.asId, txn!.txnId, LIMITS, build)),
    );
    expect(walCommits(path) - before).to.equal(1);
    expect(next.map((txn) => numbers(txn!.body))).to.deep.equal(asIds.map(() => [5, 6, 7, 8, 9]));
    // Still busy: a lone write waits for the turn's group, and is committed alone there...
    before = walCommits(path);
    const lone = store.acknowledgeAndCreate('as0', next[0]!.txnId, LIMITS, build);
    expect(walCommits(path) - before).to.equal(0);
    expect(numbers((await lone)!.body)).to.deep.equal([10, 11]);
    expect(walCommits(path) - before).to.equal(1);
    // ...which ends the busy spell: the next write runs at once, before the call returns.
    const quick = store.acknowledgeAndCreate('as1', next[1]!.txnId, LIMITS, build);
    expect(walCommits(path) - before).to.equal(2);
    expect(numbers((await quick)!.body)).to.deep.equal([10, 11]);
  });

  it('writes a kept acknowledgement before a read of the AS, and at close', async () => {
    // For each AS: [0..4] in flight, then [5..9] and, created ahead behind it, [10, 11].
    const second = new Map<string, StoredTransaction>();
    for (const asId of ['as0', 'as1']) {
      const [first] = await Promise.all([store.createTransaction(asId, LIMITS, build)]);
      second.set(asId, (await store.acknowledgeAndCreate(asId, first!.txnId, LIMITS, build))!);
      await store.acknowledge(asId, second.get(asId)!.txnId); // kept: [10, 11] follows
    }
    expect((await store.backlog('as0')).size).to.equal(2);
    expect(numbers((await store.inFlight('as0', build))!.body)).to.deep.equal([10, 11]);
    await store.close();
    store = new SqliteStore(path);
    await store.open();
    expect((await store.backlog('as1')).size).to.equal(2);
    expect(numbers((await store.inFlight('as1', build))!.body)).to.deep.equal([10, 11]);
  });

  it("undoes only a failing AS's part of a grouped commit and gives the error to that AS alone", async () => {
    const [first] = await Promise.all([store.createTransaction('as0', LIMITS, build)]);
    const boom = new Error('build failed');
    const failing = (): string => {
      throw boom;
    };
    // One turn: as1..as3 create (as2's build throws), as0 creates while its first is in flight,
    // as4 acknowledges nothing in flight and creates with a throwing build.
    const outcomes = await Promise.allSettled([
      store.createTransaction('as5', LIMITS, build), // runs at once: the others are grouped
      store.createTransaction('as1', LIMITS, build),
      store.createTransaction('as2', LIMITS, failing),
      store.createTransaction('as0', LIMITS, build),
      store.createTransaction('as3', LIMITS, build),
      store.acknowledgeAndCreate('as4', '1', LIMITS, failing),
    ]);
    expect(outcomes.map((o) => o.status)).to.deep.equal([
      'fulfilled',
      'fulfilled',
      'rejected',
      'rejected',
      'fulfilled',
      'rejected',
    ]);
    expect((outcomes[2] as PromiseRejectedResult).reason).to.equal(boom);
    expect((outcomes[3] as PromiseRejectedResult).reason).to.be.instanceOf(InFlightMismatchError);
    expect((outcomes[5] as PromiseRejectedResult).reason).to.equal(boom);
    const made = (i: number): StoredTransaction => (outcomes[i] as PromiseFulfilledResult<StoredTransaction>).value;
    for (const i of [0, 1, 4]) expect(numbers(made(i).body)).to.deep.equal([0, 1, 2, 3, 4]);
    // The others' parts committed; the failing ones left nothing behind.
    expect(await store.inFlight('as1', build)).to.deep.equal(made(1));
    expect(await store.inFlight('as3', build)).to.deep.equal(made(4));
    expect(await store.inFlight('as0', build)).to.deep.equal(first);
    expect(await store.inFlight('as2', build)).to.equal(null);
    expect(await store.inFlight('as4', build)).to.equal(null);
    // as2's failed creation did not use up a transaction id: it gets the one as1 and as3 got.
    const as2 = await store.createTransaction('as2', LIMITS, build);
    expect(as2!.txnId).to.equal(made(1).txnId);
    expect(numbers(as2!.body)).to.deep.equal([0, 1, 2, 3, 4]);
  });

  it('commits the writes still gathering when the store is closed', async () => {
    const writes = Promise.all(asIds.map((asId) => store.createTransaction(asId, LIMITS, build)));
    await store.close();
    const created = await writes;
    store = new SqliteStore(path);
    await store.open();
    for (const txn of created) expect(await store.inFlight(txn!.asId, build)).to.deep.equal(txn);
  });

  it('refuses writes after close with a StoreError', async () => {
    await store.close();
    expect(await rejection(store.createTransaction('as0', LIMITS, build))).to.be.instanceOf(StoreError);
  });
});

interface Reported {
  readonly round: number;
  readonly txns: Record<string, { txnId: string; body: string }>;
}

/** Runs the child until it has reported `round`, waits `delayMs` (into the next grouped commit), SIGKILLs it. */
async function killAfter(path: string, round: number, delayMs: number): Promise<Reported> {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, path, String(ASES)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const exited = new Promise<NodeJS.Signals | null>((resolve) =>
    child.once('exit', (_code, signal) => resolve(signal)),
  );
  const reported = await new Promise<Reported>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`child said only: ${out} ${err}`));
    }, 30_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const line = out.split('\n').find((l) => l.startsWith(`{"round":${round},`));
      if (!line) return;
      clearTimeout(timer);
      setTimeout(() => child.kill('SIGKILL'), delayMs);
      resolve(JSON.parse(line) as Reported);
    });
    child.once('exit', () => reject(new Error(`child exited early: ${out} ${err}`)));
  });
  expect(await exited).to.equal('SIGKILL');
  return reported;
}

describe('SqliteStore: a grouped commit and SIGKILL', function () {
  this.timeout(60_000);

  for (const [round, delayMs] of [
    [0, 0],
    [2, 0],
    [3, 1],
  ] as const) {
    it(`each of ${ASES} ASes sees its acknowledgement or is sent the same id and body again (killed ${delayMs} ms after round ${round})`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'koa-as-commit-group-kill-'));
      try {
        const path = join(dir, 'store.db');
        const reported = await killAfter(path, round, delayMs);
        const store = new SqliteStore(path);
        await store.open();
        try {
          for (const asId of asIds) {
            const sent = reported.txns[asId]!;
            const inFlight = await store.inFlight(asId, build);
            if (inFlight?.txnId === sent.txnId) {
              // Not acknowledged yet: resent, same id and the same bytes.
              expect(inFlight.body, asId).to.equal(sent.body);
              continue;
            }
            // Acknowledged: the queue goes on right after it, or is empty.
            const last = numbers(sent.body).at(-1)!;
            if (inFlight === null) expect((await store.backlog(asId)).size, asId).to.equal(0);
            else expect(numbers(inFlight.body)[0], asId).to.be.above(last);
            const n = (id: string): number => Number(id.split('.').at(-1));
            if (inFlight !== null) expect(n(inFlight.txnId), asId).to.be.above(n(sent.txnId));
          }
        } finally {
          await store.close();
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});

describe('CommitGroup: the synchronous level it commits with', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'commit-group-sync-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const level = (db: Database.Database): unknown => db.pragma('synchronous', { simple: true });

  it("leaves a 'normal' connection NORMAL", () => {
    const db = new Database(join(dir, 'normal.db'));
    try {
      db.pragma('synchronous = NORMAL');
      new CommitGroup(db, false, (_operation, error) => error);
      expect(level(db)).to.equal(1);
    } finally {
      db.close();
    }
  });

  it('commits a group of acknowledgements only with NORMAL on a FULL connection, then goes back to FULL', async () => {
    const db = new Database(join(dir, 'full.db'));
    try {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      const group = new CommitGroup(db, true, (_operation, error) => error);
      const seen = await Promise.all([
        group.run('acknowledge', false, () => level(db)), // alone, at once
        group.run('acknowledge', false, () => level(db)), // these two share a commit
        group.run('acknowledge', false, () => level(db)),
      ]);
      expect(seen).to.deep.equal([2, 1, 1]);
      expect(level(db)).to.equal(2);
      const durable = await Promise.all([
        group.run('createTransaction', true, () => level(db)),
        group.run('acknowledge', false, () => level(db)),
        group.run('createTransaction', true, () => level(db)),
      ]);
      expect(durable).to.deep.equal([2, 2, 2]);
    } finally {
      db.close();
    }
  });
});
