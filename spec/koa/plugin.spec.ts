import http from 'node:http';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Koa from 'koa';
import { expect } from 'chai';
import { request } from 'undici';
import { appservices, MemoryStore, OptionsError, RegistrationLoadError, type Appservices } from '../../lib/index.ts';
import type { AppserviceContext, AppserviceState } from '../../lib/koa/state.ts';
import { MockAppService } from '../../lib/testing/index.ts';
import { ToyHost } from './support/toy-host.ts';

const HS_TOKEN = 'hs-plugin-secret';
const AS_TOKEN = 'as-plugin-secret';

function ircRegistration(url: string | null): Record<string, unknown> {
  return {
    id: 'irc',
    url,
    as_token: AS_TOKEN,
    hs_token: HS_TOKEN,
    sender_localpart: 'ircbot',
    namespaces: {
      users: [{ exclusive: true, regex: '@irc_.*' }],
      aliases: [{ exclusive: true, regex: '#irc_.*' }],
      rooms: [],
    },
  };
}

interface Running {
  as: Appservices;
  url: string;
  close(): Promise<void>;
}

/** A homeserver in miniature: the plugin, then one route that answers alias lookups from the host. */
async function mount(
  host: ToyHost,
  options: Partial<Parameters<typeof appservices>[0]> & {
    registrations: Parameters<typeof appservices>[0]['registrations'];
  },
): Promise<Running> {
  const as = await appservices({
    host,
    store: new MemoryStore(),
    backoffInitialMs: 20,
    backoffMaxMs: 100,
    queryDeadlineMs: 2_000,
    ...options,
  });
  const app = new Koa<AppserviceState, AppserviceContext>();
  app.silent = true;
  app.use(as.middleware());
  app.use(async (ctx) => {
    const match = /^\/_matrix\/client\/v3\/directory\/room\/([^/]+)$/.exec(ctx.path);
    if (ctx.method === 'GET' && match) {
      const roomId = await host.resolveAlias(decodeURIComponent(match[1]!));
      if (roomId === null) {
        ctx.status = 404;
        ctx.body = { errcode: 'M_NOT_FOUND', error: 'Room alias not found' };
      } else {
        ctx.body = { room_id: roomId, servers: [host.serverName] };
      }
      return;
    }
    const custom = /^\/_matrix\/client\/v3\/custom\/([^/]+)$/.exec(ctx.path);
    if (custom) {
      ctx.body = { result: await ctx.ensureUser(decodeURIComponent(custom[1]!)) };
      return;
    }
    ctx.body = { homeserver: true, userId: ctx.state.userId ?? null };
  });
  const server = http.createServer(app.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    as,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await as.close();
    },
  };
}

describe('appservices() plugin', () => {
  let mock: MockAppService;
  let host: ToyHost;
  let running: Running | undefined;

  beforeEach(async () => {
    host = new ToyHost('hs.test');
    mock = await MockAppService.start({
      hsToken: HS_TOKEN,
      // The original request: the AS creates the room while the homeserver waits, then says 200.
      onAliasQuery: (alias) => {
        if (!alias.startsWith('#irc_')) return false;
        host.aliases.set(alias, '!bridged:hs.test');
        return true;
      },
    });
  });

  afterEach(async () => {
    await running?.close();
    running = undefined;
    await mock.close();
  });

  it('blocks an alias lookup while the AS creates the room, then answers with it', async () => {
    running = await mount(host, { registrations: [ircRegistration(mock.url)] });
    const res = await request(
      `${running.url}/_matrix/client/v3/directory/room/${encodeURIComponent('#irc_#matrix:hs.test')}`,
      {
        headers: { authorization: 'Bearer syt_user' },
      },
    );
    expect(res.statusCode).to.equal(200);
    expect(await res.body.json()).to.deep.equal({ room_id: '!bridged:hs.test', servers: ['hs.test'] });
    expect(mock.requests.map((r) => r.path)).to.deep.equal(['/_matrix/app/v1/rooms/%23irc_%23matrix%3Ahs.test']);
  });

  it('answers the homeserver 404 when the AS says the alias does not exist', async () => {
    mock = await (async () => {
      await mock.close();
      return MockAppService.start({ hsToken: HS_TOKEN });
    })();
    running = await mount(host, { registrations: [ircRegistration(mock.url)] });
    const res = await request(
      `${running.url}/_matrix/client/v3/directory/room/${encodeURIComponent('#irc_nowhere:hs.test')}`,
      {
        headers: { authorization: 'Bearer syt_user' },
      },
    );
    expect(res.statusCode).to.equal(404);
    expect(((await res.body.json()) as { errcode: string }).errcode).to.equal('M_NOT_FOUND');
  });

  it('pushes published events to the interested AS in a transaction', async () => {
    running = await mount(host, { registrations: [ircRegistration(mock.url)] });
    const asIds = await running.as.publish({
      event_id: '$1',
      room_id: '!r:hs.test',
      type: 'm.room.message',
      sender: '@irc_bob:hs.test',
      content: { body: 'hello' },
    });
    expect(asIds).to.deep.equal(['irc']);
    const events = await mock.waitForEvents(1, 5_000);
    expect(events).to.have.length(1);
    expect(events[0]).to.include({ event_id: '$1' });
    const put = mock.requests.find((r) => r.method === 'PUT');
    expect(put?.path).to.match(/^\/_matrix\/app\/v1\/transactions\/[0-9a-f]+\.\d+$/);
    expect(put?.tokenOk).to.equal(true);
  });

  it('does not queue events nobody is interested in', async () => {
    running = await mount(host, { registrations: [ircRegistration(mock.url)] });
    const asIds = await running.as.publish({
      event_id: '$2',
      room_id: '!r:hs.test',
      type: 'm.room.message',
      sender: '@alice:hs.test',
      content: {},
    });
    expect(asIds).to.deep.equal([]);
    expect((await running.as.store.backlog('irc')).size).to.equal(0);
  });

  it('authenticates the AS by as_token and asserts user_id inside its namespace', async () => {
    host.users.add('@irc_bob:hs.test');
    running = await mount(host, { registrations: [ircRegistration(mock.url)] });
    const ok = await request(
      `${running.url}/_matrix/client/v3/account/whoami?user_id=${encodeURIComponent('@irc_bob:hs.test')}`,
      {
        headers: { authorization: `Bearer ${AS_TOKEN}` },
      },
    );
    expect(ok.statusCode).to.equal(200);
    expect(await ok.body.json()).to.deep.equal({ homeserver: true, userId: '@irc_bob:hs.test' });
    const outside = await request(
      `${running.url}/_matrix/client/v3/account/whoami?user_id=${encodeURIComponent('@alice:hs.test')}`,
      {
        headers: { authorization: `Bearer ${AS_TOKEN}` },
      },
    );
    expect(outside.statusCode).to.equal(403);
    expect(((await outside.body.json()) as { errcode: string }).errcode).to.equal('M_FORBIDDEN');
  });

  it("tells an as_token from users' tokens however many user tokens came before", async () => {
    host.users.add('@irc_bob:hs.test');
    running = await mount(host, { registrations: [ircRegistration(mock.url)] });
    const whoami = (token: string, where: 'header' | 'query') =>
      request(
        `${running!.url}/_matrix/client/v3/account/whoami?user_id=${encodeURIComponent('@irc_bob:hs.test')}` +
          (where === 'query' ? `&access_token=${encodeURIComponent(token)}` : ''),
        where === 'header' ? { headers: { authorization: `Bearer ${token}` } } : {},
      ).then((res) => res.body.json() as Promise<{ userId: string | null }>);
    for (let n = 0; n < 30; n++)
      expect(await whoami(`user_token_${n % 3}`, n % 2 === 0 ? 'header' : 'query')).to.deep.equal({
        homeserver: true,
        userId: null,
      });
    expect(await whoami(AS_TOKEN, 'header')).to.deep.equal({ homeserver: true, userId: '@irc_bob:hs.test' });
    expect(await whoami(AS_TOKEN, 'query')).to.deep.equal({ homeserver: true, userId: '@irc_bob:hs.test' });
  });

  it('answers a ping from the AS and wakes its sender', async () => {
    running = await mount(host, { registrations: [ircRegistration(mock.url)] });
    const res = await request(`${running.url}/_matrix/client/v1/appservice/irc/ping`, {
      method: 'POST',
      headers: { authorization: `Bearer ${AS_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ transaction_id: 'p1' }),
    });
    expect(res.statusCode).to.equal(200);
    expect((await res.body.json()) as object)
      .to.have.property('duration_ms')
      .that.is.a('number');
  });

  it('applies the AS client options: headersTimeoutMs and maxResponseBytes bound what an AS may take and send', async () => {
    const ping = async (): Promise<{ status: number; errcode?: string; ms: number }> => {
      const started = performance.now();
      const res = await request(`${running!.url}/_matrix/client/v1/appservice/irc/ping`, {
        method: 'POST',
        headers: { authorization: `Bearer ${AS_TOKEN}`, 'content-type': 'application/json' },
        body: '{}',
      });
      const body = (await res.body.json()) as { errcode?: string };
      return { status: res.statusCode, errcode: body.errcode, ms: performance.now() - started };
    };
    // undici checks these timeouts on a coarse clock (about every half second): leave it room.
    // The ping's own deadline (queryDeadlineMs) is well past the AS's 3 s.
    mock.slow(3_000);
    running = await mount(host, { registrations: [ircRegistration(mock.url)], queryDeadlineMs: 10_000 });
    expect(await ping()).to.include({ status: 200 });
    await running.close();
    running = await mount(host, {
      registrations: [ircRegistration(mock.url)],
      queryDeadlineMs: 10_000,
      headersTimeoutMs: 100,
    });
    const late = await ping();
    expect(late).to.include({ status: 504, errcode: 'M_CONNECTION_TIMEOUT' });
    expect(late.ms).to.be.below(2_500);
    await running.close();
    mock.slow(0);
    mock.oversized(4096);
    running = await mount(host, { registrations: [ircRegistration(mock.url)] });
    expect(await ping()).to.include({ status: 200 });
    await running.close();
    running = await mount(host, { registrations: [ircRegistration(mock.url)], maxResponseBytes: 1024 });
    expect(await ping()).to.include({ status: 502, errcode: 'M_BAD_STATUS' });
  });

  it("gives the homeserver's own routes ctx.ensureUser, with a 408 Matrix error when the AS cannot answer", async () => {
    running = await mount(host, { registrations: [ircRegistration(mock.url)], queryDeadlineMs: 300 });
    const path = (user: string) => `${running!.url}/_matrix/client/v3/custom/${encodeURIComponent(user)}`;
    const absent = await request(path('@irc_nobody:hs.test'), { headers: { authorization: 'Bearer some_user_token' } });
    expect(await absent.body.json()).to.deep.equal({ result: 'absent' });
    await mock.down();
    const down = await request(path('@irc_other:hs.test'));
    expect(down.statusCode).to.equal(408);
    expect(((await down.body.json()) as { errcode: string }).errcode).to.equal('M_UNKNOWN');
  });

  it('exposes ensureUser/ensureAlias to the homeserver', async () => {
    running = await mount(host, { registrations: [ircRegistration(mock.url)] });
    expect(await running.as.ensureAlias('#irc_#x:hs.test')).to.equal('exists');
    expect(await running.as.ensureUser('@irc_nobody:hs.test')).to.equal('absent');
    expect(await running.as.ensureUser('@alice:hs.test')).to.equal('absent');
    expect(running.as.registry.byId('irc')?.senderLocalpart).to.equal('ircbot');
  });

  it('refuses bad options and bad registrations before doing anything', async () => {
    let caught: unknown;
    try {
      await appservices({ registrations: [ircRegistration(mock.url)], host, queryDeadlineMs: 0 });
    } catch (err) {
      caught = err;
    }
    expect(caught).to.be.instanceOf(OptionsError);
    caught = undefined;
    try {
      await appservices({
        registrations: [{ ...ircRegistration(mock.url), hs_token: undefined }],
        host,
        store: new MemoryStore(),
      });
    } catch (err) {
      caught = err;
    }
    expect(caught).to.be.instanceOf(RegistrationLoadError);
    expect((caught as Error).message).to.match(/hs_token/);
    expect((caught as Error).message).not.to.include(AS_TOKEN);
  });

  it('uses a SqliteStore at databasePath by default and keeps undelivered events across close', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'koa-appservice-plugin-'));
    try {
      const databasePath = join(dir, 'appservice.db');
      await mock.down();
      const first = await appservices({
        registrations: [ircRegistration(mock.url)],
        host,
        databasePath,
        backoffInitialMs: 20,
        backoffMaxMs: 50,
      });
      await first.publish({
        event_id: '$kept',
        room_id: '!r:hs.test',
        type: 'm.room.message',
        sender: '@irc_a:hs.test',
        content: {},
      });
      await first.close();
      expect(existsSync(databasePath)).to.equal(true);
      await mock.up();
      const second = await appservices({
        registrations: [ircRegistration(mock.url)],
        host,
        databasePath,
        backoffInitialMs: 20,
        backoffMaxMs: 50,
      });
      try {
        const events = await mock.waitForEvents(1, 5_000);
        expect(events[0]).to.include({ event_id: '$kept' });
      } finally {
        await second.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('routes a room to the AS that owns its new alias once told the aliases changed', async () => {
    const roomAliases = new Map<string, string[]>();
    host.roomAliases = async (roomId: string) => roomAliases.get(roomId) ?? [];
    running = await mount(host, { registrations: [ircRegistration(mock.url)] });
    const event = (n: number) => ({
      event_id: `$a${n}`,
      room_id: '!plain:hs.test',
      type: 'm.room.message',
      sender: '@alice:hs.test',
      content: {},
    });
    expect(await running.as.publish(event(1))).to.deep.equal([]);
    roomAliases.set('!plain:hs.test', ['#irc_plain:hs.test']);
    expect(await running.as.publish(event(2))).to.deep.equal([]); // the room's aliases are cached
    running.as.roomAliasesChanged('!plain:hs.test');
    expect(await running.as.publish(event(3))).to.deep.equal(['irc']);
  });

  it('never queries or pushes to a url: null AS', async () => {
    running = await mount(host, { registrations: [ircRegistration(null)] });
    expect(await running.as.ensureAlias('#irc_#x:hs.test')).to.equal('absent');
    expect(
      await running.as.publish({
        event_id: '$3',
        room_id: '!r:hs.test',
        type: 'm.room.message',
        sender: '@irc_bob:hs.test',
        content: {},
      }),
    ).to.deep.equal([]);
    expect(mock.requests).to.have.length(0);
  });
});
