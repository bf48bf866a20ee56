/**
 * The MSC3202 fields of a transaction body (proposals/3202-encrypted-appservices.md, with the
 * `org.matrix.msc3202.` prefix and Synapse's older OTK spelling): device lists coalesced per
 * user, key counts and fallback key types latest per device, each omitted when empty.
 */
import { expect } from 'chai';
import { keyCountsJson, deviceListJson } from '../../lib/push/device-input.ts';
import { buildTransactionBody } from '../../lib/push/transaction-body.ts';
import type { QueuedItem } from '../../lib/store/store.ts';

const MSC3202 = { receiveEphemeral: false, receiveToDevice: false, msc3202: true };
let seq = 0;
const list = (userId: string, change: 'changed' | 'left'): QueuedItem => ({
  seq: ++seq,
  kind: 'deviceList',
  json: deviceListJson({ userId, change, roomId: '!r:hs' }),
});
const keys = (userId: string, deviceId: string, otk: number, fallback: string[]): QueuedItem => ({
  seq: ++seq,
  kind: 'keyCounts',
  json: keyCountsJson({
    userId,
    deviceId,
    oneTimeKeyCounts: { signed_curve25519: otk },
    unusedFallbackKeyTypes: fallback,
  }),
});
const body = (items: readonly QueuedItem[], flags = MSC3202) => JSON.parse(buildTransactionBody(items, flags));

describe('MSC3202 transaction body', () => {
  it('names the fields as MSC3202 and Synapse do, the OTK counts under both spellings', () => {
    const got = body([
      list('@a:hs', 'changed'),
      list('@b:hs', 'left'),
      keys('@br_x:hs', 'D1', 5, ['signed_curve25519']),
    ]);
    const counts = { '@br_x:hs': { D1: { signed_curve25519: 5 } } };
    expect(got).to.deep.equal({
      events: [],
      'org.matrix.msc3202.device_lists': { changed: ['@a:hs'], left: ['@b:hs'] },
      'org.matrix.msc3202.device_one_time_keys_count': counts,
      'org.matrix.msc3202.device_one_time_key_counts': counts,
      'org.matrix.msc3202.device_unused_fallback_key_types': { '@br_x:hs': { D1: ['signed_curve25519'] } },
    });
  });

  it("coalesces device lists: a user's last update in the transaction decides changed or left, each user once", () => {
    const got = body([
      list('@a:hs', 'changed'),
      list('@b:hs', 'changed'),
      list('@a:hs', 'left'),
      list('@b:hs', 'changed'),
      list('@c:hs', 'left'),
      list('@c:hs', 'changed'),
    ]);
    expect(got['org.matrix.msc3202.device_lists']).to.deep.equal({ changed: ['@b:hs', '@c:hs'], left: ['@a:hs'] });
  });

  it('sends the latest counts per device, every device of every user', () => {
    const got = body([
      keys('@br_x:hs', 'D1', 50, ['signed_curve25519']),
      keys('@br_x:hs', 'D2', 10, []),
      keys('@br_y:hs', 'D1', 7, []),
      keys('@br_x:hs', 'D1', 49, []),
    ]);
    expect(got['org.matrix.msc3202.device_one_time_keys_count']).to.deep.equal({
      '@br_x:hs': { D1: { signed_curve25519: 49 }, D2: { signed_curve25519: 10 } },
      '@br_y:hs': { D1: { signed_curve25519: 7 } },
    });
    expect(got['org.matrix.msc3202.device_unused_fallback_key_types']).to.deep.equal({
      '@br_x:hs': { D1: [], D2: [] },
      '@br_y:hs': { D1: [] },
    });
  });

  it('omits each field when the transaction has nothing for it', () => {
    expect(Object.keys(body([list('@a:hs', 'left')]))).to.deep.equal(['events', 'org.matrix.msc3202.device_lists']);
    expect(Object.keys(body([keys('@br_x:hs', 'D', 1, [])]))).to.deep.equal([
      'events',
      'org.matrix.msc3202.device_one_time_keys_count',
      'org.matrix.msc3202.device_one_time_key_counts',
      'org.matrix.msc3202.device_unused_fallback_key_types',
    ]);
    expect(body([{ seq: 1, kind: 'event', json: '{"event_id":"$1"}' }])).to.deep.equal({
      events: [{ event_id: '$1' }],
    });
  });

  it('carries the fields in a transaction with no events, `events: []` still present, beside the other kinds', () => {
    const items = [
      { seq: 1, kind: 'toDevice', json: '{"type":"m.room_key"}' } as const,
      list('@a:hs', 'changed'),
      { seq: 3, kind: 'event', json: '{"event_id":"$1"}' } as const,
    ];
    const got = body(items, { ...MSC3202, receiveToDevice: true });
    expect(got.events).to.deep.equal([{ event_id: '$1' }]);
    expect(got.to_device).to.deep.equal([{ type: 'm.room_key' }]);
    expect(got['org.matrix.msc3202.device_lists']).to.deep.equal({ changed: ['@a:hs'], left: [] });
    expect(body([list('@a:hs', 'changed')]).events).to.deep.equal([]);
  });

  it('leaves the fields out for a registration without org.matrix.msc3202', () => {
    const items = [list('@a:hs', 'changed'), keys('@br_x:hs', 'D', 1, [])];
    expect(body(items, { ...MSC3202, msc3202: false })).to.deep.equal({ events: [] });
    expect(JSON.parse(buildTransactionBody(items, { receiveEphemeral: true, receiveToDevice: true }))).to.deep.equal({
      events: [],
    });
  });

  it('keeps a device id such as __proto__ as a key', () => {
    const got = body([keys('@br_x:hs', '__proto__', 3, [])]);
    expect(Object.keys(got['org.matrix.msc3202.device_one_time_keys_count']['@br_x:hs'])).to.deep.equal(['__proto__']);
  });

  it('is the same bytes for the same items', () => {
    const items = [list('@a:hs', 'changed'), keys('@br_x:hs', 'D', 1, ['signed_curve25519'])];
    expect(buildTransactionBody(items, MSC3202)).to.equal(
      buildTransactionBody(
        items.map((i) => ({ ...i })),
        MSC3202,
      ),
    );
  });
});
