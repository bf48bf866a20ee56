/**
 * Every limit of the README's "Security" table counts in `koa_appservice_limit_reached_total`
 * when it is reached: each case hits one limit through the mounted plugin and reads the counter
 * from the registry.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Socket } from 'node:net';
import { expect } from 'chai';
import Koa from 'koa';
import { Registry } from 'prom-client';
import { appservices, MemoryStore, type Appservices, type AppservicesOptions } from '../lib/index.ts';
import { MockAppService, type MockAppServiceOptions } from '../lib/testing/index.ts';
import { ToyHost } from './koa/support/toy-host.ts';

const HS_TOKEN = 'hs-limits-secret';
const AS_TOKEN = 'as-limits-secret';
const USER = { authorization: 'Bearer syt_alice' };

/** The counter of one limit (with `appservice="irc"` for the limits of one AS), undefined when absent. */
async function reached(registry: Registry, limit: string, perAs = false): Promise<number | undefined> {
  const labels = perAs ? `limit="${limit}",appservice="irc"` : `limit="${limit}"`;
  const text = await registry.metrics();
  const line = text.split('\n').find((l) => l.startsWith(`koa_appservice_limit_reached_total{${labels}}`));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

async function eventually(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('metrics: koa_appservice_limit_reached_total', function () {
  this.timeout(60_000);
  let mock: MockAppService;
  let registry: Registry;
  let as: Appservices;
  let host: ToyHost;
  let server: http.Server;
  let base: string;

  async function start(
    options: Partial<AppservicesOptions> = {},
    mockOptions: Partial<MockAppServiceOptions> = {},
  ): Promise<void> {
    mock = await MockAppService.start({ hsToken: HS_TOKEN, ...mockOptions });
    registry = new Registry();
    host = new ToyHost('hs.test');
    as = await appservices({
      registrations: [
        {
          id: 'irc',
          url: mock.url,
          as_token: AS_TOKEN,
          hs_token: HS_TOKEN,
          sender_localpart: 'ircbot',
          protocols: ['irc'],
          namespaces: {
            users: [{ exclusive: true, regex: '@irc_.*' }],
            aliases: [{ exclusive: true, regex: '#irc_.*' }],
          },
        },
      ],
      host,
      store: new MemoryStore(),
      metricsRegistry: registry,
      ...options,
    });
    const app = new Koa();
    app.use(as.middleware() as Koa.Middleware);
    server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  /** A GET through the middleware without a socket: fast enough for ten thousand of them. */
  function inProcess(): (url: string, headers: Record<string, string>) => Promise<void> {
    const app = new Koa();
    const middleware = as.middleware() as Koa.Middleware;
    const socket = new Socket();
    return async (url, headers) => {
      const req = new http.IncomingMessage(socket);
      req.url = url;
      req.method = 'GET';
      req.headers = { host: 'hs.test', ...headers };
      await middleware(app.createContext(req, new http.ServerResponse(req)), async () => {});
    };
  }

  afterEach(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await as.close();
    await mock.close();
  });

  it('starts every limit at 0, the limits of one AS per AS', async () => {
    await start();
    for (const limit of ['request_body', 'invalid_id', 'ids_per_request', 'user_tokens', 'asserted_users']) {
      expect(await reached(registry, limit), limit).to.equal(0);
    }
    for (const limit of ['query_queue', 'thirdparty_queue', 'response_bytes']) {
      expect(await reached(registry, limit, true), limit).to.equal(0);
    }
  });

  it('counts a request body refused with 413', async () => {
    await start();
    const response = await fetch(`${base}/_matrix/client/v3/createRoom`, {
      method: 'POST',
      headers: { ...USER, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'x'.repeat(1_100_000) }),
    });
    expect(response.status).to.equal(413);
    expect(await reached(registry, 'request_body')).to.equal(1);
  });

  it('counts an id refused with 400 M_INVALID_PARAM', async () => {
    await start();
    const response = await fetch(
      `${base}/_matrix/client/v3/directory/room/${encodeURIComponent('#irc_a\u0001:hs.test')}`,
      {
        headers: USER,
      },
    );
    expect(response.status).to.equal(400);
    expect(await reached(registry, 'invalid_id')).to.equal(1);
  });

  it("counts an id refused by ctx.ensureUser in the homeserver's own route", async () => {
    await start();
    const app = new Koa();
    const middleware = as.middleware() as Koa.Middleware;
    const req = new http.IncomingMessage(new Socket());
    req.url = '/_matrix/client/v3/some/homeserver/route';
    req.method = 'GET';
    req.headers = { host: 'hs.test', ...USER };
    const ctx = app.createContext(req, new http.ServerResponse(req));
    await middleware(ctx, async () => {
      await (ctx as unknown as { ensureUser(id: string): Promise<unknown> }).ensureUser('@irc a:hs.test');
    });
    expect(ctx.status).to.equal(400);
    expect(await reached(registry, 'invalid_id')).to.equal(1);
  });

  it('counts a request naming more ids than are asked', async () => {
    await start();
    const invite = Array.from({ length: 101 }, (_, i) => `@irc_${i}:hs.test`);
    await fetch(`${base}/_matrix/client/v3/createRoom`, {
      method: 'POST',
      headers: { ...USER, 'content-type': 'application/json' },
      body: JSON.stringify({ invite }),
    });
    expect(await reached(registry, 'ids_per_request')).to.equal(1);
  });

  it("counts the memory of users' tokens forgotten at its bound", async () => {
    await start();
    const get = inProcess();
    // 1 MiB of token text: 1 024 tokens of 1 KiB fill it, the next one starts it over.
    for (let i = 0; i <= 1024; i++) {
      await get('/_matrix/client/v3/account/whoami', { authorization: `Bearer ${`${i}-`.padEnd(1024, 'x')}` });
    }
    expect(await reached(registry, 'user_tokens')).to.equal(1);
  });

  it('counts the remembered asserted users forgotten at their bound', async () => {
    await start();
    const get = inProcess();
    for (let i = 0; i <= 10_000; i++) host.users.add(`@irc_${i}:hs.test`);
    for (let i = 0; i <= 10_000; i++) {
      await get(`/_matrix/client/v3/account/whoami?user_id=${encodeURIComponent(`@irc_${i}:hs.test`)}`, {
        authorization: `Bearer ${AS_TOKEN}`,
      });
    }
    expect(await reached(registry, 'asserted_users')).to.equal(1);
    expect(await reached(registry, 'existing_users')).to.equal(1);
  });

  it("counts a query refused at once because the AS's query queue is full", async () => {
    await start({ queryConcurrencyPerAppservice: 1, queryQueuePerAppservice: 1, queryDeadlineMs: 2_000 });
    mock.slow(300);
    const results = await Promise.all(
      ['#irc_a:hs.test', '#irc_b:hs.test', '#irc_c:hs.test'].map((a) => as.ensureAlias(a)),
    );
    expect(results).to.include('unavailable');
    expect(await reached(registry, 'query_queue', true)).to.equal(1);
  });

  it('counts an AS answer over maxResponseBytes', async () => {
    await start({ maxResponseBytes: 1024 });
    mock.oversized(4096);
    expect(await as.ensureAlias('#irc_big:hs.test')).to.equal('unavailable');
    expect(await reached(registry, 'response_bytes', true)).to.be.greaterThan(0);
  });

  it('counts third-party lookups refused because 4 in flight and 64 waiting are taken', async () => {
    await start({ queryDeadlineMs: 2_000 });
    mock.slow(1_000);
    const get = inProcess();
    const lookups = Array.from({ length: 70 }, (_, i) =>
      get(`/_matrix/client/v3/thirdparty/location/irc?channel=${i}`, USER),
    );
    await eventually(async () => (await reached(registry, 'thirdparty_queue', true)) === 2);
    await Promise.allSettled(lookups);
  });

  it('counts a third-party query too long to cache, and answers evicted for room', async () => {
    // 900 KB answers: the fifth pushes the cache over its 4 M characters.
    await start(
      {},
      {
        onThirdparty: (_kind, _protocol, query) => [
          { alias: '#irc_x:hs.test', pad: `${query.channel}`.padEnd(900_000, 'x') },
        ],
      },
    );
    const get = inProcess();
    await get(`/_matrix/client/v3/thirdparty/location/irc?channel=${'c'.repeat(2_100)}`, USER);
    expect(await reached(registry, 'thirdparty_uncached')).to.equal(1);
    for (let i = 0; i < 5; i++) await get(`/_matrix/client/v3/thirdparty/location/irc?channel=${i}`, USER);
    expect(await reached(registry, 'thirdparty_cache')).to.be.greaterThan(0);
  });
});
