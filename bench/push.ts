/**
 * Durable push, measured against baselines taken in the same run (issue 4, part 6):
 *   (a) events/s from publish to AS acknowledgement with SqliteStore, vs raw better-sqlite3 inserts
 *       of the same rows in 100-row transactions plus raw undici PUTs of the same 100-event bodies
 *       (goals, with synchronous 'full': >= 0.80 of the baseline's rate, and CPU per event
 *       <= 1.25x the baseline's);
 *   (b) catch-up of a 100k backlog: transactions must be full; time vs raw PUTs of the same bodies,
 *       median of 3 rounds (goal: <= 2.0x);
 *   (c) RSS growth while 1M events pile up for an AS that is down (goal: <= 64 MB);
 *   (d) p99 publish-to-ack latency to a healthy AS while another is down and a third slow, vs the
 *       same load with all three healthy (goal: <= 1.5x).
 *
 * Run alone: node --import tsx bench/push.ts
 * Some phases only (e.g. to profile one): BENCH_PUSH_PHASES=a-full,b node --import tsx bench/push.ts
 * (phases c, a-full, a-normal, b, d; all when unset).
 * Where (a)'s CPU per event goes, phase by phase, and SQLite's work per queued row (not in the
 * default run): BENCH_PUSH_PHASES=a-split node --import tsx bench/push.ts
 */
import Database from 'better-sqlite3';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Pool } from 'undici';
import { SqliteStore } from '../lib/store/sqlite/sqlite-store.ts';
import { reportGoal } from './support/goals.ts';
import { pushSplit } from './support/push-split.ts';
import {
  deadUrl,
  event,
  fmt,
  median,
  pipeline,
  publishAll,
  put,
  quantile,
  registrationFor,
  sleep,
  startSinks,
  timed,
  until,
  type Timing,
} from './support/push-pipeline.ts';

type Sync = 'full' | 'normal';

/**
 * Deleted as soon as a phase is done: the kernel then drops its dirty pages instead of writing
 * them back while later phases run (the 1M-event backlog alone is some 400 MB).
 */
async function removeDatabase(path: string): Promise<void> {
  await Promise.all(['', '-wal', '-shm'].map((suffix) => rm(`${path}${suffix}`, { force: true })));
}

/** (a) ours: publish n events, wait until the AS has acknowledged all of them. */
async function oursThroughput(dir: string, n: number, synchronous: Sync, round: number): Promise<Timing> {
  const sink = await startSinks([{ slowMs: 0 }]);
  const path = join(dir, `a-ours-${synchronous}-${round}.db`);
  const store = new SqliteStore(path, { synchronous });
  await store.open();
  let acked = 0;
  const p = pipeline(store, [registrationFor('a', sink.urls[0]!)], { onSent: (info) => (acked += info.counts.event) });
  p.senders.start();
  const timing = await timed(async () => {
    await publishAll(p.publisher, 0, n);
    await until(() => acked === n, 120_000, 'acknowledgements');
  });
  await p.close();
  await store.close();
  await removeDatabase(path);
  const [stats] = await sink.stats();
  await sink.close();
  if (stats!.events !== n) throw new Error(`ours delivered ${stats!.events} of ${n}`);
  return timing;
}

/** (a) baseline: the same rows in 100-row better-sqlite3 transactions, and the same bodies PUT with undici. */
async function baselineThroughput(dir: string, n: number, synchronous: Sync, round: number): Promise<Timing> {
  const sink = await startSinks([{ slowMs: 0 }]);
  const path = join(dir, `a-base-${synchronous}-${round}.db`);
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${synchronous}`);
  db.exec('CREATE TABLE items (id INTEGER PRIMARY KEY, as_id TEXT NOT NULL, json TEXT NOT NULL)');
  const insert = db.prepare('INSERT INTO items (as_id, json) VALUES (?, ?)');
  const insertMany = db.transaction((jsons: string[]) => {
    for (const json of jsons) insert.run('a', json);
  });
  const pool = new Pool(sink.urls[0]!, { connections: 1 });
  const timing = await timed(async () => {
    for (let i = 0; i < n; i += 100) {
      const jsons: string[] = [];
      for (let j = i; j < Math.min(n, i + 100); j++) jsons.push(JSON.stringify(event(j)));
      insertMany(jsons);
      await put(pool, String(i / 100), `{"events":[${jsons.join(',')}]}`, 'hs-a');
    }
  });
  await pool.close();
  db.close();
  await removeDatabase(path);
  const [stats] = await sink.stats();
  await sink.close();
  if (stats!.events !== n) throw new Error(`baseline delivered ${stats!.events} of ${n}`);
  return timing;
}

/** Process CPU (every thread: the sink's too) since `start`, in ms. */
function cpuMsSince(start: NodeJS.CpuUsage): number {
  const cpu = process.cpuUsage(start);
  return (cpu.user + cpu.system) / 1000;
}

/** (b) a backlog queued while nothing sends, then drained; baseline: the same bodies PUT back to back. */
async function catchUp(
  dir: string,
  n: number,
  round: number,
): Promise<{ ms: number; txns: number; full: number; baselineMs: number; cpuMs: number; baselineCpuMs: number }> {
  const sink = await startSinks([{ slowMs: 0 }, { slowMs: 0 }]);
  const path = join(dir, `b-${round}.db`);
  const store = new SqliteStore(path, { synchronous: 'normal' });
  await store.open();
  const sizes: number[] = [];
  const p = pipeline(store, [registrationFor('b', sink.urls[0]!)], { onSent: (info) => sizes.push(info.counts.event) });
  await publishAll(p.publisher, 0, n); // no sender running yet: it all piles up
  const bodies: string[] = [];
  // Read the bodies the sender will send, for the baseline, without disturbing the queue.
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  p.senders.start();
  await until(() => sizes.length > 0 && sizes.reduce((a, b) => a + b, 0) === n, 120_000, 'catch-up');
  const ms = performance.now() - t0;
  const cpuMs = cpuMsSince(cpu0);
  await p.close();
  await store.close();
  await removeDatabase(path);
  for (let i = 0; i < n; i += 100) {
    const jsons: string[] = [];
    for (let j = i; j < Math.min(n, i + 100); j++) jsons.push(JSON.stringify(event(j)));
    bodies.push(`{"events":[${jsons.join(',')}]}`);
  }
  const pool = new Pool(sink.urls[1]!, { connections: 1 });
  const t1 = performance.now();
  const cpu1 = process.cpuUsage();
  for (const [i, body] of bodies.entries()) await put(pool, String(i), body, 'hs-b');
  const baselineMs = performance.now() - t1;
  const baselineCpuMs = cpuMsSince(cpu1);
  await pool.close();
  const stats = await sink.stats();
  await sink.close();
  if (stats[0]!.events !== n || stats[1]!.events !== n) throw new Error('bench: catch-up lost events');
  return { ms, txns: sizes.length, full: sizes.filter((s) => s === 100).length, baselineMs, cpuMs, baselineCpuMs };
}

/** (c) RSS while an AS that is down accumulates a backlog of n events. */
async function rssGrowth(
  dir: string,
  n: number,
): Promise<{ beforeMb: number; afterMb: number; peakMb: number; backlog: number; ms: number }> {
  const path = join(dir, 'c.db');
  const store = new SqliteStore(path, { synchronous: 'normal' });
  await store.open();
  const p = pipeline(store, [registrationFor('c', await deadUrl())], { backoff: { initialMs: 50, maxMs: 1000 } });
  p.senders.start();
  const warmup = 50_000;
  await publishAll(p.publisher, 0, warmup); // code compiled, caches and pools at their working size
  const mb = (): number => process.memoryUsage.rss() / 2 ** 20;
  const beforeMb = mb();
  let peakMb = beforeMb;
  const t0 = performance.now();
  for (let i = warmup; i < n; i += 50_000) {
    await publishAll(p.publisher, i, Math.min(50_000, n - i));
    peakMb = Math.max(peakMb, mb());
  }
  const ms = performance.now() - t0;
  const afterMb = mb();
  const backlog = (await store.backlog('c')).size;
  await p.close();
  await store.close();
  await removeDatabase(path);
  return { beforeMb, afterMb, peakMb, backlog, ms };
}

/** (d) publish-to-ack latency to AS `h` under a steady load, with `d` and `s` healthy, or down and slow. */
async function latency(
  dir: string,
  degraded: boolean,
  rate: number,
  seconds: number,
  round: number,
): Promise<{ p50: number; p99: number }> {
  const sink = await startSinks([{ slowMs: 0 }, { slowMs: 0 }, { slowMs: degraded ? 2_000 : 0 }]);
  const urls = [sink.urls[0]!, degraded ? await deadUrl() : sink.urls[1]!, sink.urls[2]!];
  const regs = ['h', 'd', 's'].map((id, i) => registrationFor(id, urls[i]!));
  const path = join(dir, `d-${degraded ? 'degraded' : 'healthy'}-${round}.db`);
  const store = new SqliteStore(path, { synchronous: 'normal' });
  await store.open();
  const published: number[] = [];
  const latencies: number[] = [];
  const p = pipeline(store, regs, {
    backoff: { initialMs: 100, maxMs: 1000 },
    onSent: (info) => {
      if (info.asId !== 'h') return;
      const now = performance.now();
      for (const t of published.splice(0, info.counts.event)) latencies.push(now - t);
    },
  });
  p.senders.start();
  const total = rate * seconds;
  const t0 = performance.now();
  let i = 0;
  while (i < total) {
    // Paced by the clock: a late tick publishes what is due rather than stretching the run.
    const due = Math.min(total, Math.ceil(((performance.now() - t0) / 1000) * rate));
    const burst: Promise<readonly string[]>[] = [];
    for (; i < due; i++) {
      published.push(performance.now());
      burst.push(p.publisher.publish(event(i)));
    }
    await Promise.all(burst);
    await sleep(5);
  }
  await until(() => latencies.length === total, 30_000, 'healthy AS acknowledgements');
  await p.close();
  await store.close();
  await removeDatabase(path);
  await sink.close();
  latencies.sort((a, b) => a - b);
  return { p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99) };
}

/** The phases BENCH_PUSH_PHASES names (comma-separated), or all of them. */
function phase(name: 'c' | 'a-full' | 'a-normal' | 'b' | 'd' | 'a-split'): boolean {
  const only = process.env['BENCH_PUSH_PHASES'];
  if (only === undefined || only === '') return name !== 'a-split';
  return only.split(',').includes(name);
}

export async function run(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'koa-appservice-bench-push-'));
  try {
    console.log('push: durable delivery with SqliteStore; the AS is a sink on a worker thread (loopback)');
    console.log(
      "  (a) runs with synchronous='full' (SqliteStore's default: a resolved publish survives a power cut) and 'normal' (survives a process crash); the baseline uses the same mode. (b), (c), (d) use 'normal'.",
    );

    // First, while the heap is fresh, so that other phases' garbage cannot hide growth.
    if (phase('c')) {
      const m = await rssGrowth(dir, 1_000_000);
      console.log(
        `  (c) 1M-event backlog for a down AS: RSS ${fmt(m.beforeMb, 1)} → ${fmt(m.afterMb, 1)} MB, growth ${fmt(m.afterMb - m.beforeMb, 1)} MB (peak ${fmt(m.peakMb, 1)}; goal <= 64 MB); backlog ${fmt(m.backlog)}; queued at ${fmt((1_000_000 - 50_000) / (m.ms / 1000))} events/s`,
      );
    }

    // Interleaved rounds, median of the ratios: the machine's other load hits both sides alike.
    // A round of 100k events (1.5 to 2 s): a sustained rate. In rounds of 20k (0.3 s) the start of
    // the round (JIT, the first transaction's round trip, a sink thread still starting) and a single
    // stall of the machine weigh on the figure more than the push path does.
    for (const [synchronous, n, rounds] of [
      ['full', 100_000, 3],
      ['normal', 100_000, 3],
    ] as const) {
      if (!phase(`a-${synchronous}`)) continue;
      const rates: { ours: number; base: number; oursCpu: number; baseCpu: number }[] = [];
      for (let round = 0; round < rounds; round++) {
        const base = await baselineThroughput(dir, n, synchronous, round);
        const ours = await oursThroughput(dir, n, synchronous, round);
        rates.push({
          ours: n / (ours.ms / 1000),
          base: n / (base.ms / 1000),
          oursCpu: (ours.cpuMs * 1000) / n,
          baseCpu: (base.cpuMs * 1000) / n,
        });
      }
      const mid = median(rates.map((r) => r.ours / r.base));
      const ours = median(rates.map((r) => r.ours));
      const base = median(rates.map((r) => r.base));
      const oursCpu = median(rates.map((r) => r.oursCpu));
      const baseCpu = median(rates.map((r) => r.baseCpu));
      const label = synchronous === 'full' ? "synchronous='full' (default)" : "synchronous='normal'";
      // The goals are for the default. In 'normal' the baseline stops paying an fsync per 100 rows,
      // while ours already paid few (acknowledgements without one, transactions created ahead).
      const goals =
        synchronous === 'full' ? 'goals >= 0.80, CPU/event <= 1.25x' : "for comparison; the goals are for 'full'";
      console.log(
        `  (a) publish→ack, ${fmt(n)} events x ${rounds} rounds, ${label}: ${fmt(ours)} events/s; baseline (raw 100-row inserts + raw undici PUTs) ${fmt(base)} events/s; median ratio ${fmt(mid, 2)} (${goals})`,
      );
      console.log(
        `      CPU per event (both threads): ours ${fmt(oursCpu, 1)} µs, baseline ${fmt(baseCpu, 1)} µs; CPU-bound ceiling ratio ${fmt(baseCpu / oursCpu, 2)}`,
      );
      if (synchronous === 'full') {
        reportGoal({
          row: "push (a) publish→ack vs raw inserts + PUTs, SqliteStore 'full'",
          figure: fmt(mid, 2),
          goal: '>= 0.80',
          met: mid >= 0.8,
        });
        // The median of the per-round CPU ratios, as for the rates: a round's load hits both sides.
        const cpuRatio = median(rates.map((r) => r.oursCpu / r.baseCpu));
        reportGoal({
          row: "push (a) CPU per event vs the baseline's, SqliteStore 'full'",
          figure: `${fmt(cpuRatio, 2)}x (${fmt(oursCpu, 1)} vs ${fmt(baseCpu, 1)} µs)`,
          goal: '<= 1.25x',
          met: cpuRatio <= 1.25,
        });
      }
    }

    if (phase('a-split')) await pushSplit(dir, 100_000, 3);

    if (phase('b')) {
      const n = 100_000;
      // Rounds and the median ratio, as for (a): one drain takes 1 to 3 s, and a single stall of
      // the machine in it moves a lone figure by a third.
      const catchUps: Awaited<ReturnType<typeof catchUp>>[] = [];
      for (let round = 0; round < 3; round++) catchUps.push(await catchUp(dir, n, round));
      const ratio = median(catchUps.map((r) => r.ms / r.baselineMs));
      const c = catchUps.find((r) => r.ms / r.baselineMs === ratio)!;
      console.log(
        `  (b) catch-up of a ${fmt(n)} backlog, median of ${catchUps.length} rounds: ${fmt(c.ms)} ms (${fmt(n / (c.ms / 1000))} events/s), ${fmt(c.txns)} transactions, ${fmt(c.full)} of them full; raw PUTs of the same bodies ${fmt(c.baselineMs)} ms; ${fmt(ratio, 2)}x the baseline time (rounds: ${catchUps.map((r) => fmt(r.ms / r.baselineMs, 2)).join(', ')})`,
      );
      // Wall time moves with the shared machine's load (the baseline alone spreads 2x between
      // rounds); process CPU much less: the same drain's cost, read beside the ratio.
      console.log(
        `      process CPU (both threads), median of ${catchUps.length} rounds: catch-up ${fmt(median(catchUps.map((r) => r.cpuMs)))} ms, raw PUTs ${fmt(median(catchUps.map((r) => r.baselineCpuMs)))} ms; ${fmt(median(catchUps.map((r) => r.cpuMs / r.baselineCpuMs)), 2)}x (rounds: ${catchUps.map((r) => fmt(r.cpuMs / r.baselineCpuMs, 2)).join(', ')})`,
      );
      reportGoal({
        row: 'push (b) catch-up of a 100k backlog vs raw PUTs of the same bodies',
        figure: `${fmt(ratio, 2)}x`,
        goal: '<= 2.0x',
        met: ratio <= 2 && catchUps.every((r) => r.full === r.txns),
      });
    }
    if (phase('d')) {
      const rate = 2000;
      const healthy: { p50: number; p99: number }[] = [];
      const degraded: { p50: number; p99: number }[] = [];
      for (let round = 0; round < 3; round++) {
        healthy.push(await latency(dir, false, rate, 2, round));
        degraded.push(await latency(dir, true, rate, 2, round));
      }
      const [h50, h99, d50, d99] = [
        healthy.map((r) => r.p50),
        healthy.map((r) => r.p99),
        degraded.map((r) => r.p50),
        degraded.map((r) => r.p99),
      ].map(median) as [number, number, number, number];
      console.log(
        `  (d) ${fmt(rate)} events/s to 3 ASes, publish→ack latency to the healthy one (median of 3 rounds): all healthy p50 ${fmt(h50, 1)} ms, p99 ${fmt(h99, 1)} ms; one down + one slow (2 s) p50 ${fmt(d50, 1)} ms, p99 ${fmt(d99, 1)} ms; p99 ratio ${fmt(d99 / h99, 2)} (goal <= 1.5)`,
      );
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]!).href) await run();
