/**
 * The stores side by side (issue 7, part 6), in one run, through the same publisher, senders and
 * sink AS as bench/push.ts:
 *   (1) push throughput, publish → AS acknowledgement, with SqliteStore (synchronous 'full', the
 *       default, and 'normal') and PostgresStore;
 *   (2) publish latency (publish() called → resolved, i.e. durable) p50/p99 for each, under a
 *       steady paced load while the senders deliver.
 *
 * PostgreSQL: the server at PG_URL when it is set; otherwise a throwaway one started for the run
 * (spec/support/postgres-server.ts: initdb into a temp dir, loopback, fsync=off and
 * synchronous_commit=off, so its commits are not durable and cost no disk flush: compare it with
 * SqliteStore 'normal' rather than 'full'), stopped at the end. Each store gets a fresh schema.
 * CPU is this process's only: the PostgreSQL server's own CPU is not counted.
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
import { freshSchema, stopPostgres } from '../spec/support/postgres-server.ts';
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

function postgres(): Subject {
  return {
    name: 'PostgresStore',
    async make() {
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
  const pgNote = process.env.PG_URL
    ? 'PostgreSQL at PG_URL, as configured there'
    : 'a throwaway PostgreSQL on loopback with fsync=off, synchronous_commit=off (not durable; set PG_URL for a real server)';
  try {
    console.log(`stores: the same publish → sender → sink AS pipeline over each store; ${pgNote}`);
    const subjects = [sqlite(dir, 'full'), sqlite(dir, 'normal'), postgres()];
    await subjects[2]!.make(0).then((s) => s.dispose()); // start the server before anything is timed

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
    const [full, normal, pg] = subjects.map((s) => rates.get(s)!) as [number, number, number];
    console.log(`      PostgresStore / SqliteStore: ${fmt(pg / full, 2)}x 'full', ${fmt(pg / normal, 2)}x 'normal'`);

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

if (import.meta.url === pathToFileURL(process.argv[1]!).href) await run();
