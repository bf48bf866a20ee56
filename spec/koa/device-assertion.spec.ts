/**
 * Spec v1.17: Application Service API, "Identity assertion": "Application services MAY similarly
 * masquerade as a specific device ID belonging the user ID through use of the `device_id` query
 * string parameter on the request. If the given device ID is not known to belong to the user, the
 * server will return a 400 `M_UNKNOWN_DEVICE` error."
 *
 * Only the host knows devices (`deviceExists`). Without it no device is known to belong to anyone,
 * so a `device_id` is refused rather than passed on as if it had been checked, and `appservices()`
 * says at start that device masquerading is off and which hook turns it on.
 */
import { expect } from 'chai';
import { HomeserverData } from '../../examples/homeserver/data.ts';
import { homeserverHost } from '../../examples/homeserver/host.ts';
import { registration, startApp, type TestApp } from './support/app.ts';
import { mountAppservices, registrationObject, type Mounted } from './support/mounted.ts';
import { ToyHost } from './support/toy-host.ts';

const WHOAMI = '/_matrix/client/v3/account/whoami';

describe('koa/auth: device_id needs a device check (AS API "Identity assertion", v1.17)', () => {
  const irc = registration({ id: 'irc', sender: 'ircbot', users: [['@irc_.*', true]] });
  let app: TestApp;

  beforeEach(async () => {
    const host = new ToyHost('hs.test', { devices: false });
    host.users.add('@irc_alice:hs.test');
    host.devices.add('@irc_alice:hs.test|ALICEDEV');
    app = await startApp({ registrations: [irc], host });
  });
  afterEach(() => app.close());

  it('refuses device_id and org.matrix.msc3202.device_id with 400 M_UNKNOWN_DEVICE when the host has no deviceExists', async () => {
    for (const name of ['device_id', 'org.matrix.msc3202.device_id']) {
      for (const query of [{ [name]: 'ALICEDEV' }, { user_id: '@irc_alice:hs.test', [name]: 'ALICEDEV' }]) {
        const res = await app.call('GET', WHOAMI, { token: 'as-irc', query });
        expect([res.status, res.body.errcode], JSON.stringify(query)).to.deep.equal([400, 'M_UNKNOWN_DEVICE']);
        expect(res.body.error).to.match(/does not check devices/);
      }
    }
    expect(app.seen.path).to.equal(undefined);
  });

  it('still serves the AS without a device_id', async () => {
    const res = await app.call('GET', WHOAMI, { token: 'as-irc', query: { user_id: '@irc_alice:hs.test' } });
    expect(res.status).to.equal(200);
    expect(app.seen.state?.deviceId).to.equal(undefined);
  });

  it("leaves a user's device_id query to the homeserver", async () => {
    const res = await app.call('GET', WHOAMI, { token: 'syt_user', query: { device_id: 'ANY' } });
    expect(res.status).to.equal(200);
  });
});

describe('appservices(): device masquerading is off without deviceExists, and says so once at start', () => {
  let mounted: Mounted | undefined;
  afterEach(async () => {
    await mounted?.close();
    mounted = undefined;
  });
  const offNotices = (m: Mounted) => m.logs.filter((line) => line.fields.feature === 'device masquerading');

  it('logs one info line naming the feature and the hook', async () => {
    mounted = await mountAppservices({
      registrations: [registrationObject('irc')],
      host: new ToyHost('hs.test', { devices: false }),
    });
    await mounted.call('GET', WHOAMI, { token: 'as-irc-token' });
    const notices = offNotices(mounted);
    expect(notices).to.have.length(1);
    expect(notices[0]!.level).to.equal('info');
    expect(notices[0]!.fields.hook).to.equal('deviceExists');
    expect(notices[0]!.message).to.match(/feature off/);
    const res = await mounted.call('GET', WHOAMI, { token: 'as-irc-token', query: { device_id: 'X' } });
    expect([res.status, res.body.errcode]).to.deep.equal([400, 'M_UNKNOWN_DEVICE']);
  });

  it('logs nothing about it for the reference homeserver, whose host implements deviceExists', async () => {
    const data = new HomeserverData('hs.test');
    data.createUser('@irc_alice:hs.test');
    const { deviceId } = data.login('@irc_alice:hs.test');
    const host = homeserverHost(data);
    expect(await host.deviceExists?.('@irc_alice:hs.test', deviceId)).to.equal(true);
    expect(await host.deviceExists?.('@irc_alice:hs.test', 'OTHER')).to.equal(false);
    mounted = await mountAppservices({ registrations: [registrationObject('irc')], host });
    expect(offNotices(mounted)).to.deep.equal([]);
    const res = await mounted.call('GET', WHOAMI, {
      token: 'as-irc-token',
      query: { user_id: '@irc_alice:hs.test', device_id: deviceId },
    });
    expect(res.status).to.equal(200);
    expect(res.body.deviceId).to.equal(deviceId);
  });
});
