/**
 * Spec v1.17, Application Service API, "Server admin style permissions":
 *   register: "Servers MUST still allow application services to use the `/register` endpoint with a
 *   login type of `m.login.application_service` even if they don't support the Legacy Authentication
 *   API. In that case application services MUST set the `"inhibit_login": true` parameter [...] If the
 *   `inhibit_login` parameter is not set to `true`, the server MUST return a 400 HTTP status code with
 *   an `M_APPSERVICE_LOGIN_UNSUPPORTED` error code."
 *   login: "If `/login` is called with the `m.login.application_service` login type the server MUST
 *   return a 400 HTTP status code with an `M_APPSERVICE_LOGIN_UNSUPPORTED` error code."
 * An MSC4190 AS (`io.element.msc4190: true`) manages its users' devices itself and is treated so by
 * Synapse; a homeserver without legacy login says `legacyLogin: false`.
 * And client-server login.yaml still defines the deprecated top-level `user`: "The fully qualified
 * user ID or just local part of the user ID, to log in. Deprecated in favour of `identifier`."
 */
import { expect } from 'chai';
import { OptionsError } from '../../lib/errors.ts';
import { resolveOptions } from '../../lib/resolve-options.ts';
import { registration, startApp, type TestApp } from './support/app.ts';
import { mountAppservices, registrationObject, type Mounted } from './support/mounted.ts';
import { ToyHost } from './support/toy-host.ts';

const AS_TYPE = 'm.login.application_service';
const REGISTER = '/_matrix/client/v3/register';
const LOGIN = '/_matrix/client/v3/login';
const irc = registration({ id: 'irc', sender: 'ircbot', users: [['@irc_.*:hs\\.test', true]] });
const e2ee = registration({ id: 'e2ee', sender: 'e2eebot', users: [['@e2ee_.*:hs\\.test', true]], msc4190: true });
const asLogin = (user: string) => ({ type: AS_TYPE, identifier: { type: 'm.id.user', user } });

describe('koa/login-policy: M_APPSERVICE_LOGIN_UNSUPPORTED (AS API "Server admin style permissions", v1.17)', () => {
  let app: TestApp;
  afterEach(() => app.close());

  describe('an MSC4190 AS (io.element.msc4190: true)', () => {
    beforeEach(async () => {
      app = await startApp({ registrations: [irc, e2ee], host: new ToyHost('hs.test') });
    });

    it('400 M_APPSERVICE_LOGIN_UNSUPPORTED for /register without "inhibit_login": true, before the homeserver sees it', async () => {
      for (const extra of [{}, { inhibit_login: false }, { inhibit_login: 'true' }]) {
        const res = await app.call('POST', REGISTER, {
          token: 'as-e2ee',
          body: { type: AS_TYPE, username: 'e2ee_a', ...extra },
        });
        expect([res.status, res.body.errcode], JSON.stringify(extra)).to.deep.equal([
          400,
          'M_APPSERVICE_LOGIN_UNSUPPORTED',
        ]);
      }
      expect(app.seen.path).to.equal(undefined);
      expect(app.host.users.has('@e2ee_a:hs.test')).to.equal(false);
    });

    it('registers with "inhibit_login": true, and no token is handed out', async () => {
      const res = await app.call('POST', REGISTER, {
        token: 'as-e2ee',
        body: { type: AS_TYPE, username: 'e2ee_a', inhibit_login: true },
      });
      expect(res.status).to.equal(200);
      expect(res.body).to.deep.equal({ user_id: '@e2ee_a:hs.test' });
    });

    it('400 M_APPSERVICE_LOGIN_UNSUPPORTED for an m.login.application_service login', async () => {
      const res = await app.call('POST', LOGIN, { token: 'as-e2ee', body: asLogin('e2ee_a') });
      expect([res.status, res.body.errcode]).to.deep.equal([400, 'M_APPSERVICE_LOGIN_UNSUPPORTED']);
      expect(app.seen.path).to.equal(undefined);
    });

    it('leaves other ASes on the same homeserver free to register with a token and log in', async () => {
      const registered = await app.call('POST', REGISTER, {
        token: 'as-irc',
        body: { type: AS_TYPE, username: 'irc_a' },
      });
      expect(registered.status).to.equal(200);
      expect(app.seen.state?.appserviceRegister?.inhibitLogin).to.equal(false);
      const loggedIn = await app.call('POST', LOGIN, { token: 'as-irc', body: asLogin('irc_a') });
      expect(loggedIn.status).to.equal(200);
      expect(app.seen.state?.appserviceLogin).to.deep.equal({ userId: '@irc_a:hs.test' });
    });
  });

  describe('a homeserver without legacy login (legacyLogin: false)', () => {
    beforeEach(async () => {
      app = await startApp({ registrations: [irc, e2ee], host: new ToyHost('hs.test'), legacyLogin: false });
    });

    it('gives every AS 400 M_APPSERVICE_LOGIN_UNSUPPORTED for /register without "inhibit_login": true', async () => {
      const res = await app.call('POST', REGISTER, { token: 'as-irc', body: { type: AS_TYPE, username: 'irc_a' } });
      expect([res.status, res.body.errcode]).to.deep.equal([400, 'M_APPSERVICE_LOGIN_UNSUPPORTED']);
    });

    it('still lets an AS register with "inhibit_login": true ("Servers MUST still allow")', async () => {
      const res = await app.call('POST', REGISTER, {
        token: 'as-irc',
        body: { type: AS_TYPE, username: 'irc_a', inhibit_login: true },
      });
      expect(res.status).to.equal(200);
      expect(res.body).to.deep.equal({ user_id: '@irc_a:hs.test' });
    });

    it('answers every m.login.application_service login 400 M_APPSERVICE_LOGIN_UNSUPPORTED, whoever asks', async () => {
      for (const token of ['as-irc', 'as-e2ee', undefined]) {
        const res = await app.call('POST', LOGIN, {
          ...(token === undefined ? {} : { token }),
          body: asLogin('irc_a'),
        });
        expect([res.status, res.body.errcode], String(token)).to.deep.equal([400, 'M_APPSERVICE_LOGIN_UNSUPPORTED']);
      }
    });

    it('still answers 401 M_MISSING_TOKEN to an m.login.application_service register without a token', async () => {
      const res = await app.call('POST', REGISTER, { body: { type: AS_TYPE, username: 'irc_a', inhibit_login: true } });
      expect([res.status, res.body.errcode]).to.deep.equal([401, 'M_MISSING_TOKEN']);
    });

    it('leaves other login types to the homeserver', async () => {
      const res = await app.call('POST', LOGIN, { body: { type: 'm.login.token', token: 'abc' } });
      expect(res.status).to.equal(200);
    });
  });

  describe('the deprecated top-level `user` of login.yaml', () => {
    beforeEach(async () => {
      app = await startApp({ registrations: [irc, e2ee], host: new ToyHost('hs.test') });
    });

    it('is accepted like identifier.user: a localpart or a full user id', async () => {
      for (const user of ['irc_bob', '@irc_bob:hs.test']) {
        const res = await app.call('POST', LOGIN, { token: 'as-irc', body: { type: AS_TYPE, user } });
        expect(res.status, user).to.equal(200);
        expect(app.seen.state?.appserviceLogin, user).to.deep.equal({ userId: '@irc_bob:hs.test' });
      }
    });

    it("is held to the AS's namespace like identifier.user (400 M_EXCLUSIVE)", async () => {
      const res = await app.call('POST', LOGIN, { token: 'as-irc', body: { type: AS_TYPE, user: 'alice' } });
      expect([res.status, res.body.errcode]).to.deep.equal([400, 'M_EXCLUSIVE']);
    });

    it('gives way to an identifier when both are present', async () => {
      const res = await app.call('POST', LOGIN, {
        token: 'as-irc',
        body: { type: AS_TYPE, user: 'irc_old', identifier: { type: 'm.id.user', user: 'irc_new' } },
      });
      expect(res.status).to.equal(200);
      expect(app.seen.state?.appserviceLogin).to.deep.equal({ userId: '@irc_new:hs.test' });
    });

    it('400 M_INVALID_PARAM with neither', async () => {
      const res = await app.call('POST', LOGIN, { token: 'as-irc', body: { type: AS_TYPE } });
      expect([res.status, res.body.errcode]).to.deep.equal([400, 'M_INVALID_PARAM']);
    });
  });
});

describe('appservices({ legacyLogin })', () => {
  let mounted: Mounted | undefined;
  afterEach(async () => {
    await mounted?.close();
    mounted = undefined;
  });
  const host = new ToyHost('hs.test');

  it('defaults to true and refuses anything but a boolean, naming the option', () => {
    expect(resolveOptions({ registrations: ['x.yaml'], host }).legacyLogin).to.equal(true);
    expect(() => resolveOptions({ registrations: ['x.yaml'], host, legacyLogin: 'no' as unknown as boolean })).to.throw(
      OptionsError,
      /legacyLogin/,
    );
  });

  it('reaches the guards: false answers an AS login 400 M_APPSERVICE_LOGIN_UNSUPPORTED', async () => {
    mounted = await mountAppservices({ registrations: [registrationObject('irc')], host, legacyLogin: false });
    const res = await mounted.call('POST', LOGIN, { token: 'as-irc-token', body: asLogin('irc_a') });
    expect([res.status, res.body.errcode]).to.deep.equal([400, 'M_APPSERVICE_LOGIN_UNSUPPORTED']);
  });

  it('reads io.element.msc4190 from a registration file', async () => {
    mounted = await mountAppservices({
      registrations: [registrationObject('irc', { 'io.element.msc4190': true })],
      host,
    });
    const res = await mounted.call('POST', REGISTER, {
      token: 'as-irc-token',
      body: { type: AS_TYPE, username: 'irc_a' },
    });
    expect([res.status, res.body.errcode]).to.deep.equal([400, 'M_APPSERVICE_LOGIN_UNSUPPORTED']);
  });
});
