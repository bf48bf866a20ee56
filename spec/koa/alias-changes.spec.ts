import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import { expect } from 'chai';
import { request } from 'undici';
import { appservices, MemoryStore, type Appservices } from '../../lib/index.ts';
import type { AppserviceContext, AppserviceState } from '../../lib/koa/state.ts';
import { MockAppService } from '../../lib/testing/index.ts';
import { ToyHost } from './support/toy-host.ts';

const ALIAS = '#irc_room:hs.test';
const ROOM = '!r:hs.test';
const PATH = `/_matrix/client/v3/directory/room/${encodeURIComponent(ALIAS)}`;

describe('koa/alias-changes: alias created or deleted through the directory API', () => {
  let mock: MockAppService;
  let host: ToyHost;
  let as: Appservices;
  let server: http.Server;
  let url: string;
  let refuse = false;

  beforeEach(async () => {
    refuse = false;
    host = new ToyHost('hs.test');
    mock = await MockAppService.start({ hsToken: 'hs-secret' });
    as = await appservices({
      host,
      store: new MemoryStore(),
      registrations: [
        {
          id: 'irc',
          url: mock.url,
          as_token: 'as-secret',
          hs_token: 'hs-secret',
          sender_localpart: 'ircbot',
          namespaces: { users: [], aliases: [{ exclusive: false, regex: '#irc_.*' }], rooms: [] },
        },
      ],
    });
    const app = new Koa<AppserviceState, AppserviceContext>();
    app.silent = true;
    app.use(as.middleware());
    // The homeserver's alias routes, in miniature.
    app.use(async (ctx) => {
      if (refuse) {
        ctx.status = 403;
        ctx.body = { errcode: 'M_FORBIDDEN', error: 'no' };
      } else if (ctx.method === 'PUT') {
        host.aliases.set(ALIAS, (ctx.request as unknown as { body: { room_id: string } }).body.room_id);
        ctx.body = {};
      } else if (ctx.method === 'DELETE') {
        host.aliases.delete(ALIAS);
        ctx.body = {};
      }
    });
    server = http.createServer(app.callback());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterEach(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await as.close();
    await mock.close();
  });

  let n = 0;
  const publish = () =>
    as.publish({ event_id: `$e${++n}`, room_id: ROOM, type: 'm.room.message', sender: '@alice:hs.test', content: {} });
  const call = async (method: 'PUT' | 'DELETE') => {
    const res = await request(`${url}${PATH}`, {
      method,
      headers: { 'content-type': 'application/json' },
      body: method === 'PUT' ? JSON.stringify({ room_id: ROOM }) : undefined,
    });
    await res.body.dump();
    return res.statusCode;
  };

  it('an AS whose namespace holds the new alias gets the room events from then on, and not after the delete', async () => {
    expect(await publish()).to.deep.equal([]); // the room's (absent) aliases are now cached
    expect(await call('PUT')).to.equal(200);
    expect(await publish()).to.deep.equal(['irc']);
    expect(await call('DELETE')).to.equal(200);
    expect(await publish()).to.deep.equal([]);
  });

  it('keeps the cache when the homeserver refused the change', async () => {
    expect(await publish()).to.deep.equal([]);
    refuse = true;
    host.aliases.set(ALIAS, ROOM); // changed behind the API's back: only a successful call invalidates
    expect(await call('PUT')).to.equal(403);
    expect(await publish()).to.deep.equal([]);
  });
});
