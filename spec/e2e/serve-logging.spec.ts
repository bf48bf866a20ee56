/**
 * `koa-appservice serve` as a child process says what it does: JSON log lines (stdout is a pipe)
 * with the absolute queue database path at start, one line per transaction and query to the AS,
 * a line per failure, and never a token, even at debug level with tokens in query strings.
 */
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MockAppService } from '../../lib/testing/index.ts';
import { Api, enc, eventually, type Json } from './support/client.ts';

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

const BIN = fileURLToPath(new URL('../../bin/koa-appservice.js', import.meta.url));
const AS_TOKEN = 'as-token-must-never-be-logged-4f1c';
const HS_TOKEN = 'hs-token-must-never-be-logged-9b2e';

describe('e2e: koa-appservice serve logs', function () {
  this.timeout(30_000);
  let dir: string;
  let mock: MockAppService;
  let child: ChildProcess | undefined;
  let out: string;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'koa-as-serve-log-'));
    mock = await MockAppService.start({ hsToken: HS_TOKEN, users: ['@bridge_known:localhost'] });
    writeFileSync(
      join(dir, 'bridge.yaml'),
      [
        'id: logbridge',
        `url: '${mock.url}'`,
        `as_token: ${AS_TOKEN}`,
        `hs_token: ${HS_TOKEN}`,
        'sender_localpart: logbot',
        'namespaces:',
        '  users: [{ exclusive: true, regex: "@bridge_.*" }]',
        '  rooms: [{ exclusive: false, regex: "!.*" }]',
      ].join('\n'),
    );
    out = '';
  });

  afterEach(async () => {
    if (child !== undefined && child.exitCode === null) {
      const exited = new Promise((resolve) => child!.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    await mock.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function start(...extra: string[]): Promise<string> {
    // cwd is the temp dir and --db relative: the log must show where the file really is.
    child = spawn(
      process.execPath,
      [BIN, 'serve', '--registration', 'bridge.yaml', '--port', '0', '--db', 'queues.db', ...extra],
      { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (out += chunk.toString()));
    await eventually(() => (out.includes('listening on') || child!.exitCode !== null ? true : undefined), 20_000);
    const url = /listening on (http:\/\/[\w.:]+)/.exec(out)?.[1];
    if (url === undefined) throw new Error(`serve did not start:\n${out}`);
    return url;
  }

  const lines = () =>
    out
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Json);

  it('prints the absolute queue path, then one line per transaction and user query, and no token', async () => {
    const url = await start('--log-level', 'debug');
    expect(lines().find((l) => l.database !== undefined)?.database).to.equal(join(dir, 'queues.db'));

    const api = new Api(url);
    const alice = await api.register('alice');
    const roomId = (
      await api.call('POST', '/_matrix/client/v3/createRoom', { token: alice.token, body: { preset: 'public_chat' } })
    ).body.room_id as string;
    // A token in the query string, as old clients send it: the access log must drop it.
    await api.call('GET', '/_matrix/client/v3/account/whoami', { query: { access_token: alice.token } });
    await api.call('GET', '/_matrix/client/v3/account/whoami', {
      query: { access_token: AS_TOKEN, user_id: '@logbot:localhost' },
    });
    // A user query the mock answers yes to (it does not create the user, so the invite 404s).
    await api.call('POST', `/_matrix/client/v3/rooms/${enc(roomId)}/invite`, {
      token: alice.token,
      body: { user_id: '@bridge_known:localhost' },
    });
    await eventually(
      () => lines().find((l) => l.appservice === 'logbridge' && /^transaction to logbridge: 200/.test(l.msg)),
      10_000,
    );
    await eventually(
      () => lines().find((l) => l.appservice === 'logbridge' && /^user query to logbridge: 200/.test(l.msg)),
      10_000,
    );
    expect(lines().some((l) => l.level === 20 && l.path === '/_matrix/client/v3/account/whoami')).to.equal(true);

    for (const secret of [AS_TOKEN, HS_TOKEN, alice.token]) expect(out).not.to.include(secret);
  });

  it('logs a failing transaction at warn, and nothing below the chosen level', async () => {
    // At warn the start-up lines are not printed: find the server by its port.
    const port = await freePort();
    child = spawn(
      process.execPath,
      [
        BIN,
        'serve',
        '--registration',
        'bridge.yaml',
        '--port',
        String(port),
        '--db',
        'queues.db',
        '--log-level',
        'warn',
      ],
      { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (out += chunk.toString()));
    await mock.down();
    const api = new Api(`http://127.0.0.1:${port}`);
    let alice: { userId: string; token: string } | undefined;
    for (let i = 0; i < 200 && alice === undefined; i++) {
      alice = await api.register('alice').catch(async () => {
        await new Promise((r) => setTimeout(r, 50));
        return undefined;
      });
    }
    if (alice === undefined) throw new Error(`serve did not start:\n${out}`);
    await api.call('POST', '/_matrix/client/v3/createRoom', { token: alice.token, body: {} });
    await eventually(() => lines().find((l) => l.level === 40 && /logbridge/.test(JSON.stringify(l))), 10_000);
    expect(lines().filter((l) => l.level < 40)).to.deep.equal([]);
    for (const secret of [AS_TOKEN, HS_TOKEN, alice.token]) expect(out).not.to.include(secret);
  });

  it('refuses an unknown --log-level with exit code 2', async () => {
    const code = await new Promise<number | null>((resolve) => {
      const c = spawn(process.execPath, [BIN, 'serve', '--registration', 'bridge.yaml', '--log-level', 'loud'], {
        cwd: dir,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      c.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
      c.once('exit', resolve);
    });
    expect(code).to.equal(2);
    expect(out).to.include('--log-level');
  });
});
