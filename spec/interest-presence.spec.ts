/**
 * AS API, "Pushing EDUs" (v1.13): "EDUs which are not associated with a particular room (i.e.
 * m.presence), should be sent to the application service if the EDU would apply contextually. For
 * example, a presence update for a user an application service shares a room with, or matching one
 * of the application service's namespaces." Sharing a room needs `Host.joinedRooms`.
 */
import { expect } from 'chai';
import type { EphemeralEvent, MatrixEvent } from '../lib/events.ts';
import type { Host } from '../lib/host.ts';
import { Interest } from '../lib/interest.ts';
import { NamespaceIndex } from '../lib/namespace/namespace-index.ts';
import type { Registration } from '../lib/registration/registration.ts';
import { registration } from './push/registrations.ts';

/** Rooms and their joined members, counting the host calls. */
class RoomsHost implements Host {
  readonly serverName = 'hs.test';
  authenticate = async (): Promise<null> => null;
  readonly members = new Map<string, string[]>();
  memberCalls = 0;
  roomsCalls = 0;
  failRooms = false;
  async userExists(): Promise<boolean> {
    return false;
  }
  async resolveAlias(): Promise<string | null> {
    return null;
  }
  async roomAliases(): Promise<string[]> {
    return [];
  }
  async joinedMembers(roomId: string): Promise<string[]> {
    this.memberCalls++;
    await new Promise((r) => setImmediate(r));
    return [...(this.members.get(roomId) ?? [])];
  }
  async joinedRooms(userId: string): Promise<string[]> {
    this.roomsCalls++;
    await new Promise((r) => setImmediate(r));
    if (this.failRooms) throw new Error('database down');
    return [...this.members].filter(([, users]) => users.includes(userId)).map(([roomId]) => roomId);
  }
  join(roomId: string, userId: string): MatrixEvent {
    this.members.set(roomId, [...(this.members.get(roomId) ?? []), userId]);
    return {
      event_id: `$join-${userId}`,
      room_id: roomId,
      type: 'm.room.member',
      state_key: userId,
      sender: userId,
      content: { membership: 'join' },
    };
  }
}

const presence = (sender: string): EphemeralEvent => ({ type: 'm.presence', sender, content: { presence: 'online' } });
const ids = (regs: readonly Registration[]) => regs.map((r) => r.id);

describe('Interest: presence "contextually" (AS API "Pushing EDUs")', () => {
  const irc = registration('irc', { users: ['@irc_.*'], receiveEphemeral: true });
  const slack = registration('slack', { users: ['@slack_.*'], receiveEphemeral: true });
  const deaf = registration('deaf', { users: ['@deaf_.*'] });
  const regs = [irc, slack, deaf];
  let host: RoomsHost;

  function make(h: Host = host): Interest {
    return new Interest({ host: h, registrations: regs, index: new NamespaceIndex(regs) });
  }

  beforeEach(() => {
    host = new RoomsHost();
    host.join('!r:hs.test', '@irc_bob:hs.test');
    host.join('!r:hs.test', '@deaf_x:hs.test');
    host.join('!r:hs.test', '@alice:hs.test');
    host.join('!r:hs.test', '@dave:far.test');
    host.join('!s:hs.test', '@slack_sue:hs.test');
    host.join('!lonely:hs.test', '@carol:hs.test');
  });

  it("sends the presence of a user who shares a room with the AS's users (local or remote), and only to that AS", async () => {
    const interest = make();
    expect(ids(await interest.interestedInEphemeral(presence('@alice:hs.test')))).to.deep.equal(['irc']);
    expect(ids(await interest.interestedInEphemeral(presence('@dave:far.test')))).to.deep.equal(['irc']);
    expect(ids(await interest.interestedInEphemeral(presence('@carol:hs.test')))).to.deep.equal([]);
    // Still by namespace, as before: slack's own user, who shares no room with irc's.
    expect(ids(await interest.interestedInEphemeral(presence('@slack_sue:hs.test')))).to.deep.equal(['slack']);
  });

  it('without Host.joinedRooms, only the namespace rule applies (the feature is off)', async () => {
    const plain: Host = {
      serverName: 'hs.test',
      authenticate: async () => null,
      userExists: async () => false,
      resolveAlias: async () => null,
      roomAliases: async () => [],
      joinedMembers: (roomId) => host.joinedMembers(roomId),
    };
    const interest = make(plain);
    expect(ids(await interest.interestedInEphemeral(presence('@alice:hs.test')))).to.deep.equal([]);
    expect(ids(await interest.interestedInEphemeral(presence('@irc_bob:hs.test')))).to.deep.equal(['irc']);
    expect(host.roomsCalls).to.equal(0);
  });

  it("is cheap per EDU: a user's rooms and each room's members are asked once, however many updates", async () => {
    const interest = make();
    await Promise.all(Array.from({ length: 50 }, () => interest.interestedInEphemeral(presence('@alice:hs.test'))));
    for (let i = 0; i < 50; i++)
      expect(ids(await interest.interestedInEphemeral(presence('@alice:hs.test')))).to.deep.equal(['irc']);
    expect(host.roomsCalls).to.equal(1);
    expect(host.memberCalls).to.equal(1);
  });

  it('asks nothing when every AS that wants EDUs already holds the user in its namespace', async () => {
    const both = registration('both', { users: ['@irc_.*'], receiveEphemeral: true });
    const interest = new Interest({ host, registrations: [irc, both], index: new NamespaceIndex([irc, both]) });
    expect(ids(await interest.interestedInEphemeral(presence('@irc_bob:hs.test')))).to.deep.equal(['irc', 'both']);
    expect(host.roomsCalls).to.equal(0);
  });

  it("sees a membership change once its event is published: the user joining a room, or an AS user joining the user's room", async () => {
    const interest = make();
    expect(ids(await interest.interestedInEphemeral(presence('@alice:hs.test')))).to.deep.equal(['irc']);
    // Alice joins slack's room.
    interest.observe(host.join('!s:hs.test', '@alice:hs.test'));
    expect(ids(await interest.interestedInEphemeral(presence('@alice:hs.test')))).to.deep.equal(['irc', 'slack']);
    // A slack user joins carol's room.
    expect(ids(await interest.interestedInEphemeral(presence('@carol:hs.test')))).to.deep.equal([]);
    interest.observe(host.join('!lonely:hs.test', '@slack_sam:hs.test'));
    expect(ids(await interest.interestedInEphemeral(presence('@carol:hs.test')))).to.deep.equal(['slack']);
  });

  it('does not cache a failed Host.joinedRooms call', async () => {
    const interest = make();
    host.failRooms = true;
    const error = await interest.interestedInEphemeral(presence('@alice:hs.test')).catch((e: unknown) => e);
    expect(error).to.be.instanceOf(Error).with.property('message', 'database down');
    host.failRooms = false;
    expect(ids(await interest.interestedInEphemeral(presence('@alice:hs.test')))).to.deep.equal(['irc']);
    expect(host.roomsCalls).to.equal(2);
  });
});
