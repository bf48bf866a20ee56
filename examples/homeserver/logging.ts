/**
 * What `serve` says while it runs: a pino logger (pretty on a terminal, JSON lines otherwise) and
 * one line per request to an application service (transaction, user or alias query, ping,
 * third-party lookup) with its outcome. The plugin itself logs only failures; the successful
 * exchanges are read from undici's diagnostics channels, which every request the plugin makes
 * passes through, so the library needs no logging hook of its own for them.
 *
 * Tokens never reach the log: the hs_token travels in a header (never read here) or, on legacy
 * paths, in the query string, which is dropped; registration urls lose userinfo and query.
 */
import diagnostics from 'node:diagnostics_channel';
import { Writable } from 'node:stream';
import pino, { type Logger as PinoLogger } from 'pino';
import type { Registration } from '../../lib/index.ts';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
export const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export interface ServeLoggerOptions {
  readonly level: LogLevel;
  /** Where lines go; `process.stdout` in the CLI, a collector in tests. */
  readonly stdout: { write(text: string): unknown; isTTY?: boolean };
}

/**
 * pino with pino-pretty when `stdout` is a terminal (and pino-pretty is installed), JSON lines
 * otherwise, so that a bridge's CI can parse what a developer reads.
 *
 * @example
 * const logger = await createServeLogger({ level: 'info', stdout: process.stdout });
 */
export async function createServeLogger(options: ServeLoggerOptions): Promise<PinoLogger> {
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      options.stdout.write(chunk.toString());
      done();
    },
  });
  if (options.stdout.isTTY === true) {
    try {
      const { default: pretty } = await import('pino-pretty');
      return pino(
        { level: options.level },
        pretty({ destination: sink, colorize: true, ignore: 'pid,hostname', sync: true }),
      );
    } catch {
      // Without pino-pretty a terminal gets the JSON lines too.
    }
  }
  return pino({ level: options.level, base: undefined }, sink);
}

interface UndiciRequest {
  readonly origin?: string | URL;
  readonly method?: string;
  readonly path?: string;
}

/** What a path under an AS's url is, by its last meaningful segments. */
function kindOf(path: string): string {
  if (/\/transactions\/[^/]+$/.test(path)) return 'transaction';
  if (/\/users\/[^/]+$/.test(path)) return 'user query';
  if (/\/rooms\/[^/]+$/.test(path)) return 'alias query';
  if (path.endsWith('/ping')) return 'ping';
  if (path.includes('/thirdparty/')) return 'third-party lookup';
  return 'request';
}

/**
 * Logs one line per request the plugin makes to one of `registrations`: `info` when the AS
 * answered 2xx, `warn` for other answers and network errors. Returns the unsubscribe.
 *
 * @example
 * const stop = logAppserviceTraffic(logger, as.registry.all);
 */
export function logAppserviceTraffic(logger: PinoLogger, registrations: readonly Registration[]): () => void {
  const byOrigin = new Map<string, Registration[]>();
  for (const registration of registrations) {
    if (registration.url === null) continue;
    const url = new URL(registration.url);
    const list = byOrigin.get(url.origin) ?? [];
    list.push(registration);
    byOrigin.set(url.origin, list);
  }
  const started = new WeakMap<object, { asId: string; kind: string; path: string; at: number }>();

  const onCreate = (message: unknown) => {
    const { request } = message as { request: UndiciRequest };
    if (request.origin === undefined || request.path === undefined) return;
    const origin = new URL(String(request.origin)).origin;
    const candidates = byOrigin.get(origin);
    if (candidates === undefined) return;
    const path = request.path.split('?')[0]!;
    // Several ASes may share a host: the longest url path that prefixes this one is the AS.
    let owner = candidates[0]!;
    for (const registration of candidates) {
      if (
        path.startsWith(new URL(registration.url!).pathname.replace(/\/$/, '')) &&
        registration.url!.length > owner.url!.length
      )
        owner = registration;
    }
    started.set(request, { asId: owner.id, kind: kindOf(path), path, at: performance.now() });
  };
  const onHeaders = (message: unknown) => {
    const { request, response } = message as { request: object; response: { statusCode: number } };
    const entry = started.get(request);
    if (entry === undefined) return;
    started.delete(request);
    const fields = {
      appservice: entry.asId,
      path: entry.path,
      status: response.statusCode,
      ms: Math.round(performance.now() - entry.at),
    };
    if (response.statusCode >= 200 && response.statusCode < 300)
      logger.info(fields, `${entry.kind} to ${entry.asId}: ${response.statusCode}`);
    else logger.warn(fields, `${entry.kind} to ${entry.asId} failed: HTTP ${response.statusCode}`);
  };
  const onError = (message: unknown) => {
    const { request, error } = message as { request: object; error: unknown };
    const entry = started.get(request);
    if (entry === undefined) return;
    started.delete(request);
    const reason = error instanceof Error ? error.message : String(error);
    logger.warn(
      { appservice: entry.asId, path: entry.path, reason, ms: Math.round(performance.now() - entry.at) },
      `${entry.kind} to ${entry.asId} failed: ${reason}`,
    );
  };
  diagnostics.subscribe('undici:request:create', onCreate);
  diagnostics.subscribe('undici:request:headers', onHeaders);
  diagnostics.subscribe('undici:request:error', onError);
  return () => {
    diagnostics.unsubscribe('undici:request:create', onCreate);
    diagnostics.unsubscribe('undici:request:headers', onHeaders);
    diagnostics.unsubscribe('undici:request:error', onError);
  };
}
