/**
 * The AS's `sender_localpart` user is the AS's (spec: Application Service API, "Registration":
 * `sender_localpart` is "the localpart of the user associated with the application service", which
 * the AS acts as when it names no `user_id`, "Identity assertion"). If anyone else could register
 * it, the AS would act as someone else's account. So it is treated like an exclusive namespace of
 * one user ("Server admin style permissions": "normal users who attempt to create users [...]
 * inside an application service-defined namespace will receive the same `M_EXCLUSIVE` error
 * code"), on POST /register and on GET /register/available (registration.yaml: "This includes
 * verifying that an application service has not claimed the username"; `M_EXCLUSIVE`).
 */
import { expect } from 'chai';
import { registration, startApp, type TestApp } from './support/app.ts';
import { ToyHost } from './support/toy-host.ts';

describe("koa/guards: the AS's sender_localpart is reserved for the AS", () => {
  // The sender lies outside the AS's own users namespace, as in the spec's IRC example.
  const irc = registration({ id: 'irc', sender: 'ircbot', users: [['@irc_.*:hs\\.test', true]] });
  const wide = registration({ id: 'wide', sender: 'widebot', users: [['@.*:hs\\.test', false]] });
  const AS_TYPE = 'm.login.application_service';
  let app: TestApp;

  beforeEach(async () => {
    app = await startApp({ registrations: [irc, wide], host: new ToyHost('hs.test') });
  });
  afterEach(() => app.close());

  for (const version of ['r0', 'v3']) {
    it(`400 M_EXCLUSIVE for anyone else registering it (POST /${version}/register), in any case`, async () => {
      for (const [username, options] of [
        ['ircbot', {}],
        ['ircbot', { token: 'syt_user' }],
        ['IrcBot', {}],
      ] as const) {
        const res = await app.call('POST', `/_matrix/client/${version}/register`, {
          ...options,
          body: { username, password: 'pw', auth: { type: 'm.login.dummy' } },
        });
        expect([res.status, res.body.errcode], `${username} ${JSON.stringify(options)}`).to.deep.equal([
          400,
          'M_EXCLUSIVE',
        ]);
      }
      expect(app.seen.path).to.equal(undefined);
    });

    it(`GET /${version}/register/available says it is taken: 400 M_EXCLUSIVE`, async () => {
      const res = await app.call('GET', `/_matrix/client/${version}/register/available`, {
        query: { username: 'ircbot' },
      });
      expect([res.status, res.body.errcode]).to.deep.equal([400, 'M_EXCLUSIVE']);
    });
  }

  it('400 M_EXCLUSIVE for another AS whose namespace covers it', async () => {
    const res = await app.call('POST', '/_matrix/client/v3/register', {
      token: 'as-wide',
      body: { type: AS_TYPE, username: 'ircbot' },
    });
    expect([res.status, res.body.errcode]).to.deep.equal([400, 'M_EXCLUSIVE']);
    const available = await app.call('GET', '/_matrix/client/v3/register/available', {
      token: 'as-wide',
      query: { username: 'ircbot' },
    });
    expect([available.status, available.body.errcode]).to.deep.equal([400, 'M_EXCLUSIVE']);
    const login = await app.call('POST', '/_matrix/client/v3/login', {
      token: 'as-wide',
      body: { type: AS_TYPE, identifier: { type: 'm.id.user', user: 'ircbot' } },
    });
    expect([login.status, login.body.errcode]).to.deep.equal([400, 'M_EXCLUSIVE']);
  });

  it("stays the AS's own: it registers and logs in as its sender, and asks about it", async () => {
    const registered = await app.call('POST', '/_matrix/client/v3/register', {
      token: 'as-irc',
      body: { type: AS_TYPE, username: 'ircbot' },
    });
    expect(registered.status).to.equal(200);
    const available = await app.call('GET', '/_matrix/client/v3/register/available', {
      token: 'as-irc',
      query: { username: 'ircbot' },
    });
    expect(available.body.reached).to.equal(true);
    const login = await app.call('POST', '/_matrix/client/v3/login', {
      token: 'as-irc',
      body: { type: AS_TYPE, identifier: { type: 'm.id.user', user: 'ircbot' } },
    });
    expect(login.status).to.equal(200);
  });

  it('leaves names that merely look like it to the homeserver', async () => {
    for (const username of ['ircbot2', 'ircbo']) {
      const res = await app.call('GET', '/_matrix/client/v3/register/available', { query: { username } });
      expect(res.body.reached, username).to.equal(true);
    }
  });
});
