import { expect } from 'chai';
import { asRoutes, fallsBack, isUnrecognized, PathPreference } from '../../lib/client/legacy-paths.ts';

describe('legacy-paths', () => {
  it('percent-encodes ids in both families', () => {
    expect(asRoutes.user('@irc_bob/x:hs.test')).to.deep.equal({
      v1: '/_matrix/app/v1/users/%40irc_bob%2Fx%3Ahs.test',
      legacy: '/users/%40irc_bob%2Fx%3Ahs.test',
    });
    expect(asRoutes.room('#irc_#chan?:hs.test').v1).to.equal('/_matrix/app/v1/rooms/%23irc_%23chan%3F%3Ahs.test');
    expect(asRoutes.transaction('a b').legacy).to.equal('/transactions/a%20b');
    expect(asRoutes.thirdparty('location', 'irc')).to.deep.equal({
      v1: '/_matrix/app/v1/thirdparty/location/irc',
      legacy: '/_matrix/app/unstable/thirdparty/location/irc',
    });
    expect(asRoutes.thirdparty('user', null).v1).to.equal('/_matrix/app/v1/thirdparty/user');
    expect(asRoutes.ping().legacy).to.equal(null);
  });

  it('tells "unknown path" from "no such entity"', () => {
    expect(isUnrecognized(404, { errcode: 'M_UNRECOGNIZED' })).to.equal(true);
    expect(isUnrecognized(405, { errcode: 'M_UNRECOGNIZED' })).to.equal(true);
    expect(isUnrecognized(404, undefined)).to.equal(true);
    expect(isUnrecognized(404, 'Cannot GET /x')).to.equal(true);
    expect(isUnrecognized(404, { errcode: 'M_NOT_FOUND' })).to.equal(false);
    expect(isUnrecognized(404, { errcode: 'COM.EXAMPLE.NOPE' })).to.equal(false);
    expect(isUnrecognized(405, undefined)).to.equal(false);
    expect(isUnrecognized(400, { errcode: 'M_UNRECOGNIZED' })).to.equal(false);
    expect(isUnrecognized(200, {})).to.equal(false);
  });

  it("falls back on any status that does not indicate success but the endpoint's own 404, 413 and 429 (application-service-api.md#legacy-routes)", () => {
    for (const status of [400, 401, 403, 405, 500, 501, 502, 503])
      expect(fallsBack(status, undefined), String(status)).to.equal(true);
    expect(fallsBack(404, { errcode: 'M_UNRECOGNIZED' })).to.equal(true);
    expect(fallsBack(404, undefined)).to.equal(true);
    expect(fallsBack(404, { errcode: 'M_NOT_FOUND' })).to.equal(false);
    expect(fallsBack(429, { errcode: 'M_LIMIT_EXCEEDED' })).to.equal(false);
    expect(fallsBack(413, { errcode: 'M_TOO_LARGE' })).to.equal(false);
    expect(fallsBack(200, {})).to.equal(false);
    expect(fallsBack(204, undefined)).to.equal(false);
  });

  it('remembers legacy for reprobeMs, then tries v1 again', () => {
    let now = 1000;
    const pref = new PathPreference(500, () => now);
    expect(pref.first()).to.equal('v1');
    pref.learn('legacy');
    expect(pref.first()).to.equal('legacy');
    now += 499;
    expect(pref.first()).to.equal('legacy');
    now += 1;
    expect(pref.first()).to.equal('v1');
    expect(pref.legacy).to.equal(true);
    pref.learn('v1');
    expect(pref.legacy).to.equal(false);
    expect(pref.first()).to.equal('v1');
  });
});
