import { expect } from 'chai';
import { MockAppService } from '../../lib/testing/mock-appservice.ts';
import { registration, startApp, type TestApp } from './support/app.ts';
import { ToyHost } from './support/toy-host.ts';

const enc = encodeURIComponent;

describe('koa/routes: ping', () => {
  const PING = (id: string) => `/_matrix/client/v1/appservice/${id}/ping`;
  let mock: MockAppService;
  let app: TestApp;

  beforeEach(async () => {
    mock = await MockAppService.start({ hsToken: 'hs-irc' });
    const irc = registration({ id: 'irc', url: mock.url });
    const nourl = registration({ id: 'nourl', url: null });
    // Its hs_token is not the one the mock expects: the mock answers 403, as a misconfigured AS would.
    const wrong = registration({ id: 'wrong', url: mock.url, hsToken: 'not-hs-irc' });
    app = await startApp({ registrations: [irc, nourl, wrong], deadlineMs: 400 });
  });
  afterEach(async () => {
    await app.close();
    await mock.close();
  });

  it("pings the AS with the transaction_id, answers {duration_ms} and wakes the AS's sender", async () => {
    const res = await app.call('POST', PING('irc'), { token: 'as-irc', body: { transaction_id: 'meow' } });
    expect(res.status).to.equal(200);
    expect(res.body.duration_ms).to.be.a('number').and.to.be.at.least(0);
    expect(Object.keys(res.body)).to.deep.equal(['duration_ms']);
    expect(mock.pings).to.deep.equal(['meow']);
    expect(app.pinged).to.deep.equal(['irc']);
  });

  it('works without a body', async () => {
    const res = await app.call('POST', PING('irc'), { token: 'as-irc' });
    expect(res.status).to.equal(200);
    expect(mock.pings).to.deep.equal([undefined]);
  });

  it("403 M_FORBIDDEN for another AS's id or a user's token (no token: spec/koa/ping-auth.spec.ts)", async () => {
    for (const token of ['as-nourl', 'syt_user']) {
      const res = await app.call('POST', PING('irc'), { token, body: {} });
      expect([res.status, res.body.errcode], token).to.deep.equal([403, 'M_FORBIDDEN']);
    }
    expect(mock.pings).to.deep.equal([]);
    expect(app.pinged).to.deep.equal([]);
  });

  it('400 M_URL_NOT_SET for an AS without url', async () => {
    const res = await app.call('POST', PING('nourl'), { token: 'as-nourl', body: {} });
    expect([res.status, res.body.errcode]).to.deep.equal([400, 'M_URL_NOT_SET']);
  });

  it('400 M_BAD_JSON for a transaction_id that is no string', async () => {
    const res = await app.call('POST', PING('irc'), { token: 'as-irc', body: { transaction_id: 7 } });
    expect([res.status, res.body.errcode]).to.deep.equal([400, 'M_BAD_JSON']);
  });

  it("502 M_BAD_STATUS with the AS's status and body text (the spec's wrong hs_token case)", async () => {
    const res = await app.call('POST', PING('wrong'), { token: 'as-wrong', body: { transaction_id: 'meow' } });
    expect([res.status, res.body.errcode, res.body.status]).to.deep.equal([502, 'M_BAD_STATUS', 403]);
    expect(res.body.body).to.be.a('string');
    expect(JSON.parse(res.body.body as string)).to.deep.include({ errcode: 'M_FORBIDDEN' });
    expect(app.pinged).to.deep.equal([]);
  });

  it('502 M_BAD_STATUS for a 500 from the AS', async () => {
    mock.status(500, { times: 100, body: { errcode: 'M_UNKNOWN', error: 'boom' } });
    const res = await app.call('POST', PING('irc'), { token: 'as-irc', body: {} });
    expect([res.status, res.body.errcode, res.body.status]).to.deep.equal([502, 'M_BAD_STATUS', 500]);
  });

  it('502 M_CONNECTION_FAILED when the AS is down', async () => {
    await mock.down();
    const res = await app.call('POST', PING('irc'), { token: 'as-irc', body: {} });
    expect([res.status, res.body.errcode]).to.deep.equal([502, 'M_CONNECTION_FAILED']);
  });

  it('504 M_CONNECTION_TIMEOUT when the AS does not answer in time', async () => {
    mock.slow(5_000);
    const started = performance.now();
    const res = await app.call('POST', PING('irc'), { token: 'as-irc', body: {} });
    expect(performance.now() - started).to.be.below(400 + 1_000);
    expect([res.status, res.body.errcode]).to.deep.equal([504, 'M_CONNECTION_TIMEOUT']);
  });
});

describe('koa/routes: third-party lookups', () => {
  const instance = (network: string) => ({ desc: network, fields: { network }, network_id: network });
  const protocol = (network: string) => ({
    user_fields: ['network', 'nickname'],
    location_fields: ['network', 'channel'],
    icon: 'mxc://x/y',
    field_types: {},
    instances: [instance(network)],
  });
  let libera: MockAppService;
  let oftc: MockAppService;
  let gitter: MockAppService;
  let app: TestApp;

  beforeEach(async () => {
    const lookup = (network: string) => (kind: 'location' | 'user', p: string | null, query: Record<string, string>) =>
      kind === 'location' && (p === 'irc' || query.alias !== undefined)
        ? [{ alias: `#irc_${network}:hs.test`, protocol: 'irc', fields: query }]
        : [];
    libera = await MockAppService.start({
      hsToken: 'hs-libera',
      protocols: { irc: protocol('libera') },
      onThirdparty: lookup('libera'),
    });
    oftc = await MockAppService.start({
      hsToken: 'hs-oftc',
      protocols: { irc: protocol('oftc') },
      onThirdparty: lookup('oftc'),
    });
    gitter = await MockAppService.start({ hsToken: 'hs-gitter', protocols: { gitter: protocol('gitter') } });
    app = await startApp({
      registrations: [
        registration({ id: 'libera', url: libera.url, protocols: ['irc'] }),
        registration({ id: 'oftc', url: oftc.url, protocols: ['irc'] }),
        registration({ id: 'gitter', url: gitter.url, protocols: ['gitter'] }),
        registration({ id: 'silent', url: null, protocols: ['irc'] }),
      ],
      deadlineMs: 1_000,
    });
  });
  afterEach(async () => {
    await app.close();
    await Promise.all([libera.close(), oftc.close(), gitter.close()]);
  });

  it("GET /thirdparty/protocols merges each protocol's instances across ASes, each with an instance_id", async () => {
    for (const version of ['v3', 'r0']) {
      const res = await app.call('GET', `/_matrix/client/${version}/thirdparty/protocols`, { token: 'syt_user' });
      expect(res.status).to.equal(200);
      expect(Object.keys(res.body).sort()).to.deep.equal(['gitter', 'irc']);
      const irc = res.body.irc as { instances: { network_id: string; instance_id: string }[]; user_fields: string[] };
      expect(irc.user_fields).to.deep.equal(['network', 'nickname']);
      expect(irc.instances.map((i) => i.network_id).sort()).to.deep.equal(['libera', 'oftc']);
      const ids = irc.instances.map((i) => i.instance_id);
      expect(new Set(ids).size).to.equal(2);
      // Synapse's shape: /publicRooms reads it back as third_party_instance_id.
      expect(ids.sort()).to.deep.equal(['libera|libera', 'oftc|oftc']);
    }
  });

  it('adds no instance_id to an instance that names no network (as Synapse; sytest compares instances exactly)', async () => {
    const bare = await MockAppService.start({
      hsToken: 'hs-bare',
      protocols: { ymca: { user_fields: [], location_fields: [], icon: '', instances: [{ desc: 'no network' }] } },
    });
    const own = await startApp({
      registrations: [registration({ id: 'bare', url: bare.url, protocols: ['ymca'] })],
      deadlineMs: 1_000,
    });
    try {
      const res = await own.call('GET', '/_matrix/client/v3/thirdparty/protocol/ymca', { token: 'syt_user' });
      expect(res.body.instances).to.deep.equal([{ desc: 'no network' }]);
    } finally {
      await own.close();
      await bare.close();
    }
  });

  it('GET /thirdparty/protocol/{p} answers one protocol; 404 M_NOT_FOUND for an unknown one', async () => {
    const res = await app.call('GET', '/_matrix/client/v3/thirdparty/protocol/irc', { token: 'syt_user' });
    expect((res.body.instances as unknown[]).length).to.equal(2);
    expect(gitter.requests).to.have.length(0);
    const unknown = await app.call('GET', '/_matrix/client/v3/thirdparty/protocol/xmpp', { token: 'syt_user' });
    expect([unknown.status, unknown.body.errcode]).to.deep.equal([404, 'M_NOT_FOUND']);
  });

  it("leaves out an AS that fails, keeping the others' answers", async () => {
    await oftc.down();
    const res = await app.call('GET', '/_matrix/client/v3/thirdparty/protocol/irc', { token: 'syt_user' });
    expect(res.status).to.equal(200);
    expect((res.body.instances as { network_id: string }[]).map((i) => i.network_id)).to.deep.equal(['libera']);
  });

  it('GET /thirdparty/location/{p} fans out to the ASes declaring it, passing fields but never tokens or identity', async () => {
    const res = await app.call('GET', '/_matrix/client/v3/thirdparty/location/irc', {
      query: { access_token: 'syt_user', channel: '#matrix', user_id: '@me:hs.test' },
    });
    expect(res.status).to.equal(200);
    const found = res.body as unknown as { alias: string; fields: Record<string, string> }[];
    expect(found.map((l) => l.alias).sort()).to.deep.equal(['#irc_libera:hs.test', '#irc_oftc:hs.test']);
    expect(found[0]!.fields).to.deep.equal({ channel: '#matrix' });
    expect(gitter.requests).to.have.length(0);
    const sent = libera.requests.at(-1)!;
    expect(sent.path).to.match(/thirdparty\/location\/irc$/);
    expect(sent.query).to.deep.equal({ channel: '#matrix' });
  });

  it('404 M_NOT_FOUND when no AS finds anything (users here), or no AS declares the protocol', async () => {
    for (const path of ['/_matrix/client/v3/thirdparty/user/irc', '/_matrix/client/v3/thirdparty/location/xmpp']) {
      const res = await app.call('GET', path, { token: 'syt_user', query: { nickname: 'bob' } });
      expect([res.status, res.body.errcode], path).to.deep.equal([404, 'M_NOT_FOUND']);
    }
  });

  it('GET /thirdparty/location?alias= asks every AS with protocols', async () => {
    const res = await app.call('GET', '/_matrix/client/v3/thirdparty/location', {
      token: 'syt_user',
      query: { alias: '#irc_libera:hs.test' },
    });
    expect(res.status).to.equal(200);
    expect((res.body as unknown as unknown[]).length).to.equal(2);
    expect(gitter.requests.map((r) => r.path)).to.deep.equal(['/_matrix/app/v1/thirdparty/location']);
  });
});

describe('koa/routes: appservice room directory', () => {
  const PATH = `/_matrix/client/v3/directory/list/appservice/libera/${enc('!room:hs.test')}`;

  it('sets the visibility through the host for an AS', async () => {
    const host = new ToyHost('hs.test');
    const app = await startApp({ registrations: [registration({ id: 'irc' })], host });
    try {
      const res = await app.call('PUT', PATH, { token: 'as-irc', body: { visibility: 'public' } });
      expect([res.status, res.body]).to.deep.equal([200, {}]);
      expect(host.directory).to.deep.equal([
        { appserviceId: 'irc', networkId: 'libera', roomId: '!room:hs.test', visibility: 'public' },
      ]);

      const user = await app.call('PUT', PATH, { token: 'syt_user', body: { visibility: 'public' } });
      expect([user.status, user.body.errcode]).to.deep.equal([403, 'M_FORBIDDEN']);
      const bad = await app.call('PUT', PATH, { token: 'as-irc', body: { visibility: 'hidden' } });
      expect([bad.status, bad.body.errcode]).to.deep.equal([400, 'M_INVALID_PARAM']);
      expect(host.directory).to.have.length(1);
    } finally {
      await app.close();
    }
  });

  it('DELETE takes the room off the AS list (private), for the AS only', async () => {
    const host = new ToyHost('hs.test');
    const app = await startApp({ registrations: [registration({ id: 'irc' })], host });
    try {
      const user = await app.call('DELETE', PATH, { token: 'syt_user' });
      expect([user.status, user.body.errcode]).to.deep.equal([403, 'M_FORBIDDEN']);
      const res = await app.call('DELETE', PATH, { token: 'as-irc' });
      expect([res.status, res.body]).to.deep.equal([200, {}]);
      expect(host.directory).to.deep.equal([
        { appserviceId: 'irc', networkId: 'libera', roomId: '!room:hs.test', visibility: 'private' },
      ]);
    } finally {
      await app.close();
    }
  });

  it('404 M_UNRECOGNIZED when the host has no appservice directory', async () => {
    const app = await startApp({
      registrations: [registration({ id: 'irc' })],
      host: new ToyHost('hs.test', { directory: false }),
    });
    try {
      const res = await app.call('PUT', PATH, { token: 'as-irc', body: { visibility: 'private' } });
      expect([res.status, res.body.errcode]).to.deep.equal([404, 'M_UNRECOGNIZED']);
    } finally {
      await app.close();
    }
  });
});
