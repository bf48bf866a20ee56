/**
 * When the reference homeserver reports MSC3202 changes (the hooks it wires to
 * `as.publishDeviceListUpdate` and `as.publishKeyCounts`): a user's device list changes when a
 * device is added, removed or re-keyed, or its cross-signing keys change, and when they join a
 * room ('changed') or leave one ('left', with the room); a device's counts change after an upload
 * that added keys and after a claim that used one.
 */
import { expect } from 'chai';
import { MemoryStore, type DeviceKeyCounts, type DeviceListUpdate } from '../../lib/index.ts';
import { startHomeserver, type RunningHomeserver } from '../../examples/homeserver/index.ts';
import { Api, enc } from './support/client.ts';

const C = '/_matrix/client/v3';
const AS_TOKEN = 'lists-bridge-as-token';
const OTK = 'signed_curve25519';

describe('e2e: the reference homeserver reports device list changes and key counts', () => {
  let hs: RunningHomeserver;
  let api: Api;
  let lists: DeviceListUpdate[];
  let counts: DeviceKeyCounts[];

  beforeEach(async () => {
    hs = await startHomeserver({
      store: new MemoryStore(),
      registrations: [
        {
          id: 'bridge',
          url: null,
          as_token: AS_TOKEN,
          hs_token: 'lists-bridge-hs-token',
          sender_localpart: 'bridgebot',
          namespaces: { users: [{ exclusive: true, regex: '@br_.*' }], aliases: [], rooms: [] },
          'io.element.msc4190': true,
        },
      ],
      experimentalFeatures: { msc4190: true },
    });
    lists = [];
    counts = [];
    hs.data.onDeviceListChange = async (change) => void lists.push(change);
    hs.data.onKeyCounts = async (change) => void counts.push(change);
    api = new Api(hs.url);
  });
  afterEach(() => hs.close());

  it("a device created, re-keyed, cross-signed and deleted changes its user's list each time", async () => {
    const ghost = '@br_ghost:localhost';
    await api.call('POST', `${C}/register`, {
      token: AS_TOKEN,
      body: { type: 'm.login.application_service', username: 'br_ghost', inhibit_login: true },
    });
    const as = (method: 'PUT' | 'POST' | 'DELETE', path: string, body: unknown, deviceId?: string) =>
      api.call(method, `${C}${path}`, {
        token: AS_TOKEN,
        query: { user_id: ghost, ...(deviceId === undefined ? {} : { device_id: deviceId }) },
        body,
      });
    await as('PUT', '/devices/DEV', {});
    await as('PUT', '/devices/DEV', { display_name: 'renamed' });
    const keys = { user_id: ghost, device_id: 'DEV', algorithms: [], keys: { 'ed25519:DEV': 'x' } };
    await as('POST', '/keys/upload', { device_keys: keys }, 'DEV');
    await as('POST', '/keys/upload', { device_keys: keys }, 'DEV');
    await as('POST', '/keys/device_signing/upload', { master_key: { user_id: ghost, usage: ['master'], keys: {} } });
    await as('DELETE', '/devices/DEV', {});
    const changed = { userId: ghost, change: 'changed' };
    // Renaming and uploading the same keys again change nothing anyone must re-fetch.
    expect(lists).to.deep.equal([changed, changed, changed, changed]);
    expect(counts).to.deep.equal([]);
  });

  it('counts after an upload that adds keys and after a claim that uses one, not otherwise', async () => {
    const alice = await api.register('alice');
    const deviceId = (await api.call('GET', `${C}/account/whoami`, { token: alice.token })).body.device_id as string;
    const upload = (body: unknown) => api.call('POST', `${C}/keys/upload`, { token: alice.token, body });
    await upload({ one_time_keys: { [`${OTK}:A`]: { key: 'a' } } });
    await upload({ one_time_keys: { [`${OTK}:A`]: { key: 'a' } } });
    await upload({ fallback_keys: { [`${OTK}:F`]: { key: 'f' } } });
    const claim = () =>
      api.call('POST', `${C}/keys/claim`, {
        token: alice.token,
        body: { one_time_keys: { [alice.userId]: { [deviceId]: OTK } } },
      });
    await claim(); // the one-time key
    await claim(); // the fallback key, now used
    await claim(); // the fallback key again: nothing changes
    const at = (otks: number, fallback: string[]) => ({
      userId: alice.userId,
      deviceId,
      oneTimeKeyCounts: { [OTK]: otks },
      unusedFallbackKeyTypes: fallback,
    });
    expect(counts).to.deep.equal([at(1, []), at(1, [OTK]), at(0, [OTK]), at(0, [])]);
  });

  it('a login on a new device changes the list; on a device the user has, or after registering without login, not', async () => {
    const alice = await api.register('alice');
    await api.call('POST', `${C}/register`, {
      body: { username: 'quiet', password: 'pw', inhibit_login: true, auth: { type: 'm.login.dummy' } },
    });
    const login = (deviceId?: string) =>
      api.call('POST', `${C}/login`, {
        body: {
          type: 'm.login.password',
          identifier: { type: 'm.id.user', user: 'quiet' },
          password: 'pw',
          ...(deviceId === undefined ? {} : { device_id: deviceId }),
        },
      });
    expect((await login('TABLET')).status).to.equal(200);
    expect((await login('TABLET')).status).to.equal(200);
    const quiet = '@quiet:localhost';
    expect(lists).to.deep.equal([
      { userId: alice.userId, change: 'changed' },
      { userId: quiet, change: 'changed' },
    ]);
    expect(hs.data.devices.list(quiet).map((d) => d.deviceId)).to.deep.equal(['TABLET']);
    const tooLong = await login('T'.repeat(256));
    expect([tooLong.status, tooLong.body.errcode]).to.deep.equal([400, 'M_INVALID_PARAM']);
  });

  it("joining a room is 'changed', leaving it is 'left' with the room; a profile change is neither", async () => {
    const alice = await api.register('alice');
    const bob = await api.register('bob');
    lists.length = 0;
    const roomId = (await api.call('POST', `${C}/createRoom`, { token: alice.token, body: { preset: 'public_chat' } }))
      .body.room_id as string;
    await api.call('POST', `${C}/join/${enc(roomId)}`, { token: bob.token, body: {} });
    await api.call('PUT', `${C}/profile/${enc(bob.userId)}/displayname`, {
      token: bob.token,
      body: { displayname: 'Bob' },
    });
    await api.call('POST', `${C}/rooms/${enc(roomId)}/leave`, { token: bob.token, body: {} });
    expect(lists).to.deep.equal([
      { userId: alice.userId, change: 'changed', roomId },
      { userId: bob.userId, change: 'changed', roomId },
      { userId: bob.userId, change: 'left', roomId },
    ]);
  });
});
