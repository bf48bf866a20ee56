import { expect } from 'chai';
import { testHost } from '../lib/testing/host.ts';
import { Interest } from '../lib/interest.ts';
import { NamespaceIndex } from '../lib/namespace/namespace-index.ts';
import type { Registration } from '../lib/registration/registration.ts';
import { registration } from './push/registrations.ts';

const host = testHost({ serverName: 'hs.test' });

/**
 * A registration that counts how often its namespaces are read: the work `interestedIn` does for
 * an event that concerns one AS must not grow with the number of registrations.
 */
function counted(reg: Registration, reads: { n: number }): Registration {
  const namespaces = reg.namespaces;
  return {
    ...reg,
    get namespaces() {
      reads.n++;
      return namespaces;
    },
  };
}

describe('Interest with many registrations', () => {
  const MANY = 1000;
  const reads = { n: 0 };
  const regs = Array.from({ length: MANY }, (_, i) =>
    counted(registration(`b${i}`, { rooms: [`!b${i}_.*`], aliases: i === MANY - 1 ? [`#b${i}_.*`] : [] }), reads),
  );
  const event = (room: string, sender = '@alice:hs.test') => ({
    event_id: '$e',
    room_id: room,
    type: 'm.room.message',
    sender,
    content: {},
  });

  it('reads only the interested registrations per event, in registration order', async () => {
    const interest = new Interest({ host, registrations: regs, index: new NamespaceIndex(regs) });
    // The first event of a room asks the host; the later ones use the cached facts.
    expect((await interest.interestedIn(event('!b7_r:hs.test'))).map((r) => r.id)).to.deep.equal(['b7']);
    reads.n = 0;
    for (let i = 0; i < 100; i++) {
      const found = interest.interestedInNow(event('!b7_r:hs.test', '@b3_bot:hs.test'));
      expect(found?.map((r) => r.id)).to.deep.equal(['b3', 'b7']);
    }
    expect(reads.n).to.be.below(100 * 10);
  });

  it('still asks for the room facts while an alias-capable AS is not yet interested', async () => {
    const asked: string[] = [];
    const counting = testHost({
      serverName: 'hs.test',
      roomAliases: async (roomId) => (asked.push(`aliases ${roomId}`), ['#b999_x:hs.test']),
      joinedMembers: async (roomId) => (asked.push(`members ${roomId}`), ['@b9_bot:hs.test']),
    });
    const interest = new Interest({ host: counting, registrations: regs, index: new NamespaceIndex(regs) });
    const found = await interest.interestedIn(event('!b7_r:hs.test'));
    expect(found.map((r) => r.id)).to.deep.equal(['b7', 'b9', 'b999']);
    expect(asked).to.deep.equal(['aliases !b7_r:hs.test', 'members !b7_r:hs.test']);
  });
});
