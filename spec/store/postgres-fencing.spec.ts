/**
 * A sender that lost its lock while one of its writes waited must not commit over the new sender.
 * A second session holds the row a write needs (`FOR UPDATE`) across a takeover, so the old
 * sender's write is still pending when the new sender has won the lock: without fencing the new
 * sender reads the store, then the old write lands behind its back. The old sender's lock is lost
 * by terminating its lock connection (what a SIGKILL does to it); its pool connection is left
 * alone, as a SIGKILL during a slow COMMIT would leave it.
 */
import { expect } from 'chai';
import pg from 'pg';
import { InFlightMismatchError } from '../../lib/errors.ts';
import { PostgresStore } from '../../lib/store/postgres/postgres-store.ts';
import type { QueuedItem, StoredTransaction } from '../../lib/store/store.ts';
import { freshSchema } from '../support/postgres-server.ts';

const LIMITS = { event: 100, ephemeral: 100, toDevice: 100 };
const build = (items: readonly QueuedItem[]): string => `[${items.map((i) => i.json).join(',')}]`;
const event = (n: number) => ({ kind: 'event' as const, json: JSON.stringify({ n }), asIds: ['a'] });
const numbers = (txn: StoredTransaction): number[] => (JSON.parse(txn.body) as { n: number }[]).map((e) => e.n);

async function settle<T>(promise: Promise<T>): Promise<{ value: T } | { error: unknown }> {
  return promise.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
}

describe("PostgresStore fencing: a dead sender's late write", function () {
  this.timeout(30_000);
  let schema: string;
  let drop: () => Promise<void>;
  let old: PostgresStore;
  let next: PostgresStore;
  let holder: pg.Client;
  let admin: pg.Client;

  beforeEach(async () => {
    const fresh = await freshSchema();
    ({ schema, drop } = fresh);
    old = new PostgresStore({ connectionString: fresh.url, schema, max: 2, lockHeartbeatMs: 0 });
    next = new PostgresStore({ connectionString: fresh.url, schema, max: 2, lockHeartbeatMs: 0 });
    await old.open();
    await next.open();
    holder = new pg.Client({ connectionString: fresh.url });
    admin = new pg.Client({ connectionString: fresh.url });
    await holder.connect();
    await admin.connect();
  });

  afterEach(async () => {
    await holder.query('ROLLBACK').catch(() => {});
    await Promise.all([holder.end(), admin.end(), old.close(), next.close()]);
    await drop();
  });

  /** Resolves once `count` sessions wait for a lock: the writes are parked where the spec wants them. */
  async function waiters(count: number): Promise<void> {
    for (let i = 0; i < 500; i++) {
      const {
        rows: [row],
      } = await admin.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()",
      );
      if (row!.n >= count) return;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    throw new Error(`never saw ${count} sessions waiting for a lock`);
  }

  /** What a SIGKILL does to the old sender's lock: its session ends, the advisory lock is free. */
  async function killLockSession(lost: Promise<void>): Promise<void> {
    await admin.query(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'koa-appservice sender lock'",
    );
    await lost;
  }

  it('stall: a create that commits late never leaves the new sender facing a transaction it did not see', async () => {
    const oldLock = await old.acquireSenderLock('a');
    // A first round so that the AS's state row exists for the holder to lock.
    await old.enqueue([event(0)]);
    const first = await old.createTransaction('a', LIMITS, build);
    await old.acknowledge('a', first!.txnId);
    await old.enqueue([event(1), event(2)]);

    await holder.query('BEGIN');
    await holder.query(`SELECT * FROM "${schema}".as_state WHERE as_id = 'a' FOR UPDATE`);
    const late = settle(old.createTransaction('a', LIMITS, build));
    await waiters(1);
    await killLockSession(oldLock!.lost);

    // The new sender, as Sender runs it: win the lock, resend what is in flight, else create.
    const takeover = settle(
      (async () => {
        const lock = await next.acquireSenderLock('a');
        expect(lock, 'the new sender wins the lock').to.not.equal(null);
        return (await next.inFlight('a', build)) ?? (await next.createTransaction('a', LIMITS, build));
      })(),
    );
    await waiters(2);
    await holder.query('COMMIT');

    const outcome = await takeover;
    expect(outcome, 'the new sender never meets an unexpected transaction in flight').to.have.property('value');
    const taken = (outcome as { value: StoredTransaction | null }).value;
    expect(taken).to.not.equal(null);
    expect(numbers(taken!)).to.deep.equal([1, 2]);
    expect(await next.inFlight('a', build)).to.deep.equal(taken);
    const oldOutcome = await late;
    // Either the old write committed before the takeover (and the new sender resends it), or it was refused.
    if ('value' in oldOutcome) expect(oldOutcome.value).to.deep.equal(taken);
    else expect(oldOutcome.error).to.be.instanceOf(InFlightMismatchError);
  });

  it('duplicate: an acknowledgement that commits late never lets the acknowledged events be stored again under a new id', async () => {
    const oldLock = await old.acquireSenderLock('a');
    await old.enqueue([event(1)]);
    const sent = await old.createTransaction('a', LIMITS, build);
    // The AS has answered 200 for `sent`; the old sender now stores the acknowledgement.

    await holder.query('BEGIN');
    await holder.query(`SELECT * FROM "${schema}".transactions WHERE as_id = 'a' FOR UPDATE`);
    const late = settle(old.acknowledgeAndCreate('a', sent!.txnId, LIMITS, build));
    await waiters(1);
    await killLockSession(oldLock!.lost);

    const created: StoredTransaction[] = [];
    const takeover = settle(
      (async () => {
        const lock = await next.acquireSenderLock('a');
        expect(lock).to.not.equal(null);
        const inFlight = await next.inFlight('a', build);
        // The new sender resends what it finds in flight (same id, same body), then acknowledges it.
        const after = inFlight
          ? await next.acknowledgeAndCreate('a', inFlight.txnId, LIMITS, build)
          : await next.createTransaction('a', LIMITS, build);
        if (after) created.push(after);
      })(),
    );
    await waiters(2);
    await holder.query('COMMIT');
    const outcome = await takeover;
    expect(outcome, 'the takeover went through').to.have.property('value');
    await late;

    // A stored transaction keeps its body, or only its items' seqs (schema version 5): its items
    // are read back from the queue, and a seq whose row is gone counts as well (it would be sent again).
    const { rows } = await admin.query<{ txn_id: string; body: string | null; items: string; lost: boolean }>(
      `SELECT txn_id::text, body,
              (SELECT coalesce(string_agg(json, ','), '') FROM "${schema}".queue q WHERE q.as_id = t.as_id AND q.seq = ANY (t.seqs)) AS items,
              (SELECT count(*) FROM "${schema}".queue q WHERE q.as_id = t.as_id AND q.seq = ANY (t.seqs)) <> cardinality(t.seqs) AS lost
       FROM "${schema}".transactions t`,
    );
    const again = [
      ...created.map((t) => t.body),
      ...rows.map((r) => (r.lost ? 'lost rows: "n":1' : (r.body ?? r.items))),
    ].filter((body) => body.includes('"n":1'));
    expect(again, 'event 1 stored again after its acknowledgement').to.deep.equal([]);
    expect(await next.backlog('a')).to.deep.equal({ size: 0, oldestEnqueuedAt: null });
  });

  it('refuses every write of a process whose lock is gone, and changes nothing', async () => {
    const lock = await old.acquireSenderLock('a');
    await old.enqueue([event(1), event(2)]);
    const txn = await old.createTransaction('a', { ...LIMITS, event: 1 }, build);
    await killLockSession(lock!.lost);
    const newLock = await next.acquireSenderLock('a');
    expect(newLock).to.not.equal(null);
    for (const write of <(() => Promise<unknown>)[]>[
      async () => void (await old.acknowledge('a', txn!.txnId)),
      () => old.acknowledgeAndCreate('a', txn!.txnId, LIMITS, build),
      // The 413 path's writes (lib/store/postgres/dead-letters.ts) are sender writes too.
      () => old.replaceInFlight('a', txn!.txnId, { ...LIMITS, bytes: 1 }, build),
      () => old.setAside('a', txn!.txnId, 'HTTP 413'),
    ]) {
      const outcome = await settle(write());
      expect(outcome).to.have.property('error').that.is.instanceOf(InFlightMismatchError);
      expect((outcome as { error: Error }).error.message).to.match(/no longer its sender/);
    }
    expect(await next.inFlight('a', build)).to.deep.equal(txn);
    expect((await next.backlog('a')).size).to.equal(2);
    expect(await next.deadLetters('a')).to.deep.equal([]);
    // The new sender's own writes go through.
    const second = await next.acknowledgeAndCreate('a', txn!.txnId, LIMITS, build);
    expect(numbers(second!)).to.deep.equal([2]);
  });
});
