/**
 * The reference homeserver as a Matrix client sees it: real client-server paths and Matrix errors,
 * and every persisted event handed to `as.publish` (an AS holding every room id receives them all).
 */
import { expect } from 'chai';
import { MemoryStore } from '../../lib/index.ts';
import { MockAppService } from '../../lib/testing/index.ts';
import { startHomeserver, type RunningHomeserver } from '../../examples/homeserver/index.ts';
import { Api, enc, eventually, type Json } from './support/client.ts';

const C = '/_matrix/client/v3';
const AS_TOKEN = 'watch-as-token';

describe('e2e: the reference homeserver', () => {
  let hs: RunningHomeserver;
  let api: Api;
  let watcher: MockAppService;

  beforeEach(async () => {
    watcher = await MockAppService.start({ hsToken: 'watch-hs-token' });
    hs = await startHomeserver({
      store: new MemoryStore(),
      registrations: [
        {
          id: 'watcher',
          url: watcher.url,
          as_token: AS_TOKEN,
          hs_token: 'watch-hs-token',
          sender_localpart: 'watcher',
          namespaces: {
            users: [{ exclusive: true, regex: '@w_.*' }],
            aliases: [],
            rooms: [{ exclusive: false, regex: '!.*' }],
          },
        },
      ],
      backoffInitialMs: 20,
    });
    api = new Api(hs.url);
  });

  afterEach(async () => {
    await hs.close();
    await watcher.close();
  });

  const errcode = (res: { status: number; body: Json }) => [res.status, res.body.errcode];

  it('exposes the plugin metrics on /metrics', async () => {
    const res = await fetch(`${hs.url}/metrics`);
    expect(res.status).to.equal(200);
    const text = await res.text();
    expect(text).to.match(/^koa_appservice_up\{appservice="watcher"\} 1$/m);
    expect(text).to.match(/^koa_appservice_backlog_items\{appservice="watcher"\} \d+$/m);
    expect(text).not.to.include(AS_TOKEN);
  });

  it('registers with user-interactive dummy auth and answers whoami; refuses taken and invalid names', async () => {
    const first = await api.call('POST', `${C}/register`, { body: { username: 'alice' } });
    expect(first.status).to.equal(401);
    expect(first.body.flows).to.deep.equal([{ stages: ['m.login.dummy'] }]);
    const alice = await api.register('alice');
    const whoami = await api.call('GET', `${C}/account/whoami`, { token: alice.token });
    expect(whoami.body.user_id).to.equal('@alice:localhost');
    expect(
      errcode(
        await api.call('POST', `${C}/register`, { body: { username: 'alice', auth: { type: 'm.login.dummy' } } }),
      ),
    ).to.deep.equal([400, 'M_USER_IN_USE']);
    expect(
      errcode(
        await api.call('POST', `${C}/register`, { body: { username: 'Alice', auth: { type: 'm.login.dummy' } } }),
      ),
    ).to.deep.equal([400, 'M_INVALID_USERNAME']);
    expect(
      errcode(await api.call('POST', `${C}/register`, { token: AS_TOKEN, body: { username: 'w_x' } })),
    ).to.deep.equal([400, 'M_MISSING_PARAM']);
  });

  it('answers Matrix errors for missing and unknown tokens and unknown endpoints', async () => {
    expect(errcode(await api.call('GET', `${C}/account/whoami`))).to.deep.equal([401, 'M_MISSING_TOKEN']);
    expect(errcode(await api.call('GET', `${C}/account/whoami`, { token: 'nope' }))).to.deep.equal([
      401,
      'M_UNKNOWN_TOKEN',
    ]);
    expect(errcode(await api.call('GET', `${C}/no/such/thing`))).to.deep.equal([404, 'M_UNRECOGNIZED']);
    const bad = await api.call('POST', `${C}/register`, { body: [1, 2] });
    expect(bad.status).to.equal(400);
  });

  it('logs in with a password given at registration', async () => {
    await api.call('POST', `${C}/register`, {
      body: { username: 'bob', password: 'pw', auth: { type: 'm.login.dummy' } },
    });
    const login = await api.call('POST', `${C}/login`, {
      body: { type: 'm.login.password', identifier: { type: 'm.id.user', user: 'bob' }, password: 'pw' },
    });
    expect(login.status).to.equal(200);
    expect((await api.call('GET', `${C}/account/whoami`, { token: login.body.access_token })).body.user_id).to.equal(
      '@bob:localhost',
    );
    const wrong = await api.call('POST', `${C}/login`, {
      body: { type: 'm.login.password', identifier: { type: 'm.id.user', user: 'bob' }, password: 'x' },
    });
    expect(errcode(wrong)).to.deep.equal([403, 'M_FORBIDDEN']);
  });

  it('sends idempotently per transaction id, pages /messages both ways, and publishes every persisted event in order', async () => {
    const alice = await api.register('alice');
    const roomId = (await api.call('POST', `${C}/createRoom`, { token: alice.token, body: { preset: 'public_chat' } }))
      .body.room_id as string;
    const send = (txn: string, body: string) =>
      api.call('PUT', `${C}/rooms/${enc(roomId)}/send/m.room.message/${txn}`, {
        token: alice.token,
        body: { msgtype: 'm.text', body },
      });
    const a = await send('a', 'one');
    expect((await send('a', 'one again')).body.event_id).to.equal(a.body.event_id);
    await send('b', 'two');
    await send('c', 'three');
    const back = await api.call('GET', `${C}/rooms/${enc(roomId)}/messages`, {
      token: alice.token,
      query: { dir: 'b', limit: '2' },
    });
    expect((back.body.chunk as Json[]).map((e) => e.content.body)).to.deep.equal(['three', 'two']);
    const more = await api.call('GET', `${C}/rooms/${enc(roomId)}/messages`, {
      token: alice.token,
      query: { dir: 'b', limit: '1', from: back.body.end },
    });
    expect((more.body.chunk as Json[]).map((e) => e.content.body)).to.deep.equal(['one']);
    const forward = await api.call('GET', `${C}/rooms/${enc(roomId)}/messages`, {
      token: alice.token,
      query: { dir: 'f', limit: '100' },
    });
    expect((forward.body.chunk as Json[]).filter((e) => e.type === 'm.room.message')).to.have.length(3);
    const all = hs.data.stream.map((e) => e.event_id);
    await eventually(() => (watcher.events.length >= all.length ? true : undefined));
    expect((watcher.events as Json[]).map((e) => e.event_id)).to.deep.equal(all);
  });

  it('wakes a long-polling /sync on a new event and then returns only what is new', async () => {
    const alice = await api.register('alice');
    const roomId = (await api.call('POST', `${C}/createRoom`, { token: alice.token, body: { preset: 'public_chat' } }))
      .body.room_id as string;
    const initial = await api.call('GET', `${C}/sync`, { token: alice.token });
    expect(initial.body.rooms.join).to.have.property(roomId);
    const polling = api.call('GET', `${C}/sync`, {
      token: alice.token,
      query: { since: initial.body.next_batch, timeout: '10000' },
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    await api.call('PUT', `${C}/rooms/${enc(roomId)}/send/m.room.message/1`, {
      token: alice.token,
      body: { msgtype: 'm.text', body: 'wake up' },
    });
    const woken = await polling;
    const events = woken.body.rooms.join[roomId].timeline.events as Json[];
    expect(events.map((e) => e.content.body)).to.deep.equal(['wake up']);
  });

  it('enforces join rules, knocks and canonical aliases; honours an AS ts on state', async () => {
    const alice = await api.register('alice');
    const bob = await api.register('bob');
    const privateRoom = (
      await api.call('POST', `${C}/createRoom`, { token: alice.token, body: { preset: 'private_chat' } })
    ).body.room_id as string;
    expect(errcode(await api.call('POST', `${C}/join/${enc(privateRoom)}`, { token: bob.token }))).to.deep.equal([
      403,
      'M_FORBIDDEN',
    ]);
    expect(errcode(await api.call('POST', `${C}/knock/${enc(privateRoom)}`, { token: bob.token }))).to.deep.equal([
      403,
      'M_FORBIDDEN',
    ]);
    const state = (type: string, content: Json, query?: Record<string, string>, token = alice.token) =>
      api.call('PUT', `${C}/rooms/${enc(privateRoom)}/state/${type}`, {
        token,
        body: content,
        ...(query ? { query } : {}),
      });
    expect((await state('m.room.join_rules', { join_rule: 'knock' })).status).to.equal(200);
    expect((await api.call('POST', `${C}/knock/${enc(privateRoom)}`, { token: bob.token })).status).to.equal(200);
    expect(errcode(await state('m.room.canonical_alias', { alias: '#nowhere:localhost' }))).to.deep.equal([
      400,
      'M_BAD_ALIAS',
    ]);
    expect(
      (
        await api.call('POST', `${C}/rooms/${enc(privateRoom)}/invite`, {
          token: alice.token,
          body: { user_id: '@watcher:localhost' },
        })
      ).status,
    ).to.equal(200);
    expect((await api.call('POST', `${C}/join/${enc(privateRoom)}`, { token: AS_TOKEN })).status).to.equal(200);
    expect((await state('m.room.topic', { topic: 'old news' }, { ts: '1000' }, AS_TOKEN)).status).to.equal(200);
    expect(hs.data.stream.at(-1)).to.include({
      type: 'm.room.topic',
      sender: '@watcher:localhost',
      origin_server_ts: 1000,
    });
  });
});
