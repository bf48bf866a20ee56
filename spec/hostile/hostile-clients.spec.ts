/**
 * Issue 8 part 2: clients that try to be someone else, or to confuse the plugin with odd ids,
 * against the fully mounted plugin (spec/koa/*.spec.ts test the middlewares one by one; this file
 * adds what they leave out and checks the whole chain). Each attempt gets the right status and
 * errcode, and nothing else changes: the homeserver's routes are not reached when the plugin
 * refuses, no AS is queried, the host is not asked to create anything, nothing is queued.
 */
import { expect } from 'chai';
import { MockAppService } from '../../lib/testing/index.ts';
import { ToyHost } from '../koa/support/toy-host.ts';
import {
  alias,
  asToken,
  call,
  hsToken,
  registrationObject,
  startHomeserver,
  type Homeserver,
  type Reply,
} from '../reliability/support/homeserver.ts';

const WHOAMI = '/_matrix/client/v3/account/whoami';
const REGISTER = '/_matrix/client/v3/register';

describe('hostile clients against the mounted plugin', function () {
  this.timeout(10_000);
  let host: ToyHost;
  let irc: MockAppService;
  let other: MockAppService;
  let hs: Homeserver;

  beforeEach(async () => {
    host = new ToyHost('hs.test');
    host.users.add('@irc_bob:hs.test');
    irc = await MockAppService.start({ hsToken: hsToken('irc') });
    other = await MockAppService.start({ hsToken: hsToken('other') });
    hs = await startHomeserver({
      host,
      registrations: [registrationObject('irc', irc.url), registrationObject('other', other.url)],
      queryDeadlineMs: 1_000,
    });
  });

  afterEach(async () => {
    await hs.close();
    await Promise.all([irc.close(), other.close()]);
  });

  /** The plugin refused and nothing else happened. */
  async function refusedQuietly(reply: Reply, status: number, errcode: string): Promise<void> {
    expect(reply.status, JSON.stringify(reply.body)).to.equal(status);
    expect(reply.body.errcode).to.equal(errcode);
    expect(reply.body.error).to.be.a('string');
    expect(hs.reached, 'the homeserver route was reached').to.deep.equal([]);
    expect(irc.requests.length + other.requests.length, 'an AS was queried').to.equal(0);
    expect([...host.users]).to.deep.equal(['@irc_bob:hs.test']);
    expect(host.aliases.size).to.equal(0);
    expect((await hs.as.store.backlog('irc')).size + (await hs.as.store.backlog('other')).size).to.equal(0);
  }

  describe('tokens', () => {
    const near = [
      ['a prefix of an as_token', asToken('irc').slice(0, -1)],
      ['an as_token with one more character', `${asToken('irc')}x`],
      ['an as_token in another case', asToken('irc').toUpperCase()],
      ['an hs_token (the secret the homeserver sends, not the AS)', hsToken('irc')],
    ] as const;
    for (const [what, token] of near) {
      it(`${what} is no AS: the homeserver's own auth judges it, with no AS identity on ctx`, async () => {
        const reply = await call(hs.url, 'GET', `${WHOAMI}?user_id=${encodeURIComponent('@irc_bob:hs.test')}`, {
          token,
        });
        expect(reply.status).to.equal(200);
        expect(hs.reached).to.deep.equal([{ method: 'GET', path: WHOAMI, userId: null }]);
      });

      it(`${what} cannot register as the AS (401 M_UNKNOWN_TOKEN) nor ping as it (403 M_FORBIDDEN)`, async () => {
        await refusedQuietly(
          await call(hs.url, 'POST', REGISTER, {
            token,
            body: { type: 'm.login.application_service', username: 'irc_eve' },
          }),
          401,
          'M_UNKNOWN_TOKEN',
        );
        await refusedQuietly(
          await call(hs.url, 'POST', '/_matrix/client/v1/appservice/irc/ping', { token, body: {} }),
          403,
          'M_FORBIDDEN',
        );
      });
    }

    it('an as_token in a malformed Authorization header is not accepted as the AS', async () => {
      const reply = await call(hs.url, 'POST', REGISTER, {
        headers: { authorization: `Bearer ${asToken('irc')} trailing` },
        body: { type: 'm.login.application_service', username: 'irc_eve' },
      });
      await refusedQuietly(reply, 401, 'M_UNKNOWN_TOKEN');
    });

    const mixes = [
      ['the same as_token in header and query', asToken('irc'), [asToken('irc')]],
      ["two ASes' tokens, header and query", asToken('irc'), [asToken('other')]],
      ['an as_token in the query and a user token in the header', 'syt_user_token', [asToken('irc')]],
      ['the as_token twice in the query', undefined, [asToken('irc'), asToken('irc')]],
    ] as const;
    for (const [what, header, query] of mixes) {
      it(`${what}: 401 M_MISSING_TOKEN, never one of them picked`, async () => {
        const qs = query.map((t) => `access_token=${encodeURIComponent(t)}`).join('&');
        const reply = await call(
          hs.url,
          'GET',
          `${WHOAMI}?${qs}&user_id=${encodeURIComponent('@irc_bob:hs.test')}`,
          header === undefined ? {} : { token: header },
        );
        await refusedQuietly(reply, 401, 'M_MISSING_TOKEN');
      });
    }
  });

  describe('identity assertion', () => {
    const users = [
      ['outside the namespace', '@alice:hs.test'],
      ['in the namespace on another server', '@irc_bob:evil.test'],
      ["in another AS's namespace", '@other_bob:hs.test'],
      ['huge (64 KiB)', `@irc_${'a'.repeat(64 * 1024)}:hs.test`],
      ['huge but under the header limit (8 KB)', `@irc_${'a'.repeat(8_000)}:hs.test`],
      ['with an encoded slash, hash and question mark', '@irc_a/b#c?d:hs.test'],
      ['with non-ASCII', '@irc_bøb:hs.test'],
      ['with a NUL', '@irc_bob\u0000:hs.test'],
      ['not a user id', 'irc_bob'],
    ] as const;
    for (const [what, userId] of users) {
      it(`user_id ${what}: refused before the homeserver, no AS asked`, async () => {
        const reply = await call(hs.url, 'GET', `${WHOAMI}?user_id=${encodeURIComponent(userId)}`, {
          token: asToken('irc'),
        });
        if (reply.status === 431 || reply.status === 414) {
          // Node refused the request line itself: also fine, nothing ran.
          expect(hs.reached).to.deep.equal([]);
          return;
        }
        await refusedQuietly(reply, 403, 'M_FORBIDDEN');
      });
    }
  });

  describe('odd ids in paths', () => {
    const odd = [
      ['an encoded slash', '#irc_a/b:hs.test'],
      ['an encoded hash', '#irc_a#b:hs.test'],
      ['an encoded question mark (no query injection)', '#irc_a?access_token=stolen&x=1:hs.test'],
      ['non-ASCII', '#irc_ça_va_😀:hs.test'],
    ] as const;
    for (const [what, value] of odd) {
      it(`an alias with ${what} reaches the AS as exactly that one id, in one path segment`, async () => {
        const reply = await call(hs.url, 'GET', alias(value), { token: 'syt_user_token' });
        expect(reply.status).to.equal(404);
        expect(reply.body.errcode).to.equal('M_NOT_FOUND');
        expect(irc.requests).to.have.length(1);
        const [request] = irc.requests;
        expect(request!.path).to.equal(`/_matrix/app/v1/rooms/${encodeURIComponent(value)}`);
        expect(request!.query, 'nothing leaked into the AS query string').to.deep.equal({});
        expect(request!.tokenOk).to.equal(true);
      });
    }

    it('a user id with the same characters in a profile lookup reaches the AS as one id', async () => {
      const userId = '@irc_a/b#c?d=e:hs.test';
      await call(hs.url, 'GET', `/_matrix/client/v3/profile/${encodeURIComponent(userId)}`, {
        token: 'syt_user_token',
      });
      expect(irc.requests.map((r) => r.path)).to.deep.equal([`/_matrix/app/v1/users/${encodeURIComponent(userId)}`]);
      expect(irc.requests[0]!.query).to.deep.equal({});
    });

    it('createRoom inviting thousands of namespace users: at most 100 are asked, and no listener-leak warning', async () => {
      const warnings: string[] = [];
      const onWarning = (warning: Error): void => void warnings.push(`${warning.name}: ${warning.message}`);
      process.on('warning', onWarning);
      try {
        const invite = Array.from({ length: 5_000 }, (_, i) => `@irc_u${i}:hs.test`);
        const reply = await call(hs.url, 'POST', '/_matrix/client/v3/createRoom', {
          token: 'syt_user_token',
          body: { invite },
        });
        expect(reply.status).to.equal(200); // the homeserver's answer: every asked invitee is absent
        expect(irc.requests.length).to.be.within(1, 100);
        await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on the next tick
      } finally {
        process.off('warning', onWarning);
      }
      expect(warnings).to.deep.equal([]);
    });

    it('malformed percent-encoding is left to the homeserver: no crash, no AS asked', async () => {
      const reply = await call(hs.url, 'GET', '/_matrix/client/v3/directory/room/%23irc_%E0%A4%A:hs.test');
      expect(reply.status).to.equal(400); // the toy homeserver's own answer
      expect(hs.reached).to.have.length(1);
      expect(irc.requests).to.have.length(0);
    });

    it('an alias of another server is never asked about, whatever its localpart', async () => {
      await call(hs.url, 'GET', alias('#irc_x:evil.test'), { token: 'syt_user_token' });
      await call(hs.url, 'GET', alias('#irc_x:hs.test.evil.test'), { token: 'syt_user_token' });
      expect(irc.requests).to.have.length(0);
    });

    // Matrix ids are at most 255 bytes: a longer one in an AS's namespace must not make the
    // homeserver send the AS kilobyte paths or fill the query cache with kilobyte keys.
    it('an alias or user id over 255 bytes: 400 M_INVALID_PARAM, no AS asked', async () => {
      const token = 'syt_user_token';
      const longAlias = `#irc_${'a'.repeat(300)}:hs.test`;
      const multibyte = `#irc_${'é'.repeat(126)}:hs.test`; // 133 characters, 260 bytes
      const longUser = `@irc_${'a'.repeat(300)}:hs.test`;
      for (const reply of [
        await call(hs.url, 'GET', alias(longAlias), { token }),
        await call(hs.url, 'GET', alias(multibyte), { token }),
        await call(hs.url, 'POST', `/_matrix/client/v3/join/${encodeURIComponent(longAlias)}`, { token, body: {} }),
        await call(hs.url, 'GET', `/_matrix/client/v3/profile/${encodeURIComponent(longUser)}`, { token }),
      ]) {
        expect([reply.status, reply.body.errcode]).to.deep.equal([400, 'M_INVALID_PARAM']);
      }
      expect(irc.requests.map((r) => r.path.slice(0, 40))).to.deep.equal([]);
      expect(hs.reached).to.have.length(0);
      // At the limit it is still asked.
      await call(hs.url, 'GET', alias(`#irc_${'a'.repeat(255 - '#irc_:hs.test'.length)}:hs.test`), { token });
      expect(irc.requests).to.have.length(1);
    });
  });

  describe('exclusive namespaces', () => {
    it("another AS registering a user in irc's exclusive namespace: 400 M_EXCLUSIVE", async () => {
      const reply = await call(hs.url, 'POST', REGISTER, {
        token: asToken('other'),
        body: { type: 'm.login.application_service', username: 'irc_mallory' },
      });
      await refusedQuietly(reply, 400, 'M_EXCLUSIVE');
    });

    it('a user registering inside it, in any case or through an encoded path: 400 M_EXCLUSIVE', async () => {
      for (const [path, username] of [
        [REGISTER, 'irc_mallory'],
        [REGISTER, 'IRC_Mallory'],
        ['/_matrix/client/v3/regist%65r', 'irc_mallory'],
        ['/_matrix/client/r0/register', 'irc_mallory'],
      ] as const) {
        const reply = await call(hs.url, 'POST', path, {
          body: { username, password: 'pw', auth: { type: 'm.login.dummy' } },
        });
        await refusedQuietly(reply, 400, 'M_EXCLUSIVE');
      }
    });

    it('alias squatting by a user or by another AS, by PUT, DELETE or createRoom: 400 M_EXCLUSIVE', async () => {
      const squat = alias('#irc_squat:hs.test');
      for (const token of ['syt_user_token', asToken('other')]) {
        await refusedQuietly(
          await call(hs.url, 'PUT', squat, { token, body: { room_id: '!mine:hs.test' } }),
          400,
          'M_EXCLUSIVE',
        );
        await refusedQuietly(await call(hs.url, 'DELETE', squat, { token }), 400, 'M_EXCLUSIVE');
        await refusedQuietly(
          await call(hs.url, 'POST', '/_matrix/client/v3/createRoom', {
            token,
            body: { room_alias_name: 'irc_squat' },
          }),
          400,
          'M_EXCLUSIVE',
        );
      }
    });

    it('the owner itself may do all of it (the refusals above are about ownership, not the route)', async () => {
      const own = alias('#irc_mine:hs.test');
      expect(
        (await call(hs.url, 'PUT', own, { token: asToken('irc'), body: { room_id: '!r:hs.test' } })).status,
      ).to.equal(200);
      const reg = await call(hs.url, 'POST', REGISTER, {
        token: asToken('irc'),
        body: { type: 'm.login.application_service', username: 'irc_new' },
      });
      expect(reg.status).to.equal(200);
      expect(hs.reached.map((r) => r.method)).to.deep.equal(['PUT', 'POST']);
    });
  });
});
