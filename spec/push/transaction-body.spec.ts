import { expect } from 'chai';
import { buildTransactionBody } from '../../lib/push/transaction-body.ts';
import type { QueuedItem } from '../../lib/store/store.ts';

const items: QueuedItem[] = [
  { seq: 1, kind: 'event', json: '{"event_id":"$1"}' },
  { seq: 2, kind: 'ephemeral', json: '{"type":"m.typing"}' },
  { seq: 3, kind: 'toDevice', json: '{"type":"m.room_key"}' },
  { seq: 4, kind: 'event', json: '{"event_id":"$2"}' },
  { seq: 5, kind: 'ephemeral', json: '{"type":"m.receipt"}' },
];

describe('buildTransactionBody', () => {
  it('always has events, in queue order, and nothing else for an AS that asked for nothing more', () => {
    const body = JSON.parse(buildTransactionBody(items, { receiveEphemeral: false, receiveToDevice: false }));
    expect(body).to.deep.equal({ events: [{ event_id: '$1' }, { event_id: '$2' }] });
    expect(JSON.parse(buildTransactionBody([], { receiveEphemeral: true, receiveToDevice: true }))).to.deep.equal({
      events: [],
    });
  });

  it('puts ephemeral events under the stable and the MSC2409 names', () => {
    const body = JSON.parse(buildTransactionBody(items, { receiveEphemeral: true, receiveToDevice: false }));
    const expected = [{ type: 'm.typing' }, { type: 'm.receipt' }];
    expect(body.ephemeral).to.deep.equal(expected);
    expect(body['de.sorunome.msc2409.ephemeral']).to.deep.equal(expected);
    expect(body).not.to.have.property('to_device');
  });

  it('puts to-device messages under to_device and de.sorunome.msc2409.to_device', () => {
    const body = JSON.parse(buildTransactionBody(items, { receiveEphemeral: false, receiveToDevice: true }));
    expect(body.to_device).to.deep.equal([{ type: 'm.room_key' }]);
    expect(body['de.sorunome.msc2409.to_device']).to.deep.equal([{ type: 'm.room_key' }]);
    expect(body).not.to.have.property('ephemeral');
  });

  it('omits empty optional arrays', () => {
    const body = JSON.parse(
      buildTransactionBody(
        items.filter((i) => i.kind === 'event'),
        { receiveEphemeral: true, receiveToDevice: true },
      ),
    );
    expect(Object.keys(body)).to.deep.equal(['events']);
  });

  it('embeds the stored JSON text byte for byte', () => {
    const odd = '{"b":1,  "a":"\\u00e9"}';
    expect(
      buildTransactionBody([{ seq: 1, kind: 'event', json: odd }], { receiveEphemeral: false, receiveToDevice: false }),
    ).to.equal(`{"events":[${odd}]}`);
  });
});
