/**
 * Spec: Application Service API, "Client-Server API Extensions" / "Pinging" (appservice_ping.yaml):
 * "This API requires the use of an application service access token (`as_token`)"; a token that is
 * not the AS's is the endpoint's `403 M_FORBIDDEN`. A request with no credentials at all is the
 * client-server API's "Using access tokens" case: `401 M_MISSING_TOKEN`.
 */
import { expect } from 'chai';
import { MockAppService } from '../../lib/testing/mock-appservice.ts';
import { registration, startApp, type TestApp } from './support/app.ts';

describe('koa/routes: ping without credentials (client-server "Using access tokens")', () => {
  const PING = '/_matrix/client/v1/appservice/irc/ping';
  let mock: MockAppService;
  let app: TestApp;

  beforeEach(async () => {
    mock = await MockAppService.start({ hsToken: 'hs-irc' });
    app = await startApp({ registrations: [registration({ id: 'irc', url: mock.url })] });
  });
  afterEach(async () => {
    await app.close();
    await mock.close();
  });

  it('401 M_MISSING_TOKEN with no token, with or without a body; the AS is not pinged', async () => {
    for (const body of [undefined, { transaction_id: 'meow' }]) {
      const res = await app.call('POST', PING, body === undefined ? {} : { body });
      expect([res.status, res.body.errcode], JSON.stringify(body)).to.deep.equal([401, 'M_MISSING_TOKEN']);
    }
    expect(mock.pings).to.deep.equal([]);
    expect(app.pinged).to.deep.equal([]);
  });

  it('403 M_FORBIDDEN (not 401) for a token that is no as_token, in the header or the query', async () => {
    for (const options of [{ token: 'syt_user' }, { query: { access_token: 'syt_user' } }]) {
      const res = await app.call('POST', PING, { ...options, body: {} });
      expect([res.status, res.body.errcode], JSON.stringify(options)).to.deep.equal([403, 'M_FORBIDDEN']);
    }
  });
});
