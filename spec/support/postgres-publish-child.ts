/**
 * One "homeserver process" for the multi-process spec: a PostgresStore, a Sender per AS competing
 * for the AS's sender lock, woken by `onEnqueued` for items any process publishes, and a publisher
 * of COUNT events to every AS. Prints `published <n>` once the enqueue of event n resolved,
 * `state <asId> <state>` on each sender state change, and `done` after the last event. Runs until
 * its stdin closes (then stops cleanly) or it is killed.
 * Env: PG_URL, PG_SCHEMA, PROC, COUNT, INTERVAL_MS, APPSERVICES (JSON [{ id, url }]).
 *
 * @example
 * spawn(process.execPath, ['--import', 'tsx', 'spec/support/postgres-publish-child.ts'], { env });
 */
import { Sender } from '../../lib/push/sender.ts';
import { PostgresStore } from '../../lib/store/postgres/postgres-store.ts';
import { registration } from '../push/registrations.ts';

const env = process.env;
const proc = env.PROC!;
const appservices = JSON.parse(env.APPSERVICES!) as { id: string; url: string }[];
const say = (line: string): void => void process.stdout.write(`${line}\n`);

const store = new PostgresStore({ connectionString: env.PG_URL!, schema: env.PG_SCHEMA!, max: 4 });
await store.open();
const senders = appservices.map(({ id, url }) => {
  const reg = registration(id, { url });
  return new Sender(
    {
      registration: reg,
      store,
      send: async (txnId, body, signal) => {
        const res = await fetch(`${url}/_matrix/app/v1/transactions/${txnId}`, {
          method: 'PUT',
          body,
          signal,
          headers: { authorization: `Bearer ${reg.hsToken}`, 'content-type': 'application/json' },
        });
        await res.arrayBuffer();
        if (!res.ok) throw new Error(`status ${res.status}`);
      },
    },
    { electIntervalMs: 200, backoff: { initialMs: 50, maxMs: 500 } },
  );
});
store.onEnqueued((asIds) => {
  for (const sender of senders) if (!asIds || asIds.includes(sender.asId)) sender.notify();
});
for (const sender of senders) sender.start();

const states = new Map<string, string>();
const watch = setInterval(() => {
  for (const sender of senders) {
    if (states.get(sender.asId) !== sender.state) say(`state ${sender.asId} ${sender.state}`);
    states.set(sender.asId, sender.state);
  }
}, 20);

process.stdin.on('end', async () => {
  clearInterval(watch);
  await Promise.all(senders.map((s) => s.stop()));
  await store.close();
  process.exit(0);
});
process.stdin.resume();

const count = Number(env.COUNT);
for (let n = 0; n < count; n++) {
  const json = JSON.stringify({ type: 'org.example.test', room_id: '!room:hs', content: { proc, n } });
  await store.enqueue([{ kind: 'event', json, asIds: appservices.map((a) => a.id) }]);
  say(`published ${n}`);
  await new Promise((resolve) => setTimeout(resolve, Number(env.INTERVAL_MS)));
}
say('done');
