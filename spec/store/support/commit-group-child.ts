/**
 * A child for the grouped-commit crash spec: opens a SqliteStore at argv[2], queues 30 events for
 * each of argv[3] ASes, creates every AS's first transaction (5 events) in one turn, then rounds
 * of acknowledgeAndCreate for all ASes in one turn each (one grouped commit per round). After each
 * round it prints one JSON line, `{ round, txns: { [asId]: { txnId, body } } }`: what every AS
 * would now be sent. The spec SIGKILLs it at some moment and reads the database.
 *
 * @example
 * spawn(process.execPath, ['--import', 'tsx', 'spec/store/support/commit-group-child.ts', path, '40']);
 */
import { SqliteStore } from '../../../lib/store/sqlite/sqlite-store.ts';
import type { StoredTransaction } from '../../../lib/store/store.ts';

const LIMITS = { event: 5, ephemeral: 5, toDevice: 5 };
const EVENTS = 30;
const build = (rows: readonly { json: string }[]): string => `[${rows.map((r) => r.json).join(',')}]`;

const store = new SqliteStore(process.argv[2]!);
await store.open();
const asIds = Array.from({ length: Number(process.argv[3]) }, (_, i) => `as${i}`);
for (let n = 0; n < EVENTS; n++) {
  await store.enqueue(asIds.map((asId) => ({ kind: 'event', json: JSON.stringify({ asId, n }), asIds: [asId] })));
}
let txns = await Promise.all(asIds.map((asId) => store.createTransaction(asId, LIMITS, build)));
for (let round = 0; txns.every((txn) => txn !== null); round++) {
  const report = Object.fromEntries(txns.map((txn) => [txn!.asId, { txnId: txn!.txnId, body: txn!.body }]));
  process.stdout.write(`${JSON.stringify({ round, txns: report })}\n`);
  txns = (await Promise.all(
    txns.map((txn) => store.acknowledgeAndCreate(txn!.asId, txn!.txnId, LIMITS, build)),
  )) as (StoredTransaction | null)[];
}
process.stdout.write('done\n');
setInterval(() => {}, 1000);
