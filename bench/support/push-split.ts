/**
 * Where push (a)'s CPU per event goes, phase by phase, against the baseline's (bench/push.ts,
 * phase `a-split`; not part of the default run):
 *   - publish until durable (publisher, interest, serialising, enqueue and its commits), with no
 *     sender running, vs the baseline's JSON.stringify + 100-row inserts;
 *   - the drain of that queue with a send that does nothing (creating, rebuilding, acknowledging:
 *     the baseline has no such phase);
 *   - the same bodies PUT through the AS client vs raw undici (both threads: the sink parses them);
 * and the SQLite work per queued row, one event per row as SqliteStore stores them vs 100 events
 * per row, with the bytes written (Linux /proc/self/io): insert, read back, delete.
 */
import Database from 'better-sqlite3';
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Pool } from 'undici';
import { AppserviceClient } from '../../lib/client/appservice-client.ts';
import { Senders } from '../../lib/push/senders.ts';
import { SqliteStore } from '../../lib/store/sqlite/sqlite-store.ts';
import {
  event,
  fmt,
  median,
  pipeline,
  publishAll,
  put,
  registrationFor,
  startSinks,
  timed,
  until,
} from './push-pipeline.ts';

/** Bytes this process has written (write syscalls, to any file); null where /proc is not there. */
function written(): number | null {
  try {
    return Number(/wchar: (\d+)/.exec(readFileSync('/proc/self/io', 'utf8'))?.[1]);
  } catch {
    return null;
  }
}

async function removeDatabase(path: string): Promise<void> {
  await Promise.all(['', '-wal', '-shm'].map((suffix) => rm(`${path}${suffix}`, { force: true })));
}

type Phases = Record<'ours publish' | 'ours drain' | 'ours PUTs' | 'base inserts' | 'base PUTs', number>;

/** One round of every phase, n events, synchronous = 'full'; µs of CPU per event. */
async function round(dir: string, n: number, r: number): Promise<Phases> {
  const perEvent = (cpuMs: number): number => (cpuMs * 1000) / n;
  const sink = await startSinks([{ slowMs: 0 }]);
  const reg = registrationFor('a', sink.urls[0]!);

  const basePath = join(dir, `split-base-${r}.db`);
  const db = new Database(basePath);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = full');
  db.exec('CREATE TABLE items (id INTEGER PRIMARY KEY, as_id TEXT NOT NULL, json TEXT NOT NULL)');
  const insert = db.prepare('INSERT INTO items (as_id, json) VALUES (?, ?)');
  const insertMany = db.transaction((jsons: string[]) => {
    for (const json of jsons) insert.run('a', json);
  });
  const bodies: string[] = [];
  const inserts = await timed(async () => {
    for (let i = 0; i < n; i += 100) {
      const jsons: string[] = [];
      for (let j = i; j < Math.min(n, i + 100); j++) jsons.push(JSON.stringify(event(j)));
      insertMany(jsons);
      bodies.push(`{"events":[${jsons.join(',')}]}`);
    }
  });
  db.close();
  await removeDatabase(basePath);
  const pool = new Pool(sink.urls[0]!, { connections: 1 });
  const rawPuts = await timed(async () => {
    for (const [i, body] of bodies.entries()) await put(pool, `raw-${r}-${i}`, body, 'hs-a');
  });
  await pool.close();
  const client = new AppserviceClient(reg);
  const clientPuts = await timed(async () => {
    for (const [i, body] of bodies.entries()) await client.sendTransaction(`client-${r}-${i}`, body);
  });
  await client.close();

  const path = join(dir, `split-ours-${r}.db`);
  const store = new SqliteStore(path, { synchronous: 'full' });
  await store.open();
  const p = pipeline(store, [reg]);
  const publish = await timed(() => publishAll(p.publisher, 0, n));
  await p.close();
  let acked = 0;
  const senders = new Senders(
    { registrations: [reg], store, send: async () => {} },
    { onSent: (info) => (acked += info.counts.event) },
  );
  const drain = await timed(async () => {
    senders.start();
    await until(() => acked === n, 120_000, 'the drain');
  });
  await senders.stop();
  await store.close();
  await removeDatabase(path);
  await sink.close();
  return {
    'ours publish': perEvent(publish.cpuMs),
    'ours drain': perEvent(drain.cpuMs),
    'ours PUTs': perEvent(clientPuts.cpuMs),
    'base inserts': perEvent(inserts.cpuMs),
    'base PUTs': perEvent(rawPuts.cpuMs),
  };
}

/** SQLite per event: insert (1000-event commits), read back (101 rows or 2 chunks a time), delete (400 a commit). */
interface Cost {
  readonly us: number;
  readonly bytes: number | null;
}

function rowCosts(path: string, n: number, perRow: number): Record<'insert' | 'read' | 'remove', Cost> {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = full');
  // SqliteStore's queue table (schema version 5).
  db.exec(`CREATE TABLE queue (id INTEGER PRIMARY KEY, as_id TEXT NOT NULL, seq INTEGER NOT NULL, kind TEXT NOT NULL,
    json TEXT NOT NULL, enqueued_at INTEGER NOT NULL); CREATE UNIQUE INDEX queue_by_as ON queue (as_id, seq);`);
  const jsons = Array.from({ length: n }, (_, i) => JSON.stringify(event(i)));
  const insert = db.prepare('INSERT INTO queue (as_id, seq, kind, json, enqueued_at) VALUES (?, ?, ?, ?, ?)');
  const insertMany = db.transaction((from: number) => {
    for (let i = from; i < from + 1000; i += perRow)
      insert.run('a', i, 'event', jsons.slice(i, i + perRow).join(','), 1);
  });
  const read = db.prepare('SELECT seq, kind, json FROM queue WHERE as_id = ? AND seq > ? ORDER BY seq LIMIT ?').raw();
  const remove = db.prepare('DELETE FROM queue WHERE as_id = ? AND seq <= ?');
  const removeTx = db.transaction((upTo: number) => remove.run('a', upTo));
  const cost = (work: () => void): Cost => {
    const w0 = written();
    const c0 = process.cpuUsage();
    work();
    const c = process.cpuUsage(c0);
    const w1 = written();
    return { us: (c.user + c.system) / n, bytes: w0 === null || w1 === null ? null : (w1 - w0) / n };
  };
  const result = {
    insert: cost(() => {
      for (let i = 0; i < n; i += 1000) insertMany(i);
    }),
    read: cost(() => {
      for (let i = -1; i < n - 1; i += 100) read.all('a', i, perRow === 1 ? 101 : 2);
    }),
    remove: cost(() => {
      for (let i = 399; i < n; i += 400) removeTx(i);
    }),
  };
  db.close();
  return result;
}

/**
 * Prints the split (medians of `rounds`) and the per-row SQLite costs.
 *
 * @example
 * await pushSplit(dir, 100_000, 3);
 */
export async function pushSplit(dir: string, n: number, rounds: number): Promise<void> {
  const all: Phases[] = [];
  for (let r = 0; r < rounds; r++) all.push(await round(dir, n, r));
  const m = (key: keyof Phases): number => median(all.map((p) => p[key]));
  const ours = m('ours publish') + m('ours drain') + m('ours PUTs');
  const base = m('base inserts') + m('base PUTs');
  console.log(
    `  (a-split) CPU per event by phase, median of ${rounds} rounds of ${fmt(n)}, synchronous='full': ours: publish until durable ${fmt(m('ours publish'), 1)} µs + drain without HTTP ${fmt(m('ours drain'), 1)} µs + PUTs through the AS client ${fmt(m('ours PUTs'), 1)} µs = ${fmt(ours, 1)} µs; baseline: stringify + 100-row inserts ${fmt(m('base inserts'), 1)} µs + raw PUTs ${fmt(m('base PUTs'), 1)} µs = ${fmt(base, 1)} µs`,
  );
  // Interleaved rounds as above; the first run of each statement in the process pays its warm-up.
  const costs = new Map<number, Record<'insert' | 'read' | 'remove', Cost>[]>([
    [1, []],
    [100, []],
  ]);
  for (let r = 0; r < rounds; r++) {
    for (const [perRow, list] of costs) {
      const path = join(dir, `split-rows-${perRow}-${r}.db`);
      list.push(rowCosts(path, n, perRow));
      await removeDatabase(path);
    }
  }
  for (const [perRow, list] of costs) {
    const show = (key: 'insert' | 'read' | 'remove'): string => {
      const us = median(list.map((c) => c[key].us));
      const bytes = list[0]![key].bytes === null ? null : median(list.map((c) => c[key].bytes!));
      return `${fmt(us, 2)} µs${bytes === null ? '' : ` (${fmt(bytes)} B written)`}`;
    };
    console.log(
      `  (a-split) SQLite per event, ${perRow === 1 ? "one event per queue row (SqliteStore's)" : '100 events per row'}: insert ${show('insert')}; read back ${show('read')}; delete ${show('remove')}`,
    );
  }
}
