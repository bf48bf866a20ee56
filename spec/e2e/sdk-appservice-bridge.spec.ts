/**
 * A small bridge on `matrix-appservice-bridge` 10.x (Bridge + Intent, as matrix-appservice-irc,
 * -slack and -discord use it) against the reference homeserver, through the original scenario:
 * alias query -> the bridge creates the room -> the client joins; user query -> the bridge
 * registers the ghost -> the invite goes through; a message in a transaction; a reply with ts.
 * Its crypto dependency is a stub (package.json overrides); encryption stays off.
 */
import { expect } from 'chai';
import bridgeSdk from 'matrix-appservice-bridge';
import { MemoryStore } from '../../lib/index.ts';
import { startHomeserver, type RunningHomeserver } from '../../examples/homeserver/index.ts';
import { Api, enc, eventually, type Json } from './support/client.ts';
import { freePort } from './support/free-port.ts';

const { AppServiceRegistration, Bridge, Logger } = bridgeSdk;
const C = '/_matrix/client/v3';
const REPLY_TS = 1_700_000_000_000;

describe('e2e: a bridge on matrix-appservice-bridge against the reference homeserver', function () {
  this.timeout(30_000);
  let hs: RunningHomeserver;
  let bridge: InstanceType<typeof Bridge>;
  const received: Json[] = [];

  before(async () => {
    Logger.configure({ console: 'error' });
    const port = await freePort();
    const registration = {
      id: 'mab',
      url: `http://127.0.0.1:${port}`,
      as_token: 'mab-as-token',
      hs_token: 'mab-hs-token',
      sender_localpart: 'mabbot',
      namespaces: {
        users: [{ exclusive: true, regex: '@remote_.*' }],
        aliases: [{ exclusive: true, regex: '#remote_.*' }],
        rooms: [],
      },
      rate_limited: false,
    };
    hs = await startHomeserver({ store: new MemoryStore(), registrations: [registration], backoffInitialMs: 20 });
    bridge = new Bridge({
      homeserverUrl: hs.url,
      domain: 'localhost',
      registration: AppServiceRegistration.fromObject(registration)!,
      disableStores: true,
      controller: {
        onUserQuery: () => ({ name: 'Bob (remote)' }),
        onAliasQuery: (_alias: string, localpart: string) => ({
          creationOpts: { room_alias_name: localpart, preset: 'public_chat', name: `Remote ${localpart}` },
        }),
        onEvent: (request: { getData(): Json }) => void received.push(request.getData()),
      },
    });
    await bridge.run(port, undefined, '127.0.0.1');
  });

  after(async () => {
    await bridge?.close();
    await hs?.close();
  });

  it('starts: its bot is registered and knows itself', async () => {
    const bot = bridge.getBot();
    expect(bot.getUserId()).to.equal('@mabbot:localhost');
    expect(await bot.getJoinedRooms()).to.deep.equal([]);
    expect((await bridge.getIntent().matrixClient.getWhoAmI()).user_id).to.equal('@mabbot:localhost');
  });

  it('runs the scenario: alias query, user query, a message in a transaction, a reply with ts', async () => {
    const api = new Api(hs.url);
    const alice = await api.register('alice');
    const join = await api.call('POST', `${C}/join/${enc('#remote_chan:localhost')}`, { token: alice.token });
    expect(join.status, JSON.stringify(join.body)).to.equal(200);
    const roomId = join.body.room_id as string;
    expect(
      (await api.call('GET', `${C}/rooms/${enc(roomId)}/state/m.room.name`, { token: alice.token })).body.name,
    ).to.equal('Remote remote_chan');

    const invite = await api.call('POST', `${C}/rooms/${enc(roomId)}/invite`, {
      token: alice.token,
      body: { user_id: '@remote_bob:localhost' },
    });
    expect(invite.status, JSON.stringify(invite.body)).to.equal(200);
    expect(
      (await api.call('GET', `${C}/profile/${enc('@remote_bob:localhost')}/displayname`)).body.displayname,
    ).to.equal('Bob (remote)');

    const sent = await api.call('PUT', `${C}/rooms/${enc(roomId)}/send/m.room.message/1`, {
      token: alice.token,
      body: { msgtype: 'm.text', body: 'hello remote' },
    });
    const message = await eventually(() => received.find((e) => e.event_id === sent.body.event_id), 10_000);
    expect(message.content.body).to.equal('hello remote');

    // The ghost's Intent joins, sets a room-only name (a member state event), and replies with the remote ts.
    const bob = bridge.getIntent('@remote_bob:localhost');
    await bob.join(roomId);
    await bob.setRoomUserProfile(roomId, { displayname: 'Bob in this room' });
    const reply = await bob.matrixClient.doRequest(
      'PUT',
      `${C}/rooms/${enc(roomId)}/send/m.room.message/reply-1`,
      { ts: REPLY_TS },
      { msgtype: 'm.text', body: 'hi alice' },
    );
    const messages = await api.call('GET', `${C}/rooms/${enc(roomId)}/messages`, {
      token: alice.token,
      query: { dir: 'b', limit: '1' },
    });
    expect(messages.body.chunk[0]).to.include({
      event_id: reply.event_id,
      sender: '@remote_bob:localhost',
      origin_server_ts: REPLY_TS,
    });
    const members = await api.call('GET', `${C}/rooms/${enc(roomId)}/joined_members`, { token: alice.token });
    expect(members.body.joined['@remote_bob:localhost'].display_name).to.equal('Bob in this room');
    // And the Intent's usual calls: typing, a read receipt, one event back.
    await bob.sendTyping(roomId, true);
    await bob.sendReadReceipt(roomId, sent.body.event_id as string);
    expect((await bob.getEvent(roomId, sent.body.event_id as string)).content.body).to.equal('hello remote');
  });
});
