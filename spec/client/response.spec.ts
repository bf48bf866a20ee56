import { expect } from 'chai';
import { parseJson, retryAfterFromBody } from '../../lib/client/response.ts';

describe('response', () => {
  it('parses JSON or gives undefined', () => {
    expect(parseJson('{"a":1}')).to.deep.equal({ a: 1 });
    expect(parseJson('')).to.equal(undefined);
    expect(parseJson('<html>')).to.equal(undefined);
  });

  it('reads retry_after_ms only when it is a sane number', () => {
    expect(retryAfterFromBody({ retry_after_ms: 1500 })).to.equal(1500);
    for (const bad of [{ retry_after_ms: -1 }, { retry_after_ms: '5' }, { retry_after_ms: Infinity }, null, 'x', {}]) {
      expect(retryAfterFromBody(bad)).to.equal(undefined);
    }
  });
});
