/**
 * Registration files hold secrets (the tokens, and a url may carry a password or
 * `?access_token=<hs_token>`); nothing the CLI prints about them may repeat one. `serve` prints
 * each AS's url with the password and query redacted, and a YAML error about an unquoted token
 * that starts with `!` (YAML reads it as a tag; the yaml package quotes it in its message) names
 * the line, not the token, in lint, serve and the error object itself.
 */
import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { serve } from '../../examples/serve.ts';
import { main } from '../../lib/cli.ts';
import { RegistrationLoadError } from '../../lib/errors.ts';
import { readRegistrationFile } from '../../lib/registration/load.ts';
import { redactUrl } from '../../lib/registration/redact-url.ts';

const PASSWORD = 'pw-Hunter2-5ecret';
const HS_TOKEN = 'hs-7d1e0c9b8a-in-url';
const TAG_TOKEN = '!Ab3dEf9hIjKlMn0pQr';

function registration(fields: { url: string; asToken: string; hsToken: string }): string {
  return [
    'id: irc',
    `url: ${fields.url}`,
    `as_token: ${fields.asToken}`,
    `hs_token: ${fields.hsToken}`,
    'sender_localpart: ircbot',
    'namespaces:',
    '  users:',
    '    - exclusive: true',
    "      regex: '@irc_.*'",
    '',
  ].join('\n');
}

function collector() {
  const text = { out: '', err: '' };
  return {
    text,
    io: { stdout: { write: (s: string) => (text.out += s) }, stderr: { write: (s: string) => (text.err += s) } },
  };
}

describe('secrets: registration urls and tokens in output', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'koa-as-secrets-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('serve prints each registration url without its password or query', async () => {
    const url = `http://ircbridge:${PASSWORD}@127.0.0.1:9/as?access_token=${HS_TOKEN}`;
    writeFileSync(join(dir, 'irc.yaml'), registration({ url, asToken: 'as-token-0123456789', hsToken: HS_TOKEN }));
    const { text, io } = collector();
    const stop = new AbortController();
    const exit = serve(['--registration', 'irc.yaml', '--port', '0', '--db', join(dir, 'q.db')], io, {
      cwd: dir,
      signal: stop.signal,
    });
    for (let i = 0; i < 400 && !text.out.includes('listening on') && text.err === ''; i++)
      await new Promise((r) => setTimeout(r, 25));
    stop.abort();
    expect(await exit, text.err).to.equal(0);
    expect(text.out).to.include(
      'appservice irc: http://ircbridge:<redacted>@127.0.0.1:9/as?<redacted> as @ircbot:localhost',
    );
    for (const secret of [PASSWORD, HS_TOKEN, 'access_token=']) expect(text.out + text.err).not.to.include(secret);
  });

  it('a YAML error about an unquoted token starting with ! does not quote it', async () => {
    writeFileSync(
      join(dir, 'irc.yaml'),
      registration({ url: 'http://127.0.0.1:9', asToken: TAG_TOKEN, hsToken: 'hs-token-0123456789' }),
    );
    let caught: unknown;
    try {
      await readRegistrationFile('irc.yaml', dir);
    } catch (error) {
      caught = error;
    }
    expect(caught).to.be.instanceOf(RegistrationLoadError);
    const error = caught as RegistrationLoadError;
    expect(error.message).to.equal(
      'irc.yaml: invalid YAML at line 3, column 11: Unresolved tag (a value that starts with ! is a YAML tag: quote the value)',
    );
    // Nor anywhere an error printer would reach (its causes included).
    expect(inspect(error, { depth: 10 })).not.to.include(TAG_TOKEN.slice(1));

    const lint = collector();
    expect(await main(['lint', 'irc.yaml'], lint.io, { cwd: dir })).to.equal(1);
    expect(lint.text.out).to.include('Unresolved tag');
    const served = collector();
    expect(
      await serve(['--registration', 'irc.yaml', '--port', '0', '--db', join(dir, 'q.db')], served.io, { cwd: dir }),
    ).to.equal(1);
    expect(served.text.err).to.include('Unresolved tag');
    expect(lint.text.out + lint.text.err + served.text.out + served.text.err).not.to.include(TAG_TOKEN.slice(1));
  });

  it('redactUrl keeps what identifies the AS and hides the rest', () => {
    expect(redactUrl(`https://u:${PASSWORD}@bridge.example:8443/prefix/?access_token=${HS_TOKEN}#frag`)).to.equal(
      'https://u:<redacted>@bridge.example:8443/prefix/?<redacted>#<redacted>',
    );
    expect(redactUrl('http://localhost:9000')).to.equal('http://localhost:9000/');
    expect(redactUrl('http://u@localhost:9000/')).to.equal('http://u@localhost:9000/');
    expect(redactUrl(`${HS_TOKEN} pasted`)).to.equal('<not a url>');
  });
});
