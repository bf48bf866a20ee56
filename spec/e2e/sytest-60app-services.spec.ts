/**
 * sytest's tests/60app-services (github.com/matrix-org/sytest), the one public suite that tests a
 * homeserver's AS side, ported to the reference homeserver: one `it` per sytest test, named as
 * there (typos included), with sytest's two application services (AS-1 with `@astest-.*` and
 * `#astest-.*` exclusive, both with `@_.*` shared and the `ymca` protocol) as MockAppServices.
 * Where sytest relies on state left by an earlier test, the port sets it up itself.
 */
import { expect } from 'chai';
import { MemoryStore } from '../../lib/index.ts';
import { MockAppService } from '../../lib/testing/index.ts';
import { startHomeserver, type RunningHomeserver } from '../../examples/homeserver/index.ts';
import { Api, enc, eventually, type Json } from './support/client.ts';

const SERVER = 'localhost';
const AS1 = { id: 'AS-1', asToken: 'as1-as-token', hsToken: 'as1-hs-token', userId: `@as-user-1:${SERVER}` };
const AS2 = { id: 'AS-2', asToken: 'as2-as-token', hsToken: 'as2-hs-token', userId: `@as-user-2:${SERVER}` };
const C = '/_matrix/client/v3';

function registration(as: typeof AS1, url: string, own: boolean): Record<string, unknown> {
  return {
    id: as.id,
    url,
    as_token: as.asToken,
    hs_token: as.hsToken,
    sender_localpart: as.userId.slice(1, as.userId.indexOf(':')),
    namespaces: {
      users: [
        { regex: `@_.*:${SERVER}`, exclusive: false },
        ...(own ? [{ regex: '@astest-.*', exclusive: true }] : []),
      ],
      aliases: own ? [{ regex: '#astest-.*', exclusive: true }] : [],
      rooms: [],
    },
    protocols: ['ymca'],
  };
}

describe('e2e: sytest tests/60app-services on the reference homeserver', () => {
  let hs: RunningHomeserver;
  let api: Api;
  let appserv1: MockAppService;
  let appserv2: MockAppService;
  /** What each mock AS does on a user or alias query; tests replace them. */
  let onUser: (userId: string) => Promise<boolean>;
  let onAlias: (alias: string) => Promise<boolean>;
  const protocols1: Record<string, unknown> = {};
  const protocols2: Record<string, unknown> = {};
  let thirdparty1: (kind: string, protocol: string | null, query: Record<string, string>) => unknown;
  let thirdparty2: typeof thirdparty1;
  let n = 0;

  beforeEach(async () => {
    onUser = async () => false;
    onAlias = async () => false;
    thirdparty1 = () => [];
    thirdparty2 = () => [];
    for (const key of Object.keys(protocols1)) delete protocols1[key];
    for (const key of Object.keys(protocols2)) delete protocols2[key];
    appserv1 = await MockAppService.start({
      hsToken: AS1.hsToken,
      onUserQuery: (id) => onUser(id),
      onAliasQuery: (alias) => onAlias(alias),
      protocols: protocols1,
      onThirdparty: (kind, protocol, query) => thirdparty1(kind, protocol, query),
    });
    appserv2 = await MockAppService.start({
      hsToken: AS2.hsToken,
      protocols: protocols2,
      onThirdparty: (kind, protocol, query) => thirdparty2(kind, protocol, query),
    });
    hs = await startHomeserver({
      serverName: SERVER,
      store: new MemoryStore(),
      registrations: [registration(AS1, appserv1.url, true), registration(AS2, appserv2.url, false)],
      backoffInitialMs: 50,
      queryDeadlineMs: 5_000,
    });
    api = new Api(hs.url);
  });

  afterEach(async () => {
    await hs.close();
    await Promise.all([appserv1.close(), appserv2.close()]);
  });

  const localUser = () => api.register(`user-${++n}`);
  const asCall = (method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown, userId?: string) =>
    api.call(method, `${C}${path}`, {
      token: AS1.asToken,
      body,
      ...(userId === undefined ? {} : { query: { user_id: userId } }),
    });
  /** sytest's matrix_create_room: visibility private, preset public_chat unless told. */
  const createRoom = async (token: string, body: Json = {}) => {
    const res = await api.call('POST', `${C}/createRoom`, {
      token,
      body: { visibility: 'private', preset: 'public_chat', ...body },
    });
    expect(res.status, JSON.stringify(res.body)).to.equal(200);
    return res.body.room_id as string;
  };
  /** sytest's matrix_register_as_ghost. */
  const registerGhost = async (localpart: string) => {
    const res = await asCall('POST', '/register', { username: localpart, type: 'm.login.application_service' });
    expect(res.status, JSON.stringify(res.body)).to.equal(200);
    return { userId: res.body.user_id as string, token: res.body.access_token as string };
  };
  const awaitEvent = (mock: MockAppService, match: (e: Json) => boolean) =>
    eventually(() => (mock.events as Json[]).find(match));
  /** sytest's await_sync_timeline_contains: a full /sync, repeated until the event shows. */
  const syncTimelineContains = async (token: string, roomId: string, match: (e: Json) => boolean): Promise<Json> => {
    for (let i = 0; i < 100; i++) {
      const res = await api.call('GET', `${C}/sync`, { token });
      const events = (res.body.rooms?.join?.[roomId]?.timeline?.events ?? []) as Json[];
      const found = events.find(match);
      if (found) return found;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    throw new Error('not in the timeline');
  };
  const publicRoomIds = async (token: string, content: Json) => {
    const res = await api.call('POST', `${C}/publicRooms`, { token, body: { limit: 100000000, ...content } });
    expect(res.status).to.equal(200);
    return (res.body.chunk as Json[]).map((r) => r.room_id as string);
  };

  // 01as-create.pl

  it('AS can create a user', async () => {
    const res = await asCall('POST', '/register', {
      username: 'astest-01create-0',
      type: 'm.login.application_service',
    });
    expect(res.status).to.equal(200);
    expect(res.body).to.include.keys('user_id', 'access_token', 'device_id');
  });

  it('AS can create a user with an underscore', async () => {
    const res = await asCall('POST', '/register', {
      username: '_astest-01create-0',
      type: 'm.login.application_service',
    });
    expect(res.status).to.equal(200);
    expect(res.body).to.include.keys('user_id', 'access_token', 'device_id');
  });

  it('AS can create a user with inhibit_login', async () => {
    const res = await asCall('POST', '/register', {
      username: 'astest-01create-1',
      type: 'm.login.application_service',
      inhibit_login: true,
    });
    expect(res.status).to.equal(200);
    expect(res.body).to.include.keys('user_id');
    expect(res.body).not.to.have.any.keys('device_id', 'access_token');
  });

  it('AS cannot create users outside its own namespace', async () => {
    const res = await asCall('POST', '/register', {
      username: 'a-different-user',
      type: 'm.login.application_service',
    });
    expect(res.status).to.be.within(400, 499);
  });

  it('Regular users cannot register within the AS namespace', async () => {
    const res = await api.call('POST', `${C}/register`, {
      body: { username: 'astest-01create-3', auth: { type: 'm.login.dummy' } },
    });
    expect(res.status).to.be.within(400, 499);
  });

  it('AS can make room aliases', async () => {
    const user = await localUser();
    const roomId = await createRoom(user.token);
    const alias = `#astest-${n}:${SERVER}`;
    expect((await asCall('PUT', `/directory/room/${enc(alias)}`, { room_id: roomId })).status).to.equal(200);
    const res = await asCall('GET', `/directory/room/${enc(alias)}`);
    expect(res.body).to.include.keys('room_id');
    expect(res.body.room_id).to.equal(roomId);
  });

  it('Regular users cannot create room aliases within the AS namespace', async () => {
    const user = await localUser();
    const roomId = await createRoom(user.token);
    const res = await api.call('PUT', `${C}/directory/room/${enc(`#astest-${n}:${SERVER}`)}`, {
      token: user.token,
      body: { room_id: roomId },
    });
    expect(res.status).to.be.within(400, 499);
  });

  // 02ghost.pl

  it('AS-ghosted users can use rooms via AS', async () => {
    const ghost = await registerGhost('astest-0');
    const creator = await localUser();
    const roomId = await createRoom(creator.token);
    expect((await asCall('POST', `/rooms/${enc(roomId)}/join`, {}, ghost.userId)).status).to.equal(200);
    const member = await awaitEvent(appserv1, (e) => e.type === 'm.room.member' && e.state_key === ghost.userId);
    expect([member.room_id, member.content.membership]).to.deep.equal([roomId, 'join']);
    const sent = await asCall(
      'POST',
      `/rooms/${enc(roomId)}/send/m.room.message`,
      { msgtype: 'm.text', body: 'Message from AS directly' },
      ghost.userId,
    );
    expect(sent.status).to.equal(200);
    const message = await awaitEvent(appserv1, (e) => e.type === 'm.room.message');
    expect([message.room_id, message.sender]).to.deep.equal([roomId, ghost.userId]);
    const seen = await syncTimelineContains(creator.token, roomId, (e) => e.type === 'm.room.message');
    expect([seen.content.body, seen.sender]).to.deep.equal(['Message from AS directly', ghost.userId]);
  });

  it('AS-ghosted users can use rooms themselves', async () => {
    const ghost = await registerGhost('astest-1');
    const creator = await localUser();
    const roomId = await createRoom(creator.token);
    expect((await api.call('POST', `${C}/join/${enc(roomId)}`, { token: ghost.token })).status).to.equal(200);
    const member = await awaitEvent(appserv1, (e) => e.type === 'm.room.member' && e.state_key === ghost.userId);
    expect([member.room_id, member.content.membership]).to.deep.equal([roomId, 'join']);
    const sent = await api.call('PUT', `${C}/rooms/${enc(roomId)}/send/m.room.message/t1`, {
      token: ghost.token,
      body: { msgtype: 'm.text', body: 'Message from AS Ghost' },
    });
    expect(sent.status).to.equal(200);
    const message = await awaitEvent(appserv1, (e) => e.type === 'm.room.message');
    expect([message.room_id, message.sender]).to.deep.equal([roomId, ghost.userId]);
    const seen = await syncTimelineContains(creator.token, roomId, (e) => e.type === 'm.room.message');
    expect([seen.content.body, seen.sender]).to.deep.equal(['Message from AS Ghost', ghost.userId]);
  });

  it('Ghost user must register before joining room', async () => {
    const creator = await localUser();
    const roomId = await createRoom(creator.token);
    const ghostId = `@astest-02ghost-1:${SERVER}`;
    // sytest runs the check before the action (it must fail), then after (it must pass).
    expect((await asCall('POST', `/rooms/${enc(roomId)}/join`, {}, ghostId)).status).to.be.within(400, 499);
    expect(
      (await asCall('POST', '/register', { username: 'astest-02ghost-1', type: 'm.login.application_service' })).status,
    ).to.equal(200);
    expect((await asCall('POST', `/rooms/${enc(roomId)}/join`, {}, ghostId)).status).to.equal(200);
  });

  it('AS can set avatar for ghosted users', async () => {
    const ghost = await registerGhost('astest-2');
    const avatarUrl = 'http://somewhere/my-pic.jpg';
    expect(
      (await asCall('PUT', `/profile/${enc(ghost.userId)}/avatar_url`, { avatar_url: avatarUrl }, ghost.userId)).status,
    ).to.equal(200);
    const res = await api.call('GET', `${C}/profile/${enc(ghost.userId)}/avatar_url`);
    expect(res.body).to.deep.equal({ avatar_url: avatarUrl });
  });

  it('AS can set displayname for ghosted users', async () => {
    const ghost = await registerGhost('astest-3');
    const displayname = "Ghost user's new name";
    expect(
      (await asCall('PUT', `/profile/${enc(ghost.userId)}/displayname`, { displayname }, ghost.userId)).status,
    ).to.equal(200);
    const res = await api.call('GET', `${C}/profile/${enc(ghost.userId)}/displayname`);
    expect(res.body).to.deep.equal({ displayname });
  });

  it("AS can't set displayname for random users", async () => {
    const regular = await localUser();
    const res = await asCall(
      'PUT',
      `/profile/${enc(regular.userId)}/displayname`,
      { displayname: 'nope' },
      regular.userId,
    );
    expect(res.status).to.equal(403);
  });

  // 03passive.pl

  it('Inviting an AS-hosted user asks the AS server', async () => {
    const creator = await localUser();
    const roomId = await createRoom(creator.token);
    const userId = `@astest-03passive-1:${SERVER}`;
    onUser = async (queried) => {
      if (queried !== userId) return false;
      await registerGhost('astest-03passive-1');
      return true;
    };
    const invite = await api.call('POST', `${C}/rooms/${enc(roomId)}/invite`, {
      token: creator.token,
      body: { user_id: userId },
    });
    expect(invite.status, JSON.stringify(invite.body)).to.equal(200);
    expect(appserv1.requests.map((r) => r.path)).to.include(`/_matrix/app/v1/users/${enc(userId)}`);
    const member = await awaitEvent(appserv1, (e) => e.type === 'm.room.member' && e.state_key === userId);
    expect(member.room_id).to.equal(roomId);
  });

  it('Accesing an AS-hosted room alias asks the AS server', async () => {
    const creator = await localUser();
    const roomId = await createRoom(creator.token);
    const local = await localUser();
    const alias = `#astest-03passive-${n}:${SERVER}`;
    onAlias = async (queried) => {
      if (queried !== alias) return false;
      const created = await asCall('PUT', `/directory/room/${enc(queried)}`, { room_id: roomId });
      return created.status === 200;
    };
    const joined = await api.call('POST', `${C}/join/${enc(alias)}`, { token: local.token });
    expect(joined.status, JSON.stringify(joined.body)).to.equal(200);
    expect(appserv1.requests.map((r) => r.path)).to.include(`/_matrix/app/v1/rooms/${enc(alias)}`);
    const member = await awaitEvent(appserv1, (e) => e.type === 'm.room.member' && e.state_key === local.userId);
    expect([member.room_id, member.sender, member.content.membership]).to.deep.equal([roomId, local.userId, 'join']);
  });

  it('Events in rooms with AS-hosted room aliases are sent to AS server', async () => {
    const creator = await localUser();
    const roomId = await createRoom(creator.token);
    // The room sytest reuses got its AS-hosted alias in the previous test.
    expect(
      (await asCall('PUT', `/directory/room/${enc(`#astest-03passive-${n}:${SERVER}`)}`, { room_id: roomId })).status,
    ).to.equal(200);
    await api.call('PUT', `${C}/rooms/${enc(roomId)}/send/m.room.message/t1`, {
      token: creator.token,
      body: { msgtype: 'm.text', body: 'A message for the AS' },
    });
    const message = await awaitEvent(appserv1, (e) => e.type === 'm.room.message');
    expect(message.room_id).to.equal(roomId);
  });

  // 04asuser.pl

  it('AS user (not ghost) can join room without registering', async () => {
    const user = await localUser();
    const roomId = await createRoom(user.token);
    expect(
      (await api.call('POST', `${C}/rooms/${enc(roomId)}/invite`, { token: user.token, body: { user_id: AS1.userId } }))
        .status,
    ).to.equal(200);
    const res = await asCall('POST', `/rooms/${enc(roomId)}/join`);
    expect(res.status, JSON.stringify(res.body)).to.equal(200);
  });

  it('AS user (not ghost) can join room without registering, with user_id query param', async () => {
    const user = await localUser();
    const roomId = await createRoom(user.token);
    expect(
      (await api.call('POST', `${C}/rooms/${enc(roomId)}/invite`, { token: user.token, body: { user_id: AS1.userId } }))
        .status,
    ).to.equal(200);
    const res = await asCall('POST', `/join/${enc(roomId)}`, {}, AS1.userId);
    expect(res.status, JSON.stringify(res.body)).to.equal(200);
  });

  // 05lookup3pe.pl

  const ymca = (descs: string[]) => ({
    user_fields: ['field1', 'field2'],
    location_fields: ['field3'],
    icon: 'mxc://1234/56/7',
    instances: descs.map((desc) => ({ desc })),
  });
  const sortInstances = (body: Json) => ({
    ...body,
    instances: [...(body.instances as Json[])].sort((a, b) => String(a.desc).localeCompare(String(b.desc))),
  });

  it('HS provides query metadata', async () => {
    protocols1.ymca = ymca(['instance 1', 'instance 2']);
    protocols2.ymca = ymca(['instance 3']);
    const user = await localUser();
    const res = await api.call('GET', `${C}/thirdparty/protocols`, { token: user.token });
    expect(res.status).to.equal(200);
    expect(res.body.ymca, 'HS knows "ymca" protocol').to.not.equal(undefined);
    expect(sortInstances(res.body.ymca)).to.deep.equal(ymca(['instance 1', 'instance 2', 'instance 3']));
  });

  it('HS can provide query metadata on a single protocol', async () => {
    protocols1.ymca = ymca(['instance 1', 'instance 2']);
    protocols2.ymca = ymca(['instance 3']);
    const user = await localUser();
    const res = await api.call('GET', `${C}/thirdparty/protocol/ymca`, { token: user.token });
    expect(res.status).to.equal(200);
    expect(sortInstances(res.body)).to.deep.equal(ymca(['instance 1', 'instance 2', 'instance 3']));
  });

  it('HS will proxy request for 3PU mapping', async () => {
    const answer = [{ protocol: 'ymca', fields: { field1: 'result' }, userid: '@remote-user:bridged.example.com' }];
    thirdparty1 = (kind) => (kind === 'user' ? answer : []);
    const user = await localUser();
    const res = await api.call('GET', `${C}/thirdparty/user/ymca`, {
      token: user.token,
      query: { field1: 'ONE', field2: 'TWO' },
    });
    expect(res.body).to.deep.equal(answer);
    const asked = appserv1.requests.find((r) => r.path === '/_matrix/app/v1/thirdparty/user/ymca');
    expect(asked?.tokenOk, 'Access token').to.equal(true);
    expect(asked?.query, 'fields in received AS request').to.deep.equal({ field1: 'ONE', field2: 'TWO' });
    expect(appserv2.requests.map((r) => r.path)).to.include('/_matrix/app/v1/thirdparty/user/ymca');
  });

  it('HS will proxy request for 3PL mapping', async () => {
    const answer = [{ protocol: 'ymca', fields: { field3: 'result' }, alias: '#remote-room:bridged.example.com' }];
    thirdparty1 = (kind) => (kind === 'location' ? answer : []);
    const user = await localUser();
    const res = await api.call('GET', `${C}/thirdparty/location/ymca`, {
      token: user.token,
      query: { field3: 'THREE' },
    });
    expect(res.body).to.deep.equal(answer);
    const asked = appserv1.requests.find((r) => r.path === '/_matrix/app/v1/thirdparty/location/ymca');
    expect(asked?.tokenOk, 'Access token').to.equal(true);
    expect(asked?.query, 'fields in received AS request').to.deep.equal({ field3: 'THREE' });
  });

  // 06publicroomlist.pl

  const instanceId = `${AS1.id}|random-network`;
  const asList = (method: 'PUT' | 'DELETE', roomId: string) =>
    asCall(
      method,
      `/directory/list/appservice/random-network/${enc(roomId)}`,
      method === 'PUT' ? { visibility: 'public' } : undefined,
    );

  it('AS can publish rooms in their own list', async () => {
    const local = await localUser();
    const roomId = await createRoom(local.token, { name: 'Test Name', topic: 'Test Topic' });
    expect((await asList('PUT', roomId)).status).to.equal(200);
    expect(await publicRoomIds(local.token, {}), 'AS public room not in main list').not.to.include(roomId);
    expect(
      await publicRoomIds(local.token, { third_party_instance_id: instanceId }),
      'AS public room in AS list',
    ).to.include(roomId);
    expect(await publicRoomIds(local.token, { include_all_networks: true }), 'AS public room in full list').to.include(
      roomId,
    );
    expect((await asList('DELETE', roomId)).status).to.equal(200);
    expect(await publicRoomIds(local.token, { third_party_instance_id: instanceId })).not.to.include(roomId);
  });

  it('AS and main public room lists are separate', async () => {
    const local = await localUser();
    const roomId = await createRoom(local.token, { name: 'Test Name', topic: 'Test Topic' });
    expect((await asList('PUT', roomId)).status).to.equal(200);
    expect(
      (
        await api.call('PUT', `${C}/directory/list/room/${enc(roomId)}`, {
          token: local.token,
          body: { visibility: 'public' },
        })
      ).status,
    ).to.equal(200);
    expect(await publicRoomIds(local.token, {}), 'Room in main list').to.include(roomId);
    expect(await publicRoomIds(local.token, { third_party_instance_id: instanceId }), 'Room in AS list').to.include(
      roomId,
    );
    expect(
      (
        await api.call('POST', `${C}/publicRooms`, {
          token: local.token,
          body: { include_all_networks: true, limit: 1000000 },
        })
      ).status,
    ).to.equal(200);
    expect((await asList('DELETE', roomId)).status).to.equal(200);
    expect(
      await publicRoomIds(local.token, { third_party_instance_id: instanceId }),
      'Room not in AS list after deletion',
    ).not.to.include(roomId);
    expect(await publicRoomIds(local.token, {}), 'Room in main list after deletion').to.include(roomId);
    expect(await publicRoomIds(local.token, { include_all_networks: true })).to.include(roomId);
  });

  // 07deactivate.pl

  it('AS can deactivate a user', async () => {
    const ghost = await registerGhost('astest-4');
    const res = await asCall('POST', '/account/deactivate', {}, ghost.userId);
    expect(res.status, JSON.stringify(res.body)).to.equal(200);
    expect(hs.data.users.get(ghost.userId)?.deactivated).to.equal(true);
  });
});
