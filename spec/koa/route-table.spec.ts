import { expect } from 'chai';
import { matchRoute } from '../../lib/koa/route-table.ts';

describe('koa/route-table', () => {
  const name = (method: string, path: string) => matchRoute(method, path)?.name ?? null;

  it('matches literals in any case, any declared version, one trailing slash', () => {
    expect(name('POST', '/_matrix/client/v3/register')).to.equal('register');
    expect(name('POST', '/_MATRIX/Client/R0/REGISTER/')).to.equal('register');
    expect(name('POST', '/_matrix/client/v3/register//')).to.equal(null);
    expect(name('POST', '/_matrix/client/v1/register')).to.equal(null);
    expect(name('POST', '/_matrix/client/v1/appservice/irc/ping')).to.equal('ping');
    expect(name('POST', '/_matrix/client/v3/appservice/irc/ping')).to.equal(null);
  });

  it('tells routes apart by method', () => {
    const path = `/_matrix/client/v3/directory/room/${encodeURIComponent('#a:hs')}`;
    expect(name('GET', path)).to.equal('aliasLookup');
    expect(name('PUT', path)).to.equal('aliasEdit');
    expect(name('DELETE', path)).to.equal('aliasEdit');
    expect(name('POST', path)).to.equal(null);
    expect(name('GET', '/_matrix/client/v3/register')).to.equal(null);
  });

  it('decodes parameters; one that does not decode, or is empty, is no route', () => {
    const route = matchRoute('GET', `/_matrix/client/v3/profile/${encodeURIComponent('@a/b:hs')}/displayname`);
    expect(route?.name).to.equal('profile');
    expect(route?.params).to.deep.equal({ userId: '@a/b:hs', field: 'displayname' });
    expect(name('GET', '/_matrix/client/v3/directory/room/%E0%A4%A')).to.equal(null);
    expect(name('POST', '/_matrix/client/v3/join/')).to.equal(null);
  });

  it('the canonical alias state event is its own route; other state and send are auth-only', () => {
    const room = encodeURIComponent('!r:hs');
    expect(name('PUT', `/_matrix/client/v3/rooms/${room}/state/m.room.canonical_alias`)).to.equal('canonicalAlias');
    expect(name('PUT', `/_matrix/client/v3/rooms/${room}/state/m.room.canonical_alias/`)).to.equal('canonicalAlias');
    const state = matchRoute('PUT', `/_matrix/client/v3/rooms/${room}/state/m.room.topic/`);
    expect([state?.name, state?.parts]).to.deep.equal(['state', []]);
    expect(name('PUT', `/_matrix/client/v3/rooms/${room}/send/m.room.message/t1`)).to.equal('send');
    expect(name('GET', `/_matrix/client/v3/rooms/${room}/state/m.room.topic`)).to.equal(null);
  });

  it('knows the MSC4190 device routes under r0, v3 and unstable, each once, for the device-management part', () => {
    for (const version of ['r0', 'v3', 'unstable']) {
      const base = `/_matrix/client/${version}`;
      const device = matchRoute('PUT', `${base}/devices/${encodeURIComponent('DEV/1')}`);
      expect([device?.name, device?.params, device?.parts]).to.deep.equal([
        'device',
        { deviceId: 'DEV/1' },
        ['deviceManagement'],
      ]);
      expect(name('DELETE', `${base}/devices/DEV`)).to.equal('device');
      expect(name('POST', `${base}/delete_devices`)).to.equal('deleteDevices');
      expect(name('POST', `${base}/keys/device_signing/upload`)).to.equal('deviceSigningUpload');
    }
    expect(name('GET', '/_matrix/client/v3/devices/DEV')).to.equal(null);
    expect(name('GET', '/_matrix/client/v3/devices')).to.equal(null);
    expect(name('PUT', '/_matrix/client/v3/devices/')).to.equal(null);
    expect(name('POST', '/_matrix/client/v3/keys/upload')).to.equal(null);
    expect(name('PUT', '/_matrix/client/v1/devices/DEV')).to.equal(null);
  });

  it('is null for paths outside the client API', () => {
    expect(name('GET', '/_matrix/app/v1/users/@a:hs')).to.equal(null);
    expect(name('GET', '/_matrix/client/v3')).to.equal(null);
    expect(name('GET', '/')).to.equal(null);
  });
});
