/**
 * The room endpoints a bridge uses in its normal life, called as a bridge calls them (its bot and
 * ghosts through the as_token): createRoom with its options, every membership change and both
 * member lists, state, messages with `ts`, redactions, /messages, /context and single events.
 */
import { expect } from 'chai';
import { enc, eventually } from './support/client.ts';
import { bridgeFixture, C, type BridgeFixture, type Json } from './support/bridge-fixture.ts';

describe('e2e: reference homeserver rooms, membership, state and messages (as a bridge calls them)', () => {
  let f: BridgeFixture;
  beforeEach(async () => {
    f = await bridgeFixture();
  });
  afterEach(async () => {
    await f.close();
  });
  const bot = '@bridgebot:localhost';

  it('createRoom with initial_state, power_levels_content_override, invite and is_direct', async () => {
    const ghost = await f.ghost('ghost_alice');
    const res = await f.as('POST', `${C}/createRoom`, {
      preset: 'private_chat',
      name: 'Bridged',
      is_direct: true,
      invite: [ghost],
      initial_state: [{ type: 'm.bridge', state_key: 'irc', content: { protocol: { id: 'irc' } } }],
      power_levels_content_override: { users: { [ghost]: 50 }, events_default: 10 },
    });
    expect(res.status).to.equal(200);
    const roomId = res.body.room_id as string;
    const levels = await f.as('GET', `${C}/rooms/${enc(roomId)}/state/m.room.power_levels`);
    expect(levels.body.users).to.deep.equal({ [bot]: 100, [ghost]: 50 });
    expect(levels.body.events_default).to.equal(10);
    expect((await f.as('GET', `${C}/rooms/${enc(roomId)}/state/m.bridge/irc`)).body).to.deep.equal({
      protocol: { id: 'irc' },
    });
    const member = await f.as('GET', `${C}/rooms/${enc(roomId)}/state/m.room.member/${enc(ghost)}`);
    expect(member.body).to.include({ membership: 'invite', is_direct: true });
    expect((await f.as('GET', `${C}/rooms/${enc(roomId)}/state/m.room.name`)).body.name).to.equal('Bridged');
  });

  it('join, leave, invite, kick, ban, unban, forget; joined_members and members; joined_rooms', async () => {
    const a = await f.ghost('ghost_a');
    const b = await f.ghost('ghost_b');
    const roomId = (await f.as('POST', `${C}/createRoom`, { preset: 'public_chat' })).body.room_id as string;
    const r = enc(roomId);
    expect((await f.as('POST', `${C}/join/${r}`, {}, a)).status).to.equal(200);
    expect((await f.as('POST', `${C}/rooms/${r}/invite`, { user_id: b }, a)).status).to.equal(200);
    expect((await f.as('POST', `${C}/rooms/${r}/join`, {}, b)).status).to.equal(200);
    expect((await f.as('GET', `${C}/joined_rooms`, undefined, b)).body.joined_rooms).to.deep.equal([roomId]);
    const joined = await f.as('GET', `${C}/rooms/${r}/joined_members`);
    expect(Object.keys(joined.body.joined).sort()).to.deep.equal([bot, a, b].sort());
    // A ghost at power 0 cannot kick; the bot can.
    expect((await f.as('POST', `${C}/rooms/${r}/kick`, { user_id: b, reason: 'x' }, a)).status).to.equal(403);
    expect((await f.as('POST', `${C}/rooms/${r}/kick`, { user_id: b, reason: 'spam' })).status).to.equal(200);
    const kicked = await f.as('GET', `${C}/rooms/${r}/state/m.room.member/${enc(b)}`);
    expect(kicked.body).to.deep.equal({ membership: 'leave', reason: 'spam' });
    expect((await f.as('POST', `${C}/rooms/${r}/ban`, { user_id: b })).status).to.equal(200);
    expect((await f.as('POST', `${C}/join/${r}`, {}, b)).status).to.equal(403);
    expect((await f.as('POST', `${C}/rooms/${r}/unban`, { user_id: b })).status).to.equal(200);
    expect((await f.as('POST', `${C}/join/${r}`, {}, b)).status).to.equal(200);
    expect((await f.as('POST', `${C}/rooms/${r}/leave`, {}, a)).status).to.equal(200);
    expect((await f.as('POST', `${C}/rooms/${r}/forget`, {}, a)).status).to.equal(200);
    const members = await f.as('GET', `${C}/rooms/${r}/members`);
    const byUser = Object.fromEntries((members.body.chunk as Json[]).map((e) => [e.state_key, e.content.membership]));
    expect(byUser).to.deep.equal({ [bot]: 'join', [a]: 'leave', [b]: 'join' });
    const onlyLeft = await f.as('GET', `${C}/rooms/${r}/members`, undefined, bot, { membership: 'leave' });
    expect((onlyLeft.body.chunk as Json[]).map((e) => e.state_key)).to.deep.equal([a]);
    expect((await f.as('GET', `${C}/joined_rooms`, undefined, a)).body.joined_rooms).to.deep.equal([]);
  });

  it('state: put and get any type and key, the whole state, and a ghost room profile through m.room.member', async () => {
    const a = await f.ghost('ghost_a');
    const roomId = (await f.as('POST', `${C}/createRoom`, { preset: 'public_chat' })).body.room_id as string;
    const r = enc(roomId);
    await f.as('POST', `${C}/join/${r}`, {}, a);
    expect((await f.as('PUT', `${C}/rooms/${r}/state/m.room.topic`, { topic: 'hi' })).status).to.equal(200);
    expect(
      (await f.as('PUT', `${C}/rooms/${r}/state/org.example.custom/key%2Fwith%2Fslash`, { v: 1 })).status,
    ).to.equal(200);
    expect((await f.as('GET', `${C}/rooms/${r}/state/org.example.custom/key%2Fwith%2Fslash`)).body).to.deep.equal({
      v: 1,
    });
    expect((await f.as('GET', `${C}/rooms/${r}/state/m.room.topic/`)).body).to.deep.equal({ topic: 'hi' });
    expect((await f.as('GET', `${C}/rooms/${r}/state/m.room.avatar`)).status).to.equal(404);
    // matrix-appservice-bridge's setRoomUserProfile: the ghost's own member event with a room-only name.
    const profile = await f.as(
      'PUT',
      `${C}/rooms/${r}/state/m.room.member/${enc(a)}`,
      { membership: 'join', displayname: 'Alice (IRC)' },
      a,
    );
    expect(profile.status).to.equal(200);
    const whole = await f.as('GET', `${C}/rooms/${r}/state`);
    const types = (whole.body as unknown as Json[]).map((e) => `${e.type}|${e.state_key}`);
    expect(types).to.include.members([
      'm.room.create|',
      'm.room.topic|',
      'org.example.custom|key/with/slash',
      `m.room.member|${a}`,
    ]);
    expect((await f.as('GET', `${C}/rooms/${r}/joined_members`)).body.joined[a].display_name).to.equal('Alice (IRC)');
  });

  it('messages: send with ts, redact, one event, /messages and /context; the AS receives the redaction', async () => {
    const a = await f.ghost('ghost_a');
    const roomId = (await f.as('POST', `${C}/createRoom`, { preset: 'public_chat' })).body.room_id as string;
    const r = enc(roomId);
    await f.as('POST', `${C}/join/${r}`, {}, a);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const sent = await f.as(
        'PUT',
        `${C}/rooms/${r}/send/m.room.message/t${i}`,
        { msgtype: 'm.text', body: `m${i}` },
        a,
        { ts: String(1_600_000_000_000 + i) },
      );
      ids.push(sent.body.event_id as string);
    }
    const one = await f.as('GET', `${C}/rooms/${r}/event/${enc(ids[2]!)}`);
    expect(one.body).to.include({ origin_server_ts: 1_600_000_000_002, sender: a });
    const redaction = await f.as('PUT', `${C}/rooms/${r}/redact/${enc(ids[1]!)}/red1`, { reason: 'oops' }, a);
    expect(redaction.status).to.equal(200);
    expect(
      (await f.as('PUT', `${C}/rooms/${r}/redact/${enc(ids[1]!)}/red1`, { reason: 'oops' }, a)).body.event_id,
    ).to.equal(redaction.body.event_id);
    const redacted = await f.as('GET', `${C}/rooms/${r}/event/${enc(ids[1]!)}`);
    expect(redacted.body.content).to.deep.equal({});
    expect(redacted.body.unsigned.redacted_because.event_id).to.equal(redaction.body.event_id);
    // Another ghost may not redact what it did not send.
    const b = await f.ghost('ghost_b');
    await f.as('POST', `${C}/join/${r}`, {}, b);
    expect((await f.as('PUT', `${C}/rooms/${r}/redact/${enc(ids[3]!)}/x`, {}, b)).status).to.equal(403);
    const context = await f.as('GET', `${C}/rooms/${r}/context/${enc(ids[2]!)}`, undefined, bot, { limit: '2' });
    expect(context.body.event.event_id).to.equal(ids[2]);
    expect((context.body.events_before as Json[]).map((e) => e.event_id)).to.deep.equal([ids[1]]);
    expect((context.body.events_after as Json[]).map((e) => e.event_id)).to.deep.equal([ids[3]]);
    const earlier = await f.as('GET', `${C}/rooms/${r}/messages`, undefined, bot, {
      dir: 'b',
      from: context.body.start,
      limit: '1',
    });
    expect((earlier.body.chunk as Json[]).map((e) => e.event_id)).to.deep.equal([ids[0]]);
    const last = await f.as('GET', `${C}/rooms/${r}/messages`, undefined, bot, { dir: 'b', limit: '1' });
    expect(last.body.chunk[0].type).to.equal('m.room.member');
    await eventually(() =>
      f.mock.events.find((e) => (e as Json).type === 'm.room.redaction' && (e as Json).redacts === ids[1]),
    );
  });
});
