import { expect } from 'chai';
import { MockAppService } from '../../lib/testing/mock-appservice.ts';
import { registration, startApp, type TestApp } from './support/app.ts';
import { ToyHost } from './support/toy-host.ts';

describe('koa/interceptors: client requests wait while the AS creates users and aliases', () => {
  const DEADLINE_MS = 400;
  const SLACK_MS = 1_000;
  let host: ToyHost;
  let mock: MockAppService;
  let app: TestApp;

  beforeEach(async () => {
    host = new ToyHost('hs.test');
    // The AS creates entities through the homeserver while the query waits, as a real bridge does.
    mock = await MockAppService.start({
      hsToken: 'hs-irc',
      onAliasQuery: (alias) => {
        if (!alias.startsWith('#irc_real')) return false;
        host.aliases.set(alias, '!bridged:hs.test');
        return true;
      },
      onUserQuery: (userId) => {
        if (!userId.startsWith('@irc_real')) return false;
        host.users.add(userId);
        return true;
      },
    });
    const irc = registration({
      id: 'irc',
      url: mock.url,
      users: [['@irc_.*:hs\\.test', true]],
      aliases: [['#irc_.*:hs\\.test', true]],
    });
    app = await startApp({ registrations: [irc], host, existenceDeadlineMs: DEADLINE_MS });
  });
  afterEach(async () => {
    await app.close();
    await mock.close();
  });

  const enc = encodeURIComponent;
  const asked = () =>
    mock.requests
      .filter((r) => r.path.includes('/users/') || r.path.includes('/rooms/'))
      .map((r) => decodeURIComponent(r.path.split('/').pop()!));

  describe('alias lookup', () => {
    it('asks the AS, which creates the room, then the homeserver answers 200', async () => {
      const res = await app.call('GET', `/_matrix/client/v3/directory/room/${enc('#irc_real_chan:hs.test')}`, {
        token: 'syt_user',
      });
      expect(res.status).to.equal(200);
      expect(res.body.room_id).to.equal('!bridged:hs.test');
      expect(asked()).to.deep.equal(['#irc_real_chan:hs.test']);
    });

    it("gives the homeserver's 404 M_NOT_FOUND when the AS says no", async () => {
      const res = await app.call('GET', `/_matrix/client/v3/directory/room/${enc('#irc_nothing:hs.test')}`, {
        token: 'syt_user',
      });
      expect([res.status, res.body.errcode]).to.deep.equal([404, 'M_NOT_FOUND']);
      expect(asked()).to.deep.equal(['#irc_nothing:hs.test']);
    });

    it('asks nobody about aliases outside every namespace, or remote ones', async () => {
      for (const alias of ['#random:hs.test', '#irc_real_x:elsewhere.org']) {
        const res = await app.call('GET', `/_matrix/client/v3/directory/room/${enc(alias)}`, { token: 'syt_user' });
        expect(res.status, alias).to.equal(404);
      }
      expect(asked()).to.deep.equal([]);
    });

    it('408 with a Matrix body within the deadline when the AS is down', async () => {
      await mock.down();
      const started = performance.now();
      const res = await app.call('GET', `/_matrix/client/v3/directory/room/${enc('#irc_real_chan:hs.test')}`, {
        token: 'syt_user',
      });
      expect(performance.now() - started).to.be.below(DEADLINE_MS + SLACK_MS);
      expect([res.status, res.body.errcode]).to.deep.equal([408, 'M_UNKNOWN']);
      expect(res.body.error).to.be.a('string');
    });

    it('408 within the deadline when the AS is slower than the deadline', async () => {
      mock.slow(5_000);
      const started = performance.now();
      const res = await app.call('GET', `/_matrix/client/v3/directory/room/${enc('#irc_real_slow:hs.test')}`, {
        token: 'syt_user',
      });
      expect(performance.now() - started).to.be.below(DEADLINE_MS + SLACK_MS);
      expect(res.status).to.equal(408);
    });
  });

  it("the interceptor's own deadline bounds the wait even when the queries allow more", async () => {
    const irc = registration({ id: 'irc', url: mock.url, aliases: [['#irc_.*:hs\\.test', true]] });
    const strict = await startApp({ registrations: [irc], host, deadlineMs: 200, existenceDeadlineMs: 10_000 });
    try {
      mock.slow(5_000);
      const started = performance.now();
      const res = await strict.call('GET', `/_matrix/client/v3/directory/room/${enc('#irc_real_q:hs.test')}`, {
        token: 'syt_user',
      });
      expect(performance.now() - started).to.be.below(200 + SLACK_MS);
      expect(res.status).to.equal(408);
    } finally {
      await strict.close();
    }
  });

  it('join and knock by alias wait for the AS; by room id they do not', async () => {
    for (const verb of ['join', 'knock']) {
      const res = await app.call('POST', `/_matrix/client/v3/${verb}/${enc(`#irc_real_${verb}:hs.test`)}`, {
        token: 'syt_user',
        body: {},
      });
      expect(res.status, verb).to.equal(200);
      expect(host.aliases.has(`#irc_real_${verb}:hs.test`), verb).to.equal(true);
    }
    await app.call('POST', `/_matrix/client/v3/join/${enc('!room:hs.test')}`, { token: 'syt_user', body: {} });
    expect(asked()).to.deep.equal(['#irc_real_join:hs.test', '#irc_real_knock:hs.test']);
  });

  it('m.room.canonical_alias state waits for alias and alt_aliases', async () => {
    const res = await app.call('PUT', `/_matrix/client/v3/rooms/${enc('!r:hs.test')}/state/m.room.canonical_alias`, {
      token: 'syt_user',
      body: { alias: '#irc_real_a:hs.test', alt_aliases: ['#irc_real_b:hs.test', 42, '#elsewhere:hs.test'] },
    });
    expect(res.status).to.equal(200);
    expect(asked().sort()).to.deep.equal(['#irc_real_a:hs.test', '#irc_real_b:hs.test']);
    expect(app.seen.body).to.deep.include({ alias: '#irc_real_a:hs.test' });
  });

  it('invite waits for the invitee', async () => {
    const res = await app.call('POST', `/_matrix/client/v3/rooms/${enc('!r:hs.test')}/invite`, {
      token: 'syt_user',
      body: { user_id: '@irc_real_bob:hs.test' },
    });
    expect(res.status).to.equal(200);
    expect(host.users.has('@irc_real_bob:hs.test')).to.equal(true);
  });

  it("profile lookups wait for the user, and give the homeserver's 404 when the AS says no", async () => {
    const ok = await app.call('GET', `/_matrix/client/v3/profile/${enc('@irc_real_carol:hs.test')}/displayname`, {
      token: 'syt_user',
    });
    expect(ok.status).to.equal(200);
    const missing = await app.call('GET', `/_matrix/client/v3/profile/${enc('@irc_ghost:hs.test')}`, {
      token: 'syt_user',
    });
    expect([missing.status, missing.body.errcode]).to.deep.equal([404, 'M_NOT_FOUND']);
    expect(asked()).to.deep.equal(['@irc_real_carol:hs.test', '@irc_ghost:hs.test']);
  });

  it('createRoom waits for every invitee; 408 when the AS cannot answer', async () => {
    const res = await app.call('POST', '/_matrix/client/v3/createRoom', {
      token: 'syt_user',
      body: { invite: ['@irc_real_d:hs.test', '@irc_real_e:hs.test'] },
    });
    expect(res.status).to.equal(200);
    expect(asked().sort()).to.deep.equal(['@irc_real_d:hs.test', '@irc_real_e:hs.test']);
    await mock.down();
    const down = await app.call('POST', '/_matrix/client/v3/createRoom', {
      token: 'syt_user',
      body: { invite: ['@irc_real_f:hs.test'] },
    });
    expect(down.status).to.equal(408);
  });

  describe("ctx.ensureUser() / ctx.ensureAlias() for the homeserver's routes", () => {
    it('resolve exists or absent', async () => {
      expect((await app.call('GET', `/host-ensure/user/${enc('@irc_real_f:hs.test')}`)).body).to.deep.equal({
        result: 'exists',
      });
      expect((await app.call('GET', `/host-ensure/alias/${enc('#irc_nope:hs.test')}`)).body).to.deep.equal({
        result: 'absent',
      });
    });

    it('throw a MatrixError the plugin renders as 408 JSON when the AS is down', async () => {
      await mock.down();
      const res = await app.call('GET', `/host-ensure/alias/${enc('#irc_real_z:hs.test')}`);
      expect([res.status, res.body.errcode]).to.deep.equal([408, 'M_UNKNOWN']);
    });
  });
});
