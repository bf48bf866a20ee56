/**
 * The rest of a bridge's normal life on the reference homeserver: start-up calls, profiles,
 * presence, typing, receipts and read markers (handed to the AS as ephemeral events), account data,
 * aliases and the AS room list, media upload and authenticated download, /sync as a ghost.
 */
import { expect } from 'chai';
import { request } from 'undici';
import { enc, eventually } from './support/client.ts';
import { AS_TOKEN, bridgeFixture, C, type BridgeFixture, type Json } from './support/bridge-fixture.ts';

describe('e2e: reference homeserver endpoints of a bridge’s normal life', () => {
  let f: BridgeFixture;
  beforeEach(async () => {
    f = await bridgeFixture();
  });
  afterEach(async () => {
    await f.close();
  });
  const bot = '@bridgebot:localhost';

  async function room(...ghosts: string[]): Promise<string> {
    const roomId = (await f.as('POST', `${C}/createRoom`, { preset: 'public_chat' })).body.room_id as string;
    for (const ghost of ghosts) await f.as('POST', `${C}/join/${enc(roomId)}`, {}, ghost);
    return roomId;
  }

  it('start-up: versions, whoami (bot and masqueraded ghost), joined_rooms, capabilities, filter, push rules', async () => {
    const versions = await f.api.call('GET', '/_matrix/client/versions');
    expect(versions.body.versions).to.include('v1.11');
    expect((await f.as('GET', `${C}/account/whoami`)).body.user_id).to.equal(bot);
    const ghost = await f.ghost('ghost_a');
    expect((await f.as('GET', `${C}/account/whoami`, undefined, ghost)).body.user_id).to.equal(ghost);
    expect((await f.as('GET', `${C}/joined_rooms`)).body).to.deep.equal({ joined_rooms: [] });
    const caps = await f.as('GET', `${C}/capabilities`);
    expect(caps.body.capabilities['m.room_versions'].default).to.equal('10');
    const filter = await f.as('POST', `${C}/user/${enc(bot)}/filter`, { room: { timeline: { limit: 1 } } });
    expect((await f.as('GET', `${C}/user/${enc(bot)}/filter/${filter.body.filter_id}`)).body).to.deep.equal({
      room: { timeline: { limit: 1 } },
    });
    expect((await f.as('GET', `${C}/pushrules/`)).body.global).to.be.an('object');
    expect((await f.api.call('GET', `${C}/register/available`, { query: { username: 'carol' } })).body).to.deep.equal({
      available: true,
    });
  });

  it('profile: displayname and avatar_url set by the ghost, read by anyone, reflected in joined rooms', async () => {
    const ghost = await f.ghost('ghost_a');
    const roomId = await room(ghost);
    expect(
      (await f.as('PUT', `${C}/profile/${enc(ghost)}/displayname`, { displayname: 'Alice' }, ghost)).status,
    ).to.equal(200);
    expect(
      (await f.as('PUT', `${C}/profile/${enc(ghost)}/avatar_url`, { avatar_url: 'mxc://localhost/abc' }, ghost)).status,
    ).to.equal(200);
    expect((await f.as('PUT', `${C}/profile/${enc(ghost)}/displayname`, { displayname: 'Mallory' })).status).to.equal(
      403,
    );
    expect((await f.api.call('GET', `${C}/profile/${enc(ghost)}`)).body).to.deep.equal({
      displayname: 'Alice',
      avatar_url: 'mxc://localhost/abc',
    });
    expect((await f.api.call('GET', `${C}/profile/${enc(ghost)}/displayname`)).body).to.deep.equal({
      displayname: 'Alice',
    });
    expect((await f.as('GET', `${C}/rooms/${enc(roomId)}/joined_members`)).body.joined[ghost]).to.deep.equal({
      display_name: 'Alice',
      avatar_url: 'mxc://localhost/abc',
    });
  });

  it('presence, typing, receipts and read markers reach the AS as ephemeral events', async () => {
    const ghost = await f.ghost('ghost_a');
    const roomId = await room(ghost);
    const r = enc(roomId);
    const eventId = (await f.as('PUT', `${C}/rooms/${r}/send/m.room.message/1`, { msgtype: 'm.text', body: 'hi' })).body
      .event_id as string;
    expect(
      (await f.as('PUT', `${C}/presence/${enc(ghost)}/status`, { presence: 'online', status_msg: 'bridged' }, ghost))
        .status,
    ).to.equal(200);
    expect((await f.as('GET', `${C}/presence/${enc(ghost)}/status`)).body).to.include({
      presence: 'online',
      status_msg: 'bridged',
    });
    expect(
      (await f.as('PUT', `${C}/rooms/${r}/typing/${enc(ghost)}`, { typing: true, timeout: 5000 }, ghost)).status,
    ).to.equal(200);
    expect((await f.as('POST', `${C}/rooms/${r}/receipt/m.read/${enc(eventId)}`, {}, ghost)).status).to.equal(200);
    expect(
      (await f.as('POST', `${C}/rooms/${r}/read_markers`, { 'm.fully_read': eventId, 'm.read': eventId }, ghost))
        .status,
    ).to.equal(200);
    expect(
      (await f.as('GET', `${C}/user/${enc(ghost)}/rooms/${r}/account_data/m.fully_read`, undefined, ghost)).body,
    ).to.deep.equal({ event_id: eventId });
    const ephemeral = () => f.mock.ephemeral as Json[];
    await eventually(() => ephemeral().find((e) => e.type === 'm.presence' && e.sender === ghost));
    await eventually(() =>
      ephemeral().find((e) => e.type === 'm.typing' && e.room_id === roomId && e.content.user_ids.includes(ghost)),
    );
    await eventually(() =>
      ephemeral().filter((e) => e.type === 'm.receipt' && e.content[eventId]?.['m.read']?.[ghost]).length === 2
        ? true
        : undefined,
    );
    expect((await f.as('PUT', `${C}/rooms/${r}/typing/${enc(bot)}`, { typing: true }, ghost)).status).to.equal(403);
  });

  it('account data, global and per room, readable only by its owner', async () => {
    const ghost = await f.ghost('ghost_a');
    const roomId = await room(ghost);
    const path = `${C}/user/${enc(ghost)}/account_data/org.example.bridge`;
    expect((await f.as('GET', path, undefined, ghost)).status).to.equal(404);
    expect((await f.as('PUT', path, { remote: 'alice@irc' }, ghost)).status).to.equal(200);
    expect((await f.as('GET', path, undefined, ghost)).body).to.deep.equal({ remote: 'alice@irc' });
    expect((await f.as('GET', path)).status).to.equal(403);
    const roomPath = `${C}/user/${enc(ghost)}/rooms/${enc(roomId)}/account_data/org.example.room`;
    expect((await f.as('PUT', roomPath, { channel: '#a' }, ghost)).status).to.equal(200);
    expect((await f.as('GET', roomPath, undefined, ghost)).body).to.deep.equal({ channel: '#a' });
  });

  it('directory: alias put, get and delete; the AS room list read back through publicRooms', async () => {
    const roomId = await room();
    const alias = enc('#bridged_chan:localhost');
    expect((await f.as('PUT', `${C}/directory/room/${alias}`, { room_id: roomId })).status).to.equal(200);
    expect((await f.api.call('GET', `${C}/directory/room/${alias}`)).body.room_id).to.equal(roomId);
    expect(
      (await f.as('PUT', `${C}/directory/list/appservice/irc/${enc(roomId)}`, { visibility: 'public' })).status,
    ).to.equal(200);
    const listed = await f.as('POST', `${C}/publicRooms`, { third_party_instance_id: 'bridge|irc' });
    expect((listed.body.chunk as Json[]).map((e) => e.room_id)).to.deep.equal([roomId]);
    expect((await f.as('DELETE', `${C}/directory/list/appservice/irc/${enc(roomId)}`)).status).to.equal(200);
    expect(
      (await f.as('POST', `${C}/publicRooms`, { third_party_instance_id: 'bridge|irc' })).body.chunk,
    ).to.deep.equal([]);
    expect((await f.as('DELETE', `${C}/directory/room/${alias}`)).status).to.equal(200);
    expect((await f.api.call('GET', `${C}/directory/room/${alias}`)).status).to.equal(404);
  });

  it('media: upload, then download through the authenticated v1 path (token required) and the legacy one', async () => {
    const bytes = Buffer.from([0, 1, 2, 3, 254, 255]);
    const up = await request(
      `${f.hs.url}/_matrix/media/v3/upload?filename=a.bin&user_id=${enc('@ghost_x:localhost')}`,
      {
        method: 'POST',
        headers: { authorization: `Bearer ${AS_TOKEN}`, 'content-type': 'application/octet-stream' },
        body: bytes,
      },
    );
    // The ghost does not exist yet: identity assertion refuses it.
    expect(up.statusCode).to.equal(403);
    await up.body.dump();
    const upload = await request(`${f.hs.url}/_matrix/media/v3/upload?filename=a.bin`, {
      method: 'POST',
      headers: { authorization: `Bearer ${AS_TOKEN}`, 'content-type': 'image/png' },
      body: bytes,
    });
    expect(upload.statusCode).to.equal(200);
    const uri = ((await upload.body.json()) as Json).content_uri as string;
    expect(uri).to.match(/^mxc:\/\/localhost\/\S+$/);
    const mediaPath = uri.slice('mxc://'.length);
    const anonymous = await request(`${f.hs.url}/_matrix/client/v1/media/download/${mediaPath}`);
    expect(anonymous.statusCode).to.equal(401);
    await anonymous.body.dump();
    const download = await request(`${f.hs.url}/_matrix/client/v1/media/download/${mediaPath}`, {
      headers: { authorization: `Bearer ${AS_TOKEN}` },
    });
    expect(download.statusCode).to.equal(200);
    expect(download.headers['content-type']).to.equal('image/png');
    expect(Buffer.from(await download.body.arrayBuffer())).to.deep.equal(bytes);
    const legacy = await request(`${f.hs.url}/_matrix/media/v3/download/${mediaPath}`);
    expect(Buffer.from(await legacy.body.arrayBuffer())).to.deep.equal(bytes);
    expect((await f.as('GET', '/_matrix/client/v1/media/config')).body['m.upload.size']).to.be.a('number');
  });

  it('/sync for a masqueraded ghost: its rooms and invites, then only what is new', async () => {
    const ghost = await f.ghost('ghost_a');
    const roomId = await room(ghost);
    const invitedTo = (await f.as('POST', `${C}/createRoom`, { invite: [ghost] })).body.room_id as string;
    const first = await f.as('GET', `${C}/sync`, undefined, ghost);
    expect(first.status).to.equal(200);
    expect(first.body.rooms.join).to.have.property(roomId);
    expect(first.body.rooms.invite).to.have.property(invitedTo);
    await f.as('PUT', `${C}/rooms/${enc(roomId)}/send/m.room.message/1`, { msgtype: 'm.text', body: 'new' });
    const next = await f.as('GET', `${C}/sync`, undefined, ghost, { since: first.body.next_batch, timeout: '1000' });
    expect((next.body.rooms.join[roomId].timeline.events as Json[]).map((e) => e.content.body)).to.deep.equal(['new']);
  });
});
