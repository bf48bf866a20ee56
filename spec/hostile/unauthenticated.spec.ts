/**
 * A client the homeserver does not know makes no AS do any work (design sections 5, 6 and 8):
 * on the routes where the plugin would ask an AS (create users for an invite list, rooms for an
 * alias, third-party lookups) it gets 401 from the host's `authenticate` first and no AS hears of
 * the request. Lookups the client-server spec allows anonymously (alias, profile) reach the
 * homeserver without any AS being asked. Third-party lookups are bounded and cached.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { MockAppService } from '../../lib/testing/index.ts';
import { ToyHost } from '../koa/support/toy-host.ts';
import {
  alias,
  call,
  hsToken,
  registrationObject,
  startHomeserver,
  type Homeserver,
} from '../reliability/support/homeserver.ts';

const C = '/_matrix/client/v3';
const enc = encodeURIComponent;
const USER = 'syt_user_token';

describe('hostile: unauthenticated clients make no AS work', function () {
  this.timeout(20_000);
  let host: ToyHost;
  let irc: MockAppService;
  let hs: Homeserver;

  beforeEach(async () => {
    host = new ToyHost('hs.test');
    irc = await MockAppService.start({ hsToken: hsToken('irc'), protocols: { irc: { instances: [] } } });
    hs = await startHomeserver({
      host,
      registrations: [{ ...registrationObject('irc', irc.url), protocols: ['irc'] }],
      queryDeadlineMs: 2_000,
    });
  });
  afterEach(async () => {
    await hs.close();
    await irc.close();
  });

  const invite = Array.from({ length: 150 }, (_, i) => `@irc_u${i}:hs.test`);
  const blocking: [string, 'POST' | 'PUT', string, unknown][] = [
    ['createRoom with an invite list', 'POST', `${C}/createRoom`, { invite }],
    ['invite', 'POST', `${C}/rooms/${enc('!r:hs.test')}/invite`, { user_id: '@irc_bob:hs.test' }],
    ['join by alias', 'POST', `${C}/join/${enc('#irc_chan:hs.test')}`, {}],
    ['knock by alias', 'POST', `${C}/knock/${enc('#irc_chan:hs.test')}`, {}],
    [
      'canonical alias state',
      'PUT',
      `${C}/rooms/${enc('!r:hs.test')}/state/m.room.canonical_alias`,
      { alias: '#irc_chan:hs.test' },
    ],
  ];
  for (const [what, method, path, body] of blocking) {
    it(`${what}: 401 M_MISSING_TOKEN without a token, M_UNKNOWN_TOKEN with an unknown one, 0 AS requests`, async () => {
      const missing = await call(hs.url, method, path, { body });
      expect([missing.status, missing.body.errcode]).to.deep.equal([401, 'M_MISSING_TOKEN']);
      const unknown = await call(hs.url, method, path, { body, token: 'stolen-or-made-up' });
      expect([unknown.status, unknown.body.errcode]).to.deep.equal([401, 'M_UNKNOWN_TOKEN']);
      expect(irc.requests, 'AS requests').to.have.length(0);
      expect(hs.reached).to.deep.equal([]);
      // The same request from a user the host knows does ask the AS.
      await call(hs.url, method, path, { body, token: USER });
      expect(irc.requests.length).to.be.greaterThan(0);
    });
  }

  it('anonymous alias and profile lookups (the spec allows them) reach the homeserver with no AS asked', async () => {
    expect((await call(hs.url, 'GET', alias('#irc_chan:hs.test'))).status).to.equal(404);
    await call(hs.url, 'GET', `${C}/profile/${enc('@irc_bob:hs.test')}`);
    expect(hs.reached).to.have.length(2);
    expect(irc.requests).to.have.length(0);
    // An unknown token is refused there too.
    const unknown = await call(hs.url, 'GET', alias('#irc_chan:hs.test'), { token: 'stolen-or-made-up' });
    expect([unknown.status, unknown.body.errcode]).to.deep.equal([401, 'M_UNKNOWN_TOKEN']);
    expect(irc.requests).to.have.length(0);
  });

  it('third-party lookups: 401 without a known token, no AS asked', async () => {
    for (const path of [
      '/thirdparty/protocols',
      '/thirdparty/protocol/irc',
      '/thirdparty/location/irc?channel=a',
      '/thirdparty/user?userid=a',
    ]) {
      const missing = await call(hs.url, 'GET', `${C}${path}`);
      expect([missing.status, missing.body.errcode], path).to.deep.equal([401, 'M_MISSING_TOKEN']);
      const unknown = await call(hs.url, 'GET', `${C}${path}`, { token: 'made-up' });
      expect([unknown.status, unknown.body.errcode], path).to.deep.equal([401, 'M_UNKNOWN_TOKEN']);
    }
    expect(irc.requests).to.have.length(0);
  });

  it('third-party lookups: the same lookup repeated makes one AS request', async () => {
    for (let i = 0; i < 20; i++) await call(hs.url, 'GET', `${C}/thirdparty/location/irc?channel=a`, { token: USER });
    await Promise.all(
      Array.from({ length: 20 }, () => call(hs.url, 'GET', `${C}/thirdparty/protocols`, { token: USER })),
    );
    expect(irc.requests.filter((r) => r.path.includes('/thirdparty/location/'))).to.have.length(1);
    expect(irc.requests.filter((r) => r.path.includes('/thirdparty/protocol/'))).to.have.length(1);
    await call(hs.url, 'GET', `${C}/thirdparty/location/irc?channel=b`, { token: USER });
    expect(irc.requests.filter((r) => r.path.includes('/thirdparty/location/'))).to.have.length(2);
  });
});

describe('hostile: third-party fan-out is bounded per AS', function () {
  this.timeout(20_000);

  it('40 concurrent distinct lookups reach a slow AS at most 4 at a time', async () => {
    let inFlight = 0;
    let most = 0;
    let seen = 0;
    const slow = http.createServer((req, res) => {
      inFlight++;
      seen++;
      most = Math.max(most, inFlight);
      setTimeout(() => {
        inFlight--;
        res.setHeader('content-type', 'application/json');
        res.end('[]');
      }, 100);
    });
    await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(slow.address() as AddressInfo).port}`;
    const hs = await startHomeserver({
      host: new ToyHost('hs.test'),
      registrations: [{ ...registrationObject('irc', url), protocols: ['irc'] }],
    });
    try {
      const replies = await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          call(hs.url, 'GET', `${C}/thirdparty/user/irc?nick=n${i}`, { token: USER }),
        ),
      );
      expect(replies.map((r) => r.status)).to.deep.equal(Array(40).fill(404)); // every AS answered []
      expect(seen).to.equal(40);
      expect(most).to.be.at.most(4);
    } finally {
      await hs.close();
      slow.closeAllConnections();
      await new Promise((resolve) => slow.close(resolve));
    }
  });
});
