/**
 * The process the crash spec kills: a homeserver's publishing side on a SqliteStore it owns,
 * publishing events 0..total-1 (event i carries `content.index = i`) and sending them to the
 * parent's MockAppService.
 *
 * argv: <db path> <AS url> <total> <highest index the AS has received, or -1>
 *
 * Where to resume, from durable facts only: every published event is either still in the store's
 * queue or was acknowledged by the AS (the queue is emptied only after the AS answers). Publishes
 * commit in order, so the queue holds a contiguous run of indexes, oldest first. Its first index
 * is the first event of the stored in-flight transaction when there is one (that transaction is
 * always the oldest items), otherwise one past the highest index the AS has received (with nothing
 * in flight, everything the AS saw was acknowledged). The next index to publish is that first
 * index plus the queue's size. Nothing is published twice, and nothing is skipped.
 *
 * Prints `ready <next>` once it knows, and `done` once everything is published and acknowledged.
 */
import type { MatrixEvent } from '../../../lib/events.ts';
import type { Host } from '../../../lib/host.ts';
import { Interest } from '../../../lib/interest.ts';
import { NamespaceIndex } from '../../../lib/namespace/namespace-index.ts';
import { AppserviceClient } from '../../../lib/client/appservice-client.ts';
import { Publisher } from '../../../lib/push/publisher.ts';
import { Senders } from '../../../lib/push/senders.ts';
import { buildTransactionBody } from '../../../lib/push/transaction-body.ts';
import { SqliteStore } from '../../../lib/store/sqlite/sqlite-store.ts';
import { registration } from '../registrations.ts';

const CRASH_AS_ID = 'crash';
/** Publishes awaited together: large enough to exercise group commit, small enough to crash mid-burst. */
const BURST = 200;

function crashEvent(index: number): MatrixEvent {
  return {
    event_id: `$crash${index}`,
    room_id: '!crash:hs.test',
    type: 'm.room.message',
    sender: '@crash_user:hs.test',
    origin_server_ts: 1_700_000_000_000 + index,
    content: { msgtype: 'm.text', body: `message ${index}`, index },
  };
}

async function main(): Promise<void> {
  const [dbPath, url, totalArg, receivedArg] = process.argv.slice(2);
  if (dbPath === undefined || url === undefined || totalArg === undefined || receivedArg === undefined) {
    throw new Error('usage: child.ts <db> <url> <total> <highest received>');
  }
  const total = Number(totalArg);
  const highestReceived = Number(receivedArg);
  const reg = registration(CRASH_AS_ID, { url, users: ['@crash_.*'] });
  const host: Host = {
    serverName: 'hs.test',
    userExists: async () => true,
    resolveAlias: async () => null,
    roomAliases: async () => [],
    joinedMembers: async () => [],
    authenticate: async () => null,
  };

  const store = new SqliteStore(dbPath, { synchronous: 'normal' });
  await store.open();
  // The sender's builder: the stored transaction's body is rebuilt with it, as the sender's would be.
  const inFlight = await store.inFlight(CRASH_AS_ID, (items) => buildTransactionBody(items, reg));
  const { size } = await store.backlog(CRASH_AS_ID);
  const firstQueued =
    inFlight !== null
      ? ((JSON.parse(inFlight.body) as { events: MatrixEvent[] }).events[0]!.content.index as number)
      : highestReceived + 1;
  let next = firstQueued + size;
  process.stdout.write(`ready ${next}\n`);

  const client = new AppserviceClient(reg);
  const senders = new Senders(
    { registrations: [reg], store, send: (_reg, txnId, body, signal) => client.sendTransaction(txnId, body, signal) },
    { backoff: { initialMs: 20, maxMs: 200 } },
  );
  const interest = new Interest({ host, registrations: [reg], index: new NamespaceIndex([reg]) });
  const publisher = new Publisher({ store, interest, registrations: [reg], onEnqueued: (ids) => senders.notify(ids) });
  senders.start();

  while (next < total) {
    const end = Math.min(total, next + BURST);
    const burst: Promise<readonly string[]>[] = [];
    for (let i = next; i < end; i++) burst.push(publisher.publish(crashEvent(i)));
    await Promise.all(burst);
    next = end;
  }
  while ((await store.backlog(CRASH_AS_ID)).size > 0) await new Promise((r) => setTimeout(r, 10));
  await senders.stop();
  await client.close();
  await store.close();
  process.stdout.write('done\n');
}

await main();
