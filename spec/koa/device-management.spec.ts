/**
 * MSC4190 (device management for application services), the plugin's half: for an AS with
 * `io.element.msc4190: true` on a homeserver with `experimentalFeatures.msc4190`, the device routes
 * carry `ctx.state.deviceManagement = true`, so the host's `PUT /devices/{deviceId}` creates the
 * device and its `DELETE /devices/{deviceId}`, `POST /delete_devices` and
 * `POST /keys/device_signing/upload` skip user-interactive auth; and the device a `PUT` creates
 * may be asserted (`device_id`) before it exists. The MSC: "if the homeserver has switched to
 * OAuth2, it MUST treat all appservices as having the flag enabled" (`legacyLogin: false`).
 */
import { expect } from 'chai';
import { OptionsError } from '../../lib/errors.ts';
import { registration, startApp, type TestApp } from './support/app.ts';
import { mountAppservices, registrationObject, type Mounted } from './support/mounted.ts';
import { ToyHost } from './support/toy-host.ts';

const V3 = '/_matrix/client/v3';
const E2EE_USER = '@e2ee_a:hs.test';
const IRC_USER = '@irc_a:hs.test';
const e2ee = registration({ id: 'e2ee', sender: 'e2eebot', users: [['@e2ee_.*:hs\\.test', true]], msc4190: true });
const irc = registration({ id: 'irc', sender: 'ircbot', users: [['@irc_.*:hs\\.test', true]] });

/** Each device route, with a body the host would take. */
const DEVICE_ROUTES: readonly { method: string; path: string; body: unknown }[] = [
  { method: 'PUT', path: `${V3}/devices/NEWDEV`, body: { display_name: 'Bridge' } },
  { method: 'DELETE', path: `${V3}/devices/OLDDEV`, body: {} },
  { method: 'POST', path: `${V3}/delete_devices`, body: { devices: ['OLDDEV'] } },
  { method: 'POST', path: `${V3}/keys/device_signing/upload`, body: { master_key: {} } },
  { method: 'PUT', path: '/_matrix/client/r0/devices/NEWDEV', body: {} },
  { method: 'PUT', path: '/_matrix/client/unstable/devices/NEWDEV', body: {} },
  { method: 'POST', path: '/_matrix/client/unstable/keys/device_signing/upload', body: {} },
];

function toyHost(): ToyHost {
  const host = new ToyHost('hs.test');
  for (const user of [E2EE_USER, IRC_USER, '@alice:hs.test']) host.users.add(user);
  host.devices.add(`${E2EE_USER}|OLDDEV`);
  host.devices.add(`${IRC_USER}|OLDDEV`);
  return host;
}

describe('koa/device-management: MSC4190 device routes', () => {
  let app: TestApp;
  afterEach(() => app.close());

  describe('an MSC4190 AS, experimentalFeatures.msc4190 on', () => {
    beforeEach(async () => {
      app = await startApp({ registrations: [e2ee, irc], host: toyHost(), deviceManagement: true });
    });

    it('marks every device route (v3, r0, unstable) with ctx.state.deviceManagement, acting as the asserted user', async () => {
      for (const { method, path, body } of DEVICE_ROUTES) {
        delete app.seen.path;
        const res = await app.call(method, path, { token: 'as-e2ee', query: { user_id: E2EE_USER }, body });
        expect([res.status, app.seen.path], `${method} ${path}`).to.deep.equal([200, path]);
        expect(app.seen.state?.deviceManagement, `${method} ${path}`).to.equal(true);
        expect(app.seen.state?.userId).to.equal(E2EE_USER);
      }
    });

    it('marks its sender too (no user_id)', async () => {
      await app.call('PUT', `${V3}/devices/BOTDEV`, { token: 'as-e2ee', body: {} });
      expect([app.seen.state?.userId, app.seen.state?.deviceManagement]).to.deep.equal(['@e2eebot:hs.test', true]);
    });

    it('lets PUT /devices/{deviceId} assert the device it creates, and only that one', async () => {
      const res = await app.call('PUT', `${V3}/devices/NEWDEV`, {
        token: 'as-e2ee',
        query: { user_id: E2EE_USER, device_id: 'NEWDEV' },
        body: {},
      });
      expect(res.status).to.equal(200);
      expect([app.seen.state?.deviceId, app.seen.state?.deviceManagement]).to.deep.equal(['NEWDEV', true]);
      const others: Record<string, string>[] = [
        { user_id: E2EE_USER, device_id: 'OTHERDEV' },
        { user_id: E2EE_USER, 'org.matrix.msc3202.device_id': 'OTHERDEV' },
      ];
      for (const query of others) {
        const other = await app.call('PUT', `${V3}/devices/NEWDEV`, { token: 'as-e2ee', query, body: {} });
        expect([other.status, other.body.errcode], JSON.stringify(query)).to.deep.equal([400, 'M_UNKNOWN_DEVICE']);
      }
      const deleting = await app.call('DELETE', `${V3}/devices/NEWDEV`, {
        token: 'as-e2ee',
        query: { user_id: E2EE_USER, device_id: 'NEWDEV' },
      });
      expect([deleting.status, deleting.body.errcode]).to.deep.equal([400, 'M_UNKNOWN_DEVICE']);
    });

    it('still checks a known device on the other routes', async () => {
      const res = await app.call('POST', `${V3}/delete_devices`, {
        token: 'as-e2ee',
        query: { user_id: E2EE_USER, device_id: 'OLDDEV' },
        body: { devices: ['OLDDEV'] },
      });
      expect(res.status).to.equal(200);
      expect([app.seen.state?.deviceId, app.seen.state?.deviceManagement]).to.deep.equal(['OLDDEV', true]);
    });

    it('sets nothing on routes outside MSC4190 (GET /devices/{deviceId}, /keys/upload, whoami)', async () => {
      for (const [method, path] of [
        ['GET', `${V3}/devices/OLDDEV`],
        ['POST', `${V3}/keys/upload`],
        ['GET', `${V3}/account/whoami`],
        ['GET', `${V3}/devices`],
      ] as const) {
        await app.call(method, path, { token: 'as-e2ee', query: { user_id: E2EE_USER }, body: {} });
        expect(app.seen.state?.appservice?.id, path).to.equal('e2ee');
        expect(app.seen.state?.deviceManagement, path).to.equal(undefined);
      }
    });

    it('sets nothing for an AS without io.element.msc4190, and refuses its unknown device', async () => {
      for (const { method, path, body } of DEVICE_ROUTES) {
        await app.call(method, path, { token: 'as-irc', query: { user_id: IRC_USER }, body });
        expect(app.seen.state?.appservice?.id).to.equal('irc');
        expect(app.seen.state?.deviceManagement, `${method} ${path}`).to.equal(undefined);
      }
      const res = await app.call('PUT', `${V3}/devices/NEWDEV`, {
        token: 'as-irc',
        query: { user_id: IRC_USER, device_id: 'NEWDEV' },
        body: {},
      });
      expect([res.status, res.body.errcode]).to.deep.equal([400, 'M_UNKNOWN_DEVICE']);
    });

    it("sets nothing on a user's request: the host's user-interactive auth applies", async () => {
      for (const { method, path, body } of DEVICE_ROUTES) {
        const res = await app.call(method, path, { token: 'syt_alice', body });
        expect(res.status).to.equal(200);
        expect(app.seen.state?.appservice).to.equal(undefined);
        expect(app.seen.state?.deviceManagement, `${method} ${path}`).to.equal(undefined);
      }
    });
  });

  describe('experimentalFeatures.msc4190 off', () => {
    beforeEach(async () => {
      app = await startApp({ registrations: [e2ee], host: toyHost() });
    });

    it('sets nothing for the MSC4190 AS and refuses the device it would create', async () => {
      for (const { method, path, body } of DEVICE_ROUTES) {
        await app.call(method, path, { token: 'as-e2ee', query: { user_id: E2EE_USER }, body });
        expect(app.seen.state?.deviceManagement, `${method} ${path}`).to.equal(undefined);
      }
      const res = await app.call('PUT', `${V3}/devices/NEWDEV`, {
        token: 'as-e2ee',
        query: { user_id: E2EE_USER, device_id: 'NEWDEV' },
        body: {},
      });
      expect([res.status, res.body.errcode]).to.deep.equal([400, 'M_UNKNOWN_DEVICE']);
    });
  });

  describe('a homeserver without legacy login (legacyLogin: false), msc4190 on', () => {
    beforeEach(async () => {
      app = await startApp({ registrations: [e2ee, irc], host: toyHost(), deviceManagement: true, legacyLogin: false });
    });

    it('treats every AS as managing its devices, as the MSC requires of servers without /login', async () => {
      const res = await app.call('PUT', `${V3}/devices/NEWDEV`, {
        token: 'as-irc',
        query: { user_id: IRC_USER, device_id: 'NEWDEV' },
        body: {},
      });
      expect(res.status).to.equal(200);
      expect([app.seen.state?.deviceId, app.seen.state?.deviceManagement]).to.deep.equal(['NEWDEV', true]);
    });
  });
});

describe('appservices(): experimentalFeatures.msc4190', () => {
  let mounted: Mounted | undefined;
  afterEach(async () => {
    await mounted?.close();
    mounted = undefined;
  });
  const e2eeFile = () => registrationObject('e2ee', { 'io.element.msc4190': true });
  const notices = (m: Mounted) => m.logs.filter((line) => line.fields.feature === 'MSC4190 device management');

  it('reaches the chain: the device route of an MSC4190 AS is marked, its new device accepted', async () => {
    mounted = await mountAppservices({
      registrations: [e2eeFile()],
      host: toyHost(),
      experimentalFeatures: { msc4190: true },
    });
    const res = await mounted.call('PUT', `${V3}/devices/NEWDEV`, {
      token: 'as-e2ee-token',
      query: { user_id: E2EE_USER, device_id: 'NEWDEV' },
      body: {},
    });
    expect(res.body).to.deep.include({ reached: true, userId: E2EE_USER, deviceId: 'NEWDEV', deviceManagement: true });
    expect(notices(mounted)).to.have.length(0);
  });

  it('is off by default, and says once at start which appservices it leaves without device management', async () => {
    mounted = await mountAppservices({ registrations: [e2eeFile(), registrationObject('irc')], host: toyHost() });
    const res = await mounted.call('DELETE', `${V3}/devices/OLDDEV`, {
      token: 'as-e2ee-token',
      query: { user_id: E2EE_USER },
    });
    expect(res.body).to.deep.include({ reached: true, deviceManagement: null });
    const lines = notices(mounted);
    expect(lines).to.have.length(1);
    expect(lines[0]!.level).to.equal('info');
    expect(lines[0]!.fields.appservices).to.deep.equal(['e2ee']);
    expect(lines[0]!.fields.option).to.equal('experimentalFeatures.msc4190');
  });

  it('refuses a msc4190 switch that is not a boolean', async () => {
    let error: unknown;
    try {
      mounted = await mountAppservices({
        registrations: [e2eeFile()],
        host: toyHost(),
        experimentalFeatures: { msc4190: 'yes' as unknown as boolean },
      });
    } catch (err) {
      error = err;
    }
    expect(error).to.be.instanceOf(OptionsError);
    expect((error as Error).message).to.match(/msc4190 must be a boolean/);
  });
});
