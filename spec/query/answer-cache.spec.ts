import { expect } from 'chai';
import { AnswerCache } from '../../lib/query/answer-cache.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('AnswerCache', () => {
  it('keeps each answer for its own time; 0 means not at all', async () => {
    const cache = new AnswerCache<string>(10);
    cache.set('short', 'absent', 30);
    cache.set('long', 'exists', 60_000);
    cache.set('never', 'absent', 0);
    expect(cache.get('short')).to.equal('absent');
    expect(cache.get('never')).to.equal(undefined);
    await sleep(50);
    expect(cache.get('short')).to.equal(undefined);
    expect(cache.get('long')).to.equal('exists');
  });

  it('holds at most maxEntries, dropping the oldest written (a key written again counts from then)', () => {
    const cache = new AnswerCache<number>(3);
    for (const key of ['a', 'b', 'c']) cache.set(key, 1, 60_000);
    cache.set('a', 2, 60_000);
    cache.set('d', 1, 60_000);
    expect(cache.size).to.equal(3);
    expect(cache.get('b'), 'oldest written').to.equal(undefined);
    expect([cache.get('a'), cache.get('c'), cache.get('d')]).to.deep.equal([2, 1, 1]);
    for (const key of ['e', 'f', 'g', 'h']) cache.set(key, 1, 60_000);
    expect(cache.size).to.equal(3);
    expect([cache.get('f'), cache.get('g'), cache.get('h')]).to.deep.equal([1, 1, 1]);
  });

  it('a set replaces the value and the time of an entry', async () => {
    const cache = new AnswerCache<string>(3);
    cache.set('k', 'absent', 60_000);
    cache.set('k', 'exists', 30);
    expect(cache.get('k')).to.equal('exists');
    await sleep(50);
    expect(cache.get('k')).to.equal(undefined);
  });
});
