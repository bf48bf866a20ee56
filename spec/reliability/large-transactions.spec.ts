/**
 * Large events against a bridge behind a body limit (issue 13, items 1 and 10). Through the
 * mounted plugin (`appservices()`), real HTTP, real SQLite: transactions are capped in bytes;
 * a 413 splits a transaction into new ones (new ids) down to one event; an event refused even
 * alone is set aside as a dead letter (kept, counted, logged without its content, listed and
 * replayable through the API) and the queue behind it moves on; and any 2xx is success.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { Registry } from 'prom-client';
import { appservices, MemoryStore, type Appservices } from '../../lib/index.ts';
import type { Logger } from '../../lib/logger.ts';
import type { Store } from '../../lib/store/store.ts';
import { SqliteStore } from '../../lib/store/sqlite/sqlite-store.ts';
import { MockAppService } from '../../lib/testing/mock-appservice.ts';
import { ToyHost } from '../koa/support/toy-host.ts';
import { BodyLimitedAppService } from './support/body-limited-as.ts';
import { hsToken, registrationObject } from './support/homeserver.ts';

const MARKER = 'secret-content-never-logged';

function event(
  i: number,
  bytes = 100,
): { event_id: string; room_id: string; type: string; sender: string; content: Record<string, unknown> } {
  return {
    event_id: `$e${i}`,
    room_id: '!r:hs.test',
    type: 'm.room.message',
    sender: '@big_user:hs.test',
    content: { body: `${MARKER} ${'x'.repeat(bytes)}` },
  };
}

async function until(what: string, check: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Queues events for the AS as `publish()` does, before any sender runs. */
async function queue(store: Store, events: readonly ReturnType<typeof event>[]): Promise<void> {
  await store.enqueue(events.map((e) => ({ kind: 'event' as const, json: JSON.stringify(e), asIds: ['big'] })));
}

async function counter(registry: Registry, name: string): Promise<number> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name) as
    { values: { value: number }[] } | undefined;
  return metric?.values.reduce((sum, v) => sum + v.value, 0) ?? 0;
}

describe('reliability: large events and a bridge with a body limit', function () {
  this.timeout(60_000);
  let dir: string;
  let as: Appservices | null;
  const closers: (() => Promise<void>)[] = [];
  let lines: string[];
  let registry: Registry;

  const logger: Logger = {
    debug: (...args: unknown[]) => void lines.push(JSON.stringify(args)),
    info: (...args: unknown[]) => void lines.push(JSON.stringify(args)),
    warn: (...args: unknown[]) => void lines.push(JSON.stringify(args)),
    error: (...args: unknown[]) => void lines.push(JSON.stringify(args)),
  } as Logger;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'koa-as-large-'));
    as = null;
    lines = [];
    registry = new Registry();
  });

  afterEach(async () => {
    await as?.close();
    for (const close of closers.splice(0).reverse()) await close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function mount(url: string, store: Store): Promise<Appservices> {
    as = await appservices({
      registrations: [registrationObject('big', url)],
      host: new ToyHost('hs.test'),
      store,
      backoffInitialMs: 50,
      backoffMaxMs: 200,
      logger,
      metricsRegistry: registry,
    });
    return as;
  }

  async function stuck(store: Store): Promise<{ backlog: number; inFlight: boolean }> {
    return { backlog: (await store.backlog('big')).size, inFlight: (await store.inFlight('big')) !== null };
  }

  it('ten 900 KB events and 30 small ones to a bridge with a 5 MB body limit (SqliteStore): all delivered in order, 0 stuck', async () => {
    const bridge = await BodyLimitedAppService.start(hsToken('big'), 5_000_000);
    closers.push(() => bridge.close());
    const store = new SqliteStore(join(dir, 'queue.db'));
    // The burst is queued before the sender looks (a restart with a backlog, or a burst while it
    // was busy): it finds all of it at once, as the sender of a busy homeserver does.
    await store.open();
    await queue(store, [
      ...Array.from({ length: 10 }, (_, i) => event(i, 900_000)),
      ...Array.from({ length: 30 }, (_, i) => event(10 + i)),
    ]);
    const plugin = await mount(bridge.url, store);
    await until('40 events', () => bridge.events.length >= 40);
    expect(bridge.events.map((e) => e.event_id)).to.deep.equal(Array.from({ length: 40 }, (_, i) => `$e${i}`));
    expect(bridge.conflicts).to.deep.equal([]);
    await until('the last acknowledgement', async () => (await store.backlog('big')).size === 0);
    expect(await stuck(store)).to.deep.equal({ backlog: 0, inFlight: false });
    expect(await plugin.deadLetters('big')).to.deep.equal([]);
  });

  it('a bridge whose limit is below the cap: 413s split transactions into new ids until they fit; no id is resent with other content', async () => {
    const bridge = await BodyLimitedAppService.start(hsToken('big'), 300_000);
    closers.push(() => bridge.close());
    const store = new MemoryStore();
    await store.open();
    await queue(
      store,
      Array.from({ length: 20 }, (_, i) => event(i, 100_000)),
    );
    await mount(bridge.url, store);
    await until('20 events', () => bridge.events.length >= 20);
    expect(bridge.events.map((e) => e.event_id)).to.deep.equal(Array.from({ length: 20 }, (_, i) => `$e${i}`));
    expect(bridge.refused.length, 'the first transaction was refused').to.be.greaterThan(0);
    for (const id of bridge.refused)
      expect(bridge.accepted.has(id), `refused id ${id} never accepted later`).to.equal(false);
    expect(bridge.conflicts).to.deep.equal([]);
    await until('the last transaction acknowledged', async () => (await stuck(store)).backlog === 0);
    expect(await stuck(store)).to.deep.equal({ backlog: 0, inFlight: false });
    // The budget learnt from the first 413s holds for later batches: not one 413 per batch.
    expect(bridge.refused.length).to.be.lessThan(5);
  });

  it('an event refused even alone is set aside (kept, counted, logged without content), the next ones delivered; replay delivers it', async () => {
    const bridge = await BodyLimitedAppService.start(hsToken('big'), 200_000);
    closers.push(() => bridge.close());
    const store = new SqliteStore(join(dir, 'queue.db'));
    const plugin = await mount(bridge.url, store);
    await plugin.publish(event(0));
    await plugin.publish(event(1, 400_000));
    await plugin.publish(event(2));
    await plugin.publish(event(3));
    await until('the events after the refused one', () => bridge.events.length >= 3);
    expect(bridge.events.map((e) => e.event_id)).to.deep.equal(['$e0', '$e2', '$e3']);
    await until('the dead letter', async () => (await plugin.deadLetters('big')).length === 1);
    const [letter] = await plugin.deadLetters('big');
    expect(JSON.parse(letter!.json).event_id).to.equal('$e1');
    expect(letter!.reason).to.match(/413/);
    // The bridge holds the last transaction before the sender has recorded its acknowledgement.
    await until('the last transaction acknowledged', async () => (await stuck(store)).backlog === 0);
    expect(await stuck(store)).to.deep.equal({ backlog: 0, inFlight: false });
    expect(await counter(registry, 'koa_appservice_dead_letters_total')).to.equal(1);
    const logged = lines.filter((l) => l.includes('dead letter'));
    expect(logged).to.have.length(1);
    expect(lines.join('\n')).to.not.include(MARKER);

    bridge.limit = 1_000_000; // the operator raises the bridge's limit
    expect(await plugin.replayDeadLetter('big', letter!.id)).to.equal(true);
    await until('the replayed event', () => bridge.events.length >= 4);
    expect(bridge.events.map((e) => e.event_id)).to.deep.equal(['$e0', '$e2', '$e3', '$e1']);
    expect(await plugin.deadLetters('big')).to.deep.equal([]);
    expect(await plugin.replayDeadLetter('big', letter!.id)).to.equal(false);
  });

  it('any 2xx is success: an answer body of 2 MiB neither fails nor repeats the transaction', async () => {
    const mock = await MockAppService.start({ hsToken: hsToken('big') });
    closers.push(() => mock.close());
    mock.oversized(2 * 1024 * 1024);
    const store = new MemoryStore();
    const plugin = await mount(mock.url, store);
    await plugin.publish(event(0));
    await until('the acknowledgement', async () => (await stuck(store)).backlog === 0);
    await plugin.publish(event(1));
    await until('the second acknowledgement', async () => (await stuck(store)).backlog === 0);
    expect(await counter(registry, 'koa_appservice_transactions_failed_total')).to.equal(0);
    expect(await counter(registry, 'koa_appservice_transactions_sent_total')).to.equal(2);
    expect(mock.requests.filter((r) => r.method === 'PUT')).to.have.length(2);
  });
});
