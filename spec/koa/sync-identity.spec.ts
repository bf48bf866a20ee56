/**
 * Spec: Application Service API, "Client-Server API Extensions" / "Using `/sync` and `/events`":
 * "Application services wishing to use `/sync` or `/events` from the Client-Server API MUST do so
 * with a virtual user (provide a `user_id` via the query string). It is expected that the
 * application service use the transactions pushed to it to handle events rather than syncing with
 * the user implied by `sender_localpart`." With "Identity assertion": "If the parameter is missing,
 * the homeserver is to assume the application service intends to act as the user implied by the
 * `sender_localpart`".
 *
 * So an AS's /sync or /events is always one user's: `ctx.state.userId` is set whenever
 * `ctx.state.appservice` is, and the homeserver serves that user's stream, never "the AS's".
 */
import { expect } from 'chai';
import { registration, startApp, type TestApp } from './support/app.ts';
import { ToyHost } from './support/toy-host.ts';

describe('koa/auth: an AS\'s /sync and /events act as a user (AS API "Using /sync and /events")', () => {
  const irc = registration({ id: 'irc', sender: 'ircbot', users: [['@irc_.*', true]] });
  const PATHS = [
    '/_matrix/client/v3/sync',
    '/_matrix/client/r0/sync',
    '/_matrix/client/v3/events',
    '/_matrix/client/r0/events',
  ];
  let app: TestApp;

  beforeEach(async () => {
    const host = new ToyHost('hs.test');
    host.users.add('@irc_alice:hs.test');
    app = await startApp({ registrations: [irc], host });
  });
  afterEach(() => app.close());

  for (const path of PATHS) {
    it(`${path} with user_id is that virtual user's`, async () => {
      const res = await app.call('GET', path, {
        token: 'as-irc',
        query: { user_id: '@irc_alice:hs.test', timeout: '0' },
      });
      expect(res.status).to.equal(200);
      expect(app.seen.state?.appservice?.id).to.equal('irc');
      expect(app.seen.state?.userId).to.equal('@irc_alice:hs.test');
    });

    it(`${path} without user_id is the sender_localpart user's, never the AS's without a user`, async () => {
      const res = await app.call('GET', path, { query: { access_token: 'as-irc' } });
      expect(res.status).to.equal(200);
      expect(app.seen.state?.appservice?.id).to.equal('irc');
      expect(app.seen.state?.userId).to.equal('@ircbot:hs.test');
    });
  }

  it('refuses a /sync as a user outside the namespace or not registered yet (403 M_FORBIDDEN)', async () => {
    for (const userId of ['@alice:hs.test', '@irc_nobody:hs.test']) {
      const res = await app.call('GET', '/_matrix/client/v3/sync', { token: 'as-irc', query: { user_id: userId } });
      expect([res.status, res.body.errcode], userId).to.deep.equal([403, 'M_FORBIDDEN']);
    }
  });
});
