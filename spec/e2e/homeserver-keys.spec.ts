/**
 * The reference homeserver's key routes: `/keys/upload` (device keys, one-time keys, fallback
 * keys; counts in the answer), `/keys/query` (its own keys merged with the exclusive AS's, MSC3984)
 * and `/keys/claim` (its own one-time keys first, then the exclusive AS's, MSC3983, then the
 * device's fallback key).
 */
import { expect } from 'chai';
import { MemoryStore } from '../../lib/index.ts';
import { MockAppService } from '../../lib/testing/index.ts';
import { startHomeserver, type RunningHomeserver } from '../../examples/homeserver/index.ts';
import { Api, type Json, type Response } from './support/client.ts';

const C = '/_matrix/client/v3';
const AS_TOKEN = 'keys-bridge-as-token';
const OTK = 'signed_curve25519';

describe('e2e: the reference homeserver serves end-to-end keys', () => {
  let hs: RunningHomeserver;
  let api: Api;
  let mock: MockAppService;
  let alice: { userId: string; token: string };
  const asQueries: unknown[] = [];

  beforeEach(async () => {
    asQueries.length = 0;
    mock = await MockAppService.start({
      hsToken: 'keys-bridge-hs-token',
      onKeysQuery: (body) => {
        asQueries.push(body);
        return {
          device_keys: { '@br_ghost:localhost': { ASDEV: { user_id: '@br_ghost:localhost', device_id: 'ASDEV' } } },
        };
      },
      onKeysClaim: () => ({ '@br_ghost:localhost': { GHOSTDEV: { [`${OTK}:FROMAS`]: { key: 'as-key' } } } }),
    });
    hs = await startHomeserver({
      store: new MemoryStore(),
      registrations: [
        {
          id: 'bridge',
          url: mock.url,
          as_token: AS_TOKEN,
          hs_token: 'keys-bridge-hs-token',
          sender_localpart: 'bridgebot',
          namespaces: { users: [{ exclusive: true, regex: '@br_.*' }], aliases: [], rooms: [] },
          'io.element.msc4190': true,
        },
      ],
      experimentalFeatures: { msc3983: true, msc3984: true, msc4190: true },
      backoffInitialMs: 20,
    });
    api = new Api(hs.url);
    alice = await api.register('alice');
  });
  afterEach(async () => {
    await hs.close();
    await mock.close();
  });

  const deviceOf = async (token: string) =>
    (await api.call('GET', `${C}/account/whoami`, { token })).body.device_id as string;
  const outcome = (res: Response) => [res.status, res.body.errcode];
  const otks = (...ids: string[]): Json => Object.fromEntries(ids.map((id) => [`${OTK}:${id}`, { key: `k-${id}` }]));

  it('uploads device keys, one-time and fallback keys, and answers the counts', async () => {
    const deviceId = await deviceOf(alice.token);
    const deviceKeys = { user_id: alice.userId, device_id: deviceId, algorithms: [], keys: {} };
    const res = await api.call('POST', `${C}/keys/upload`, {
      token: alice.token,
      body: { device_keys: deviceKeys, one_time_keys: otks('A', 'B'), fallback_keys: { [`${OTK}:F`]: { key: 'f' } } },
    });
    expect([res.status, res.body]).to.deep.equal([200, { one_time_key_counts: { [OTK]: 2 } }]);
    const empty = await api.call('POST', `${C}/keys/upload`, { token: alice.token, body: {} });
    expect(empty.body).to.deep.equal({ one_time_key_counts: { [OTK]: 2 } });
    const device = hs.data.devices.get(alice.userId, deviceId)!;
    expect(hs.data.devices.counts(device).unusedFallbackKeyTypes).to.deep.equal([OTK]);

    const clash = await api.call('POST', `${C}/keys/upload`, {
      token: alice.token,
      body: { one_time_keys: { [`${OTK}:A`]: { key: 'other' } } },
    });
    expect(outcome(clash)).to.deep.equal([400, 'M_INVALID_PARAM']);
    const foreign = await api.call('POST', `${C}/keys/upload`, {
      token: alice.token,
      body: { device_keys: { ...deviceKeys, device_id: 'NOTMINE' } },
    });
    expect(outcome(foreign)).to.deep.equal([400, 'M_INVALID_PARAM']);
  });

  it('claims its own one-time keys oldest first, then the fallback key, which stays', async () => {
    const deviceId = await deviceOf(alice.token);
    await api.call('POST', `${C}/keys/upload`, {
      token: alice.token,
      body: { one_time_keys: otks('A', 'B'), fallback_keys: { [`${OTK}:F`]: { key: 'f' } } },
    });
    const bob = await api.register('bob');
    const claim = () =>
      api.call('POST', `${C}/keys/claim`, {
        token: bob.token,
        body: { one_time_keys: { [alice.userId]: { [deviceId]: OTK } } },
      });
    const keysOf = (res: Response) => res.body.one_time_keys[alice.userId][deviceId];
    expect(keysOf(await claim())).to.deep.equal({ [`${OTK}:A`]: { key: 'k-A' } });
    expect(keysOf(await claim())).to.deep.equal({ [`${OTK}:B`]: { key: 'k-B' } });
    expect(keysOf(await claim())).to.deep.equal({ [`${OTK}:F`]: { key: 'f' } });
    expect(keysOf(await claim())).to.deep.equal({ [`${OTK}:F`]: { key: 'f' } });
    const device = hs.data.devices.get(alice.userId, deviceId)!;
    expect(hs.data.devices.counts(device)).to.deep.include({
      oneTimeKeyCounts: { [OTK]: 0 },
      unusedFallbackKeyTypes: [],
    });
  });

  it('asks the exclusive AS for the one-time keys it has run out of (MSC3983)', async () => {
    const ghost = await api.call('POST', `${C}/register`, {
      token: AS_TOKEN,
      body: { type: 'm.login.application_service', username: 'br_ghost', inhibit_login: true },
    });
    const ghostId = ghost.body.user_id as string;
    await api.call('PUT', `${C}/devices/GHOSTDEV`, { token: AS_TOKEN, query: { user_id: ghostId }, body: {} });
    const res = await api.call('POST', `${C}/keys/claim`, {
      token: alice.token,
      body: { one_time_keys: { [ghostId]: { GHOSTDEV: OTK } } },
    });
    expect(res.body.one_time_keys).to.deep.equal({ [ghostId]: { GHOSTDEV: { [`${OTK}:FROMAS`]: { key: 'as-key' } } } });
    const asked = mock.requests.filter((r) => r.path === '/_matrix/app/unstable/org.matrix.msc3983/keys/claim');
    expect(asked.map((r) => r.body)).to.deep.equal([{ [ghostId]: { GHOSTDEV: [OTK] } }]);
  });

  it("merges the exclusive AS's device keys into /keys/query (MSC3984), and its own for everyone", async () => {
    const deviceId = await deviceOf(alice.token);
    const deviceKeys = { user_id: alice.userId, device_id: deviceId, algorithms: [], keys: {} };
    await api.call('POST', `${C}/keys/upload`, { token: alice.token, body: { device_keys: deviceKeys } });
    await api.call('PUT', `${C}/devices/${deviceId}`, { token: alice.token, body: { display_name: 'Laptop' } });
    const res = await api.call('POST', `${C}/keys/query`, {
      token: alice.token,
      body: { device_keys: { [alice.userId]: [], '@br_ghost:localhost': [] } },
    });
    expect(res.status).to.equal(200);
    expect(res.body.device_keys[alice.userId]).to.deep.equal({
      [deviceId]: { ...deviceKeys, unsigned: { device_display_name: 'Laptop' } },
    });
    expect(res.body.device_keys['@br_ghost:localhost']).to.deep.equal({
      ASDEV: { user_id: '@br_ghost:localhost', device_id: 'ASDEV' },
    });
    expect(res.body.failures).to.deep.equal({});
    expect(asQueries).to.deep.equal([{ '@br_ghost:localhost': [] }]);
  });

  it('wants a device for an upload, and bounds queries and claims', async () => {
    const noDevice = await api.call('POST', `${C}/keys/upload`, {
      token: AS_TOKEN,
      body: { one_time_keys: otks('A') },
    });
    expect(outcome(noDevice)).to.deep.equal([400, 'M_MISSING_PARAM']);
    const users = Object.fromEntries(Array.from({ length: 1_001 }, (_, i) => [`@u${i}:localhost`, []]));
    const tooMany = await api.call('POST', `${C}/keys/query`, { token: alice.token, body: { device_keys: users } });
    expect(outcome(tooMany)).to.deep.equal([413, 'M_TOO_LARGE']);
    const bad = await api.call('POST', `${C}/keys/upload`, {
      token: alice.token,
      body: { one_time_keys: { nocolon: { key: 'x' } } },
    });
    expect(outcome(bad)).to.deep.equal([400, 'M_BAD_JSON']);
  });
});
