/**
 * The reference homeserver's device routes: `GET/PUT/DELETE /devices/{deviceId}`, `GET /devices`,
 * `POST /delete_devices`, `POST /keys/device_signing/upload`. An MSC4190 AS (the plugin's
 * `ctx.state.deviceManagement`) creates its users' devices with `PUT` (201) and deletes them and
 * replaces cross-signing keys without user-interactive auth; an AS without the flag and every user
 * go through the homeserver's user-interactive auth (a password, or the dummy stage for users
 * without one).
 */
import { expect } from 'chai';
import { MemoryStore } from '../../lib/index.ts';
import { MockAppService } from '../../lib/testing/index.ts';
import { startHomeserver, type RunningHomeserver } from '../../examples/homeserver/index.ts';
import { Api, type Json, type Response } from './support/client.ts';

const C = '/_matrix/client/v3';
const E2EE_TOKEN = 'e2ee-bridge-as-token';
const PLAIN_TOKEN = 'plain-bridge-as-token';

describe('e2e: the reference homeserver manages devices (MSC4190 for bridges, user-interactive auth for users)', () => {
  let hs: RunningHomeserver;
  let api: Api;
  let mock: MockAppService;

  beforeEach(async () => {
    mock = await MockAppService.start({ hsToken: 'e2ee-hs-token-123' });
    const bridge = (id: string, asToken: string, prefix: string, extra: Record<string, unknown>) => ({
      id,
      url: id === 'e2ee' ? mock.url : null,
      as_token: asToken,
      hs_token: `${id}-hs-token-123`,
      sender_localpart: `${id}bot`,
      namespaces: { users: [{ exclusive: true, regex: `@${prefix}_.*` }], aliases: [], rooms: [] },
      ...extra,
    });
    hs = await startHomeserver({
      store: new MemoryStore(),
      registrations: [
        bridge('e2ee', E2EE_TOKEN, 'e2ee', { 'io.element.msc4190': true, 'org.matrix.msc3202': true }),
        bridge('plain', PLAIN_TOKEN, 'plain', {}),
      ],
      experimentalFeatures: { msc4190: true },
      backoffInitialMs: 20,
    });
    api = new Api(hs.url);
  });
  afterEach(async () => {
    await hs.close();
    await mock.close();
  });

  const ghost = async (token: string, localpart: string): Promise<string> => {
    const res = await api.call('POST', `${C}/register`, {
      token,
      body: { type: 'm.login.application_service', username: localpart, inhibit_login: true },
    });
    expect(res.status, JSON.stringify(res.body)).to.equal(200);
    return res.body.user_id as string;
  };
  const as = (token: string, method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, query: Json, body?: unknown) =>
    api.call(method, path, { token, query, ...(body === undefined ? {} : { body }) });
  const outcome = (res: Response) => [res.status, res.body.errcode];

  it('an MSC4190 AS creates a device with PUT (201, then 200), acts as it, and deletes it without user-interactive auth', async () => {
    const user = await ghost(E2EE_TOKEN, 'e2ee_alice');
    const created = await as(
      E2EE_TOKEN,
      'PUT',
      `${C}/devices/BRIDGEDEV`,
      { user_id: user, device_id: 'BRIDGEDEV' },
      {
        display_name: 'Bridge',
      },
    );
    expect([created.status, created.body]).to.deep.equal([201, {}]);
    const again = await as(E2EE_TOKEN, 'PUT', `${C}/devices/BRIDGEDEV`, { user_id: user }, { display_name: 'Renamed' });
    expect([again.status, again.body]).to.deep.equal([200, {}]);
    const listed = await as(E2EE_TOKEN, 'GET', `${C}/devices`, { user_id: user });
    expect(listed.body.devices).to.deep.equal([{ device_id: 'BRIDGEDEV', display_name: 'Renamed' }]);
    const whoami = await as(E2EE_TOKEN, 'GET', `${C}/account/whoami`, { user_id: user, device_id: 'BRIDGEDEV' });
    expect(whoami.body).to.deep.include({ user_id: user, device_id: 'BRIDGEDEV' });

    const deleted = await as(E2EE_TOKEN, 'DELETE', `${C}/devices/BRIDGEDEV`, { user_id: user });
    expect([deleted.status, deleted.body]).to.deep.equal([200, {}]);
    expect(outcome(await as(E2EE_TOKEN, 'GET', `${C}/devices/BRIDGEDEV`, { user_id: user }))).to.deep.equal([
      404,
      'M_NOT_FOUND',
    ]);
    const asserting = await as(E2EE_TOKEN, 'GET', `${C}/account/whoami`, { user_id: user, device_id: 'BRIDGEDEV' });
    expect(outcome(asserting)).to.deep.equal([400, 'M_UNKNOWN_DEVICE']);
  });

  it('an MSC4190 AS deletes several devices with POST /delete_devices (r0 and unstable paths too)', async () => {
    const user = await ghost(E2EE_TOKEN, 'e2ee_bob');
    for (const [version, id] of [
      ['r0', 'ONE'],
      ['unstable', 'TWO'],
      ['v3', 'THREE'],
    ] as const) {
      const res = await as(E2EE_TOKEN, 'PUT', `/_matrix/client/${version}/devices/${id}`, { user_id: user }, {});
      expect(res.status).to.equal(201);
    }
    const res = await as(
      E2EE_TOKEN,
      'POST',
      `/_matrix/client/unstable/delete_devices`,
      { user_id: user },
      {
        devices: ['ONE', 'TWO', 'NEVER'],
      },
    );
    expect([res.status, res.body]).to.deep.equal([200, {}]);
    const listed = await as(E2EE_TOKEN, 'GET', `${C}/devices`, { user_id: user });
    expect(listed.body.devices).to.deep.equal([{ device_id: 'THREE' }]);
  });

  it('an AS without io.element.msc4190 creates no device and meets user-interactive auth', async () => {
    const user = await ghost(PLAIN_TOKEN, 'plain_carol');
    const asserting = await as(PLAIN_TOKEN, 'PUT', `${C}/devices/NEW`, { user_id: user, device_id: 'NEW' }, {});
    expect(outcome(asserting)).to.deep.equal([400, 'M_UNKNOWN_DEVICE']);
    const plain = await as(PLAIN_TOKEN, 'PUT', `${C}/devices/NEW`, { user_id: user }, {});
    expect(outcome(plain)).to.deep.equal([404, 'M_NOT_FOUND']);
    hs.data.login(user, 'OLD');
    const challenged = await as(PLAIN_TOKEN, 'DELETE', `${C}/devices/OLD`, { user_id: user });
    expect(challenged.status).to.equal(401);
    expect(challenged.body.flows).to.deep.equal([{ stages: ['m.login.dummy'] }]);
    expect(hs.data.deviceExists(user, 'OLD')).to.equal(true);
    const confirmed = await as(
      PLAIN_TOKEN,
      'DELETE',
      `${C}/devices/OLD`,
      { user_id: user },
      {
        auth: { type: 'm.login.dummy' },
      },
    );
    expect(confirmed.status).to.equal(200);
    expect(hs.data.deviceExists(user, 'OLD')).to.equal(false);
  });

  it('a user renames their devices, creates none, and confirms a deletion with their password', async () => {
    const reg = await api.call('POST', `${C}/register`, {
      body: { username: 'dave', password: 'hunter2', device_id: 'PHONE', auth: { type: 'm.login.dummy' } },
    });
    const token = reg.body.access_token as string;
    const laptop = await api.call('POST', `${C}/login`, {
      body: { type: 'm.login.password', identifier: { type: 'm.id.user', user: 'dave' }, password: 'hunter2' },
    });
    const laptopId = laptop.body.device_id as string;
    const renamed = await api.call('PUT', `${C}/devices/PHONE`, { token, body: { display_name: 'Phone' } });
    expect(renamed.status).to.equal(200);
    expect((await api.call('GET', `${C}/devices/PHONE`, { token })).body).to.deep.equal({
      device_id: 'PHONE',
      display_name: 'Phone',
    });
    expect(outcome(await api.call('PUT', `${C}/devices/MADEUP`, { token, body: {} }))).to.deep.equal([
      404,
      'M_NOT_FOUND',
    ]);

    const challenged = await api.call('DELETE', `${C}/devices/${laptopId}`, { token });
    expect(challenged.status).to.equal(401);
    expect(challenged.body.flows).to.deep.equal([{ stages: ['m.login.password'] }]);
    const wrong = await api.call('POST', `${C}/delete_devices`, {
      token,
      body: { devices: [laptopId], auth: { type: 'm.login.password', password: 'wrong' } },
    });
    expect(outcome(wrong)).to.deep.equal([401, 'M_FORBIDDEN']);
    const right = await api.call('DELETE', `${C}/devices/${laptopId}`, {
      token,
      body: { auth: { type: 'm.login.password', password: 'hunter2' } },
    });
    expect(right.status).to.equal(200);
    // The deleted device's access token goes with it.
    const gone = await api.call('GET', `${C}/account/whoami`, { token: laptop.body.access_token as string });
    expect(outcome(gone)).to.deep.equal([401, 'M_UNKNOWN_TOKEN']);
    expect((await api.call('GET', `${C}/devices`, { token })).body.devices).to.deep.equal([
      { device_id: 'PHONE', display_name: 'Phone' },
    ]);
  });

  it('cross-signing keys: set up freely, replaced without user-interactive auth only by an MSC4190 AS', async () => {
    const key = (userId: string, name: string) => ({
      user_id: userId,
      usage: ['master'],
      keys: { [`ed25519:${name}`]: name },
    });
    const user = await ghost(E2EE_TOKEN, 'e2ee_erin');
    const path = `${C}/keys/device_signing/upload`;
    expect((await as(E2EE_TOKEN, 'POST', path, { user_id: user }, { master_key: key(user, 'A') })).status).to.equal(
      200,
    );
    const replaced = await as(E2EE_TOKEN, 'POST', path, { user_id: user }, { master_key: key(user, 'B') });
    expect(replaced.status).to.equal(200);
    expect(hs.data.devices.crossSigning.get(user)?.master_key).to.deep.equal(key(user, 'B'));
    const foreign = await as(
      E2EE_TOKEN,
      'POST',
      path,
      { user_id: user },
      { master_key: key('@someone:localhost', 'C') },
    );
    expect(outcome(foreign)).to.deep.equal([400, 'M_INVALID_PARAM']);

    const frank = await api.register('frank');
    const first = await api.call('POST', path, { token: frank.token, body: { master_key: key(frank.userId, 'A') } });
    expect(first.status).to.equal(200);
    const same = await api.call('POST', path, { token: frank.token, body: { master_key: key(frank.userId, 'A') } });
    expect(same.status).to.equal(200);
    const replacing = await api.call('POST', path, {
      token: frank.token,
      body: { master_key: key(frank.userId, 'B') },
    });
    expect(replacing.status).to.equal(401);
    expect(hs.data.devices.crossSigning.get(frank.userId)?.master_key).to.deep.equal(key(frank.userId, 'A'));
  });

  it('a deactivated account keeps no device', async () => {
    const user = await ghost(E2EE_TOKEN, 'e2ee_hal');
    expect((await as(E2EE_TOKEN, 'PUT', `${C}/devices/DEV`, { user_id: user }, {})).status).to.equal(201);
    const res = await as(E2EE_TOKEN, 'POST', `${C}/account/deactivate`, { user_id: user }, {});
    expect(res.status).to.equal(200);
    expect(hs.data.devices.list(user)).to.deep.equal([]);
    expect(hs.data.deviceExists(user, 'DEV')).to.equal(false);
  });

  it('bounds what an AS can create: device ids over 255 bytes are refused', async () => {
    const user = await ghost(E2EE_TOKEN, 'e2ee_gina');
    const long = 'D'.repeat(256);
    const res = await as(E2EE_TOKEN, 'PUT', `${C}/devices/${long}`, { user_id: user }, {});
    expect(outcome(res)).to.deep.equal([400, 'M_INVALID_PARAM']);
  });
});
