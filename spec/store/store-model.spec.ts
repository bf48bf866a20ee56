import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import fc from 'fast-check';
import { MemoryStore } from '../../lib/store/memory-store.ts';
import { SqliteStore } from '../../lib/store/sqlite/sqlite-store.ts';
import type { ItemKind, QueuedItem, Store } from '../../lib/store/store.ts';

/**
 * Random runs of enqueues, transactions, acknowledgements (alone or with the next creation) and reopens, applied to a SqliteStore
 * and to a MemoryStore side by side: every answer must match. It exercises what the contract's
 * hand-picked cases may miss, such as shared items acknowledged by their ASes in any order
 * (reference counting) and transactions that take a prefix of a queue that keeps growing.
 */

const AS_IDS = ['a', 'b'] as const;
const kindArb = fc.constantFrom<ItemKind>('event', 'ephemeral', 'toDevice');
const asIdsArb = fc.subarray([...AS_IDS]);

type Op =
  | { op: 'enqueue'; calls: { kind: ItemKind; asIds: string[] }[][] }
  | { op: 'create'; asId: string; limits: { event: number; ephemeral: number; toDevice: number } }
  | { op: 'ack'; asId: string; offset: number }
  | { op: 'ackCreate'; asId: string; offset: number; limits: { event: number; ephemeral: number; toDevice: number } }
  | { op: 'reopen' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant('enqueue' as const),
      // Several calls at once: the SqliteStore commits them as one group.
      calls: fc.array(fc.array(fc.record({ kind: kindArb, asIds: asIdsArb }), { minLength: 1, maxLength: 4 }), {
        minLength: 1,
        maxLength: 3,
      }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant('create' as const),
      asId: fc.constantFrom(...AS_IDS),
      limits: fc.record({
        event: fc.integer({ min: 1, max: 4 }),
        ephemeral: fc.integer({ min: 1, max: 4 }),
        toDevice: fc.integer({ min: 1, max: 4 }),
      }),
    }),
  },
  // offset 0 acknowledges the in-flight id; others try ids that are not in flight.
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant('ack' as const),
      asId: fc.constantFrom(...AS_IDS),
      offset: fc.constantFrom(0, 0, 0, 0, -1, 1),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('ackCreate' as const),
      asId: fc.constantFrom(...AS_IDS),
      offset: fc.constantFrom(0, 0, 0, -1, 1),
      limits: fc.record({
        event: fc.integer({ min: 1, max: 4 }),
        ephemeral: fc.integer({ min: 1, max: 4 }),
        toDevice: fc.integer({ min: 1, max: 4 }),
      }),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ op: 'reopen' as const }) },
);

const build = (items: readonly QueuedItem[]): string => JSON.stringify(items.map((i) => [i.kind, i.json]));

/** Each store has its own birth (txn-id.ts): the two are compared on the counter part of their ids. */
function withoutBirth(value: unknown): unknown {
  if (value === null || typeof value !== 'object' || !('txnId' in value)) return value;
  const { txnId } = value as { txnId: string };
  return { ...value, txnId: txnId.slice(txnId.lastIndexOf('.') + 1) };
}

async function outcome(promise: Promise<unknown>): Promise<unknown> {
  try {
    return { value: withoutBirth(await promise) };
  } catch (err) {
    return { error: (err as Error).name };
  }
}

describe('SqliteStore against the MemoryStore model', () => {
  it('answers every random sequence of operations exactly as the model does', async function () {
    this.timeout(60_000);
    let counter = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 50, size: 'max' }), async (ops) => {
        const dir = mkdtempSync(join(tmpdir(), 'koa-as-model-'));
        const path = join(dir, 'store.db');
        let sqlite: Store = new SqliteStore(path, { synchronous: 'normal' });
        const model = new MemoryStore();
        await Promise.all([sqlite.open(), model.open()]);
        try {
          for (const op of ops) {
            if (op.op === 'reopen') {
              await sqlite.close();
              sqlite = new SqliteStore(path, { synchronous: 'normal' });
              await sqlite.open();
              continue;
            }
            const run = async (store: Store): Promise<unknown> => {
              if (op.op === 'enqueue') {
                return outcome(
                  Promise.all(
                    op.calls.map((call) =>
                      store.enqueue(call.map((item) => ({ ...item, json: JSON.stringify({ n: counter++ }) }))),
                    ),
                  ),
                );
              }
              if (op.op === 'create') return outcome(store.createTransaction(op.asId, op.limits, build));
              const current = await store.inFlight(op.asId, build);
              const id = current?.txnId ?? 'none.1';
              const dot = id.lastIndexOf('.');
              const txnId = `${id.slice(0, dot)}.${Number(id.slice(dot + 1)) + op.offset}`;
              if (op.op === 'ackCreate') return outcome(store.acknowledgeAndCreate!(op.asId, txnId, op.limits, build));
              return outcome(store.acknowledge(op.asId, txnId));
            };
            // Each store sees the same item JSON: rewind the counter between the two runs.
            const start = counter;
            const got = await run(sqlite);
            counter = start;
            const want = await run(model);
            expect(got, JSON.stringify(op)).to.deep.equal(want);
            for (const asId of AS_IDS) {
              const [gotBacklog, wantBacklog] = await Promise.all([sqlite.backlog(asId), model.backlog(asId)]);
              expect(gotBacklog.size, `backlog(${asId})`).to.equal(wantBacklog.size);
              expect(withoutBirth(await sqlite.inFlight(asId, build)), `inFlight(${asId})`).to.deep.equal(
                withoutBirth(await model.inFlight(asId)),
              );
            }
          }
        } finally {
          await Promise.all([sqlite.close(), model.close()]);
          rmSync(dir, { recursive: true, force: true });
        }
      }),
      { numRuns: Number(process.env.MODEL_RUNS ?? 40) },
    );
  });
});
