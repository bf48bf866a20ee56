import { expect } from 'chai';
import { registration, startApp } from './support/app.ts';

describe('koa/auth: ip_range_whitelist', () => {
  const irc = registration({ id: 'irc', users: [['@irc_.*', true]] });

  it('accepts the as_token from an address inside the ranges (IPv4-mapped loopback included)', async () => {
    const app = await startApp({ registrations: [{ ...irc, ipRangeWhitelist: ['10.0.0.0/8', '127.0.0.1'] }] });
    try {
      const res = await app.call('GET', '/_matrix/client/v3/account/whoami', { token: 'as-irc' });
      expect(res.status).to.equal(200);
      expect(app.seen.state?.appservice?.id).to.equal('irc');
    } finally {
      await app.close();
    }
  });

  it('treats the as_token as unknown from anywhere else: 401 M_UNKNOWN_TOKEN, nothing reaches the homeserver', async () => {
    const app = await startApp({ registrations: [{ ...irc, ipRangeWhitelist: ['10.0.0.0/8', '::1/128'] }] });
    try {
      const res = await app.call('GET', '/_matrix/client/v3/account/whoami', { token: 'as-irc' });
      expect([res.status, res.body.errcode]).to.deep.equal([401, 'M_UNKNOWN_TOKEN']);
      expect(res.text).not.to.include('as-irc');
      expect(app.seen.path).to.equal(undefined);
    } finally {
      await app.close();
    }
  });
});
