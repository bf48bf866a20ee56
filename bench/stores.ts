/**
 * The stores side by side (issue 7, part 6), in one run, through the same publisher, senders and
 * sink AS as bench/push.ts:
 *   (1) push throughput, publish → AS acknowledgement, with SqliteStore (synchronous 'full', the
 *       default, and 'normal') and PostgresStore;
 *   (2) publish latency (publish() called → resolved, i.e. durable) p50/p99 for each, under a
 *       steady paced load while the senders deliver.
 *
 * PostgreSQL: the server at PG_URL when it is set (measured as it is configured); otherwise a
 * throwaway one started for the run (spec/support/postgres-server.ts: initdb into a temp dir,
 * loopback), measured twice in every round: durable (fsync, synchronous_commit and
 * full_page_writes on, as in production: the goal row compares this with SqliteStore 'full') and
 * with all three off (commits cost no disk flush; shown for comparison). Stopped at the end. Each
 * store gets a fresh schema. CPU is this process's only: the PostgreSQL server's own CPU is not
 * counted.
 *
 * Run alone: node --import tsx bench/stores.ts
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PostgresStore } from '../lib/store/postgres/postgres-store.ts';
import { SqliteStore } from '../lib/store/sqlite/sqlite-store.ts';
import type { Store } from '../lib/store/store.ts';
import { freshSchema, getPgUrl, setPostgresDurability, stopPostgres } from '../spec/support/postgres-server.ts';
import { reportGoal } from './support/goals.ts';
import {
  event,
  fmt,
  median,
  pipeline,
  publishAll,
  quantile,
  registrationFor,
  sleep,
  startSinks,
  timed,
  until,
  type Timing,
} from './support/push-pipeline.ts';

interface Subject {
  readonly name: string;
  /** A fresh, opened, empty store, and how to dispose of it. */
  make(round: number): Promise<{ store: Store; dispose(): Promise<void> }>;
}

function sqlite(dir: string, synchronous: 'full' | 'normal'): Subject {
  return {
    name: `SqliteStore synchronous='${synchronous}'${synchronous === 'full' ? ' (default)' : ''}`,
    async make(round) {
      const path = join(dir, `${synchronous}-${round}-${Math.random().toString(36).slice(2)}.db`);
      const store = new SqliteStore(path, { synchronous });
      await store.open();
      return {
        store,
        async dispose() {
          await store.close();
          // At once, so the kernel drops its dirty pages rather than writing them back during later runs.
          await Promise.all(['', '-wal', '-shm'].map((suffix) => rm(`${path}${suffix}`, { force: true })));
        },
      };
    },
  };
}

/** `durable` undefined: the server at PG_URL, as it is configured. */
function postgres(durable: boolean | undefined): Subject {
  const name =
    durable === undefined
      ? 'PostgresStore (PG_URL)'
      : `PostgresStore, ${durable ? 'durable' : 'fsync=off (not durable)'}`;
  return {
    name,
    async make() {
      if (durable !== undefined) await setPostgresDurability(durable);
      const { url, schema, drop } = await freshSchema();
      const store = new PostgresStore({ connectionString: url, schema });
      await store.open();
      return {
        store,
        async dispose() {
          await store.close();
          await drop();
        },
      };
    },
  };
}

/** (1) publish n events in bursts, until the AS has acknowledged them all. */
async function throughput(subject: Subject, n: number, round: number): Promise<Timing> {
  const sink = await startSinks([{ slowMs: 0 }]);
  const { store, dispose } = await subject.make(round);
  let acked = 0;
  const p = pipeline(store, [registrationFor('a', sink.urls[0]!)], { onSent: (info) => (acked += info.counts.event) });
  p.senders.start();
  try {
    return await timed(async () => {
      await publishAll(p.publisher, 0, n);
      await until(() => acked === n, 120_000, `${subject.name} acknowledgements`);
    });
  } finally {
    await p.close();
    await dispose();
    await sink.close();
  }
}

/** (2) publish `rate` events/s for `seconds`, paced by the clock; each publish timed until it resolves. */
async function publishLatency(subject: Subject, rate: number, seconds: number, round: number): Promise<number[]> {
  const sink = await startSinks([{ slowMs: 0 }]);
  const { store, dispose } = await subject.make(round);
  let acked = 0;
  const p = pipeline(store, [registrationFor('a', sink.urls[0]!)], { onSent: (info) => (acked += info.counts.event) });
  p.senders.start();
  const latencies: number[] = [];
  try {
    const total = rate * seconds;
    const t0 = performance.now();
    const inFlight: Promise<void>[] = [];
    for (let i = 0; i < total;) {
      // A late tick publishes what is due rather than stretching the run.
      const due = Math.min(total, Math.ceil(((performance.now() - t0) / 1000) * rate));
      for (; i < due; i++) {
        const started = performance.now();
        inFlight.push(p.publisher.publish(event(i)).then(() => void latencies.push(performance.now() - started)));
      }
      await sleep(2);
    }
    await Promise.all(inFlight);
    await until(() => acked === total, 30_000, `${subject.name} acknowledgements`);
  } finally {
    await p.close();
    await dispose();
    await sink.close();
  }
  return latencies.sort((a, b) => a - b);
}

export async function run(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'koa-appservice-bench-stores-'));
  const given = process.env.PG_URL !== undefined && process.env.PG_URL !== '';
  const pgNote = given
    ? 'PostgreSQL at PG_URL, as configured there'
    : 'a throwaway PostgreSQL on loopback, durable (fsync, synchronous_commit, full_page_writes on) and, for comparison, with all three off; set PG_URL for a real server';
  try {
    console.log(`stores: the same publish → sender → sink AS pipeline over each store; ${pgNote}`);
    const pgSubjects = given ? [postgres(undefined)] : [postgres(true), postgres(false)];
    const subjects = [sqlite(dir, 'full'), sqlite(dir, 'normal'), ...pgSubjects];
    if (!given) await getPgUrl({ durable: true }); // start the server before anything is timed
    await subjects[2]!.make(0).then((s) => s.dispose());
    if (given) console.log(`      PG_URL server: ${await durabilitySettings()}`);

    // Interleaved rounds, medians: the machine's other load hits every store alike.
    const n = 20_000;
    const rounds = 3;
    const runs = new Map(subjects.map((s) => [s, [] as Timing[]]));
    for (let round = 0; round < rounds; round++) {
      for (const subject of subjects) {
        runs.get(subject)!.push(await throughput(subject, n, round));
        // Let the PostgreSQL server's after-work (WAL writer, autovacuum) finish before the next run.
        await sleep(300);
      }
    }
    console.log(`  (1) publish→ack throughput, ${fmt(n)} events x ${rounds} rounds (median):`);
    const rates = new Map<Subject, number>();
    for (const subject of subjects) {
      const timings = runs.get(subject)!;
      const rate = median(timings.map((t) => n / (t.ms / 1000)));
      rates.set(subject, rate);
      const cpu = median(timings.map((t) => (t.cpuMs * 1000) / n));
      console.log(
        `      ${subject.name.padEnd(42)} ${fmt(rate).padStart(7)} events/s, ${fmt(cpu, 1)} µs CPU/event in this process`,
      );
    }
    const [full, normal] = subjects.map((s) => rates.get(s)!) as [number, number];
    for (const subject of pgSubjects) {
      const pg = rates.get(subject)!;
      console.log(
        `      ${subject.name} / SqliteStore: ${fmt(pg / full, 2)}x 'full', ${fmt(pg / normal, 2)}x 'normal'`,
      );
    }
    // The goal is for a durable PostgreSQL against SqliteStore's durable default.
    const goalPg = rates.get(pgSubjects[0]!)! / full;
    reportGoal({
      row: `stores: ${pgSubjects[0]!.name} / SqliteStore 'full', publish→ack`,
      figure: `${fmt(goalPg, 2)}x`,
      goal: '>= 0.50x',
      met: goalPg >= 0.5,
    });

    const rate = 2000;
    const seconds = 2;
    const lat = new Map(subjects.map((s) => [s, { p50: [] as number[], p99: [] as number[] }]));
    for (let round = 0; round < rounds; round++) {
      for (const subject of subjects) {
        const sorted = await publishLatency(subject, rate, seconds, round);
        lat.get(subject)!.p50.push(quantile(sorted, 0.5));
        lat.get(subject)!.p99.push(quantile(sorted, 0.99));
      }
    }
    console.log(
      `  (2) publish latency (call → durable), ${fmt(rate)} events/s for ${seconds} s while delivering, median of ${rounds} rounds:`,
    );
    for (const subject of subjects) {
      const { p50, p99 } = lat.get(subject)!;
      console.log(
        `      ${subject.name.padEnd(42)} p50 ${fmt(median(p50), 2).padStart(6)} ms, p99 ${fmt(median(p99), 2).padStart(6)} ms`,
      );
    }
  } finally {
    await stopPostgres();
    await rm(dir, { recursive: true, force: true });
  }
}

/** What the PG_URL server says about durability, for the record. */
async function durabilitySettings(): Promise<string> {
  const pg = (await import('pg')).default;
  const client = new pg.Client({ connectionString: process.env.PG_URL });
  await client.connect();
  try {
    const names = ['fsync', 'synchronous_commit', 'full_page_writes'];
    const values = [];
    for (const name of names) {
      const { rows } = await client.query<{ v: string }>('SELECT current_setting($1) AS v', [name]);
      values.push(`${name}=${rows[0]!.v}`);
    }
    return values.join(', ');
  } finally {
    await client.end();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]!).href) await run();
