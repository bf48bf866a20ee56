import { expect } from 'chai';
import { registration, startApp, type TestApp } from './support/app.ts';
import { ToyHost } from './support/toy-host.ts';

describe('koa/guards: exclusive namespaces on register, login and aliases', () => {
  const irc = registration({
    id: 'irc',
    sender: 'ircbot',
    users: [['@irc_.*:hs\\.test', true]],
    aliases: [['#irc_.*:hs\\.test', true]],
  });
  const shared = registration({
    id: 'shared',
    users: [['@shared_.*:hs\\.test', false]],
    aliases: [['#shared_.*:hs\\.test', false]],
  });
  const e2ee = registration({ id: 'e2ee', users: [['@e2ee_.*:hs\\.test', true]], msc4190: true });
  let app: TestApp;

  beforeEach(async () => {
    app = await startApp({ registrations: [irc, shared, e2ee], host: new ToyHost('hs.test') });
  });
  afterEach(() => app.close());

  const AS_TYPE = 'm.login.application_service';

  describe('POST /register with m.login.application_service', () => {
    for (const version of ['r0', 'v3']) {
      it(`lets the AS register a user in its namespace (${version}) and tells the host`, async () => {
        const res = await app.call('POST', `/_matrix/client/${version}/register`, {
          token: 'as-irc',
          body: { type: AS_TYPE, username: 'irc_bob' },
        });
        expect(res.status).to.equal(200);
        expect(app.seen.state?.appserviceRegister).to.deep.equal({
          userId: '@irc_bob:hs.test',
          localpart: 'irc_bob',
          inhibitLogin: false,
        });
      });
    }

    it('reaches the homeserver with the body still readable (left on ctx.request.body)', async () => {
      await app.call('POST', '/_matrix/client/v3/register', {
        token: 'as-irc',
        body: { type: AS_TYPE, username: 'irc_bob', x: 1 },
      });
      expect(app.seen.body).to.deep.equal({ type: AS_TYPE, username: 'irc_bob', x: 1 });
    });

    it('honours inhibit_login (MSC4190 ASes must set it: spec/koa/login-policy.spec.ts)', async () => {
      await app.call('POST', '/_matrix/client/v3/register', {
        token: 'as-irc',
        body: { type: AS_TYPE, username: 'irc_c', inhibit_login: true },
      });
      expect(app.seen.state?.appserviceRegister?.inhibitLogin).to.equal(true);
      const res = await app.call('POST', '/_matrix/client/v3/register', {
        token: 'as-e2ee',
        body: { type: AS_TYPE, username: 'e2ee_d', inhibit_login: true },
      });
      expect(app.seen.state?.appserviceRegister?.inhibitLogin).to.equal(true);
      expect(res.body).to.deep.equal({ user_id: '@e2ee_d:hs.test' });
    });

    it("accepts the AS API's original `user` field", async () => {
      await app.call('POST', '/_matrix/client/v3/register', {
        token: 'as-irc',
        body: { type: AS_TYPE, user: 'irc_e' },
      });
      expect(app.seen.state?.appserviceRegister?.userId).to.equal('@irc_e:hs.test');
    });

    it('lets the AS register its own sender', async () => {
      const res = await app.call('POST', '/_matrix/client/v3/register', {
        token: 'as-irc',
        body: { type: AS_TYPE, username: 'ircbot' },
      });
      expect(res.status).to.equal(200);
    });

    it('401 M_MISSING_TOKEN without a token', async () => {
      const res = await app.call('POST', '/_matrix/client/v3/register', {
        body: { type: AS_TYPE, username: 'irc_bob' },
      });
      expect(res.status).to.equal(401);
      expect(res.body.errcode).to.equal('M_MISSING_TOKEN');
    });

    it('401 M_UNKNOWN_TOKEN with a token that is no as_token', async () => {
      for (const options of [{ token: 'syt_user' }, { query: { access_token: 'wrong' } }]) {
        const res = await app.call('POST', '/_matrix/client/v3/register', {
          ...options,
          body: { type: AS_TYPE, username: 'irc_bob' },
        });
        expect(res.status).to.equal(401);
        expect(res.body.errcode).to.equal('M_UNKNOWN_TOKEN');
      }
    });

    it("400 M_EXCLUSIVE outside the AS's namespace, and inside another AS's exclusive one", async () => {
      for (const username of ['bob', 'e2ee_f', 'shared_g']) {
        const res = await app.call('POST', '/_matrix/client/v3/register', {
          token: 'as-irc',
          body: { type: AS_TYPE, username },
        });
        expect(res.status, username).to.equal(400);
        expect(res.body.errcode, username).to.equal('M_EXCLUSIVE');
      }
      expect(app.seen.path).to.equal(undefined);
    });

    it('400 M_MISSING_PARAM without a username', async () => {
      const res = await app.call('POST', '/_matrix/client/v3/register', { token: 'as-irc', body: { type: AS_TYPE } });
      expect(res.status).to.equal(400);
      expect(res.body.errcode).to.equal('M_MISSING_PARAM');
    });

    it('400 M_NOT_JSON for a body that is not JSON', async () => {
      const res = await app.call('POST', '/_matrix/client/v3/register', { token: 'as-irc', body: '{"type": ' });
      expect(res.status).to.equal(400);
      expect(res.body.errcode).to.equal('M_NOT_JSON');
    });
  });

  describe('anyone else registering', () => {
    it('400 M_EXCLUSIVE for a username inside an exclusive users namespace', async () => {
      const res = await app.call('POST', '/_matrix/client/v3/register', {
        body: { username: 'irc_mallory', password: 'pw' },
      });
      expect(res.status).to.equal(400);
      expect(res.body.errcode).to.equal('M_EXCLUSIVE');
    });

    it("sees through case and percent-encoding in the path, as the homeserver's router would", async () => {
      for (const path of [
        '/_matrix/client/V3/REGISTER',
        '/_matrix/client/v3/regist%65r',
        '/_matrix/client/v3/register/',
      ]) {
        const res = await app.call('POST', path, { body: { username: 'irc_mallory', password: 'pw' } });
        expect([res.status, res.body.errcode], path).to.deep.equal([400, 'M_EXCLUSIVE']);
      }
    });

    it('also checks the lowercased username, which the homeserver may register instead', async () => {
      const res = await app.call('POST', '/_matrix/client/v3/register', {
        body: { username: 'IRC_Mallory', password: 'pw' },
      });
      expect([res.status, res.body.errcode]).to.deep.equal([400, 'M_EXCLUSIVE']);
    });

    it('lets names in non-exclusive namespaces and elsewhere through', async () => {
      for (const username of ['shared_ok', 'alice']) {
        const res = await app.call('POST', '/_matrix/client/v3/register', { body: { username, password: 'pw' } });
        expect(res.status, username).to.equal(200);
      }
    });

    it('400 M_EXCLUSIVE from GET /register/available for an exclusive name', async () => {
      const taken = await app.call('GET', '/_matrix/client/v3/register/available', { query: { username: 'irc_x' } });
      expect(taken.status).to.equal(400);
      expect(taken.body.errcode).to.equal('M_EXCLUSIVE');
      expect(
        (await app.call('GET', '/_matrix/client/v3/register/available', { query: { username: 'x' } })).status,
      ).to.equal(200);
    });
  });

  describe('POST /login with m.login.application_service', () => {
    const login = (user: string) => ({ type: AS_TYPE, identifier: { type: 'm.id.user', user } });

    it('lets the AS log in as a user of its namespace (localpart or full id)', async () => {
      for (const user of ['irc_bob', '@irc_bob:hs.test']) {
        const res = await app.call('POST', '/_matrix/client/v3/login', { token: 'as-irc', body: login(user) });
        expect(res.status, user).to.equal(200);
        expect(app.seen.state?.appserviceLogin).to.deep.equal({ userId: '@irc_bob:hs.test' });
      }
    });

    it('401 M_MISSING_TOKEN / M_UNKNOWN_TOKEN without an as_token', async () => {
      const none = await app.call('POST', '/_matrix/client/v3/login', { body: login('irc_bob') });
      expect([none.status, none.body.errcode]).to.deep.equal([401, 'M_MISSING_TOKEN']);
      const wrong = await app.call('POST', '/_matrix/client/v3/login', { token: 'nope', body: login('irc_bob') });
      expect([wrong.status, wrong.body.errcode]).to.deep.equal([401, 'M_UNKNOWN_TOKEN']);
    });

    it('400 M_EXCLUSIVE outside the namespace; 400 M_INVALID_PARAM without an m.id.user identifier', async () => {
      const outside = await app.call('POST', '/_matrix/client/v3/login', { token: 'as-irc', body: login('alice') });
      expect([outside.status, outside.body.errcode]).to.deep.equal([400, 'M_EXCLUSIVE']);
      const bad = await app.call('POST', '/_matrix/client/v3/login', {
        token: 'as-irc',
        body: { type: AS_TYPE, identifier: { type: 'm.id.phone', country: 'GB', phone: '1' } },
      });
      expect([bad.status, bad.body.errcode]).to.deep.equal([400, 'M_INVALID_PARAM']);
    });

    it('leaves other login types to the homeserver', async () => {
      const res = await app.call('POST', '/_matrix/client/v3/login', {
        body: { type: 'm.login.password', identifier: { type: 'm.id.user', user: 'irc_x' } },
      });
      expect(res.status).to.equal(200);
      expect(app.seen.state?.appserviceLogin).to.equal(undefined);
    });
  });

  describe('aliases', () => {
    const alias = (a: string) => `/_matrix/client/v3/directory/room/${encodeURIComponent(a)}`;

    it('lets the owning AS create and delete aliases in its exclusive namespace', async () => {
      expect(
        (await app.call('PUT', alias('#irc_chan:hs.test'), { token: 'as-irc', body: { room_id: '!r:hs.test' } }))
          .status,
      ).to.equal(200);
      expect((await app.call('DELETE', alias('#irc_chan:hs.test'), { token: 'as-irc' })).status).to.equal(200);
    });

    it('400 M_EXCLUSIVE for anyone else creating or deleting inside it', async () => {
      for (const method of ['PUT', 'DELETE']) {
        for (const token of ['syt_user', 'as-shared']) {
          const res = await app.call(method, alias('#irc_chan:hs.test'), { token, body: { room_id: '!r:hs.test' } });
          expect([res.status, res.body.errcode], `${method} ${token}`).to.deep.equal([400, 'M_EXCLUSIVE']);
        }
      }
    });

    it('decodes the alias once: %2F and %23 stay inside it', async () => {
      const res = await app.call(
        'PUT',
        `/_matrix/client/v3/directory/room/${encodeURIComponent('#irc_a/b#c:hs.test')}`,
        { token: 'syt_user', body: {} },
      );
      expect([res.status, res.body.errcode]).to.deep.equal([400, 'M_EXCLUSIVE']);
      const lower = await app.call('PUT', '/_matrix/client/v3/Directory/Room/%23irc_x%3Ahs.test', {
        token: 'syt_user',
        body: {},
      });
      expect([lower.status, lower.body.errcode]).to.deep.equal([400, 'M_EXCLUSIVE']);
    });

    it('400 M_EXCLUSIVE for an AS creating an alias outside its namespaces', async () => {
      const res = await app.call('PUT', alias('#random:hs.test'), { token: 'as-irc', body: { room_id: '!r:hs.test' } });
      expect([res.status, res.body.errcode]).to.deep.equal([400, 'M_EXCLUSIVE']);
    });

    it('lets users create aliases elsewhere and in non-exclusive namespaces', async () => {
      for (const a of ['#random:hs.test', '#shared_x:hs.test']) {
        expect(
          (await app.call('PUT', alias(a), { token: 'syt_user', body: { room_id: '!r:hs.test' } })).status,
          a,
        ).to.equal(200);
      }
    });

    it("applies the same rule to createRoom's room_alias_name", async () => {
      const squat = await app.call('POST', '/_matrix/client/v3/createRoom', {
        token: 'syt_user',
        body: { room_alias_name: 'irc_chan' },
      });
      expect([squat.status, squat.body.errcode]).to.deep.equal([400, 'M_EXCLUSIVE']);
      const own = await app.call('POST', '/_matrix/client/v3/createRoom', {
        token: 'as-irc',
        body: { room_alias_name: 'irc_chan' },
      });
      expect(own.status).to.equal(200);
    });
  });
});
