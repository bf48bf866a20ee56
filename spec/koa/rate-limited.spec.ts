/**
 * Spec: Application Service API, "Registration" (registration.yaml, `rate_limited`): "Whether
 * requests from masqueraded users are rate-limited. The sender is excluded."
 */
import { expect } from 'chai';
import { registration, startApp, type TestApp } from './support/app.ts';
import { ToyHost } from './support/toy-host.ts';

describe('koa/auth: ctx.state.rateLimited (registration.yaml rate_limited: "The sender is excluded")', () => {
  const limited = registration({ id: 'irc', sender: 'ircbot', users: [['@irc_.*', true]] });
  const unlimited = registration({ id: 'slack', sender: 'slackbot', users: [['@slack_.*', true]], rateLimited: false });
  const WHOAMI = '/_matrix/client/v3/account/whoami';
  let app: TestApp;

  beforeEach(async () => {
    const host = new ToyHost('hs.test');
    for (const user of ['@irc_alice:hs.test', '@ircbot:hs.test', '@slack_bob:hs.test']) host.users.add(user);
    app = await startApp({ registrations: [limited, unlimited], host });
  });
  afterEach(() => app.close());

  it("is false for the AS's own sender_localpart user, with or without user_id", async () => {
    for (const query of [{} as Record<string, string>, { user_id: '@ircbot:hs.test' }]) {
      expect((await app.call('GET', WHOAMI, { token: 'as-irc', query })).status).to.equal(200);
      expect(app.seen.state?.userId).to.equal('@ircbot:hs.test');
      expect(app.seen.state?.rateLimited, JSON.stringify(query)).to.equal(false);
    }
  });

  it('is true for a masqueraded user when the registration is rate_limited (the default)', async () => {
    await app.call('GET', WHOAMI, { token: 'as-irc', query: { user_id: '@irc_alice:hs.test' } });
    expect(app.seen.state?.rateLimited).to.equal(true);
  });

  it('is false for everyone the AS acts as when rate_limited is false', async () => {
    for (const query of [{} as Record<string, string>, { user_id: '@slack_bob:hs.test' }]) {
      await app.call('GET', WHOAMI, { token: 'as-slack', query });
      expect(app.seen.state?.rateLimited, JSON.stringify(query)).to.equal(false);
    }
  });
});
