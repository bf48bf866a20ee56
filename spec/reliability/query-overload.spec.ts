/**
 * Blocking queries against an AS that is down, hung or hostile, through `appservices()` with its
 * default gate (design.md section 6: queries to one AS are bounded in concurrency, a hung AS gets
 * several attempts within the deadline, `Retry-After: 0` does not mean "hammer", the deadline is
 * the deadline under 10k concurrent lookups, and an AS known to be down fails fast for everyone).
 *
 * AS requests are counted on the AS's side of the socket (or, for a closed port, at the client),
 * because "requests per lookup" is the load a struggling bridge sees.
 */
import net from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { expect } from 'chai';
import { AppserviceClient } from '../../lib/client/appservice-client.ts';
import { appservices, MemoryStore, type Appservices } from '../../lib/index.ts';
import type { AppservicesOptions } from '../../lib/options.ts';
import { ExistenceQueries } from '../../lib/query/existence.ts';
import { MockAppService } from '../../lib/testing/index.ts';
import { ToyHost } from '../koa/support/toy-host.ts';
import { makeRegistration, naiveIndex } from '../testing/fixtures.ts';
import { hsToken, registrationObject } from './support/homeserver.ts';

/** A loaded 2-core box: generous, and still far below what an unbounded pile-up takes. */
const SLACK_MS = 1_500;
const MiB = 1024 * 1024;

/** A TCP server that counts HTTP requests and either never answers or resets the connection. */
class BadServer {
  requests = 0;
  connections = 0;
  readonly #sockets = new Set<Socket>();
  readonly #server: net.Server;

  private constructor(mode: 'hang' | 'reset') {
    this.#server = net.createServer((socket) => {
      this.connections++;
      this.#sockets.add(socket);
      socket.on('error', () => {});
      socket.once('close', () => this.#sockets.delete(socket));
      socket.on('data', (chunk: Buffer) => {
        this.requests += chunk.toString('latin1').match(/^(GET|PUT|POST) /gm)?.length ?? 0;
        if (mode === 'reset') socket.destroy();
      });
    });
  }

  static async start(mode: 'hang' | 'reset'): Promise<BadServer> {
    const server = new BadServer(mode);
    await new Promise<void>((resolve) => server.#server.listen(0, '127.0.0.1', resolve));
    return server;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

/** A port nothing listens on. */
async function closedPortUrl(): Promise<string> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

interface Crowd {
  results: string[];
  slowestMs: number;
  rssGrowthMiB: number;
}

/** Starts `n` lookups at once; records each one's own latency and the peak RSS while they run. */
async function crowd(n: number, lookup: (i: number) => Promise<string>): Promise<Crowd> {
  global.gc?.();
  const baseline = process.memoryUsage().rss;
  let peak = baseline;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 20);
  let slowestMs = 0;
  try {
    const results = await Promise.all(
      Array.from({ length: n }, async (_, i) => {
        const started = performance.now();
        const result = await lookup(i);
        slowestMs = Math.max(slowestMs, performance.now() - started);
        return result;
      }),
    );
    peak = Math.max(peak, process.memoryUsage().rss);
    return { results, slowestMs, rssGrowthMiB: (peak - baseline) / MiB };
  } finally {
    clearInterval(sampler);
  }
}

describe('reliability: blocking queries against a down, hung or hostile AS', function () {
  this.timeout(60_000);
  const closers: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
  });

  async function plugin(url: string, options: Partial<AppservicesOptions> = {}): Promise<Appservices> {
    const as = await appservices({
      registrations: [registrationObject('irc', url)],
      host: new ToyHost('hs.test'),
      store: new MemoryStore(),
      ...options,
    });
    closers.push(() => as.close());
    return as;
  }

  describe('10,000 concurrent lookups for unknown aliases while the AS is down', () => {
    const N = 10_000;
    const DEADLINE_MS = 3_000;

    it('an AS that resets every connection: every answer by the deadline, far fewer AS requests than lookups, memory bounded', async () => {
      const bad = await BadServer.start('reset');
      closers.push(() => bad.close());
      const as = await plugin(bad.url, { queryDeadlineMs: DEADLINE_MS });
      const { results, slowestMs, rssGrowthMiB } = await crowd(N, (i) => as.ensureAlias(`#irc_probe${i}:hs.test`));
      console.log(
        `      ${N} lookups, AS resetting: slowest ${slowestMs.toFixed(0)} ms, ${bad.requests} AS requests, RSS +${rssGrowthMiB.toFixed(1)} MiB`,
      );
      expect(new Set(results)).to.deep.equal(new Set(['unavailable']));
      expect(slowestMs).to.be.below(DEADLINE_MS + SLACK_MS);
      expect(bad.requests / N, `${bad.requests} AS requests for ${N} lookups`).to.be.below(0.01);
      // Measured here: about 60 MiB with the gate (15 of them this harness's own), 100-145 MiB without it.
      expect(rssGrowthMiB).to.be.below(100);
    });

    it('a closed port: the fail-fast state is shared, so the crowd costs a handful of connection attempts', async () => {
      const url = await closedPortUrl();
      const registration = makeRegistration({ url, aliases: ['#irc_.*'] });
      const client = new AppserviceClient(registration);
      closers.push(() => client.close());
      let attempts = 0;
      const counting = {
        queryAlias: (alias: string, signal?: Parameters<AppserviceClient['queryAlias']>[1]) => {
          attempts++;
          return client.queryAlias(alias, signal);
        },
      } as unknown as AppserviceClient;
      const queries = new ExistenceQueries(
        {
          host: new ToyHost('hs.test'),
          registrations: [registration],
          index: naiveIndex([registration]),
          client: () => counting,
        },
        { deadlineMs: DEADLINE_MS },
      );
      const { results, slowestMs, rssGrowthMiB } = await crowd(N, (i) =>
        queries.ensureAlias(`#irc_closed${i}:hs.test`),
      );
      console.log(
        `      ${N} lookups, port closed: slowest ${slowestMs.toFixed(0)} ms, ${attempts} attempts, RSS +${rssGrowthMiB.toFixed(1)} MiB`,
      );
      expect(new Set(results)).to.deep.equal(new Set(['unavailable']));
      expect(slowestMs).to.be.below(DEADLINE_MS + SLACK_MS);
      expect(attempts / N, `${attempts} attempts for ${N} lookups`).to.be.below(0.01);
      expect(queries.isDown('irc')).to.equal(true);
      expect(rssGrowthMiB).to.be.below(100);
    });

    it('a hung AS (accepts, never answers): answers by the deadline, requests bounded by the per-AS concurrency', async () => {
      const bad = await BadServer.start('hang');
      closers.push(() => bad.close());
      const as = await plugin(bad.url, { queryDeadlineMs: DEADLINE_MS });
      const { results, slowestMs, rssGrowthMiB } = await crowd(N, (i) => as.ensureAlias(`#irc_hung${i}:hs.test`));
      console.log(
        `      ${N} lookups, AS hung: slowest ${slowestMs.toFixed(0)} ms, ${bad.requests} AS requests, ${bad.connections} connections, RSS +${rssGrowthMiB.toFixed(1)} MiB`,
      );
      expect(new Set(results)).to.deep.equal(new Set(['unavailable']));
      expect(slowestMs).to.be.below(DEADLINE_MS + SLACK_MS);
      expect(bad.requests / N, `${bad.requests} AS requests for ${N} lookups`).to.be.below(0.01);
      expect(bad.connections, 'connections opened').to.be.at.most(32);
      expect(rssGrowthMiB).to.be.below(100);
    });
  });

  it('queries in flight to one AS never exceed queryConcurrencyPerAppservice; the rest wait and still get answered', async () => {
    const host = new ToyHost('hs.test');
    let inFlight = 0;
    let most = 0;
    const mock = await MockAppService.start({
      hsToken: hsToken('irc'),
      onAliasQuery: async (alias) => {
        most = Math.max(most, ++inFlight);
        await new Promise((resolve) => setTimeout(resolve, 20));
        inFlight--;
        host.aliases.set(alias, '!room:hs.test');
        return true;
      },
    });
    closers.push(() => mock.close());
    const as = await appservices({
      registrations: [registrationObject('irc', mock.url)],
      host,
      store: new MemoryStore(),
      queryConcurrencyPerAppservice: 4,
    });
    closers.push(() => as.close());
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => as.ensureAlias(`#irc_many${i}:hs.test`)));
    expect(new Set(results)).to.deep.equal(new Set(['exists']));
    expect(most).to.equal(4);
  });

  describe('Retry-After: 0 does not mean "hammer"', () => {
    for (const [what, answer] of [
      ['Retry-After: 0', { headers: { 'retry-after': '0' } }],
      ['retry_after_ms: 0', { body: { errcode: 'M_LIMIT_EXCEEDED', error: 'slow down', retry_after_ms: 0 } }],
    ] as const) {
      it(`${what}: 5 lookups within a 1 s deadline make a few AS requests each, not 50`, async () => {
        const mock = await MockAppService.start({ hsToken: hsToken('irc') });
        closers.push(() => mock.close());
        mock.status(429, answer);
        const as = await plugin(mock.url, { queryDeadlineMs: 1_000 });
        const results = await Promise.all(
          Array.from({ length: 5 }, (_, i) => as.ensureAlias(`#irc_limited${i}:hs.test`)),
        );
        expect(new Set(results)).to.deep.equal(new Set(['unavailable']));
        // Waits of at least 100, 200, 400 ms: at most 4 attempts per lookup in 1 s.
        expect(mock.requests.length, `${mock.requests.length} AS requests`).to.be.within(5, 5 * 4);
      });
    }
  });

  describe('a hung AS gets several attempts within the deadline', () => {
    it('an AS that hangs on the first attempt and answers the second: exists, within the deadline', async () => {
      const host = new ToyHost('hs.test');
      let calls = 0;
      const mock = await MockAppService.start({
        hsToken: hsToken('irc'),
        onAliasQuery: async (alias) => {
          if (++calls === 1) await new Promise((resolve) => setTimeout(resolve, 20_000));
          host.aliases.set(alias, '!room:hs.test');
          return true;
        },
      });
      closers.push(() => mock.close());
      const as = await appservices({
        registrations: [registrationObject('irc', mock.url)],
        host,
        store: new MemoryStore(),
        queryDeadlineMs: 3_000,
      });
      closers.push(() => as.close());
      const started = performance.now();
      expect(await as.ensureAlias('#irc_sleepy:hs.test')).to.equal('exists');
      const ms = performance.now() - started;
      expect(ms, 'a third of the deadline, then the second attempt').to.be.within(900, 3_000 + SLACK_MS);
      expect(mock.requests).to.have.length(2);
    });

    it('an AS that always hangs: three attempts, the answer by the deadline', async () => {
      const bad = await BadServer.start('hang');
      closers.push(() => bad.close());
      const as = await plugin(bad.url, { queryDeadlineMs: 1_500 });
      const started = performance.now();
      expect(await as.ensureAlias('#irc_void:hs.test')).to.equal('unavailable');
      expect(performance.now() - started).to.be.below(1_500 + SLACK_MS);
      expect(bad.requests, 'attempts').to.be.within(2, 3);
    });

    it('queryAttemptTimeoutMs sets the attempt budget', async () => {
      const bad = await BadServer.start('hang');
      closers.push(() => bad.close());
      const as = await plugin(bad.url, { queryDeadlineMs: 1_500, queryAttemptTimeoutMs: 1_500 });
      expect(await as.ensureAlias('#irc_void:hs.test')).to.equal('unavailable');
      expect(bad.requests).to.equal(1);
    });
  });
});
