/**
 * An AS that refuses the homeserver's hs_token on a user or alias query (application-service-api.md
 * #authorization: the AS fails the request with M_FORBIDDEN when the token does not match) is a
 * configuration error, told apart from an AS that does not answer: the blocked client gets 502, not
 * the 408 "did not answer in time"; the AS is not marked down (its pushes and its `up` gauge are
 * unaffected); one log line names the AS and never the token; a metric counts the refusals.
 */
import { expect } from 'chai';
import { Registry } from 'prom-client';
import { MockAppService } from '../../lib/testing/index.ts';
import { alias, call, hsToken, registrationObject, startHomeserver, type Homeserver } from './support/homeserver.ts';

/** A client's session (ToyHost: any `syt_` token): an unauthenticated lookup asks no AS. */
const USER = 'syt_client';

describe('reliability: an AS that refuses our hs_token on queries (application-service-api.md#authorization)', () => {
  let mock: MockAppService;
  let hs: Homeserver;
  let metrics: Registry;
  const logged: { level: string; text: string }[] = [];

  beforeEach(async () => {
    // The bridge was configured with another hs_token than its registration holds.
    mock = await MockAppService.start({ hsToken: 'the-bridge-has-another-token', aliases: ['#irc_a:hs.test'] });
    metrics = new Registry();
    logged.length = 0;
    const log = (level: string) => (fields: unknown, message?: string) =>
      void logged.push({ level, text: `${JSON.stringify(fields)} ${message ?? ''}` });
    hs = await startHomeserver({
      registrations: [registrationObject('irc', mock.url)],
      metricsRegistry: metrics,
      logger: { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') },
    });
  });

  afterEach(async () => {
    await hs.close();
    await mock.close();
  });

  it('the blocked client gets 502 M_UNKNOWN that claims no timeout, at once; the AS is not marked down', async () => {
    const started = performance.now();
    const reply = await call(hs.url, 'GET', alias('#irc_a:hs.test'), { token: USER });
    expect(reply.status, JSON.stringify(reply.body)).to.equal(502);
    expect(reply.body.errcode).to.equal('M_UNKNOWN');
    expect(reply.body.error)
      .to.match(/rejected the homeserver's credentials/)
      .and.not.match(/time/i);
    expect(reply.body.error).not.to.include(hsToken('irc'));
    expect(performance.now() - started, 'no retries until the deadline').to.be.below(2_000);
    expect(mock.requests.every((r) => !r.tokenOk)).to.equal(true);

    const text = await metrics.metrics();
    expect(text).to.match(/koa_appservice_query_token_rejected_total\{appservice="irc"\} 1\b/);
    expect(text).to.match(/koa_appservice_up\{appservice="irc"\} 1\b/);
    expect(text).to.match(/koa_appservice_query_duration_seconds_count\{kind="alias",outcome="misconfigured"\} 1\b/);
  });

  it('one clear error line names the AS and says what to fix, never the token; repeats are counted, not logged again', async () => {
    for (let i = 0; i < 3; i++)
      expect((await call(hs.url, 'GET', alias(`#irc_${i}:hs.test`), { token: USER })).status).to.equal(502);
    const errors = logged.filter((l) => l.level === 'error');
    expect(errors, JSON.stringify(logged)).to.have.length(1);
    expect(errors[0]!.text).to.include('"irc"').and.include('hs_token').and.include('403');
    for (const line of logged)
      expect(line.text).not.to.include(hsToken('irc')).and.not.include('the-bridge-has-another-token');
    expect(await metrics.metrics()).to.match(/koa_appservice_query_token_rejected_total\{appservice="irc"\} 3\b/);
  });
});
