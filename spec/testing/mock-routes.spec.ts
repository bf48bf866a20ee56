import { expect } from 'chai';
import { mockRoute, thirdpartyAnswer } from '../../lib/testing/mock-routes.ts';

describe('mockRoute', () => {
  it('reads v1 queries, transactions and ping, decoding the argument', () => {
    expect(mockRoute('GET', '/_matrix/app/v1/users/%40a%3Ahs', false)).to.deep.equal({ kind: 'user', arg: '@a:hs' });
    expect(mockRoute('GET', '/_matrix/app/v1/rooms/%23a%3Ahs', false)).to.deep.equal({ kind: 'alias', arg: '#a:hs' });
    expect(mockRoute('PUT', '/_matrix/app/v1/transactions/7', false)).to.deep.equal({ kind: 'transaction', arg: '7' });
    expect(mockRoute('POST', '/_matrix/app/v1/ping', false)).to.deep.equal({ kind: 'ping' });
  });

  it('knows the draft paths only in legacy mode, where v1 (ping aside) is unknown', () => {
    expect(mockRoute('GET', '/users/%40a%3Ahs', false)).to.deep.equal({ kind: 'unrecognized' });
    expect(mockRoute('GET', '/users/%40a%3Ahs', 'unrecognized')).to.deep.equal({ kind: 'user', arg: '@a:hs' });
    expect(mockRoute('GET', '/_matrix/app/v1/users/x', 'unrecognized')).to.deep.equal({ kind: 'unrecognized' });
    expect(mockRoute('GET', '/_matrix/app/v1/users/x', 'bare')).to.deep.equal({ kind: 'bare-404' });
    expect(mockRoute('POST', '/_matrix/app/v1/ping', 'bare')).to.deep.equal({ kind: 'ping' });
  });

  it('takes only third-party lookups on the unstable prefix, which only a draft-era AS knows', () => {
    expect(mockRoute('GET', '/_matrix/app/unstable/thirdparty/protocol/irc', false)).to.deep.equal({
      kind: 'unrecognized',
    });
    expect(mockRoute('GET', '/_matrix/app/unstable/thirdparty/protocol/irc', 'unrecognized')).to.deep.equal({
      kind: 'thirdparty',
      tail: ['protocol', 'irc'],
    });
    expect(mockRoute('GET', '/_matrix/app/unstable/users/x', 'unrecognized')).to.deep.equal({ kind: 'unrecognized' });
  });
});

describe('thirdpartyAnswer', () => {
  it('answers protocols from the options and passes lookups without the access_token', () => {
    const seen: unknown[] = [];
    const options = {
      protocols: { irc: { instances: [] } },
      onThirdparty: (...args: unknown[]) => (seen.push(args), [{ alias: '#a:hs' }]),
    };
    expect(thirdpartyAnswer(['protocol', 'irc'], {}, options)).to.deep.equal({ status: 200, body: { instances: [] } });
    expect(thirdpartyAnswer(['protocol', 'xmpp'], {}, options).status).to.equal(404);
    expect(thirdpartyAnswer(['location', 'irc'], { access_token: 't', q: 'x' }, options).body).to.deep.equal([
      { alias: '#a:hs' },
    ]);
    expect(seen).to.deep.equal([['location', 'irc', { q: 'x' }]]);
  });
});
