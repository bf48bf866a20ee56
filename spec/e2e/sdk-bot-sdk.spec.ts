/**
 * A small bridge on `@vector-im/matrix-bot-sdk` (Appservice + Intent, as hookshot and many bridges
 * use it) against the reference homeserver: hookshot's start-up calls, then the original scenario
 * (alias query -> the SDK creates the room -> the client joins; user query -> the SDK registers the
 * ghost -> the invite goes through; a message in a transaction; a reply with a massaged ts).
 * The SDK's crypto dependency is a stub (package.json overrides); encryption stays off.
 */
import { expect } from 'chai';
import botSdk from '@vector-im/matrix-bot-sdk';
import { MemoryStore } from '../../lib/index.ts';
import { startHomeserver, type RunningHomeserver } from '../../examples/homeserver/index.ts';
import { Api, enc, eventually, type Json } from './support/client.ts';
import { freePort } from './support/free-port.ts';

const { Appservice, LogLevel, LogService, MemoryStorageProvider } = botSdk;
const C = '/_matrix/client/v3';
const REPLY_TS = 1_700_000_000_000;

describe('e2e: a bridge on @vector-im/matrix-bot-sdk against the reference homeserver', function () {
  this.timeout(30_000);
  let hs: RunningHomeserver;
  let bridge: InstanceType<typeof Appservice>;
  const received: Json[] = [];

  before(async () => {
    // The SDK logs expected answers (M_USER_IN_USE on re-registration, 404 account data) as errors.
    const quiet = () => {};
    LogService.setLogger({ info: quiet, warn: quiet, error: quiet, debug: quiet, trace: quiet });
    LogService.setLevel(LogLevel.ERROR);
    const port = await freePort();
    const registration = {
      id: 'botsdk',
      url: `http://127.0.0.1:${port}`,
      as_token: 'botsdk-as-token',
      hs_token: 'botsdk-hs-token',
      sender_localpart: 'botsdk',
      namespaces: {
        users: [{ exclusive: true, regex: '@_bot_.*' }],
        aliases: [{ exclusive: true, regex: '#_bot_.*' }],
        rooms: [],
      },
      rate_limited: false,
    };
    hs = await startHomeserver({ store: new MemoryStore(), registrations: [registration], backoffInitialMs: 20 });
    bridge = new Appservice({
      homeserverName: 'localhost',
      homeserverUrl: hs.url,
      port,
      bindAddress: '127.0.0.1',
      registration,
      storage: new MemoryStorageProvider(),
    });
    bridge.on('query.room', (alias: string, create: (room: unknown) => void) =>
      create({ preset: 'public_chat', name: `Bridged ${alias}` }),
    );
    bridge.on('query.user', (_userId: string, create: (user: unknown) => void) =>
      create({ display_name: 'Bob (bridged)' }),
    );
    bridge.on('room.message', (_roomId: string, event: Json) => void received.push(event));
  });

  after(async () => {
    bridge?.stop();
    await hs?.close();
  });

  it("completes hookshot's start-up sequence", async () => {
    const bot = bridge.botIntent;
    // Hookshot retries this until it answers: the first sign the homeserver is there.
    expect(await bot.getJoinedRooms()).to.deep.equal([]);
    await bot.ensureRegistered();
    expect((await bot.underlyingClient.getWhoAmI()).user_id).to.equal('@botsdk:localhost');
    expect(await bot.underlyingClient.doesServerSupportVersion('v1.11')).to.equal(true);
    expect((await bot.underlyingClient.getCapabilities())['m.room_versions']).to.be.an('object');
    // Its bot users manager: profile read, then set when it differs.
    await bot.underlyingClient.setDisplayName('Hookshot-like bot');
    expect((await bot.underlyingClient.getUserProfile('@botsdk:localhost')).displayname).to.equal('Hookshot-like bot');
    await bridge.begin();
    // Then for each joined room: members, state, and the admin-room account data (absent is null).
    const roomId = await bot.underlyingClient.createRoom({ preset: 'private_chat' });
    expect(await bot.getJoinedRooms()).to.deep.equal([roomId]);
    expect(await bot.underlyingClient.getJoinedRoomMembers(roomId)).to.deep.equal(['@botsdk:localhost']);
    expect((await bot.underlyingClient.getRoomState(roomId)).map((e: Json) => e.type)).to.include('m.room.create');
    expect(
      await bot.underlyingClient.getSafeRoomAccountData('uk.half-shot.matrix-hookshot.github.room', roomId),
    ).to.equal(null);
    await bot.underlyingClient.setRoomAccountData('uk.half-shot.matrix-hookshot.github.room', roomId, {
      admin_user: '@alice:localhost',
    });
    expect(
      await bot.underlyingClient.getRoomAccountData('uk.half-shot.matrix-hookshot.github.room', roomId),
    ).to.deep.equal({ admin_user: '@alice:localhost' });
  });

  it('runs the scenario: alias query, user query, a message in a transaction, a reply with ts', async () => {
    const api = new Api(hs.url);
    const alice = await api.register('alice');
    const join = await api.call('POST', `${C}/join/${enc('#_bot_lobby:localhost')}`, { token: alice.token });
    expect(join.status, JSON.stringify(join.body)).to.equal(200);
    const roomId = join.body.room_id as string;
    expect(
      (await api.call('GET', `${C}/rooms/${enc(roomId)}/state/m.room.name`, { token: alice.token })).body.name,
    ).to.equal('Bridged #_bot_lobby:localhost');

    const invite = await api.call('POST', `${C}/rooms/${enc(roomId)}/invite`, {
      token: alice.token,
      body: { user_id: '@_bot_bob:localhost' },
    });
    expect(invite.status, JSON.stringify(invite.body)).to.equal(200);
    expect((await api.call('GET', `${C}/profile/${enc('@_bot_bob:localhost')}/displayname`)).body.displayname).to.equal(
      'Bob (bridged)',
    );

    const sent = await api.call('PUT', `${C}/rooms/${enc(roomId)}/send/m.room.message/1`, {
      token: alice.token,
      body: { msgtype: 'm.text', body: 'hello bridge' },
    });
    const message = await eventually(() => received.find((e) => e.event_id === sent.body.event_id), 10_000);
    expect(message.content.body).to.equal('hello bridge');

    // The ghost joins with the SDK's Intent and replies with the remote network's timestamp.
    const bob = bridge.getIntentForUserId('@_bot_bob:localhost');
    await bob.joinRoom(roomId);
    const replyId = await bob.underlyingClient.doRequest(
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
      event_id: replyId.event_id,
      sender: '@_bot_bob:localhost',
      origin_server_ts: REPLY_TS,
    });

    // Media through the SDK: upload, then the authenticated download it picks for v1.11 servers.
    const mxc = await bob.underlyingClient.uploadContent(Buffer.from('bridged file'), 'text/plain', 'a.txt');
    const download = await bob.underlyingClient.downloadContent(mxc);
    expect(download.data.toString()).to.equal('bridged file');
  });
});
