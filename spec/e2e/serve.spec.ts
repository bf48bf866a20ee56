/**
 * `koa-appservice serve`: the reference homeserver with registration files and a SqliteStore on
 * disk, in-process and as a real child process through the package's bin.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { serve } from '../../examples/serve.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const REGISTRATION = 'fixtures/registrations/good/matrix-appservice-irc.yaml';

describe('e2e: koa-appservice serve', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'koa-as-serve-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves the reference homeserver with the registration, a SqliteStore at --db, and stops cleanly', async () => {
    let out = '';
    let err = '';
    const io = { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) } };
    const stop = new AbortController();
    const db = join(dir, 'queues.db');
    const exit = serve(
      ['--registration', REGISTRATION, '--port', '0', '--db', db, '--server-name', 'example.org'],
      io,
      { cwd: ROOT, signal: stop.signal },
    );
    for (let i = 0; i < 200 && !out.includes('listening on'); i++) await new Promise((r) => setTimeout(r, 25));
    const url = /listening on (http:\/\/[\w.:]+)/.exec(out)?.[1];
    expect(url, err).to.be.a('string');
    const versions = await request(`${url}/_matrix/client/versions`);
    expect(versions.statusCode).to.equal(200);
    // The registration's exclusive namespace is enforced: the plugin is mounted.
    const register = await request(`${url}/_matrix/client/v3/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'irc_alice', auth: { type: 'm.login.dummy' } }),
    });
    expect(register.statusCode).to.equal(400);
    expect(((await register.body.json()) as { errcode: string }).errcode).to.equal('M_EXCLUSIVE');
    expect(existsSync(db)).to.equal(true);
    stop.abort();
    expect(await exit).to.equal(0);
  });

  it('--experimental turns unstable features on for encrypted bridges (an MSC4190 bridge creates its device)', async () => {
    const run = async (extra: string[]) => {
      let out = '';
      const io = { stdout: { write: (s: string) => (out += s) }, stderr: { write: () => true } };
      const stop = new AbortController();
      const exit = serve(
        [
          '--registration',
          'fixtures/registrations/good/mautrix-signal.yaml',
          '--port',
          '0',
          '--db',
          join(dir, `q${extra.length}.db`),
          '--server-name',
          'example.com',
          ...extra,
        ],
        io,
        { cwd: ROOT, signal: stop.signal },
      );
      for (let i = 0; i < 200 && !out.includes('listening on'); i++) await new Promise((r) => setTimeout(r, 25));
      const url = /listening on (http:\/\/[\w.:]+)/.exec(out)?.[1];
      expect(url, out).to.be.a('string');
      const token = 'Bearer PznjuZ25RmwfQ5a3HeGr0dIzukYo1ibRi20JY2ayWHZKEaKxh5AhE8Jf0mXSurkl';
      const register = await request(`${url}/_matrix/client/v3/register`, {
        method: 'POST',
        headers: { authorization: token, 'content-type': 'application/json' },
        body: JSON.stringify({ type: 'm.login.application_service', username: 'signal_1', inhibit_login: true }),
      });
      expect(register.statusCode, await register.body.text()).to.equal(200);
      const put = await request(
        `${url}/_matrix/client/v3/devices/BRIDGEDEV?user_id=${encodeURIComponent('@signal_1:example.com')}`,
        {
          method: 'PUT',
          headers: {
            authorization: 'Bearer PznjuZ25RmwfQ5a3HeGr0dIzukYo1ibRi20JY2ayWHZKEaKxh5AhE8Jf0mXSurkl',
            'content-type': 'application/json',
          },
          body: JSON.stringify({ display_name: 'bridge' }),
        },
      );
      await put.body.dump();
      stop.abort();
      expect(await exit).to.equal(0);
      return { out, status: put.statusCode };
    };
    const off = await run([]);
    expect(off.out).to.include('experimentalFeatures.msc4190');
    expect(off.status).to.not.be.oneOf([200, 201]);
    const on = await run(['--experimental', 'msc3202,msc4190', '--experimental', 'msc3983']);
    expect(on.out).to.not.include('experimentalFeatures.msc4190');
    expect(on.status).to.be.oneOf([200, 201]);
  });

  it('--experimental with an unknown feature exits 2 and lists the known ones', async () => {
    let err = '';
    const io = { stdout: { write: () => true }, stderr: { write: (s: string) => (err += s) } };
    const code = await serve(
      ['--registration', REGISTRATION, '--experimental', 'msc9999', '--db', join(dir, 'x.db')],
      io,
      {
        cwd: ROOT,
      },
    );
    expect(code).to.equal(2);
    expect(err).to.include('msc9999').and.to.include('msc4190');
  });

  it('exits 1 with the field named when a registration is invalid', async () => {
    let err = '';
    const io = { stdout: { write: () => true }, stderr: { write: (s: string) => (err += s) } };
    const code = await serve(
      ['--registration', 'fixtures/registrations/bad/missing-hs-token.yaml', '--port', '0', '--db', join(dir, 'x.db')],
      io,
      { cwd: ROOT },
    );
    expect(code).to.equal(1);
    expect(err).to.include('hs_token');
  });

  it('starts from the bin (npx koa-appservice serve … --port 0) and exits 0 on SIGTERM', async function () {
    this.timeout(30_000);
    const child = spawn(
      process.execPath,
      ['bin/koa-appservice.js', 'serve', '--registration', REGISTRATION, '--port', '0', '--db', join(dir, 'bin.db')],
      {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    try {
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
      for (let i = 0; i < 400 && !out.includes('listening on') && child.exitCode === null; i++)
        await new Promise((r) => setTimeout(r, 50));
      expect(out).to.include('listening on http://127.0.0.1:');
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      child.kill('SIGTERM');
      expect(await exited).to.equal(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
