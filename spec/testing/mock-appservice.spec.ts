import { expect } from 'chai';
import { request } from 'undici';
import { MockAppService } from '../../lib/testing/index.ts';

const TOKEN = 'hs-mock-token';

describe('MockAppService', () => {
  let mock: MockAppService;
  const call = async (
    method: string,
    path: string,
    options: { token?: string | null; body?: unknown; raw?: string } = {},
  ): Promise<{ status: number; json: unknown; headers: Record<string, unknown> }> => {
    const token = options.token === undefined ? TOKEN : options.token;
    const res = await request(`${mock.url}${path}`, {
      method: method as 'GET',
      headers: token === null ? {} : { authorization: `Bearer ${token}` },
      body: options.raw ?? (options.body === undefined ? null : JSON.stringify(options.body)),
    });
    const text = await res.body.text();
    let json: unknown = text;
    try {
      json = JSON.parse(text);
    } catch {
      // left as text
    }
    return { status: res.statusCode, json, headers: res.headers };
  };

  beforeEach(async () => {
    mock = await MockAppService.start({
      hsToken: TOKEN,
      users: ['@a:hs'],
      aliases: ['#a:hs'],
      protocols: { irc: { icon: 'x' } },
    });
  });
  afterEach(() => mock.close());

  it('answers users and aliases from its sets and records every request in order', async () => {
    expect((await call('GET', '/_matrix/app/v1/users/%40a%3Ahs')).status).to.equal(200);
    expect(await call('GET', '/_matrix/app/v1/rooms/%23b%3Ahs')).to.deep.include({
      status: 404,
      json: { errcode: 'M_NOT_FOUND', error: 'not here' },
    });
    mock.aliases.add('#b:hs');
    expect((await call('GET', '/_matrix/app/v1/rooms/%23b%3Ahs?x=1')).status).to.equal(200);
    expect(mock.requests).to.deep.equal([
      { method: 'GET', path: '/_matrix/app/v1/users/%40a%3Ahs', query: {}, body: undefined, tokenOk: true },
      { method: 'GET', path: '/_matrix/app/v1/rooms/%23b%3Ahs', query: {}, body: undefined, tokenOk: true },
      { method: 'GET', path: '/_matrix/app/v1/rooms/%23b%3Ahs', query: { x: '1' }, body: undefined, tokenOk: true },
    ]);
  });

  it('asks async handlers when given', async () => {
    await mock.close();
    const seen: string[] = [];
    mock = await MockAppService.start({
      hsToken: TOKEN,
      onUserQuery: async (id) => (seen.push(id), id.endsWith(':yes')),
      onAliasQuery: () => {
        throw new Error('boom');
      },
    });
    expect((await call('GET', '/_matrix/app/v1/users/%40x%3Ayes')).status).to.equal(200);
    expect((await call('GET', '/_matrix/app/v1/users/%40x%3Ano')).status).to.equal(404);
    expect((await call('GET', '/_matrix/app/v1/rooms/%23x%3Ano')).status).to.equal(500);
    expect(seen).to.deep.equal(['@x:yes', '@x:no']);
  });

  it('checks the hs_token: missing 401, wrong 403, query parameter accepted', async () => {
    expect(await call('GET', '/_matrix/app/v1/users/%40a%3Ahs', { token: null })).to.deep.include({ status: 401 });
    expect(await call('GET', '/_matrix/app/v1/users/%40a%3Ahs', { token: 'nope' })).to.deep.include({
      status: 403,
      json: { errcode: 'M_FORBIDDEN', error: 'wrong hs_token' },
    });
    expect(
      (await call('GET', `/_matrix/app/v1/users/%40a%3Ahs?access_token=${TOKEN}`, { token: null })).status,
    ).to.equal(200);
    expect(mock.requests.map((r) => r.tokenOk)).to.deep.equal([false, false, true]);
  });

  it('dedupes transactions by txnId, keeps the first body, and notes conflicting repeats', async () => {
    const t1 = {
      events: [{ event_id: '$1' }, { event_id: '$2' }],
      ephemeral: [{ type: 'm.typing' }],
      'de.sorunome.msc2409.to_device': [{ type: 'm.x' }],
    };
    expect((await call('PUT', '/_matrix/app/v1/transactions/1', { body: t1 })).status).to.equal(200);
    expect((await call('PUT', '/_matrix/app/v1/transactions/1', { body: t1 })).status).to.equal(200);
    expect(
      (await call('PUT', '/_matrix/app/v1/transactions/1', { body: { events: [{ event_id: '$9' }] } })).status,
    ).to.equal(200);
    expect(
      (
        await call('PUT', '/_matrix/app/v1/transactions/2', {
          body: { 'de.sorunome.msc2409.ephemeral': [{ type: 'm.receipt' }] },
        })
      ).status,
    ).to.equal(200);
    expect((await call('PUT', '/_matrix/app/v1/transactions/3', { raw: 'not json' })).status).to.equal(400);
    expect(mock.transactions.get('1')).to.deep.equal(t1);
    expect(mock.events).to.deep.equal([{ event_id: '$1' }, { event_id: '$2' }]);
    expect(mock.ephemeral).to.deep.equal([{ type: 'm.typing' }, { type: 'm.receipt' }]);
    expect(mock.toDevice).to.deep.equal([{ type: 'm.x' }]);
    expect(mock.conflicts).to.deep.equal(['1']);
  });

  it('waitForEvents resolves when enough events arrived, rejects after the timeout', async () => {
    const waiting = mock.waitForEvents(2, 2000);
    await call('PUT', '/_matrix/app/v1/transactions/a', { body: { events: [1] } });
    await call('PUT', '/_matrix/app/v1/transactions/b', { body: { events: [2, 3] } });
    expect(await waiting).to.deep.equal([1, 2, 3]);
    const error = await mock.waitForEvents(10, 50).catch((e: unknown) => e);
    expect(error).to.be.instanceOf(Error).with.property('message').that.contains('3 of 10');
  });

  it('answers ping and third-party lookups', async () => {
    expect((await call('POST', '/_matrix/app/v1/ping', { body: { transaction_id: 't' } })).status).to.equal(200);
    expect(mock.pings).to.deep.equal(['t']);
    expect(await call('GET', '/_matrix/app/v1/thirdparty/protocol/irc')).to.deep.include({
      status: 200,
      json: { icon: 'x' },
    });
    expect((await call('GET', '/_matrix/app/v1/thirdparty/protocol/xmpp')).status).to.equal(404);
    expect(await call('GET', '/_matrix/app/v1/thirdparty/location?alias=%23a')).to.deep.include({
      status: 200,
      json: [],
    });
    expect(await call('GET', '/_matrix/app/v1/nothing')).to.deep.include({
      status: 404,
      json: { errcode: 'M_UNRECOGNIZED', error: 'unknown endpoint' },
    });
  });

  it('down() refuses connections, up() listens again on the same port', async () => {
    const url = mock.url;
    await mock.down();
    const error = await call('GET', '/_matrix/app/v1/users/%40a%3Ahs').catch((e: unknown) => e);
    expect(error).to.have.property('code', 'ECONNREFUSED');
    await mock.up();
    expect(mock.url).to.equal(url);
    expect((await call('GET', '/_matrix/app/v1/users/%40a%3Ahs')).status).to.equal(200);
  });

  it('status(code) answers that status for `times` requests, then normally', async () => {
    mock.status(503, { times: 2, headers: { 'retry-after': '3' } });
    const first = await call('GET', '/_matrix/app/v1/users/%40a%3Ahs');
    expect(first.status).to.equal(503);
    expect(first.headers['retry-after']).to.equal('3');
    expect((await call('GET', '/_matrix/app/v1/users/%40a%3Ahs')).status).to.equal(503);
    expect((await call('GET', '/_matrix/app/v1/users/%40a%3Ahs')).status).to.equal(200);
    mock.status(429);
    expect(await call('GET', '/_matrix/app/v1/users/%40a%3Ahs')).to.deep.include({ status: 429 });
    mock.status(null);
    expect((await call('GET', '/_matrix/app/v1/users/%40a%3Ahs')).status).to.equal(200);
  });

  it('slow, flaky, garbage and oversized switches', async () => {
    mock.slow(150);
    const started = performance.now();
    await call('GET', '/_matrix/app/v1/users/%40a%3Ahs');
    expect(performance.now() - started).to.be.at.least(140);
    mock.slow(0);
    mock.flaky(1);
    expect((await call('GET', '/_matrix/app/v1/users/%40a%3Ahs')).status).to.equal(500);
    mock.flaky(0);
    mock.garbage(true);
    const garbage = await call('GET', '/_matrix/app/v1/users/%40a%3Ahs');
    expect(garbage.status).to.equal(200);
    expect(garbage.json).to.be.a('string');
    mock.garbage(false);
    mock.oversized(300_000);
    const big = await request(`${mock.url}/_matrix/app/v1/users/%40a%3Ahs`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect((await big.body.arrayBuffer()).byteLength).to.equal(300_000);
  });

  it('legacyOnly: v1 paths unknown (M_UNRECOGNIZED or bare 404), draft paths answer', async () => {
    expect((await call('GET', '/users/%40a%3Ahs')).json).to.deep.include({ errcode: 'M_UNRECOGNIZED' });
    mock.legacyOnly(true);
    expect((await call('GET', '/_matrix/app/v1/users/%40a%3Ahs')).json).to.deep.include({ errcode: 'M_UNRECOGNIZED' });
    expect((await call('GET', '/users/%40a%3Ahs')).status).to.equal(200);
    expect((await call('GET', '/_matrix/app/unstable/thirdparty/protocol/irc')).status).to.equal(200);
    mock.legacyOnly(true, 'bare');
    expect(await call('GET', '/_matrix/app/v1/rooms/%23a%3Ahs')).to.deep.include({ status: 404, json: 'Not Found' });
  });

  it('reset() forgets requests and turns switches off', async () => {
    mock.status(500);
    await call('PUT', '/_matrix/app/v1/transactions/1', { body: { events: [1] } });
    mock.reset();
    expect(mock.requests).to.deep.equal([]);
    await call('PUT', '/_matrix/app/v1/transactions/1', { body: { events: [1] } });
    expect(mock.events).to.deep.equal([1]);
  });
});
