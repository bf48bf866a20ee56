/**
 * A throwaway PostgreSQL server for the specs, started lazily by the first spec that asks for it
 * and stopped by the mocha global teardown (spec/support/postgres-fixture.ts).
 *
 * When `PG_URL` is set the specs use that server instead and nothing is started. Otherwise the
 * server binaries must be installed (Debian: `apt-get install postgresql`); when they are missing
 * `getPgUrl()` rejects, so the PostgreSQL specs FAIL rather than skip: CI has to prove them.
 *
 * The server runs under a small `sh` watchdog that reads our stdin: when this process goes away,
 * even by SIGKILL, the pipe closes, the watchdog stops PostgreSQL and removes its data directory.
 *
 * @example
 * const url = await getPgUrl();
 * const { schema, drop } = await freshSchema();
 * const store = new PostgresStore({ connectionString: url, schema });
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { PostgresStore } from '../../lib/store/postgres/postgres-store.ts';

interface ServerState {
  url: Promise<string> | null;
  child: ChildProcess | null;
  dir: string | null;
  /** Whether the server this process started flushes its commits to disk (see PostgresServerOptions). */
  durable: boolean;
}

/** How the throwaway server runs. */
export interface PostgresServerOptions {
  /**
   * `false` (the specs' default): fsync, synchronous_commit and full_page_writes off, so commits
   * cost no disk flush and the specs run fast. `true` (benchmarks): all three on, as a production
   * server runs, so a commit is durable when it returns.
   */
  readonly durable?: boolean;
}

// On globalThis, so that a second copy of this module (CJS and ESM loaders) shares one server.
const STATE_KEY = Symbol.for('koa-appservice.spec.postgres-server');
const state: ServerState =
  ((globalThis as Record<symbol, unknown>)[STATE_KEY] as ServerState | undefined) ??
  ((globalThis as Record<symbol, unknown>)[STATE_KEY] = {
    url: null,
    child: null,
    dir: null,
    durable: false,
  } as ServerState);

const DATABASE = 'koa_appservice_test';
const START_DEADLINE_MS = 30_000;

/**
 * The URL of a database the specs may use; starts a server on first call when PG_URL is unset.
 * A server already started keeps its durability: asking for the other one rejects (see
 * `setPostgresDurability` to switch it); leaving `durable` out takes the server as it runs.
 */
export function getPgUrl(options: PostgresServerOptions = {}): Promise<string> {
  const given = process.env.PG_URL;
  if (given) return Promise.resolve(given);
  const { durable } = options;
  if (state.url !== null) {
    if (durable !== undefined && durable !== state.durable) {
      return Promise.reject(new Error(`the throwaway PostgreSQL already runs with durable: ${state.durable}`));
    }
    return state.url;
  }
  state.durable = durable ?? false;
  state.url = start(state.durable).catch((err: unknown) => {
    state.url = null;
    throw err;
  });
  return state.url;
}

/** A new empty schema name in the test database, and a function that drops it. */
export async function freshSchema(
  options: PostgresServerOptions = {},
): Promise<{ url: string; schema: string; drop(): Promise<void> }> {
  const url = await getPgUrl(options);
  const schema = `spec_${randomBytes(6).toString('hex')}`;
  return {
    url,
    schema,
    async drop() {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      } finally {
        await client.end();
      }
    },
  };
}

/** The settings that make commits durable, in the order the server is started with them. */
const DURABILITY_SETTINGS = ['fsync', 'synchronous_commit', 'full_page_writes'] as const;

/**
 * Switches the running throwaway server between durable and not (see PostgresServerOptions), so
 * that a benchmark can show both on one server. Takes effect for connections opened after it
 * resolves. Rejects when PG_URL is set: a server we did not start is left as it is configured.
 *
 * @example
 * await getPgUrl({ durable: true });
 * await setPostgresDurability(false); // the same server, now with fsync=off
 */
export async function setPostgresDurability(durable: boolean): Promise<void> {
  if (process.env.PG_URL) throw new Error('PG_URL is set: its server keeps its own durability settings');
  const url = await getPgUrl();
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const value = durable ? 'on' : 'off';
    for (const name of DURABILITY_SETTINGS) await client.query(`ALTER SYSTEM SET ${name} = ${value}`);
    await client.query('SELECT pg_reload_conf()');
    // The reload is signalled, not awaited: wait until a new session sees it.
    for (let tries = 0; ; tries++) {
      const probe = new pg.Client({ connectionString: url });
      await probe.connect();
      const { rows } = await probe.query<{ fsync: string }>('SELECT current_setting($1) AS fsync', ['fsync']);
      await probe.end();
      if (rows[0]?.fsync === value) break;
      if (tries > 100) throw new Error(`PostgreSQL did not take fsync=${value}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  } finally {
    await client.end();
  }
  state.durable = durable;
}

/** Stops the server this process started, if any, and removes its files. */
export async function stopPostgres(): Promise<void> {
  const { child } = state;
  state.url = null;
  state.child = null;
  state.durable = false;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.stdin?.end(); // the watchdog's cue: fast shutdown, then rm -rf
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
  if (state.dir && existsSync(state.dir)) rmSync(state.dir, { recursive: true, force: true });
  state.dir = null;
}

function findBinDir(): string {
  const fromEnv = process.env.PG_BIN;
  if (fromEnv) {
    if (!existsSync(join(fromEnv, 'initdb'))) throw new Error(`PG_BIN=${fromEnv} has no initdb`);
    return fromEnv;
  }
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions.length === 0) {
    throw new Error(
      'PostgreSQL specs need a server: set PG_URL=postgres://user:pass@host:port/db, or install the ' +
        'server binaries (Debian: apt-get install -y postgresql; looked in /usr/lib/postgresql/*/bin, or set PG_BIN)',
    );
  }
  return join(root, versions[0]!, 'bin');
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no TCP port');
  return address.port;
}

/** initdb refuses to run as root, so a root test run hands the files to the `postgres` user. */
function runAs(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  // getent, not /etc/passwd, so that NSS users count too.
  const out = spawnSync('getent', ['passwd', 'postgres'], { encoding: 'utf8' });
  const fields = out.stdout?.split(':') ?? [];
  if (out.status !== 0 || fields.length < 4)
    throw new Error('running as root, and there is no `postgres` user to run initdb as');
  return { uid: Number(fields[2]), gid: Number(fields[3]) };
}

function run(
  cmd: string,
  args: string[],
  opts: { cwd: string; as: { uid: number; gid: number } | undefined },
): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'], ...opts.as });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`${cmd} exited with ${code}:\n${output.slice(-4000)}`)),
    );
  });
}

// The watchdog: postgres in the background, a reader of our stdin beside it. EOF on stdin (we
// asked, or we died) stops postgres with a fast shutdown; when postgres exits, so does the shell,
// after removing the directory. It ignores signals so that a Ctrl-C reaches only mocha.
const WATCHDOG = `
trap '' INT TERM HUP
dir="$1"; shift
"$@" &
pid=$!
exec 3<&0
( while read -r _ <&3; do :; done; kill -INT "$pid" 2>/dev/null ) &
reader=$!
wait "$pid"
code=$?
kill "$reader" 2>/dev/null
rm -rf "$dir"
exit "$code"
`;

async function start(durable: boolean): Promise<string> {
  const bin = findBinDir();
  const as = runAs();
  const dir = mkdtempSync(join(tmpdir(), 'koa-appservice-pg-'));
  state.dir = dir;
  const data = join(dir, 'data');
  const sockets = join(dir, 'sockets');
  mkdirSync(sockets);
  if (as) for (const path of [dir, sockets]) chownSync(path, as.uid, as.gid);

  await run(
    join(bin, 'initdb'),
    ['-D', data, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--locale=C', '--no-sync'],
    {
      cwd: dir,
      as,
    },
  );

  // In the configuration file rather than on the command line, which would outrank the ALTER
  // SYSTEM of setPostgresDurability().
  appendFileSync(
    join(data, 'postgresql.conf'),
    DURABILITY_SETTINGS.map((name) => `${name} = ${durable ? 'on' : 'off'}\n`).join(''),
  );
  const port = await freePort();
  const args = [
    join(bin, 'postgres'),
    '-D',
    data,
    '-p',
    String(port),
    '-k',
    sockets,
    '-c',
    'listen_addresses=127.0.0.1',
    '-c',
    'max_connections=200',
    '-c',
    'log_min_messages=warning',
  ];
  const child = spawn('sh', ['-c', WATCHDOG, 'watchdog', dir, ...args], {
    cwd: dir,
    stdio: ['pipe', 'ignore', 'pipe'],
    detached: true,
    ...as,
  });
  state.child = child;
  let log = '';
  child.stderr!.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-8000)));
  let exited: string | null = null;
  child.once('exit', (code, signal) => (exited = `exited with ${signal ?? code}`));
  child.unref();
  (child.stdin as unknown as { unref?(): void }).unref?.();
  (child.stderr as unknown as { unref?(): void }).unref?.();

  const admin = `postgres://postgres@127.0.0.1:${port}/postgres`;
  const deadline = Date.now() + START_DEADLINE_MS;
  for (;;) {
    if (exited) throw new Error(`PostgreSQL ${exited} while starting:\n${log}`);
    const client = new pg.Client({ connectionString: admin, connectionTimeoutMillis: 1000 });
    try {
      await client.connect();
      await client.query(`CREATE DATABASE ${DATABASE}`);
      await client.end();
      break;
    } catch (err) {
      await client.end().catch(() => {});
      if (Date.now() > deadline)
        throw new Error(`PostgreSQL did not accept connections within ${START_DEADLINE_MS} ms:\n${log}`, {
          cause: err,
        });
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  return `postgres://postgres@127.0.0.1:${port}/${DATABASE}`;
}

/**
 * Mocha hooks for specs that open several PostgresStores on one fresh schema (several homeserver
 * processes in miniature): each test gets a new schema, and every store it opened is closed after.
 *
 * @example
 * const pg = postgresStoresPerTest();
 * it('…', async () => { const [a, b] = [await pg.openStore(), await pg.openStore()]; pg.url; pg.schema; });
 */
export function postgresStoresPerTest(): {
  openStore(): Promise<PostgresStore>;
  readonly url: string;
  readonly schema: string;
} {
  let fresh: Awaited<ReturnType<typeof freshSchema>> | undefined;
  const stores: PostgresStore[] = [];
  beforeEach(async () => {
    fresh = await freshSchema();
  });
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((s) => s.close()));
    await fresh?.drop();
  });
  const current = () => {
    if (fresh === undefined) throw new Error('postgresStoresPerTest: no schema yet (use it inside a test)');
    return fresh;
  };
  return {
    async openStore() {
      const { url, schema } = current();
      const store = new PostgresStore({ connectionString: url, schema, max: 2 });
      stores.push(store);
      await store.open();
      return store;
    },
    get url() {
      return current().url;
    },
    get schema() {
      return current().schema;
    },
  };
}
