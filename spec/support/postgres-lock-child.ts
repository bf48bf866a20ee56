/**
 * A child process for the failover spec: opens a PostgresStore and competes for one AS's sender
 * lock with electSender, printing `acquired <pid>` when it wins and `lost <pid>` if it loses it.
 * Env: PG_URL, PG_SCHEMA, AS_ID, RETRY_MS.
 *
 * @example
 * spawn(process.execPath, ['--import', 'tsx', 'spec/support/postgres-lock-child.ts'], { env: { ...process.env, PG_URL, PG_SCHEMA, AS_ID: 'irc' } });
 */
import { PostgresStore } from '../../lib/store/postgres/postgres-store.ts';
import { electSender } from '../../lib/store/sender-lock.ts';

const store = new PostgresStore({ connectionString: process.env.PG_URL!, schema: process.env.PG_SCHEMA!, max: 2 });
await store.open();
const lock = await electSender(store, process.env.AS_ID!, { retryIntervalMs: Number(process.env.RETRY_MS ?? 1000) });
process.stdout.write(`acquired ${process.pid}\n`);
await lock.lost;
process.stdout.write(`lost ${process.pid}\n`);
await store.close();
