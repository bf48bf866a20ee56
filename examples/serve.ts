/**
 * `koa-appservice serve --registration <file>… [--port 8008] [--db ./appservice.db]`: the reference
 * homeserver with the given registrations and a SqliteStore on disk, for trying a real bridge
 * against it. Logs through pino (homeserver/logging.ts): what it serves at start, then one line per
 * exchange with an AS and per failure. Runs until SIGINT or SIGTERM, then drains the plugin and
 * exits 0.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { RegistrationLoadError, type ExperimentalFeatures } from '../lib/index.ts';
import { resolveExperimentalFeatures } from '../lib/koa/key-proxy-api.ts';
import { redactUrl } from '../lib/registration/redact-url.ts';
import { registrationWarnings } from '../lib/registration/warnings.ts';
import { SqliteStore } from '../lib/store/sqlite/sqlite-store.ts';
import { startHomeserver } from './homeserver/index.ts';
import { createServeLogger, LOG_LEVELS, logAppserviceTraffic, type LogLevel } from './homeserver/logging.ts';

export interface ServeIo {
  /** Log lines go here: pretty when it is a terminal (`isTTY`), JSON lines otherwise. */
  readonly stdout: { write(text: string): unknown; isTTY?: boolean };
  readonly stderr: { write(text: string): unknown };
}

export interface ServeOptions {
  readonly cwd?: string;
  /** Stops the server (tests); by default SIGINT and SIGTERM do. */
  readonly signal?: AbortSignal;
}

export const SERVE_USAGE = `Usage: koa-appservice serve --registration <file> [--registration <file>…] [options]

Runs the reference homeserver (in-memory rooms and users) with koa-appservice mounted.

Options:
  -r, --registration <file>  An application service registration file (repeatable; globs work).
  -p, --port <n>             Port on 127.0.0.1 (default 8008; 0 picks a free one).
      --host <addr>          Address to listen on (default 127.0.0.1).
      --db <file>            SqliteStore file for the AS queues (default ./appservice.db).
      --server-name <name>   The homeserver's server name (default localhost).
      --log-level <level>    fatal, error, warn, info (default), debug (adds every client
                             request), trace or silent.
      --experimental <list>  Unstable features to turn on, comma-separated (repeatable):
                             msc3202, msc3983, msc3984, msc4190 (encrypted bridges; see the
                             README's "Encrypted bridges"). Default: none.
  -h, --help                 Show this help.
`;

/**
 * Resolves with the exit code once the server has stopped (never calls process.exit).
 *
 * @example
 * process.exitCode = await serve(['--registration', 'irc.yaml', '--port', '8008'], process);
 */
export async function serve(argv: readonly string[], io: ServeIo, options: ServeOptions = {}): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        registration: { type: 'string', short: 'r', multiple: true },
        port: { type: 'string', short: 'p', default: '8008' },
        host: { type: 'string', default: '127.0.0.1' },
        db: { type: 'string', default: './appservice.db' },
        'server-name': { type: 'string', default: 'localhost' },
        'log-level': { type: 'string', default: 'info' },
        experimental: { type: 'string', multiple: true },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    io.stderr.write(`koa-appservice serve: ${(error as Error).message}\n\n${SERVE_USAGE}`);
    return 2;
  }
  if (values.help) {
    io.stdout.write(SERVE_USAGE);
    return 0;
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    io.stderr.write(`koa-appservice serve: --port must be 0-65535, got ${JSON.stringify(values.port)}\n`);
    return 2;
  }
  const level = values['log-level'] as LogLevel;
  if (!LOG_LEVELS.includes(level)) {
    io.stderr.write(
      `koa-appservice serve: --log-level must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(values['log-level'])}\n`,
    );
    return 2;
  }
  let experimentalFeatures;
  try {
    experimentalFeatures = experimentalFromFlags(values.experimental ?? []);
  } catch (error) {
    io.stderr.write(`koa-appservice serve: --experimental: ${(error as Error).message}\n`);
    return 2;
  }
  if (values.registration === undefined || values.registration.length === 0) {
    io.stderr.write(`koa-appservice serve: give at least one --registration\n\n${SERVE_USAGE}`);
    return 2;
  }
  const cwd = options.cwd ?? process.cwd();
  const databasePath = resolve(cwd, values.db);
  const logger = await createServeLogger({ level, stdout: io.stdout });
  let homeserver;
  try {
    homeserver = await startHomeserver({
      registrations: values.registration.map((file) => resolve(cwd, file)),
      store: new SqliteStore(databasePath),
      serverName: values['server-name'],
      port,
      hostname: values.host,
      logger,
      experimentalFeatures,
    });
  } catch (error) {
    const message =
      error instanceof RegistrationLoadError || (error as NodeJS.ErrnoException).code === 'EADDRINUSE'
        ? (error as Error).message
        : String(error);
    io.stderr.write(`koa-appservice serve: ${message}\n`);
    return 1;
  }
  const stopTrafficLog = logAppserviceTraffic(logger, homeserver.as.registry.all);
  for (const registration of homeserver.as.registry.all) {
    const url = registration.url === null ? null : redactUrl(registration.url);
    const sender = `@${registration.senderLocalpart}:${values['server-name']}`;
    logger.info(
      { appservice: registration.id, url, sender },
      `appservice ${registration.id}: ${url ?? '(no url: nothing pushed)'} as ${sender}`,
    );
  }
  for (const w of registrationWarnings(homeserver.as.registry.all)) {
    logger.warn({ source: w.source, field: w.field }, `${w.source}: ${w.field}: ${w.message}`);
  }
  logger.info({ database: databasePath }, `AS queues in ${databasePath}`);
  logger.info(
    { url: homeserver.url, serverName: values['server-name'] },
    `koa-appservice serve: listening on ${homeserver.url} (server name ${values['server-name']})`,
  );

  await new Promise<void>((done) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      options.signal?.removeEventListener('abort', stop);
      done();
    };
    if (options.signal?.aborted) return stop();
    options.signal?.addEventListener('abort', stop);
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  logger.info('koa-appservice serve: stopping (undelivered events stay queued in the database)');
  await homeserver.close();
  stopTrafficLog();
  return 0;
}

/**
 * `--experimental msc3202,msc4190 --experimental msc3983` → `{ msc3202: true, msc4190: true, msc3983: true }`,
 * checked by the plugin's own rule so that an unknown name is refused here with the known ones listed.
 */
function experimentalFromFlags(flags: readonly string[]): Required<ExperimentalFeatures> {
  const names = flags.flatMap((flag) => flag.split(',')).map((name) => name.trim());
  const empty = names.find((name) => name === '');
  if (empty !== undefined) throw new Error('an empty feature name (write msc3202,msc4190)');
  return resolveExperimentalFeatures(Object.fromEntries(names.map((name) => [name, true])));
}
