/**
 * A bounded soak on loopback: several application services, one flapping (down and up at random),
 * one slow, one failing a fifth of its requests, one steady, and a bridge with a 5,000,000-byte
 * body limit (as matrix-appservice has) that dedupes by txnId; many concurrent publishers; bursts
 * of ~900 KB events for the bridge, each with one event larger than its limit; and the plugin
 * restarted again and again, sometimes while transactions are in flight. The first restart, and
 * every other one after it, starts on a fresh database (the queue file deleted, once the queues
 * have drained): the ASes remember the txnIds they saw, so an id that comes back from a new store
 * would make them drop new events. The first plugin generation, and every other one, allows
 * transactions far above the bridge's limit, so that its 413 answers are split, not only avoided;
 * the others keep the default byte cap. After the drain one dead letter is replayed: refused
 * again, it must be set aside again while the event published behind it is delivered.
 *
 * At the end every AS is healthy and the queues drain; then it prints what was published, delivered
 * and set aside, and exits 1 if any event was lost or stuck in a queue, delivered twice (after the
 * AS's txnId dedup), arrived out of order, dropped by a dedupe, or set aside when it was not one of
 * the events over the bridge's limit.
 *
 * Usage: npm run torture -- [--duration=120] [--publishers=8] [--rate=1000] [--restart-every=10] [--burst-every=8]
 *   --duration       seconds of load (default 120, at most 240; each fresh-database restart waits up
 *                    to 30 s for the queues to drain, and the final drain adds at most 45 s)
 *   --publishers     concurrent publishing loops (default 8)
 *   --rate           events published per second, all publishers together (default 1000); the
 *                    mock ASes keep every event for the final count, so this bounds memory
 *   --restart-every  mean seconds between plugin restarts (default 10)
 *   --burst-every    mean seconds between bursts of large events for the bridge (default 8)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { appservices, type Appservices, type DeadLetter } from '../lib/index.ts';
import { SqliteStore } from '../lib/store/sqlite/sqlite-store.ts';
import { AS_IDS, BRIDGE, reportDeliveries, host, MOCK_IDS, SERVER, startAses, type AsId } from './torture/ases.ts';
import { BRIDGE_BODY_LIMIT } from './torture/body-limited-bridge.ts';
import { checkDeadLetters, deadLetterLogRecorder, eventNumber, replayOldest } from './torture/dead-letters.ts';
import { parseArgs } from './torture/options.ts';

const DRAIN_LIMIT_MS = 45_000;
const FRESH_DRAIN_LIMIT_MS = 30_000;
/** Even plugin generations (the first one too) build transactions up to this size: above the bridge's limit, so it answers 413. */
const LARGE_CAP = 20_000_000;
const BIG_EVENT_BYTES = 900_000;
const BIG_EVENTS_PER_BURST = 12;
/** Over the bridge's limit even alone: refused, then set aside. */
const OVERSIZE_EVENT_BYTES = 5_200_000;
type Size = 'small' | 'big' | 'oversize';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const jitter = (meanMs: number): number => meanMs / 2 + Math.random() * meanMs;
/** Sleeps, but never past `until`, so that the load phase ends on time. */
const sleepUntil = (ms: number, until: number): Promise<void> => sleep(Math.max(0, Math.min(ms, until - Date.now())));
const mb = (bytes: number): string => `${(bytes / 1_000_000).toFixed(1)} MB`;

export async function run(argv: readonly string[] = process.argv.slice(2)): Promise<number> {
  const options = parseArgs(argv);
  const dir = mkdtempSync(join(tmpdir(), 'koa-appservice-torture-'));
  const databasePath = join(dir, 'appservice.db');
  const ases = await startAses();
  const { mocks, bridge, delivered } = ases;
  mocks.slow.slow(150);
  mocks.flaky.flaky(0.2);
  /** Per AS, the numbers of the events whose publish() named it: what it must receive. */
  const expected = Object.fromEntries(AS_IDS.map((id) => [id, new Set<number>()])) as Record<AsId, Set<number>>;
  /** The events over the bridge's limit: what must be set aside, and nothing else. */
  const oversize = new Set<number>();
  /** The ~900 KB events, to count how many reached the bridge. */
  const big = new Set<number>();

  let peakRss = process.memoryUsage.rss();
  const rssTimer = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage.rss());
    // The mocks keep every request for tests; a soak needs only their events and dedup state.
    for (const id of MOCK_IDS) mocks[id].requests.length = 0;
  }, 250);

  /** The dead-letter warnings the plugin logged, to check that none carries an event's content. */
  const { logger, lines: deadLetterLogs } = deadLetterLogRecorder();

  let generation = 0;
  const start = (): Promise<Appservices> =>
    appservices({
      registrations: ases.registrations,
      host,
      logger,
      store: new SqliteStore(databasePath, { synchronous: 'normal' }),
      backoffInitialMs: 50,
      backoffMaxMs: 1_000,
      ...(generation % 2 === 0 && { maxTransactionBytes: LARGE_CAP }),
    });

  let plugin = await start();
  /** Dead letters of the databases deleted so far (read before deleting them). */
  const earlierLetters: DeadLetter[] = [];
  const lettersNow = async (): Promise<DeadLetter[]> =>
    (await Promise.all(AS_IDS.map((id) => plugin.deadLetters(id)))).flat();
  /** Per AS, the expected events neither delivered nor set aside. */
  const missing = async (): Promise<Record<AsId, number>> => {
    const dead = new Set([...earlierLetters, ...(await lettersNow())].map(eventNumber));
    return Object.fromEntries(
      AS_IDS.map((id) => {
        const seen = new Set(delivered(id).map((e) => e.n));
        return [id, [...expected[id]].filter((n) => !seen.has(n) && !dead.has(n)).length];
      }),
    ) as Record<AsId, number>;
  };
  const waitDrained = async (limitMs: number): Promise<boolean> => {
    const until = Date.now() + limitMs;
    for (;;) {
      if (Object.values(await missing()).every((count) => count === 0)) return true;
      if (Date.now() >= until) return false;
      await sleep(250);
    }
  };

  /** Resolves while the plugin is up; replaced by a pending promise during a restart. */
  let ready: Promise<void> = Promise.resolve();
  const inFlight = new Set<Promise<unknown>>();
  let published = 0;
  let publishFailures = 0;
  let restarts = 0;
  let freshDatabases = 0;
  let freshSkipped = 0;
  let flaps = 0;
  let bursts = 0;
  let next = 0;
  const started = Date.now();
  const loadEnds = started + options.durationS * 1000;

  const publishOne = async (n: number, p: number, seq: number, who: string, size: Size): Promise<void> => {
    await ready;
    const body = size === 'small' ? {} : { body: 'x'.repeat(size === 'big' ? BIG_EVENT_BYTES : OVERSIZE_EVENT_BYTES) };
    const event = {
      event_id: `$t${n}`,
      room_id: `!torture:${SERVER}`,
      type: 'm.room.message',
      sender: `@${who}_p${p}:${SERVER}`,
      content: { n, p, seq, ...body },
    };
    const publishing = plugin.publish(event);
    inFlight.add(publishing);
    try {
      const asIds = await publishing;
      published++;
      for (const asId of asIds) expected[asId as AsId].add(n);
      if (size === 'oversize') oversize.add(n);
      if (size === 'big') big.add(n);
    } catch (error) {
      publishFailures++;
      console.error(`publish $t${n} failed: ${(error as Error).message}`);
    } finally {
      inFlight.delete(publishing);
    }
  };

  const publisher = async (p: number): Promise<void> => {
    let seq = 0;
    while (Date.now() < loadEnds) {
      await ready;
      const n = next++;
      const due = started + (n / options.rate) * 1000;
      if (due > Date.now()) await sleep(due - Date.now());
      // Mostly one AS, sometimes all five: fan-out exercises shared items in the store.
      await publishOne(n, p, seq++, n % 5 === 0 ? 'all' : MOCK_IDS[n % MOCK_IDS.length]!, 'small');
    }
  };

  /** Bursts for the bridge: small, ~900 KB, small, ~900 KB, …, with one 5.2 MB event somewhere. */
  const burster = async (p: number): Promise<void> => {
    let seq = 0;
    while (Date.now() < loadEnds) {
      await sleepUntil(jitter(options.burstEveryS * 1000), loadEnds);
      if (Date.now() >= loadEnds) break;
      bursts++;
      const oversizeAt = Math.floor(Math.random() * BIG_EVENTS_PER_BURST);
      for (let i = 0; i < BIG_EVENTS_PER_BURST; i++) {
        await publishOne(next++, p, seq++, BRIDGE, 'small');
        await publishOne(next++, p, seq++, BRIDGE, 'big');
        if (i === oversizeAt) await publishOne(next++, p, seq++, BRIDGE, 'oversize');
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
      // A new database loses what its queue holds, so wait until the ASes have everything first.
      let fresh = restarts % 2 === 0;
      if (fresh && !(await waitDrained(FRESH_DRAIN_LIMIT_MS))) {
        freshSkipped++;
        fresh = false;
      }
      if (fresh) earlierLetters.push(...(await lettersNow()));
      await plugin.close(); // aborts a send in flight: it stays stored and is resent after restart
      if (fresh) {
        for (const suffix of ['', '-wal', '-shm', '-journal']) rmSync(databasePath + suffix, { force: true });
        freshDatabases++;
      }
      generation++;
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
    const counts = AS_IDS.map((id) => `${id} ${delivered(id).length}`).join(', ');
    console.log(
      `[${Math.round((Date.now() - started) / 1000)} s] published ${published}, delivered ${counts}, restarts ${restarts}, bursts ${bursts}`,
    );
  }, 10_000);

  try {
    console.log(
      `torture: ${options.durationS} s, ${options.publishers} publishers, ${options.rate} events/s, restart every ~${options.restartEveryS} s, ` +
        `burst every ~${options.burstEveryS} s, store ${databasePath}`,
    );
    const publishers = Array.from({ length: options.publishers }, (_, p) => publisher(p));
    await Promise.all([...publishers, burster(options.publishers), restarter(), flapper()]);
    await ready;

    // Drain: every AS healthy, wait for every expected event.
    await mocks.flapping.up();
    mocks.slow.slow(0);
    mocks.flaky.flaky(0);
    const drainStarted = Date.now();
    await waitDrained(DRAIN_LIMIT_MS);
    const drainMs = Date.now() - drainStarted;

    // Replay one dead letter: refused again, it must be set aside again and not hold up what follows.
    if ((await plugin.deadLetters(BRIDGE)).length === 0) {
      await publishOne(next++, options.publishers + 1, 0, BRIDGE, 'oversize');
      await waitDrained(15_000);
    }
    const refusedBefore = bridge.refused;
    const replayed = await replayOldest(
      plugin,
      BRIDGE,
      () => publishOne(next++, options.publishers + 1, 1, BRIDGE, 'small'),
      () => waitDrained(15_000),
    );
    const replay =
      replayed === null
        ? 'no dead letter in the last database'
        : replayed.ok
          ? `refused again (${bridge.refused - refusedBefore} × 413), set aside again, the event behind it delivered`
          : 'FAILED';

    // Stuck: what the queues still hold once everything that can be delivered was.
    let stuck = 0;
    for (let tries = 0; tries < 20; tries++) {
      stuck = (await Promise.all(AS_IDS.map((id) => plugin.store.backlog(id)))).reduce((sum, b) => sum + b.size, 0);
      if (stuck === 0) break;
      await sleep(250);
    }
    const letters = [...earlierLetters, ...(await lettersNow())];
    const undelivered = await missing();
    await plugin.close();

    const verdict = checkDeadLetters(letters, oversize, BRIDGE);
    let failed =
      publishFailures > 0 ||
      freshSkipped > 0 ||
      stuck > 0 ||
      verdict.unexpected.length > 0 ||
      verdict.twice > 0 ||
      replay === 'FAILED';
    console.log('');
    console.log(
      `events published: ${published} (${AS_IDS.reduce((sum, id) => sum + expected[id].size, 0)} AS deliveries expected), publish failures: ${publishFailures}`,
    );
    console.log(
      `plugin restarts: ${restarts}, of which on a fresh database: ${freshDatabases} (skipped, queues not drained: ${freshSkipped}); flapping AS went down ${flaps} times; drain took ${(drainMs / 1000).toFixed(1)} s`,
    );
    if (!reportDeliveries(ases, expected, undelivered)) failed = true;
    const lostTotal = Object.values(undelivered).reduce((sum, count) => sum + count, 0);
    // Undelivered events still in a queue are stuck, not lost.
    const lost = Math.max(0, lostTotal - stuck);
    const bigDelivered = new Set(bridge.events.filter((e) => big.has(e.n)).map((e) => e.n)).size;
    const conflicts = AS_IDS.reduce((sum, id) => sum + ases.conflicts(id), 0);
    if (bridge.droppedByDedupe > 0) failed = true;
    console.log(
      `bridge (${BRIDGE_BODY_LIMIT.toLocaleString('en')}-byte body limit): ${bursts} bursts, ${big.size} events of ${mb(BIG_EVENT_BYTES)} (${bigDelivered} delivered) ` +
        `and ${oversize.size} of ${mb(OVERSIZE_EVENT_BYTES)}; ${bridge.refused} bodies answered 413 (${deadLetterLogs.length} of them single events, set aside; largest ${mb(bridge.largestRefused)}), ` +
        `largest accepted ${mb(bridge.largestAccepted)}`,
    );
    console.log(
      `fresh databases: txnId births seen by the ASes ${ases.births().size} from ${freshDatabases + 1} databases, txnIds reused with other content ${conflicts}, ` +
        `events dropped by the bridge's txnId dedupe ${bridge.droppedByDedupe}`,
    );
    const leaked = deadLetterLogs.filter((line) => line.includes('xxxxxxxx')).length;
    if (leaked > 0) failed = true;
    console.log(
      `dead-letter replay: ${replay}; dead-letter log lines ${deadLetterLogs.length}, ` +
        `longest ${Math.max(0, ...deadLetterLogs.map((l) => l.length))} characters, with event content ${leaked}`,
    );
    for (const why of verdict.unexpected) console.log(`  unexpected dead letter: ${why}`);
    if (verdict.twice > 0) console.log(`  events set aside twice: ${verdict.twice}`);
    const why =
      letters.length === 0
        ? 'none set aside'
        : verdict.unexpected.length === 0
          ? "events over the AS's body limit"
          : 'see the unexpected dead letters above';
    console.log(`lost ${lost}, stuck ${stuck}, dead-lettered ${letters.length} (why: ${why})`);
    console.log(
      `peak RSS: ${(peakRss / 1024 / 1024).toFixed(0)} MiB (one process: the plugin, five ASes, the four mocks keeping every event, the publishers)`,
    );
    console.log(failed ? 'FAILED' : 'OK');
    return failed ? 1 : 0;
  } finally {
    clearInterval(progress);
    clearInterval(rssTimer);
    await ases.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]!).href) process.exitCode = await run();
