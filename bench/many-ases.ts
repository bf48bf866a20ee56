/**
 * A thousand bridges on one homeserver (issue 17), measured against the same work for one AS in the
 * same run:
 *   (a) publish→ack throughput with 1,000 registrations, each event for one of them (round robin),
 *       vs the same events all for 1 AS; SqliteStore with its default synchronous='full', each AS
 *       its own sink server (goal: >= 0.5x);
 *   (b) idle memory per AS: RSS and V8 heap after `appservices()` has started with 1,000
 *       registrations vs with 1, divided by the 999 extra ASes (goal: <= 50 KB);
 *   (c) the time `appservices()` takes to start with 1,000 registration files (read, parse,
 *       validate, compile the regexes, build the index, open the store, start the senders), in a
 *       fresh process (a cold JIT, as at a homeserver's start) (goal: <= 1 s of CPU time; wall
 *       time is printed beside it, inflated by whatever else runs on the machine).
 * (b) and (c) run in fresh child processes, one per count, so that one measurement's heap and
 * JIT state cannot leak into the other's.
 *
 * Run alone: node --import tsx bench/many-ases.ts (`--a`: only (a), e.g. under a profiler)
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { MatrixEvent } from '../lib/events.ts';
import { appservices } from '../lib/index.ts';
import type { Publisher } from '../lib/push/publisher.ts';
import type { Registration } from '../lib/registration/registration.ts';
import { SqliteStore } from '../lib/store/sqlite/sqlite-store.ts';
import { testHost } from '../lib/testing/host.ts';
import { testRegistration } from '../lib/testing/registration.ts';
import { reportGoal } from './support/goals.ts';
import { BURST, fmt, median, pipeline, startSinks, timed, until, type Timing } from './support/push-pipeline.ts';

const MANY = 1_000;
const EVENTS = 20_000;
const ROUNDS = 3;
const SERVER = 'bench.test';
const KB = 1000;

/** AS number `as` is interested in the rooms `!b<as>_...`; the `_` keeps `!b1_` from matching `!b10_`. */
function roomFor(as: number): string {
  return `!b${as}_room:${SERVER}`;
}

function registration(as: number, url: string): Registration {
  return testRegistration({
    id: `bridge${as}`,
    url,
    rooms: [`!b${as}_.*`],
    exclusive: false,
    rateLimited: false,
    source: '<bench>',
  });
}

/** A realistic small message event (about 300 bytes of JSON) in the room of AS `as`. */
function event(i: number, as: number): MatrixEvent {
  return {
    event_id: `$bench${i}-aGVsbG8gd29ybGQ`,
    room_id: roomFor(as),
    type: 'm.room.message',
    sender: '@alice:bench.test',
    origin_server_ts: 1_764_000_000_000 + i,
    unsigned: { age: 12 },
    content: { msgtype: 'm.text', body: `bench message number ${i}, with some text to make it realistic` },
  };
}

/** Publishes `n` events in bursts of BURST concurrent publishes, event i to AS i mod `ases`. */
async function publishSpread(publisher: Publisher, n: number, ases: number): Promise<void> {
  for (let i = 0; i < n; i += BURST) {
    const burst: Promise<readonly string[]>[] = [];
    for (let j = i; j < Math.min(n, i + BURST); j++) burst.push(publisher.publish(event(j, j % ases)));
    await Promise.all(burst);
  }
}

/**
 * (a) one round: `n` events spread over `ases` ASes, from publish to the last acknowledgement, and
 * how many transactions the ASes received (each costs a request and a store round of its own).
 */
async function throughput(dir: string, ases: number, n: number, round: number): Promise<Timing & { txns: number }> {
  const sink = await startSinks(Array.from({ length: ases }, () => ({ slowMs: 0 })));
  const path = join(dir, `a-${ases}-${round}.db`);
  const store = new SqliteStore(path);
  await store.open();
  let acked = 0;
  const regs = sink.urls.map((url, as) => registration(as, url));
  const p = pipeline(store, regs, { onSent: (info) => (acked += info.counts.event) });
  p.senders.start();
  const timing = await timed(async () => {
    await publishSpread(p.publisher, n, ases);
    await until(() => acked === n, 300_000, 'acknowledgements');
  });
  await p.close();
  await store.close();
  await Promise.all(['', '-wal', '-shm'].map((suffix) => rm(`${path}${suffix}`, { force: true })));
  const stats = await sink.stats();
  const delivered = stats.reduce((sum, s) => sum + s.events, 0);
  await sink.close();
  if (delivered !== n) throw new Error(`delivered ${delivered} of ${n} events to ${ases} ASes`);
  return { ...timing, txns: stats.reduce((sum, s) => sum + s.requests, 0) };
}

/** A registration file as a bridge ships it: two user regexes, one alias regex, one url. */
function registrationYaml(as: number): string {
  return [
    `id: bridge${as}`,
    // Nothing listens there: an idle AS is never contacted.
    `url: http://127.0.0.1:9/bridge${as}`,
    `as_token: as-token-bridge${as}-0123456789abcdef`,
    `hs_token: hs-token-bridge${as}-fedcba9876543210`,
    `sender_localpart: _bridge${as}_bot`,
    'rate_limited: false',
    'namespaces:',
    '  users:',
    `    - { exclusive: true, regex: '@_bridge${as}_.*:bench\\.test' }`,
    `    - { exclusive: true, regex: '@_bridge${as}_bot:bench\\.test' }`,
    '  aliases:',
    `    - { exclusive: true, regex: '#_bridge${as}_.*:bench\\.test' }`,
    '  rooms: []',
    '',
  ].join('\n');
}

interface Started {
  readonly ases: number;
  /** Wall time of `appservices()`, from call to resolved. */
  readonly startMs: number;
  /** CPU time of the process (all threads) over the same span: what other load on the machine does not inflate. */
  readonly startCpuMs: number;
  /** Growth from before the call to idle after it, in bytes. */
  readonly rss: number;
  readonly heap: number;
}

/**
 * In a child process: start `appservices()` with the registration files in `dir` and print what it
 * cost. The registrations are counted before the call, garbage collected before each reading.
 */
async function child(dir: string): Promise<void> {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const host = testHost({ serverName: SERVER });
  const settle = async (): Promise<NodeJS.MemoryUsage> => {
    await new Promise((resolve) => setTimeout(resolve, 200));
    gc();
    gc();
    return process.memoryUsage();
  };
  const before = await settle();
  const started = performance.now();
  const cpu = process.cpuUsage();
  const plugin = await appservices({
    registrations: [join(dir, 'registrations', '*.yaml')],
    host,
    databasePath: join(dir, 'appservice.db'),
  });
  const startMs = performance.now() - started;
  const used = process.cpuUsage(cpu);
  const startCpuMs = (used.user + used.system) / 1000;
  const after = await settle();
  const result: Started = {
    ases: plugin.registry.all.length,
    startMs,
    startCpuMs,
    rss: after.rss - before.rss,
    heap: after.heapUsed + after.external - (before.heapUsed + before.external),
  };
  await plugin.close();
  process.stdout.write(JSON.stringify(result));
}

/** (b)+(c) for `ases` registrations, in a fresh process. */
async function startInChild(ases: number): Promise<Started> {
  const dir = await mkdtemp(join(tmpdir(), 'koa-appservice-bench-many-'));
  try {
    await mkdir(join(dir, 'registrations'));
    await Promise.all(
      Array.from({ length: ases }, (_, as) =>
        writeFile(join(dir, 'registrations', `bridge${as}.yaml`), registrationYaml(as)),
      ),
    );
    const stdout = await new Promise<string>((resolve, reject) =>
      execFile(
        process.execPath,
        ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', dir],
        { maxBuffer: 1 << 20 },
        (error, out) => (error ? reject(error) : resolve(out)),
      ),
    );
    return JSON.parse(stdout) as Started;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Print (a), (b) and (c) with their goal rows.
 *
 * @example
 * await run(); // from bench/index.ts, or `node --import tsx bench/many-ases.ts`
 */
export async function run(): Promise<void> {
  // (b) and (c) first: children started while this process is still small.
  const starts: { one: Started; many: Started }[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    starts.push({ one: await startInChild(1), many: await startInChild(MANY) });
  }
  for (const { one, many } of starts) {
    if (one.ases !== 1 || many.ases !== MANY) throw new Error('the child loaded the wrong number of registrations');
  }
  const perAs = (pick: (s: Started) => number): number =>
    median(starts.map(({ one, many }) => (pick(many) - pick(one)) / (MANY - 1)));
  const rssPerAs = perAs((s) => s.rss);
  const heapPerAs = perAs((s) => s.heap);
  const startOne = median(starts.map((s) => s.one.startMs));
  const startMany = median(starts.map((s) => s.many.startMs));
  const cpuOne = median(starts.map((s) => s.one.startCpuMs));
  const cpuMany = median(starts.map((s) => s.many.startCpuMs));
  console.log(
    `many ASes (b) idle memory after appservices() start, ${MANY} vs 1 registrations, median of ${ROUNDS} child processes: ` +
      `${fmt(rssPerAs / KB, 1)} KB RSS and ${fmt(heapPerAs / KB, 1)} KB V8 heap + external per AS`,
  );
  console.log(
    `many ASes (c) appservices() start (files, parse, compile, index, store, senders), median of ${ROUNDS}: ` +
      `${fmt(cpuMany)} ms CPU (${fmt(startMany)} ms wall) with ${MANY} registrations, ${fmt(cpuOne)} ms CPU (${fmt(startOne)} ms wall) with 1`,
  );

  await runThroughput();
  reportGoal({
    row: 'many ASes (b) idle memory per AS (RSS; heap)',
    figure: `${fmt(rssPerAs / KB, 1)} KB; ${fmt(heapPerAs / KB, 1)} KB`,
    goal: '<= 50 KB',
    met: rssPerAs <= 50 * KB && heapPerAs <= 50 * KB,
  });
  reportGoal({
    row: `many ASes (c) appservices() start, ${MANY.toLocaleString('en-US')} registration files (CPU)`,
    figure: `${fmt(cpuMany / 1000, 2)} s (wall ${fmt(startMany / 1000, 2)} s)`,
    goal: '<= 1 s',
    met: cpuMany <= 1000,
  });
}

/** (a) alone (`--a`: what a profile of the push path wants), with its goal row. */
async function runThroughput(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'koa-appservice-bench-many-'));
  const ratios: number[] = [];
  const rates: { one: number; many: number }[] = [];
  // Process CPU (both threads: ours and the sinks'), which the machine's other load inflates less than wall time.
  const cpu: { one: number; many: number }[] = [];
  const txns: { one: number; many: number }[] = [];
  try {
    // Interleaved rounds, median of the ratios: the machine's other load hits both sides alike.
    for (let round = 0; round < ROUNDS; round++) {
      const one = await throughput(dir, 1, EVENTS, round);
      const many = await throughput(dir, MANY, EVENTS, round);
      rates.push({ one: EVENTS / (one.ms / 1000), many: EVENTS / (many.ms / 1000) });
      ratios.push(one.ms / many.ms);
      txns.push({ one: one.txns, many: many.txns });
      cpu.push({ one: one.cpuMs, many: many.cpuMs });
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const ratio = median(ratios);
  console.log(
    `many ASes (a) publish→ack, ${fmt(EVENTS)} events x ${ROUNDS} rounds, SqliteStore synchronous='full': ` +
      `${fmt(median(rates.map((r) => r.many)))} events/s spread over ${MANY} ASes vs ${fmt(median(rates.map((r) => r.one)))} events/s to 1 AS; ` +
      `median ratio ${fmt(ratio, 2)}; transactions sent (median): ${fmt(median(txns.map((t) => t.many)))} vs ${fmt(median(txns.map((t) => t.one)))}; ` +
      `process CPU per round (median): ${fmt(median(cpu.map((c) => c.many)))} vs ${fmt(median(cpu.map((c) => c.one)))} ms`,
  );

  reportGoal({
    row: `many ASes (a) publish→ack, ${MANY.toLocaleString('en-US')} ASes vs 1`,
    figure: `${fmt(ratio, 2)}×`,
    goal: '>= 0.5×',
    met: ratio >= 0.5,
  });
}

if (import.meta.url === pathToFileURL(process.argv[1]!).href) {
  const at = process.argv.indexOf('--child');
  if (at > 0) await child(process.argv[at + 1]!);
  else if (process.argv.includes('--a')) await runThroughput();
  else await run();
  process.exit(0);
}
