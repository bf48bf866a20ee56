import { expect } from 'chai';
import type { MatrixEvent } from '../lib/events.ts';
import type { Host } from '../lib/host.ts';
import { Interest } from '../lib/interest.ts';
import { NamespaceIndex } from '../lib/namespace/namespace-index.ts';
import type { Registration } from '../lib/registration/registration.ts';
import { registration } from './push/registrations.ts';

/** A host whose room facts the test sets, counting how often it is asked. */
class FakeHost implements Host {
  readonly serverName = 'hs.test';
  readonly aliases = new Map<string, string[]>();
  readonly members = new Map<string, string[]>();
  aliasCalls = 0;
  memberCalls = 0;
  async userExists(): Promise<boolean> {
    return false;
  }
  async resolveAlias(): Promise<string | null> {
    return null;
  }
  async authenticate(): Promise<null> {
    return null;
  }

  async roomAliases(roomId: string): Promise<string[]> {
    this.aliasCalls++;
    await new Promise((r) => setImmediate(r));
    return [...(this.aliases.get(roomId) ?? [])];
  }
  async joinedMembers(roomId: string): Promise<string[]> {
    this.memberCalls++;
    await new Promise((r) => setImmediate(r));
    return [...(this.members.get(roomId) ?? [])];
  }
}

function event(fields: Partial<MatrixEvent> = {}): MatrixEvent {
  return {
    event_id: '$e',
    room_id: '!plain:hs.test',
    type: 'm.room.message',
    sender: '@alice:hs.test',
    content: {},
    ...fields,
  };
}

function ids(regs: readonly Registration[]): string[] {
  return regs.map((r) => r.id);
}

describe('Interest', () => {
  let host: FakeHost;
  const irc = registration('irc', { users: ['@irc_.*'], aliases: ['#irc_.*'] });
  const slack = registration('slack', { users: ['@slack_.*'], rooms: ['!slack_.*'] });
  const silent = registration('silent', { url: null, users: ['@irc_.*', '@silent_.*'], rooms: ['!.*'] });
  const all = [irc, slack, silent];

  function make(regs: readonly Registration[] = all, roomCacheSize?: number): Interest {
    return new Interest(
      { host, registrations: regs, index: new NamespaceIndex(regs) },
      roomCacheSize ? { roomCacheSize } : {},
    );
  }

  beforeEach(() => {
    host = new FakeHost();
  });

  it('sends an event to the AS whose users namespace holds the (local) sender', async () => {
    expect(ids(await make().interestedIn(event({ sender: '@irc_bob:hs.test' })))).to.deep.equal(['irc']);
  });

  it('ignores a remote sender that matches a users regex: namespaces cover local users only', async () => {
    expect(ids(await make().interestedIn(event({ sender: '@irc_bob:other.test' })))).to.deep.equal([]);
  });

  it('sends an event whose sender is the AS sender_localpart user', async () => {
    expect(ids(await make().interestedIn(event({ sender: '@slack_bot:hs.test' })))).to.deep.equal(['slack']);
    expect(
      ids(
        await make([registration('x', { senderLocalpart: 'xbot' })]).interestedIn(event({ sender: '@xbot:hs.test' })),
      ),
    ).to.deep.equal(['x']);
  });

  it('sends a membership event whose target is the AS sender_localpart user (registration.yaml: "if this user is the target of the event")', async () => {
    const x = registration('x', { senderLocalpart: 'xbot' });
    const invite = event({ type: 'm.room.member', state_key: '@xbot:hs.test', content: { membership: 'invite' } });
    expect(ids(await make([x]).interestedIn(invite))).to.deep.equal(['x']);
  });

  it('sends a membership event whose state_key is in the users namespace', async () => {
    const member = event({
      type: 'm.room.member',
      state_key: '@slack_carol:hs.test',
      content: { membership: 'invite' },
    });
    expect(ids(await make().interestedIn(member))).to.deep.equal(['slack']);
    const remote = event({
      type: 'm.room.member',
      state_key: '@slack_carol:far.test',
      content: { membership: 'invite' },
    });
    expect(ids(await make().interestedIn(remote))).to.deep.equal([]);
  });

  it('does not treat the state_key of other state events as a user', async () => {
    expect(
      ids(await make().interestedIn(event({ type: 'm.room.topic', state_key: '@slack_carol:hs.test' }))),
    ).to.deep.equal([]);
  });

  it('sends an event in a room of its rooms namespace, without asking the host for that AS', async () => {
    const result = await make([slack]).interestedIn(event({ room_id: '!slack_general:hs.test' }));
    expect(ids(result)).to.deep.equal(['slack']);
    expect(host.aliasCalls + host.memberCalls).to.equal(0);
  });

  it('sends an event in a room that has an alias in its aliases namespace', async () => {
    host.aliases.set('!r:hs.test', ['#other:hs.test', '#irc_#chan:hs.test']);
    expect(ids(await make().interestedIn(event({ room_id: '!r:hs.test' })))).to.deep.equal(['irc']);
  });

  it('sends an event in a room with a joined local member in its users namespace, not a remote one', async () => {
    host.members.set('!r:hs.test', ['@alice:hs.test', '@slack_dave:hs.test', '@irc_eve:far.test']);
    expect(ids(await make().interestedIn(event({ room_id: '!r:hs.test' })))).to.deep.equal(['slack']);
  });

  it('sends an event in a room its sender_localpart user has joined', async () => {
    host.members.set('!r:hs.test', ['@irc_bot:hs.test']);
    expect(ids(await make().interestedIn(event({ room_id: '!r:hs.test' })))).to.deep.equal(['irc']);
  });

  it('never returns an AS with url null, however many rules match', async () => {
    host.members.set('!r:hs.test', ['@silent_x:hs.test']);
    expect(ids(await make().interestedIn(event({ sender: '@silent_y:hs.test', room_id: '!r:hs.test' })))).to.deep.equal(
      [],
    );
  });

  it('returns several ASes in registration order', async () => {
    host.members.set('!r:hs.test', ['@irc_a:hs.test']);
    expect(ids(await make().interestedIn(event({ sender: '@slack_b:hs.test', room_id: '!r:hs.test' })))).to.deep.equal([
      'irc',
      'slack',
    ]);
  });

  it('asks the host nothing when every AS already matched on the event itself', async () => {
    await make([irc]).interestedIn(event({ sender: '@irc_bob:hs.test' }));
    expect(host.aliasCalls + host.memberCalls).to.equal(0);
  });

  it('asks for aliases only when an AS not yet matched has an aliases namespace', async () => {
    await make([slack]).interestedIn(event());
    expect(host.aliasCalls).to.equal(0);
    expect(host.memberCalls).to.equal(1);
  });

  it('caches room facts: one host call per room, shared by concurrent events', async () => {
    const interest = make();
    await Promise.all([1, 2, 3].map(() => interest.interestedIn(event({ room_id: '!r:hs.test' }))));
    await interest.interestedIn(event({ room_id: '!r:hs.test' }));
    expect([host.aliasCalls, host.memberCalls]).to.deep.equal([1, 1]);
    await interest.interestedIn(event({ room_id: '!other:hs.test' }));
    expect([host.aliasCalls, host.memberCalls]).to.deep.equal([2, 2]);
  });

  it('drops cached members when a membership event of the room is observed', async () => {
    const interest = make();
    expect(ids(await interest.interestedIn(event({ room_id: '!r:hs.test' })))).to.deep.equal([]);
    host.members.set('!r:hs.test', ['@slack_new:hs.test']);
    // Still cached: the homeserver has not published the join yet.
    expect(ids(await interest.interestedIn(event({ room_id: '!r:hs.test' })))).to.deep.equal([]);
    const join = event({
      room_id: '!r:hs.test',
      type: 'm.room.member',
      state_key: '@alice:hs.test',
      content: { membership: 'join' },
    });
    interest.observe(join);
    expect(ids(await interest.interestedIn(event({ room_id: '!r:hs.test' })))).to.deep.equal(['slack']);
    expect(host.aliasCalls).to.equal(1);
    // Another room's facts are untouched.
    interest.observe(event({ room_id: '!elsewhere:hs.test', type: 'm.room.member', state_key: '@a:hs.test' }));
    await interest.interestedIn(event({ room_id: '!r:hs.test' }));
    expect(host.memberCalls).to.equal(2);
  });

  for (const type of ['m.room.canonical_alias', 'm.room.aliases']) {
    it(`drops cached aliases when ${type} is observed`, async () => {
      const interest = make();
      await interest.interestedIn(event({ room_id: '!r:hs.test' }));
      host.aliases.set('!r:hs.test', ['#irc_#new:hs.test']);
      interest.observe(event({ room_id: '!r:hs.test', type, state_key: '' }));
      expect(ids(await interest.interestedIn(event({ room_id: '!r:hs.test' })))).to.deep.equal(['irc']);
      expect([host.aliasCalls, host.memberCalls]).to.deep.equal([2, 1]);
    });
  }

  it("forgetRoomAliases() drops only that room's cached aliases (directory API changes have no event)", async () => {
    const interest = make();
    await interest.interestedIn(event({ room_id: '!r:hs.test' }));
    host.aliases.set('!r:hs.test', ['#irc_#dir:hs.test']);
    expect(ids(await interest.interestedIn(event({ room_id: '!r:hs.test' })))).to.deep.equal([]);
    interest.forgetRoomAliases('!r:hs.test');
    expect(ids(await interest.interestedIn(event({ room_id: '!r:hs.test' })))).to.deep.equal(['irc']);
    expect([host.aliasCalls, host.memberCalls]).to.deep.equal([2, 1]);
  });

  it('does not keep a failed host answer', async () => {
    const interest = make([slack]);
    let fail = true;
    host.joinedMembers = async () => {
      host.memberCalls++;
      if (fail) throw new Error('db down');
      return ['@slack_z:hs.test'];
    };
    let error: unknown;
    await interest.interestedIn(event()).catch((e: unknown) => (error = e));
    expect(error).to.be.instanceOf(Error);
    fail = false;
    expect(ids(await interest.interestedIn(event()))).to.deep.equal(['slack']);
  });

  describe('interestedInNow', () => {
    it('answers without the host when the event itself settles every AS', () => {
      const interest = make([slack]);
      expect(ids(interest.interestedInNow(event({ room_id: '!slack_x:hs.test' }))!)).to.deep.equal(['slack']);
      expect(ids(interest.interestedInNow(event({ sender: '@slack_bob:hs.test' }))!)).to.deep.equal(['slack']);
      expect([host.aliasCalls, host.memberCalls]).to.deep.equal([0, 0]);
    });

    it('is undefined, asking nothing, until the room facts it needs have answered; then agrees with interestedIn', async () => {
      const interest = make();
      const e = event({ room_id: '!r:hs.test' });
      host.members.set('!r:hs.test', ['@slack_m:hs.test']);
      expect(interest.interestedInNow(e)).to.equal(undefined);
      expect([host.aliasCalls, host.memberCalls]).to.deep.equal([0, 0]);
      const pending = interest.interestedIn(e);
      expect(interest.interestedInNow(e), 'while the host call runs').to.equal(undefined);
      const answer = ids(await pending);
      expect(answer).to.deep.equal(['slack']);
      expect(ids(interest.interestedInNow(e)!)).to.deep.equal(answer);
      expect([host.aliasCalls, host.memberCalls]).to.deep.equal([1, 1]);
    });

    it('forgets with the cache: an observed membership makes it undefined again', async () => {
      const interest = make();
      const e = event({ room_id: '!r:hs.test' });
      await interest.interestedIn(e);
      expect(interest.interestedInNow(e)).to.not.equal(undefined);
      interest.observe(
        event({
          room_id: '!r:hs.test',
          type: 'm.room.member',
          state_key: '@x:hs.test',
          content: { membership: 'join' },
        }),
      );
      expect(interest.interestedInNow(e)).to.equal(undefined);
    });

    it('needs only the member facts when no unmatched AS has an aliases namespace', async () => {
      const interest = make([slack]);
      await interest.interestedIn(event({ room_id: '!r:hs.test' }));
      expect(host.aliasCalls).to.equal(0);
      expect(ids(interest.interestedInNow(event({ room_id: '!r:hs.test' }))!)).to.deep.equal([]);
    });
  });

  it('keeps at most roomCacheSize rooms', async () => {
    const interest = make([slack], 2);
    for (const room of ['!a:hs.test', '!b:hs.test', '!c:hs.test', '!a:hs.test'])
      await interest.interestedIn(event({ room_id: room }));
    expect(host.memberCalls).to.equal(4);
  });

  describe('ephemeral and to-device', () => {
    const eph = registration('eph', { users: ['@eph_.*'], receiveEphemeral: true, receiveToDevice: true });
    const plain = registration('plain', { users: ['@plain_.*', '@eph_.*'] });

    it('sends room EDUs only to ASes that asked for ephemeral events and are interested in the room', async () => {
      host.members.set('!r:hs.test', ['@eph_a:hs.test', '@plain_b:hs.test']);
      const interest = make([eph, plain]);
      const typing = { type: 'm.typing', room_id: '!r:hs.test', content: { user_ids: ['@x:hs.test'] } };
      expect(ids(await interest.interestedInEphemeral(typing))).to.deep.equal(['eph']);
      expect(ids(await interest.interestedInEphemeral({ ...typing, room_id: '!empty:hs.test' }))).to.deep.equal([]);
    });

    it('sends presence to the AS whose users namespace holds the user', async () => {
      const interest = make([eph, plain]);
      expect(
        ids(await interest.interestedInEphemeral({ type: 'm.presence', sender: '@eph_a:hs.test', content: {} })),
      ).to.deep.equal(['eph']);
      expect(
        ids(await interest.interestedInEphemeral({ type: 'm.presence', sender: '@plain_a:hs.test', content: {} })),
      ).to.deep.equal([]);
      expect(host.memberCalls).to.equal(0);
    });

    it('sends to-device messages to the AS owning the recipient, when it asked for them', () => {
      const interest = make([eph, plain]);
      const msg = {
        type: 'm.room_key',
        sender: '@x:hs.test',
        to_user_id: '@eph_a:hs.test',
        to_device_id: 'D',
        content: {},
      };
      expect(ids(interest.interestedInToDevice(msg))).to.deep.equal(['eph']);
      expect(ids(interest.interestedInToDevice({ ...msg, to_user_id: '@eph_a:far.test' }))).to.deep.equal([]);
      expect(ids(interest.interestedInToDevice({ ...msg, to_user_id: '@plain_a:hs.test' }))).to.deep.equal([]);
    });
  });
});
