import { expect } from 'chai';
import { Client } from 'undici';
import { bearerToken } from '../../lib/koa/as-token.ts';
import { Registry } from '../../lib/registration/registry.ts';
import { registration, startApp, type TestApp } from './support/app.ts';

describe('koa/as-token: reading the Authorization header', () => {
  /** The header grammar the plugin accepts, as one pattern with the token captured. */
  const reference = (header: string) => /^Bearer +(\S+)\s*$/i.exec(header)?.[1];

  it('takes the token of `Bearer <token>` exactly as the pattern /^Bearer +(\\S+)\\s*$/i captures it', () => {
    const headers = [
      'Bearer syt_abc',
      'bearer syt_abc',
      'BEARER   syt_abc',
      'Bearer syt_abc   ',
      'Bearer syt_abc\t',
      'Bearer syt_abc\u00a0',
      'Bearer syt_abc\u3000\u2028',
      'Bearer syt_abc def',
      'Bearer  ',
      'Bearer',
      'Bearer\tsyt_abc',
      'Bearersyt_abc',
      'Basic dXNlcjpwYXNz',
      ' Bearer syt_abc',
      'Bearer syt\u00e9_abc',
      'Bearer \u00a0syt_abc',
      '',
    ];
    for (const header of headers) expect(bearerToken(header), JSON.stringify(header)).to.equal(reference(header));
  });
});

describe('koa/as-token: as_tokens on a kept-alive connection', () => {
  const irc = registration({ id: 'irc', sender: 'ircbot', users: [['@irc_.*', true]] });
  const slack = registration({ id: 'slack', sender: 'slackbot', users: [['@slack_.*', true]] });
  const WHOAMI = '/_matrix/client/v3/account/whoami';
  let app: TestApp;
  let client: Client;

  beforeEach(async () => {
    app = await startApp({ registrations: [irc, slack] });
    // One connection, so every request below arrives on the same socket.
    client = new Client(app.url, { pipelining: 1 });
  });
  afterEach(async () => {
    await client.close();
    await app.close();
  });

  async function whoseRequest(token: string): Promise<string | undefined> {
    const res = await client.request({ path: WHOAMI, method: 'GET', headers: { authorization: `Bearer ${token}` } });
    await res.body.text();
    return app.seen.state?.appservice?.id;
  }

  it('looks an as_token up once per connection while the connection keeps presenting it', async () => {
    const original = Registry.prototype.byAsToken;
    const asked: string[] = [];
    Registry.prototype.byAsToken = function (this: Registry, token: string) {
      asked.push(token);
      return original.call(this, token);
    };
    try {
      for (let i = 0; i < 3; i++) expect(await whoseRequest('as-irc')).to.equal('irc');
    } finally {
      Registry.prototype.byAsToken = original;
    }
    expect(asked).to.deep.equal(['as-irc']);
  });

  it('gives each request the owner of its own token when tokens change on one connection', async () => {
    const sequence: [string, string | undefined][] = [
      ['as-irc', 'irc'],
      ['as-slack', 'slack'],
      ['syt_user_token', undefined],
      ['as-irc', 'irc'],
      ['as-irb', undefined],
      ['as-ircx', undefined],
      ['as-irc', 'irc'],
      ['as-slack', 'slack'],
    ];
    for (const [token, owner] of sequence) expect(await whoseRequest(token), token).to.equal(owner);
  });
});
