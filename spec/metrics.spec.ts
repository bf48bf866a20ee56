import { expect } from 'chai';
import { Registry } from 'prom-client';
import { appservices, MemoryStore, OptionsError, type Appservices } from '../lib/index.ts';
import { MockAppService } from '../lib/testing/index.ts';
import { ToyHost } from './koa/support/toy-host.ts';

const HS_TOKEN = 'hs-metrics-secret';

function registration(url: string): Record<string, unknown> {
  return {
    id: 'irc',
    url,
    as_token: 'as-metrics-secret',
    hs_token: HS_TOKEN,
    sender_localpart: 'ircbot',
    namespaces: { users: [{ exclusive: true, regex: '@irc_.*' }], aliases: [{ exclusive: true, regex: '#irc_.*' }] },
  };
}

/** The value of one series in the registry's text exposition, or undefined when it is absent. */
async function sample(registry: Registry, name: string, labels: string): Promise<number | undefined> {
  const text = await registry.metrics();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

async function eventually(check: () => Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('metrics', () => {
  let mock: MockAppService;
  let registry: Registry;
  let as: Appservices;
  const host = new ToyHost('hs.test');

  beforeEach(async () => {
    mock = await MockAppService.start({ hsToken: HS_TOKEN, aliases: ['#irc_known:hs.test'] });
    registry = new Registry();
    as = await appservices({
      registrations: [registration(mock.url)],
      host,
      store: new MemoryStore(),
      metricsRegistry: registry,
      backoffInitialMs: 20,
      backoffMaxMs: 40,
    });
  });

  afterEach(async () => {
    await as.close();
    await mock.close();
  });

  const event = (n: number) => ({
    event_id: `$${n}`,
    room_id: '!r:hs.test',
    type: 'm.room.message',
    sender: '@irc_bob:hs.test',
    content: { n },
  });

  it('flips the up gauge when the AS goes down and back, and the backlog gauges follow the queue', async () => {
    expect(await sample(registry, 'koa_appservice_up', 'appservice="irc"')).to.equal(1);
    expect(await sample(registry, 'koa_appservice_backlog_items', 'appservice="irc"')).to.equal(0);

    await mock.down();
    await as.publish(event(1));
    await as.publish(event(2));
    await eventually(async () => (await sample(registry, 'koa_appservice_up', 'appservice="irc"')) === 0);
    expect(await sample(registry, 'koa_appservice_backlog_items', 'appservice="irc"')).to.equal(2);
    expect(await sample(registry, 'koa_appservice_backlog_oldest_age_seconds', 'appservice="irc"')).to.be.greaterThan(
      0,
    );
    expect(await sample(registry, 'koa_appservice_transactions_failed_total', 'appservice="irc"')).to.be.greaterThan(0);

    await mock.up();
    await mock.waitForEvents(2);
    await eventually(async () => (await sample(registry, 'koa_appservice_up', 'appservice="irc"')) === 1);
    await eventually(async () => (await sample(registry, 'koa_appservice_backlog_items', 'appservice="irc"')) === 0);
    expect(await sample(registry, 'koa_appservice_backlog_oldest_age_seconds', 'appservice="irc"')).to.equal(0);
    expect(await sample(registry, 'koa_appservice_items_sent_total', 'appservice="irc",kind="event"')).to.equal(2);
    expect(await sample(registry, 'koa_appservice_transactions_sent_total', 'appservice="irc"')).to.be.at.least(1);
  });

  it('times blocking queries by outcome', async () => {
    expect(await as.ensureAlias('#irc_known:hs.test')).to.equal('absent'); // the mock says yes but the host never learns it
    expect(await as.ensureAlias('#irc_unknown:hs.test')).to.equal('absent');
    expect(
      await sample(registry, 'koa_appservice_query_duration_seconds_count', 'kind="alias",outcome="absent"'),
    ).to.equal(2);
    expect(await sample(registry, 'koa_appservice_query_cache_hits_total', 'kind="alias"')).to.equal(undefined);
    expect(await as.ensureAlias('#irc_unknown:hs.test')).to.equal('absent'); // remembered: the AS is not asked again
    expect(await sample(registry, 'koa_appservice_query_cache_hits_total', 'kind="alias"')).to.equal(1);
    expect(mock.requests.filter((r) => r.path.includes('irc_unknown'))).to.have.length(1);
  });

  it('names the metrics by Prometheus conventions', async () => {
    const names = (await registry.getMetricsAsJSON()).map((m) => m.name);
    for (const name of names) {
      expect(name).to.match(/^koa_appservice_[a-z_]+$/);
      if (name.endsWith('_total')) expect((await registry.getSingleMetric(name)?.get())?.type).to.equal('counter');
    }
    expect(names).to.include.members([
      'koa_appservice_up',
      'koa_appservice_backlog_items',
      'koa_appservice_query_duration_seconds',
    ]);
  });

  it('refuses a metricsRegistry that is no prom-client Registry', async () => {
    let caught: unknown;
    try {
      await appservices({
        registrations: [registration(mock.url)],
        host,
        store: new MemoryStore(),
        metricsRegistry: {} as Registry,
      });
    } catch (err) {
      caught = err;
    }
    expect(caught).to.be.instanceOf(OptionsError);
  });
});
