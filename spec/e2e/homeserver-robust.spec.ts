/**
 * No single request breaks a room of the reference homeserver: hostile bodies (nested 400k levels
 * deep, over the 64 KiB event limit, not JSON at all, events `publish()` would refuse) are refused
 * with Matrix errors before anything is stored, and the room's /messages, /sync and AS
 * transactions go on answering.
 */
import { expect } from 'chai';
import { request } from 'undici';
import { MemoryStore } from '../../lib/index.ts';
import { MockAppService } from '../../lib/testing/index.ts';
import { startHomeserver, type RunningHomeserver } from '../../examples/homeserver/index.ts';
import { Api, enc, eventually, type Json } from './support/client.ts';

const C = '/_matrix/client/v3';

/** Raw bytes to a path: for bodies no JSON serialiser would produce. */
async function raw(
  url: string,
  method: 'PUT' | 'POST',
  text: string,
  token: string,
): Promise<{ status: number; body: Json }> {
  const res = await request(url, {
    method,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: text,
  });
  const answer = await res.body.text();
  return { status: res.statusCode, body: JSON.parse(answer) as Json };
}

describe('e2e: the reference homeserver survives hostile requests', () => {
  let hs: RunningHomeserver;
  let api: Api;
  let watcher: MockAppService;
  let alice: { userId: string; token: string };
  let roomId: string;

  beforeEach(async () => {
    watcher = await MockAppService.start({ hsToken: 'robust-hs-token' });
    hs = await startHomeserver({
      store: new MemoryStore(),
      registrations: [
        {
          id: 'watcher',
          url: watcher.url,
          as_token: 'robust-as-token',
          hs_token: 'robust-hs-token',
          sender_localpart: 'watcher',
          namespaces: { users: [], aliases: [], rooms: [{ exclusive: false, regex: '!.*' }] },
        },
      ],
      backoffInitialMs: 20,
    });
    api = new Api(hs.url);
    alice = await api.register('alice');
    roomId = (await api.call('POST', `${C}/createRoom`, { token: alice.token, body: { preset: 'public_chat' } })).body
      .room_id;
  });

  afterEach(async () => {
    await hs.close();
    await watcher.close();
  });

  /** The room still answers every read, and a new message still reaches the AS. */
  async function roomStillWorks(): Promise<void> {
    const messages = await api.call('GET', `${C}/rooms/${enc(roomId)}/messages`, {
      token: alice.token,
      query: { dir: 'b', limit: '100' },
    });
    expect(messages.status).to.equal(200);
    const sync = await api.call('GET', `${C}/sync`, { token: alice.token });
    expect(sync.status).to.equal(200);
    expect(sync.body.rooms.join[roomId].timeline.events.length).to.be.greaterThan(0);
    const state = await api.call('GET', `${C}/rooms/${enc(roomId)}/state`, { token: alice.token });
    expect(state.status).to.equal(200);
    const sent = await api.call('PUT', `${C}/rooms/${enc(roomId)}/send/m.room.message/after`, {
      token: alice.token,
      body: { msgtype: 'm.text', body: 'still here' },
    });
    expect(sent.status).to.equal(200);
    await eventually(() => watcher.events.find((e) => (e as Json).event_id === sent.body.event_id));
  }

  it('refuses a message nested 400k levels deep with 400 M_BAD_JSON, on its own routes and on the plugin-parsed ones', async () => {
    const deep = `{"msgtype":"m.text","body":"x","n":${'['.repeat(400_000)}${']'.repeat(400_000)}}`;
    const send = await raw(`${hs.url}${C}/rooms/${enc(roomId)}/send/m.room.message/deep`, 'PUT', deep, alice.token);
    expect([send.status, send.body.errcode]).to.deep.equal([400, 'M_BAD_JSON']);
    const state = await raw(`${hs.url}${C}/rooms/${enc(roomId)}/state/m.room.topic`, 'PUT', deep, alice.token);
    expect([state.status, state.body.errcode]).to.deep.equal([400, 'M_BAD_JSON']);
    const nested = `{"initial_state":[{"type":"x.deep","content":{"n":${'['.repeat(300_000)}${']'.repeat(300_000)}}}]}`;
    const create = await raw(`${hs.url}${C}/createRoom`, 'POST', nested, alice.token);
    expect([create.status, create.body.errcode]).to.deep.equal([400, 'M_BAD_JSON']);
    // Well under the body limit, still too deep to be stored and served.
    const shallow = await raw(
      `${hs.url}${C}/rooms/${enc(roomId)}/send/m.room.message/shallow`,
      'PUT',
      `{"n":${'['.repeat(200)}${']'.repeat(200)}}`,
      alice.token,
    );
    expect([shallow.status, shallow.body.errcode]).to.deep.equal([400, 'M_BAD_JSON']);
    await roomStillWorks();
  });

  it('refuses a 70 KiB event with 413 M_TOO_LARGE and stores a 60 KiB one', async () => {
    const big = await api.call('PUT', `${C}/rooms/${enc(roomId)}/send/m.room.message/big`, {
      token: alice.token,
      body: { msgtype: 'm.text', body: 'x'.repeat(70 * 1024) },
    });
    expect([big.status, big.body.errcode]).to.deep.equal([413, 'M_TOO_LARGE']);
    const bigState = await api.call('PUT', `${C}/rooms/${enc(roomId)}/state/m.room.topic`, {
      token: alice.token,
      body: { topic: 'x'.repeat(70 * 1024) },
    });
    expect([bigState.status, bigState.body.errcode]).to.deep.equal([413, 'M_TOO_LARGE']);
    const fits = await api.call('PUT', `${C}/rooms/${enc(roomId)}/send/m.room.message/fits`, {
      token: alice.token,
      body: { msgtype: 'm.text', body: 'x'.repeat(60 * 1024) },
    });
    expect(fits.status).to.equal(200);
    const timeline = hs.data.rooms.get(roomId)!.timeline;
    expect(timeline.some((e) => typeof e.content.body === 'string' && e.content.body.length > 65_536)).to.equal(false);
    await roomStillWorks();
  });

  it('refuses a createRoom whose initial_state is too large without leaving half a room', async () => {
    const before = hs.data.rooms.size;
    const res = await api.call('POST', `${C}/createRoom`, {
      token: alice.token,
      body: { initial_state: [{ type: 'm.room.topic', content: { topic: 'x'.repeat(70 * 1024) } }] },
    });
    expect([res.status, res.body.errcode]).to.deep.equal([413, 'M_TOO_LARGE']);
    expect(hs.data.rooms.size).to.equal(before);
  });

  it('answers garbage JSON with 400 M_NOT_JSON and a non-object with 400 M_BAD_JSON', async () => {
    const garbage = await raw(
      `${hs.url}${C}/rooms/${enc(roomId)}/send/m.room.message/g`,
      'PUT',
      '{"msgtype": "m.text", "body": ',
      alice.token,
    );
    expect([garbage.status, garbage.body.errcode]).to.deep.equal([400, 'M_NOT_JSON']);
    const pluginParsed = await raw(
      `${hs.url}${C}/rooms/${enc(roomId)}/invite`,
      'POST',
      '\u0000\u0001garbage',
      alice.token,
    );
    expect([pluginParsed.status, pluginParsed.body.errcode]).to.deep.equal([400, 'M_NOT_JSON']);
    const array = await raw(`${hs.url}${C}/rooms/${enc(roomId)}/send/m.room.message/a`, 'PUT', '[1,2,3]', alice.token);
    expect([array.status, array.body.errcode]).to.deep.equal([400, 'M_BAD_JSON']);
    await roomStillWorks();
  });

  it('never stores an event that publish() would refuse (an invite of a malformed user id)', async () => {
    const count = hs.data.rooms.get(roomId)!.timeline.length;
    const res = await api.call('POST', `${C}/rooms/${enc(roomId)}/invite`, {
      token: alice.token,
      body: { user_id: '@no-server-part' },
    });
    expect(res.status).to.equal(400);
    expect(res.body.errcode).to.be.a('string');
    const stateKey = await api.call(
      'PUT',
      `${C}/rooms/${enc(roomId)}/state/${enc('m.room.member')}/${enc('@no-server-part')}`,
      { token: alice.token, body: { membership: 'invite' } },
    );
    expect(stateKey.status).to.equal(400);
    expect(hs.data.rooms.get(roomId)!.timeline.length).to.equal(count);
    await roomStillWorks();
  });

  it('answers every error as Matrix JSON: unknown paths, wrong methods, ids over 255 bytes', async () => {
    const wrongMethod = await request(`${hs.url}/_matrix/client/versions`, { method: 'DELETE' });
    expect(wrongMethod.statusCode).to.equal(405);
    expect(((await wrongMethod.body.json()) as Json).errcode).to.equal('M_UNRECOGNIZED');
    const longType = await api.call('PUT', `${C}/rooms/${enc(roomId)}/send/${'t'.repeat(300)}/long`, {
      token: alice.token,
      body: {},
    });
    expect([longType.status, longType.body.errcode]).to.deep.equal([413, 'M_TOO_LARGE']);
    const badEncoding = await request(`${hs.url}${C}/rooms/%E0%A4%A/messages`, {
      headers: { authorization: `Bearer ${alice.token}` },
    });
    expect(badEncoding.statusCode).to.be.within(400, 499);
    expect(((await badEncoding.body.json()) as Json).errcode).to.be.a('string');
    await roomStillWorks();
  });
});
