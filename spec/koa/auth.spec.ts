import { expect } from 'chai';
import { NamespaceIndex } from '../../lib/namespace/namespace-index.ts';
import { registration, startApp, type TestApp } from './support/app.ts';
import { ToyHost } from './support/toy-host.ts';

describe('koa/auth: as_token authentication and identity assertion', () => {
  const irc = registration({ id: 'irc', sender: 'ircbot', users: [['@irc_.*', true]], aliases: [['#irc_.*', true]] });
  const slack = registration({ id: 'slack', users: [['@slack_.*:hs\\.test', false]], rateLimited: false });
  let app: TestApp;
  let host: ToyHost;

  beforeEach(async () => {
    host = new ToyHost('hs.test');
    host.users.add('@irc_alice:hs.test');
    host.users.add('@ircbot:hs.test');
    host.devices.add('@irc_alice:hs.test|ALICEDEV');
    app = await startApp({ registrations: [irc, slack], host });
  });
  afterEach(() => app.close());

  const WHOAMI = '/_matrix/client/v3/account/whoami';

  it('leaves requests without a token to the homeserver', async () => {
    const res = await app.call('GET', WHOAMI);
    expect(res.status).to.equal(200);
    expect(app.seen.state?.appservice).to.equal(undefined);
  });

  it('passes tokens that are no as_token through untouched, in the header or the query', async () => {
    expect(
      (await app.call('GET', WHOAMI, { token: 'syt_user_token', query: { user_id: '@irc_alice:hs.test' } })).status,
    ).to.equal(200);
    expect(app.seen.state).to.deep.equal({});
    expect((await app.call('GET', WHOAMI, { query: { access_token: 'as-irc-but-not-quite' } })).status).to.equal(200);
    expect(app.seen.state).to.deep.equal({});
  });

  it("makes a request with an as_token in the Authorization header the AS's, acting as its sender", async () => {
    const res = await app.call('GET', WHOAMI, { token: 'as-irc' });
    expect(res.status).to.equal(200);
    expect(app.seen.state?.appservice?.id).to.equal('irc');
    expect(app.seen.state?.userId).to.equal('@ircbot:hs.test');
    // registration.yaml, rate_limited: "The sender is excluded." (spec/koa/rate-limited.spec.ts)
    expect(app.seen.state?.rateLimited).to.equal(false);
    expect(app.seen.state?.deviceId).to.equal(undefined);
  });

  it('accepts the as_token in the access_token query parameter', async () => {
    await app.call('GET', WHOAMI, { query: { access_token: 'as-slack' } });
    expect(app.seen.state?.appservice?.id).to.equal('slack');
    expect(app.seen.state?.userId).to.equal('@slackbot:hs.test');
    expect(app.seen.state?.rateLimited).to.equal(false);
  });

  it('reads a percent-encoded access_token parameter name like any other', async () => {
    const res = await app.call('GET', `${WHOAMI}?access%5Ftoken=as-irc`);
    expect(res.status).to.equal(200);
    expect(app.seen.state?.appservice?.id).to.equal('irc');
  });

  it('refuses an as_token mixed with another token in header and query: 401 M_MISSING_TOKEN', async () => {
    const res = await app.call('GET', WHOAMI, { token: 'as-irc', query: { access_token: 'as-irc' } });
    expect(res.status).to.equal(401);
    expect(res.body.errcode).to.equal('M_MISSING_TOKEN');
    const other = await app.call('GET', WHOAMI, { token: 'syt_user', query: { access_token: 'as-slack' } });
    expect(other.status).to.equal(401);
    expect(other.body.errcode).to.equal('M_MISSING_TOKEN');
  });

  it('leaves a mix of two non-AS tokens to the homeserver', async () => {
    const res = await app.call('GET', WHOAMI, { token: 'syt_a', query: { access_token: 'syt_b' } });
    expect(res.status).to.equal(200);
    expect(app.seen.state).to.deep.equal({});
  });

  it('never echoes the token in an error', async () => {
    const res = await app.call('GET', WHOAMI, {
      token: 'as-irc',
      query: { access_token: 'as-irc', user_id: '@nobody:hs.test' },
    });
    expect(res.text).not.to.include('as-irc');
  });

  it("asserts a user_id inside the AS's users namespace that the AS has registered", async () => {
    const res = await app.call('GET', WHOAMI, { token: 'as-irc', query: { user_id: '@irc_alice:hs.test' } });
    expect(res.status).to.equal(200);
    expect(app.seen.state?.userId).to.equal('@irc_alice:hs.test');
  });

  it('accepts its own sender as user_id', async () => {
    await app.call('GET', WHOAMI, { token: 'as-irc', query: { user_id: '@ircbot:hs.test' } });
    expect(app.seen.state?.userId).to.equal('@ircbot:hs.test');
  });

  it('403 M_FORBIDDEN for a user_id outside the namespace, of another server, or malformed', async () => {
    for (const userId of ['@bob:hs.test', '@irc_alice:other.server', 'irc_alice', '@slack_x:hs.test', '@:hs.test']) {
      const res = await app.call('GET', WHOAMI, { token: 'as-irc', query: { user_id: userId } });
      expect(res.status, userId).to.equal(403);
      expect(res.body.errcode, userId).to.equal('M_FORBIDDEN');
    }
  });

  it('403 M_FORBIDDEN for a user in the namespace the AS has not registered yet', async () => {
    const res = await app.call('GET', WHOAMI, { token: 'as-irc', query: { user_id: '@irc_ghost:hs.test' } });
    expect(res.status).to.equal(403);
    expect(res.body.errcode).to.equal('M_FORBIDDEN');
  });

  it('lets the AS name a not-yet-registered user on register (r0 and v3)', async () => {
    for (const version of ['r0', 'v3']) {
      const res = await app.call('POST', `/_matrix/client/${version}/register`, {
        token: 'as-irc',
        query: { user_id: '@irc_new:hs.test' },
        body: { username: 'someone_else' },
      });
      expect(res.status, version).to.equal(200);
      expect(app.seen.state?.userId).to.equal('@irc_new:hs.test');
    }
  });

  it('400 M_INVALID_PARAM for a repeated user_id rather than picking one', async () => {
    const res = await app.call('GET', WHOAMI, {
      token: 'as-irc',
      query: { user_id: ['@irc_alice:hs.test', '@bob:hs.test'] },
    });
    expect(res.status).to.equal(400);
    expect(res.body.errcode).to.equal('M_INVALID_PARAM');
  });

  describe('remembering who an AS may act as', () => {
    const alice = { token: 'as-irc', query: { user_id: '@irc_alice:hs.test' } };

    it('checks a user against the namespace and the host once per AS: a puppet asserted again asks neither', async () => {
      const original = NamespaceIndex.prototype.matches;
      let matched = 0;
      NamespaceIndex.prototype.matches = function (
        this: NamespaceIndex,
        ...args: Parameters<NamespaceIndex['matches']>
      ) {
        matched++;
        return original.apply(this, args);
      };
      try {
        for (let i = 0; i < 3; i++) expect((await app.call('GET', WHOAMI, alice)).status).to.equal(200);
      } finally {
        NamespaceIndex.prototype.matches = original;
      }
      expect(app.seen.state?.userId).to.equal('@irc_alice:hs.test');
      expect(matched).to.equal(1);
      expect(host.userExistsCalls).to.equal(1);
    });

    it("never lets one AS act as a user because another AS may: each AS's namespace is its own", async () => {
      host.users.add('@slack_bob:hs.test');
      expect((await app.call('GET', WHOAMI, alice)).status).to.equal(200);
      const res = await app.call('GET', WHOAMI, { token: 'as-slack', query: { user_id: '@irc_alice:hs.test' } });
      expect(res.status).to.equal(403);
      expect(res.body.errcode).to.equal('M_FORBIDDEN');
      const bob = { token: 'as-slack', query: { user_id: '@slack_bob:hs.test' } };
      expect((await app.call('GET', WHOAMI, bob)).status).to.equal(200);
      expect((await app.call('GET', WHOAMI, { token: 'as-irc', query: bob.query })).status).to.equal(403);
    });

    it('asks the host again about a user it said does not exist (a no is not remembered)', async () => {
      const ghost = { token: 'as-irc', query: { user_id: '@irc_ghost:hs.test' } };
      expect((await app.call('GET', WHOAMI, ghost)).status).to.equal(403);
      host.users.add('@irc_ghost:hs.test');
      expect((await app.call('GET', WHOAMI, ghost)).status).to.equal(200);
      expect(app.seen.state?.userId).to.equal('@irc_ghost:hs.test');
    });

    it('still checks device_id and ts for a remembered user', async () => {
      expect((await app.call('GET', WHOAMI, alice)).status).to.equal(200);
      const res = await app.call('GET', WHOAMI, { token: 'as-irc', query: { ...alice.query, device_id: 'NOPE' } });
      expect(res.status).to.equal(400);
      expect(res.body.errcode).to.equal('M_UNKNOWN_DEVICE');
      const dev = await app.call('GET', WHOAMI, { token: 'as-irc', query: { ...alice.query, device_id: 'ALICEDEV' } });
      expect(dev.status).to.equal(200);
      expect(app.seen.state?.deviceId).to.equal('ALICEDEV');
    });
  });

  describe('device masquerading', () => {
    it('sets deviceId from device_id or org.matrix.msc3202.device_id when the host knows the device', async () => {
      for (const name of ['device_id', 'org.matrix.msc3202.device_id']) {
        const res = await app.call('GET', WHOAMI, {
          token: 'as-irc',
          query: { user_id: '@irc_alice:hs.test', [name]: 'ALICEDEV' },
        });
        expect(res.status, name).to.equal(200);
        expect(app.seen.state?.deviceId, name).to.equal('ALICEDEV');
      }
    });

    it('400 M_UNKNOWN_DEVICE for a device the host does not know for that user', async () => {
      for (const name of ['device_id', 'org.matrix.msc3202.device_id']) {
        const res = await app.call('GET', WHOAMI, { token: 'as-irc', query: { [name]: 'ALICEDEV' } });
        expect(res.status, name).to.equal(400);
        expect(res.body.errcode, name).to.equal('M_UNKNOWN_DEVICE');
      }
    });

    it("ignores device_id on requests that are not an AS's", async () => {
      const res = await app.call('GET', WHOAMI, { token: 'syt_user', query: { device_id: 'NOPE' } });
      expect(res.status).to.equal(200);
    });
  });

  describe('timestamp massaging', () => {
    const SEND = '/_matrix/client/v3/rooms/!r:hs.test/send/m.room.message/txn1';
    const STATE = '/_matrix/client/v3/rooms/!r:hs.test/state/m.room.topic/';

    it('sets ts on PUT send and PUT state', async () => {
      for (const path of [SEND, STATE]) {
        const res = await app.call('PUT', path, { token: 'as-irc', query: { ts: '1700000000000' }, body: {} });
        expect(res.status, path).to.equal(200);
        expect(app.seen.state?.ts, path).to.equal(1_700_000_000_000);
      }
    });

    it('ignores ts on other endpoints and from non-AS requests', async () => {
      await app.call('POST', '/_matrix/client/v3/rooms/!r:hs.test/kick', {
        token: 'as-irc',
        query: { ts: '5' },
        body: {},
      });
      expect(app.seen.state?.ts).to.equal(undefined);
      await app.call('PUT', SEND, { token: 'syt_user', query: { ts: '5' }, body: {} });
      expect(app.seen.state?.ts).to.equal(undefined);
    });

    it('400 M_INVALID_PARAM for a ts that is no non-negative integer', async () => {
      for (const ts of ['-1', '1.5', 'soon', '99999999999999999999']) {
        const res = await app.call('PUT', SEND, { token: 'as-irc', query: { ts }, body: {} });
        expect(res.status, ts).to.equal(400);
        expect(res.body.errcode, ts).to.equal('M_INVALID_PARAM');
      }
    });
  });
});
