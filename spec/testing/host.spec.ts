import { expect } from 'chai';
import { testHost } from '../../lib/testing/index.ts';

describe('testHost', () => {
  it('knows no one unless told', async () => {
    const host = testHost({ serverName: 'hs.test' });
    expect(host.serverName).to.equal('hs.test');
    expect(await host.userExists('@a:hs.test')).to.equal(false);
    expect(await host.resolveAlias('#a:hs.test')).to.equal(null);
    expect(await host.roomAliases('!r:hs.test')).to.deep.equal([]);
    expect(await host.joinedMembers('!r:hs.test')).to.deep.equal([]);
    expect(await host.authenticate('token')).to.equal(null);
  });

  it('uses the methods it is given', async () => {
    const host = testHost({ serverName: 'hs.test', userExists: async (id) => id === '@a:hs.test' });
    expect(await host.userExists('@a:hs.test')).to.equal(true);
    expect(await host.userExists('@b:hs.test')).to.equal(false);
  });
});
