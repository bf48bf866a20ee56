/**
 * A bounded soak on loopback (issue 8 part 6): several application services, one flapping (down
 * and up at random), one slow, one failing a fifth of its requests, one steady; many concurrent
 * publishers; and the plugin restarted again and again on the same SqliteStore file, sometimes
 * while transactions are in flight. At the end every AS is healthy and the queues drain; then it
 * prints what was published and delivered, and exits 1 if any event was lost or delivered twice
 * (after the AS's txnId dedup), arrived out of order, or a txnId was reused with other content.
 *
 * Usage: npm run torture -- [--duration=120] [--publishers=8] [--rate=1000] [--restart-every=10]
 *   --duration       seconds of load (default 120, at most 240; the drain adds at most 45 s)
 *   --publishers     concurrent publishing loops (default 8)
 *   --rate           events published per second, all publishers together (default 1000); the
 *                    mock ASes keep every event for the final count, so this bounds memory
 *   --restart-every  mean seconds between plugin restarts (default 10)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { appservices, type Appservices, type Host } from '../lib/index.ts';
import { SqliteStore } from '../lib/store/sqlite/sqlite-store.ts';
import { MockAppService } from '../lib/testing/index.ts';

const SERVER = 'torture.test';
const AS_IDS = ['steady', 'flapping', 'slow', 'flaky'] as const;
type AsId = (typeof AS_IDS)[number];
const DRAIN_LIMIT_MS = 45_000;

interface Options {
  durationS: number;
  publishers: number;
  rate: number;
  restartEveryS: number;
}

function parseArgs(argv: readonly string[]): Options {
  const value = (name: string, fallback: number, max: number): number => {
    const arg = argv.find((a) => a.startsWith(`--${name}=`));
    if (arg === undefined) return fallback;
    const n = Number(arg.slice(name.length + 3));
    if (!Number.isFinite(n) || n <= 0) throw new TypeError(`--${name} must be a positive number, got ${arg}`);
    return Math.min(n, max);
  };
  return {
    durationS: value('duration', 120, 240),
    publishers: Math.round(value('publishers', 8, 64)),
    rate: value('rate', 1_000, 20_000),
    restartEveryS: value('restart-every', 10, 600),
  };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const jitter = (meanMs: number): number => meanMs / 2 + Math.random() * meanMs;
/** Sleeps, but never past `until`, so that the load phase ends on time. */
const sleepUntil = (ms: number, until: number): Promise<void> => sleep(Math.max(0, Math.min(ms, until - Date.now())));

/** Every AS claims its own users and, non-exclusively, the shared `@all_` users. */
function registrations(mocks: Record<AsId, MockAppService>): Record<string, unknown>[] {
  return AS_IDS.map((id) => ({
    id,
    url: mocks[id].url,
    as_token: `torture-as-${id}`,
    hs_token: `torture-hs-${id}`,
    sender_localpart: `${id}bot`,
    namespaces: { users: [{ exclusive: false, regex: `@(${id}|all)_.*` }], aliases: [], rooms: [] },
  }));
}

const host: Host = {
  serverName: SERVER,
  userExists: async () => false,
  resolveAlias: async () => null,
  roomAliases: async () => [],
  joinedMembers: async () => [],
  authenticate: async () => null,
};

export async function run(argv: readonly string[] = process.argv.slice(2)): Promise<number> {
  const options = parseArgs(argv);
  const dir = mkdtempSync(join(tmpdir(), 'koa-appservice-torture-'));
  const databasePath = join(dir, 'appservice.db');
  const mocks = Object.fromEntries(
    await Promise.all(
      AS_IDS.map(async (id) => [id, await MockAppService.start({ hsToken: `torture-hs-${id}` })] as const),
    ),
  ) as Record<AsId, MockAppService>;
  mocks.slow.slow(150);
  mocks.flaky.flaky(0.2);
  /** Per AS, the numbers of the events whose publish() named it: what it must receive. */
  const expected = Object.fromEntries(AS_IDS.map((id) => [id, { ids: new Set<number>() }])) as Record<
    AsId,
    { ids: Set<number> }
  >;

  let peakRss = process.memoryUsage.rss();
  const rssTimer = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage.rss());
    // The mocks keep every request for tests; a soak needs only their events and dedup state.
    for (const id of AS_IDS) mocks[id].requests.length = 0;
  }, 250);

  const start = (): Promise<Appservices> =>
    appservices({
      registrations: registrations(mocks),
      host,
      store: new SqliteStore(databasePath, { synchronous: 'normal' }),
      backoffInitialMs: 50,
      backoffMaxMs: 1_000,
    });

  let plugin = await start();
  /** Resolves while the plugin is up; replaced by a pending promise during a restart. */
  let ready: Promise<void> = Promise.resolve();
  const inFlight = new Set<Promise<unknown>>();
  let published = 0;
  let publishFailures = 0;
  let restarts = 0;
  let flaps = 0;
  let next = 0;
  const started = Date.now();
  const loadEnds = started + options.durationS * 1000;

  const publisher = async (p: number): Promise<void> => {
    let seq = 0;
    while (Date.now() < loadEnds) {
      await ready;
      const n = next++;
      const due = started + (n / options.rate) * 1000;
      if (due > Date.now()) await sleep(due - Date.now());
      await ready;
      // Mostly one AS, sometimes all four: fan-out exercises shared items in the store.
      const who = n % 5 === 0 ? 'all' : AS_IDS[n % AS_IDS.length]!;
      const event = {
        event_id: `$t${n}`,
        room_id: '!torture:torture.test',
        type: 'm.room.message',
        sender: `@${who}_p${p}:${SERVER}`,
        content: { n, p, seq: seq++ },
      };
      const publishing = plugin.publish(event);
      inFlight.add(publishing);
      try {
        const asIds = await publishing;
        published++;
        for (const asId of asIds) expected[asId as AsId].ids.add(n);
      } catch (error) {
        publishFailures++;
        console.error(`publish $t${n} failed: ${(error as Error).message}`);
      } finally {
        inFlight.delete(publishing);
      }
    }
  };

  const restarter = async (): Promise<void> => {
    while (Date.now() < loadEnds - 1_000) {
      await sleepUntil(jitter(options.restartEveryS * 1000), loadEnds);
      if (Date.now() >= loadEnds - 1_000) break;
      let open!: () => void;
      ready = new Promise((resolve) => (open = resolve));
      await Promise.allSettled([...inFlight]);
      await plugin.close(); // aborts a send in flight: it stays stored and is resent after restart
      plugin = await start();
      restarts++;
      open();
    }
  };

  const flapper = async (): Promise<void> => {
    while (Date.now() < loadEnds) {
      await sleepUntil(jitter(1_500), loadEnds);
      await mocks.flapping.down();
      flaps++;
      await sleepUntil(jitter(1_500), loadEnds);
      await mocks.flapping.up();
    }
  };

  const progress = setInterval(() => {
    const delivered = AS_IDS.map((id) => `${id} ${mocks[id].events.length}`).join(', ');
    console.log(
      `[${Math.round((Date.now() - started) / 1000)} s] published ${published}, delivered ${delivered}, restarts ${restarts}`,
    );
  }, 10_000);

  try {
    console.log(
      `torture: ${options.durationS} s, ${options.publishers} publishers, ${options.rate} events/s, restart every ~${options.restartEveryS} s, store ${databasePath}`,
    );
    await Promise.all([...Array.from({ length: options.publishers }, (_, p) => publisher(p)), restarter(), flapper()]);
    await ready;

    // Drain: every AS healthy, wait for every expected event.
    await mocks.flapping.up();
    mocks.slow.slow(0);
    mocks.flaky.flaky(0);
    const drainStarted = Date.now();
    const missing = (id: AsId): number =>
      expected[id].ids.size - new Set(mocks[id].events.map((e) => (e as { content: { n: number } }).content.n)).size;
    while (AS_IDS.some((id) => missing(id) > 0) && Date.now() - drainStarted < DRAIN_LIMIT_MS) await sleep(100);
    const drainMs = Date.now() - drainStarted;
    await plugin.close();

    let failed = publishFailures > 0;
    let lostTotal = 0;
    console.log('');
    console.log(
      `events published: ${published} (${AS_IDS.reduce((sum, id) => sum + expected[id].ids.size, 0)} AS deliveries expected), publish failures: ${publishFailures}`,
    );
    console.log(
      `plugin restarts: ${restarts}, flapping AS went down ${flaps} times, drain took ${(drainMs / 1000).toFixed(1)} s`,
    );
    for (const id of AS_IDS) {
      const seen = new Map<number, number>();
      let orderViolations = 0;
      const lastSeq = new Map<number, number>();
      let unexpected = 0;
      for (const raw of mocks[id].events) {
        const { n, p, seq } = (raw as { content: { n: number; p: number; seq: number } }).content;
        seen.set(n, (seen.get(n) ?? 0) + 1);
        if (!expected[id].ids.has(n)) unexpected++;
        if ((lastSeq.get(p) ?? -1) >= seq) orderViolations++;
        lastSeq.set(p, seq);
      }
      const duplicates = [...seen.values()].reduce((sum, count) => sum + count - 1, 0);
      const lost = [...expected[id].ids].filter((n) => !seen.has(n)).length;
      lostTotal += lost;
      const conflicts = mocks[id].conflicts.length;
      if (lost > 0 || duplicates > 0 || conflicts > 0 || orderViolations > 0 || unexpected > 0) failed = true;
      console.log(
        `  ${id.padEnd(9)} expected ${expected[id].ids.size}, delivered ${seen.size}, duplicates after dedup ${duplicates}, lost ${lost}, ` +
          `out of order ${orderViolations}, unexpected ${unexpected}, transactions ${mocks[id].transactions.size}, txnId conflicts ${conflicts}`,
      );
    }
    console.log(`lost: ${lostTotal}`);
    console.log(
      `peak RSS: ${(peakRss / 1024 / 1024).toFixed(0)} MiB (one process: the plugin, four mock ASes keeping every event, the publishers)`,
    );
    console.log(failed ? 'FAILED' : 'OK');
    return failed ? 1 : 0;
  } finally {
    clearInterval(progress);
    clearInterval(rssTimer);
    await Promise.all(AS_IDS.map((id) => mocks[id].close()));
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]!).href) process.exitCode = await run();
