/**
 * Which ASes get MSC3202 device list changes and key counts (lib/push/device-routing.ts): only
 * msc3202 ASes with a url, only with the switch on; key counts to the user's own ASes; `changed`
 * by the presence rule; `left` to the ASes interested in the room unless still interested in the
 * user. And the host's malformed reports refused, naming the field.
 */
import { expect } from 'chai';
import { InvalidEventError } from '../../lib/errors.ts';
import type { Host } from '../../lib/host.ts';
import { Interest } from '../../lib/interest.ts';
import { NamespaceIndex } from '../../lib/namespace/namespace-index.ts';
import { DeviceRouting } from '../../lib/push/device-routing.ts';
import type { DeviceKeyCounts, DeviceListUpdate } from '../../lib/push/device-input.ts';
import type { Registration } from '../../lib/registration/registration.ts';
import { registration, type TestRegistration } from './registrations.ts';

class RoomsHost implements Host {
  readonly serverName = 'hs.test';
  authenticate = async (): Promise<null> => null;
  readonly members = new Map<string, string[]>();
  joinedRooms?: (userId: string) => Promise<string[]> = async (userId) =>
    [...this.members].filter(([, users]) => users.includes(userId)).map(([roomId]) => roomId);
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
    return [...(this.members.get(roomId) ?? [])];
  }
  join(roomId: string, ...userIds: string[]): void {
    this.members.set(roomId, [...(this.members.get(roomId) ?? []), ...userIds]);
  }
}

const msc3202 = (id: string, options: TestRegistration = {}): Registration => ({
  ...registration(id, options),
  msc3202: true,
});

function routing(host: RoomsHost, registrations: Registration[], enabled = true): DeviceRouting {
  const interest = new Interest({ host, registrations, index: new NamespaceIndex(registrations) });
  return new DeviceRouting({ registrations, interest, enabled });
}

async function audience(r: DeviceRouting, update: DeviceListUpdate): Promise<string[][]> {
  return (await r.deviceListItems(update)).map((i) => [...i.asIds]);
}

const counts = (userId: string): DeviceKeyCounts => ({
  userId,
  deviceId: 'D',
  oneTimeKeyCounts: { signed_curve25519: 3 },
  unusedFallbackKeyTypes: ['signed_curve25519'],
});

describe('MSC3202 routing', () => {
  let host: RoomsHost;
  let regs: Registration[];

  beforeEach(() => {
    host = new RoomsHost();
    regs = [
      msc3202('br', { users: ['@br_.*'] }),
      msc3202('other', { users: ['@other_.*'] }),
      registration('plain', { users: ['@plain_.*', '@br_.*'] }), // no org.matrix.msc3202
      msc3202('nourl', { users: ['@br_.*'], url: null }),
    ];
  });

  describe('key counts', () => {
    it('go only to the msc3202 ASes owning the user (its namespace or its sender), as one keyCounts item', () => {
      host.join('!r:hs.test', '@br_bob:hs.test', '@other_x:hs.test');
      const r = routing(host, regs);
      expect(r.keyCountsItems(counts('@br_bob:hs.test'))).to.deep.equal([
        {
          kind: 'keyCounts',
          json: JSON.stringify({
            user_id: '@br_bob:hs.test',
            device_id: 'D',
            one_time_keys_count: { signed_curve25519: 3 },
            unused_fallback_key_types: ['signed_curve25519'],
          }),
          asIds: ['br'],
        },
      ]);
      expect(r.keyCountsItems(counts('@other_bot:hs.test')).map((i) => i.asIds)).to.deep.equal([['other']]);
      expect(r.keyCountsItems(counts('@alice:hs.test'))).to.deep.equal([]);
      expect(r.keyCountsItems(counts('@br_bob:elsewhere.test'))).to.deep.equal([]);
    });

    it('go nowhere with experimentalFeatures.msc3202 off', () => {
      expect(routing(host, regs, false).keyCountsItems(counts('@br_bob:hs.test'))).to.deep.equal([]);
    });
  });

  describe("device list 'changed'", () => {
    it('goes to the msc3202 ASes owning the user or sharing a room with them (Host.joinedRooms)', async () => {
      host.join('!r:hs.test', '@alice:far.test', '@other_x:hs.test', '@plain_y:hs.test');
      const r = routing(host, regs);
      expect(await audience(r, { userId: '@alice:far.test', change: 'changed' })).to.deep.equal([['other']]);
      expect(await audience(r, { userId: '@br_bob:hs.test', change: 'changed' })).to.deep.equal([['br']]);
      expect(await audience(r, { userId: '@nobody:hs.test', change: 'changed' })).to.deep.equal([]);
    });

    it('goes only to the owners when the host cannot list a user’s rooms', async () => {
      host.join('!r:hs.test', '@alice:far.test', '@other_x:hs.test');
      host.joinedRooms = undefined;
      const r = routing(host, regs);
      expect(await audience(r, { userId: '@alice:far.test', change: 'changed' })).to.deep.equal([]);
      expect(await audience(r, { userId: '@other_q:hs.test', change: 'changed' })).to.deep.equal([['other']]);
    });

    it('goes nowhere with experimentalFeatures.msc3202 off', async () => {
      host.join('!r:hs.test', '@alice:far.test', '@other_x:hs.test');
      expect(
        await audience(routing(host, regs, false), { userId: '@alice:far.test', change: 'changed' }),
      ).to.deep.equal([]);
    });
  });

  describe("device list 'left'", () => {
    it('goes to the msc3202 ASes interested in the room the user left', async () => {
      host.join('!r:hs.test', '@br_bob:hs.test', '@other_x:hs.test');
      const r = routing(host, regs);
      const update = { userId: '@alice:far.test', change: 'left', roomId: '!r:hs.test' } as const;
      expect(await audience(r, update)).to.deep.equal([['br', 'other']]);
    });

    it('counts a rooms namespace as interest in the room', async () => {
      const r = routing(host, [msc3202('rooms', { rooms: ['!bridged.*'] })]);
      const update = { userId: '@alice:far.test', change: 'left', roomId: '!bridged1:hs.test' } as const;
      expect(await audience(r, update)).to.deep.equal([['rooms']]);
    });

    it('does not go to an AS the user still shares another room with, nor to the AS owning the user', async () => {
      host.join('!r:hs.test', '@br_bob:hs.test', '@other_x:hs.test');
      host.join('!still:hs.test', '@br_bob:hs.test', '@alice:far.test');
      const r = routing(host, regs);
      const left = { userId: '@alice:far.test', change: 'left', roomId: '!r:hs.test' } as const;
      expect(await audience(r, left)).to.deep.equal([['other']]);
      const own = { userId: '@br_carl:hs.test', change: 'left', roomId: '!r:hs.test' } as const;
      expect(await audience(r, own)).to.deep.equal([['other']]);
    });

    it('goes nowhere when no msc3202 AS is interested in the room', async () => {
      host.join('!r:hs.test', '@plain_y:hs.test');
      const update = { userId: '@alice:far.test', change: 'left', roomId: '!r:hs.test' } as const;
      expect(await audience(routing(host, regs), update)).to.deep.equal([]);
    });
  });

  describe('malformed reports: an InvalidEventError naming the field, before anything is asked', () => {
    const cases: [string, unknown, RegExp][] = [
      ['not an object', null, /^deviceListUpdate: must be an object/],
      [
        'userId not a user id',
        { userId: 'alice', change: 'changed' },
        /deviceListUpdate\.userId: must look like @local:server/,
      ],
      [
        'unknown change',
        { userId: '@a:hs', change: 'joined' },
        /deviceListUpdate\.change: must be 'changed' or 'left', got "joined"/,
      ],
      [
        "'left' without roomId",
        { userId: '@a:hs', change: 'left' },
        /deviceListUpdate\.roomId: must look like !local:server/,
      ],
      ["'left' with a bad roomId", { userId: '@a:hs', change: 'left', roomId: '#a:hs' }, /deviceListUpdate\.roomId/],
    ];
    for (const [what, update, message] of cases) {
      it(`device list update: ${what}`, () => {
        const r = routing(host, regs);
        expect(() => r.deviceListItems(update as DeviceListUpdate)).to.throw(InvalidEventError, message);
      });
    }

    const good = counts('@br_bob:hs.test');
    const countCases: [string, unknown, RegExp][] = [
      ['userId not a user id', { ...good, userId: '!r:hs' }, /keyCounts\.userId: must look like @local:server/],
      ['empty deviceId', { ...good, deviceId: '' }, /keyCounts\.deviceId: must be a non-empty string/],
      ['counts not an object', { ...good, oneTimeKeyCounts: [1] }, /keyCounts\.oneTimeKeyCounts: must be an object/],
      [
        'a negative count',
        { ...good, oneTimeKeyCounts: { signed_curve25519: -1 } },
        /keyCounts\.oneTimeKeyCounts\.signed_curve25519: must be a non-negative integer/,
      ],
      [
        'a fractional count',
        { ...good, oneTimeKeyCounts: { x: 1.5 } },
        /keyCounts\.oneTimeKeyCounts\.x: must be a non-negative integer/,
      ],
      ['a string count', { ...good, oneTimeKeyCounts: { x: '5' } }, /keyCounts\.oneTimeKeyCounts\.x/],
      ['fallback types not an array', { ...good, unusedFallbackKeyTypes: 'x' }, /keyCounts\.unusedFallbackKeyTypes/],
      ['an empty fallback type', { ...good, unusedFallbackKeyTypes: [''] }, /keyCounts\.unusedFallbackKeyTypes/],
    ];
    for (const [what, value, message] of countCases) {
      it(`key counts: ${what}`, () => {
        const r = routing(host, regs, false); // refused even with the switch off
        expect(() => r.keyCountsItems(value as DeviceKeyCounts)).to.throw(InvalidEventError, message);
      });
    }
  });
});
