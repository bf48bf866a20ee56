import { expect } from 'chai';
import { BatchCut, checkLimits, cutBatch } from '../../lib/store/batch.ts';
import type { ItemKind, QueuedItem } from '../../lib/store/store.ts';

function items(kinds: readonly ItemKind[], json = '{}'): QueuedItem[] {
  return kinds.map((kind, i) => ({ seq: i + 1, kind, json }));
}

describe('BatchCut', () => {
  it('stops before the first item whose kind reached its limit, even when later ones would fit', () => {
    const cut = cutBatch(items(['event', 'ephemeral', 'event', 'event', 'toDevice']), {
      event: 2,
      ephemeral: 5,
      toDevice: 5,
    });
    expect(cut.items.map((i) => i.seq)).to.deep.equal([1, 2, 3]);
    expect(cut.counts).to.deep.equal({ event: 2, ephemeral: 1, toDevice: 0 });
    expect(cut.full).to.equal(true);
  });

  it('is not full when it took everything offered', () => {
    const cut = cutBatch(items(['event', 'event']), { event: 2, ephemeral: 1, toDevice: 1 });
    expect(cut.items).to.have.length(2);
    expect(cut.full).to.equal(false);
  });

  it('counts JSON bytes plus one separator per item against limits.bytes', () => {
    const json = 'x'.repeat(9); // 10 bytes with its separator
    const limits = { event: 100, ephemeral: 100, toDevice: 100, bytes: 30 };
    expect(cutBatch(items(['event', 'event', 'event', 'event'], json), limits).items).to.have.length(3);
    const multiByte = cutBatch(items(['event', 'event'], 'é'.repeat(7)), { ...limits, bytes: 16 }); // 15 bytes each
    expect(multiByte.items).to.have.length(1);
    expect(multiByte.full).to.equal(true);
  });

  it('takes an item larger than the byte limit when it comes first, alone', () => {
    const cut = new BatchCut({ event: 100, ephemeral: 100, toDevice: 100, bytes: 5 });
    expect(cut.take({ seq: 1, kind: 'event', json: '{"big":true}' })).to.equal(true);
    expect(cut.take({ seq: 2, kind: 'event', json: '{}' })).to.equal(false);
    expect(cut.take({ seq: 3, kind: 'event', json: '{}' }), 'nothing after a refusal').to.equal(false);
    expect(cut.items.map((i) => i.seq)).to.deep.equal([1]);
  });

  it('checkLimits refuses non-positive counts and bytes with a TypeError', () => {
    expect(() => checkLimits({ event: 0, ephemeral: 1, toDevice: 1 })).to.throw(TypeError, /limits\.event/);
    expect(() => checkLimits({ event: 1, ephemeral: 1, toDevice: 1, bytes: 0 })).to.throw(TypeError, /limits\.bytes/);
    expect(() => checkLimits({ event: 1, ephemeral: 1, toDevice: 1 })).to.not.throw();
  });
});
