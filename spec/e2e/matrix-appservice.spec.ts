/**
 * Integration with a third-party AS library: `matrix-appservice` (what the matrix.org Node
 * bridges are built on) as the application service. Its own AppServiceRegistration writes the
 * registration file our homeserver loads; its AppService receives our transactions and answers
 * our user and alias queries, checking the hs_token itself.
 */
import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppService, AppServiceRegistration, AppserviceHttpError } from 'matrix-appservice';
import { MemoryStore } from '../../lib/index.ts';
import { startHomeserver, type RunningHomeserver } from '../../examples/homeserver/index.ts';
import { Api, enc, eventually, type Json } from './support/client.ts';

const C = '/_matrix/client/v3';

describe('e2e: matrix-appservice (a real AS library) as the application service', () => {
  let dir: string;
  let appservice: AppService;
  let registration: AppServiceRegistration;
  let hs: RunningHomeserver;
  let api: Api;
  let received: Json[];
  let httpLog: string[];

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'koa-as-mas-'));
    registration = new AppServiceRegistration(null);
    registration.setId('mas');
    registration.setHomeserverToken(AppServiceRegistration.generateToken());
    registration.setAppServiceToken(AppServiceRegistration.generateToken());
    registration.setSenderLocalpart('masbot');
    registration.addRegexPattern('users', '@mas_.*', true);
    registration.addRegexPattern('aliases', '#mas_.*', true);
    appservice = new AppService({ homeserverToken: registration.getHomeserverToken()! });
    received = [];
    httpLog = [];
    appservice.on('event', (event) => received.push(event));
    appservice.on('http-log', (line) => httpLog.push(line));
    await appservice.listen(0, '127.0.0.1', 16);
    const port = ((appservice as unknown as { server: Server }).server.address() as AddressInfo).port;
    registration.setAppServiceUrl(`http://127.0.0.1:${port}`);
    const file = join(dir, 'mas-registration.yaml');
    registration.outputAsYaml(file);
    hs = await startHomeserver({
      registrations: [file],
      store: new MemoryStore(),
      backoffInitialMs: 50,
      backoffMaxMs: 200,
      queryDeadlineMs: 5_000,
    });
    api = new Api(hs.url);
  });

  afterEach(async () => {
    await hs.close();
    await appservice.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** What a bridge does with its as_token: register a ghost through the client-server API. */
  const registerGhost = (localpart: string) =>
    api.call('POST', `${C}/register`, {
      token: registration.getAppServiceToken()!,
      body: { type: 'm.login.application_service', username: localpart },
    });
  const asGhost = (method: 'POST' | 'PUT', path: string, userId: string, body: unknown = {}) =>
    api.call(method, `${C}${path}`, { token: registration.getAppServiceToken()!, query: { user_id: userId }, body });

  it('receives our transactions: every event of its ghost, once each, in order', async () => {
    expect((await registerGhost('mas_bob')).status).to.equal(200);
    const bob = '@mas_bob:localhost';
    const created = await asGhost('POST', '/createRoom', bob, { preset: 'public_chat' });
    const roomId = created.body.room_id as string;
    for (const i of [1, 2, 3])
      expect(
        (
          await asGhost('PUT', `/rooms/${enc(roomId)}/send/m.room.message/m${i}`, bob, {
            msgtype: 'm.text',
            body: `line ${i}`,
          })
        ).status,
      ).to.equal(200);
    const timeline = hs.data.rooms.get(roomId)!.timeline.map((e) => e.event_id);
    await eventually(() => (received.length >= timeline.length ? true : undefined));
    expect(received.map((e) => e.event_id)).to.deep.equal(timeline);
    expect(received.filter((e) => e.type === 'm.room.message').map((e) => (e.content as Json).body)).to.deep.equal([
      'line 1',
      'line 2',
      'line 3',
    ]);
  });

  it('answers our user query after creating the user through the client-server API; the invite then goes through', async () => {
    const asked: string[] = [];
    appservice.onUserQuery = (userId: string) => {
      asked.push(userId);
      return (async () => {
        expect((await registerGhost(userId.slice(1, userId.indexOf(':')))).status).to.equal(200);
        await asGhost('PUT', `/profile/${enc(userId)}/displayname`, userId, { displayname: 'Alice (bridged)' });
      })();
    };
    const user = await api.register('carol');
    const room = await api.call('POST', `${C}/createRoom`, { token: user.token, body: { preset: 'public_chat' } });
    const invite = await api.call('POST', `${C}/rooms/${enc(room.body.room_id)}/invite`, {
      token: user.token,
      body: { user_id: '@mas_alice:localhost' },
    });
    expect(invite.status, JSON.stringify(invite.body)).to.equal(200);
    expect(asked).to.deep.equal(['@mas_alice:localhost']);
    const profile = await api.call('GET', `${C}/profile/${enc('@mas_alice:localhost')}`);
    expect(profile.body).to.deep.equal({ displayname: 'Alice (bridged)' });
    // The invite is in the AS's namespace, so it reaches the AS too.
    const invited = await eventually(() =>
      received.find((e) => e.type === 'm.room.member' && e.state_key === '@mas_alice:localhost'),
    );
    expect((invited.content as Json).membership).to.equal('invite');
  });

  it('answers our alias query after creating the room; the client joins it', async () => {
    appservice.onAliasQuery = (alias: string) =>
      (async () => {
        const created = await api.call('POST', `${C}/createRoom`, {
          token: registration.getAppServiceToken()!,
          body: { preset: 'public_chat', room_alias_name: alias.slice(1, alias.indexOf(':')), name: 'bridged' },
        });
        expect(created.status, JSON.stringify(created.body)).to.equal(200);
      })();
    const user = await api.register('dave');
    const joined = await api.call('POST', `${C}/join/${enc('#mas_lobby:localhost')}`, { token: user.token });
    expect(joined.status, JSON.stringify(joined.body)).to.equal(200);
    expect(hs.data.aliases.get('#mas_lobby:localhost')?.roomId).to.equal(joined.body.room_id);
    // The bot created the room, so the AS hears of the user's join.
    await eventually(() => received.find((e) => e.type === 'm.room.member' && e.state_key === user.userId));
  });

  it('a user query the AS rejects with a 404 AppserviceHttpError is the client’s 404 M_NOT_FOUND', async () => {
    appservice.onUserQuery = () =>
      Promise.reject(new AppserviceHttpError({ errcode: 'M_NOT_FOUND', error: 'no such user' }, 404));
    const { token } = await api.register('erin');
    const res = await api.call('GET', `${C}/profile/${enc('@mas_nobody:localhost')}`, { token });
    expect([res.status, res.body.errcode]).to.deep.equal([404, 'M_NOT_FOUND']);
  });

  it('an alias query the AS fails (matrix-appservice still answers 200) is a 404: the homeserver asks itself again', async () => {
    appservice.onAliasQuery = () => Promise.reject(new Error('no such channel'));
    const { token } = await api.register('frank');
    const res = await api.call('GET', `${C}/directory/room/${enc('#mas_nowhere:localhost')}`, { token });
    expect([res.status, res.body.errcode]).to.deep.equal([404, 'M_NOT_FOUND']);
  });

  it('its hs_token check refuses a wrong token: nothing delivered, queries 502 (neither a false 404 nor a false timeout); the backlog arrives once the token is right', async () => {
    const right = registration.getHomeserverToken()!;
    appservice.setHomeserverToken('not-what-the-homeserver-sends');
    expect((await registerGhost('mas_eve')).status).to.equal(200);
    const created = await asGhost('POST', '/createRoom', '@mas_eve:localhost', { preset: 'public_chat' });
    expect(created.status).to.equal(200);
    const { token } = await api.register('gina');
    const query = await api.call('GET', `${C}/directory/room/${enc('#mas_elsewhere:localhost')}`, { token });
    expect(query.status).to.equal(502);
    // Wait until the AS has turned a transaction away (its own request log says so).
    await eventually(() =>
      httpLog.some((line) => /PUT \/_matrix\/app\/v1\/transactions\/\S+ HTTP\/1.1" 403/.test(line)) ? true : undefined,
    );
    expect(received).to.have.length(0);
    expect((await hs.as.store.backlog('mas')).size).to.be.greaterThan(0);
    appservice.setHomeserverToken(right);
    const timeline = hs.data.rooms.get(created.body.room_id as string)!.timeline.map((e) => e.event_id);
    await eventually(() => (received.length >= timeline.length ? true : undefined), 10_000);
    expect(received.map((e) => e.event_id)).to.deep.equal(timeline);
  });
});
