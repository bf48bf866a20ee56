/**
 * `npm start`: the original request's IRC scenario, narrated. Starts the reference homeserver
 * (koa-appservice mounted, SqliteStore in a temporary directory) and the demo IRC bridge on
 * loopback, plays the scenario, prints what blocked, for how long, and which transaction carried
 * what, then exits 0. `npm start -- --serve` keeps both running for a real Matrix client.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../lib/store/sqlite/sqlite-store.ts';
import { runIrcScenario } from './scenario.ts';

const serve = process.argv.includes('--serve');
const dir = mkdtempSync(join(tmpdir(), 'koa-appservice-start-'));
const store = new SqliteStore(join(dir, 'appservice.db'));

console.log('koa-appservice: the IRC scenario of the original request\n');
try {
  const result = await runIrcScenario({
    store,
    say: (line) => console.log(line),
    keepRunning: serve,
    port: serve ? 8008 : 0,
  });
  const bob = result.messages.find((m) => m.body === 'hello?');
  console.log('');
  console.log(
    `✓ the join blocked ${result.joinBlockedMs.toFixed(0)} ms while the bridge created ${result.roomId} for ${result.alias}`,
  );
  console.log(`✓ the invite blocked ${result.inviteBlockedMs.toFixed(0)} ms while the bridge registered its ghost`);
  console.log(
    `✓ ${result.transactions.length} transactions pushed to the bridge; Bob's first line kept IRC's time ${bob?.origin_server_ts} (massaged ts)`,
  );
  if (serve) {
    console.log(
      `\nServing on ${result.homeserver.url} (server name localhost). Register with m.login.dummy, then join`,
    );
    console.log(`${result.alias}. Ctrl-C stops.`);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    await result.close();
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
