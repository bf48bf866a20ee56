/**
 * The transport to one application service: user and alias queries, transactions, ping and
 * third-party lookups, over one keep-alive undici `Pool` per AS.
 *
 * Every method makes one attempt (retrying is {@link withRetries}'s job, so that the caller's
 * single deadline covers all attempts) and either resolves with the answer or throws an
 * {@link AppserviceRequestError} whose `kind` says what went wrong. The hs_token travels in the
 * Authorization header (and in the `access_token` query only for registrations that opt in); it
 * is never part of an error message, which names only the method and the path.
 */
import { Pool } from 'undici';
import type { Dispatcher } from 'undici';
import { AppserviceRequestError } from '../errors.ts';
import type { Registration } from '../registration/registration.ts';
import { asRoutes, fallsBack, isUnrecognized, PathPreference, type PathFamily, type Route } from './legacy-paths.ts';
import type { AbortLike } from './deadline.ts';
import type { RawResponse } from './response.ts';
import { exchange } from './exchange.ts';
import { bodyError, statusError } from './request-errors.ts';
import { resolveClientOptions, type AppserviceClientOptions } from './client-options.ts';
export type { AppserviceClientOptions } from './client-options.ts';

interface CallOptions {
  readonly body?: string;
  readonly query?: Readonly<Record<string, string>>;
  readonly signal?: AbortLike | undefined;
  /** A 2xx answer's body is read by no one: discard it unread, whatever its size. */
  readonly discardSuccessBody?: boolean;
}

/**
 * @example
 * const client = new AppserviceClient(registration, { connections: 8 });
 * if (await client.queryAlias('#irc_#matrix:example.org')) {
 *   // the AS has created the room; ask the homeserver again
 * }
 * await client.close();
 */
export class AppserviceClient {
  readonly #registration: Registration;
  /** The AS's origin, or null without a url. */
  readonly #origin: string | null;
  readonly #poolOptions: Pool.Options;
  /**
   * Created on the first request: an undici Pool holds some 17 KB from the start (its request
   * queue), which for a thousand registered bridges that are mostly idle is most of their cost.
   */
  #pool: Pool | undefined;
  #closed = false;
  readonly #basePath: string;
  readonly #cap: { readonly maxBytes: number; readonly onTooLarge: (() => void) | undefined };
  readonly #bodyTimeoutMs: number;
  readonly #paths: PathPreference;
  /** The two header sets, built once: undici reads them, it does not keep or change them. */
  readonly #headers: Readonly<Record<string, string>>;
  readonly #jsonHeaders: Readonly<Record<string, string>>;

  /** @throws OptionsError when an option is not a positive integer. */
  constructor(registration: Registration, options: AppserviceClientOptions = {}) {
    const settings = resolveClientOptions(options);
    this.#registration = registration;
    this.#cap = { maxBytes: settings.maxResponseBytes, onTooLarge: options.onResponseTooLarge };
    this.#bodyTimeoutMs = settings.bodyTimeoutMs;
    this.#paths = new PathPreference(settings.legacyReprobeMs);
    const authorization = `Bearer ${registration.hsToken}`;
    this.#headers = { authorization };
    this.#jsonHeaders = { 'content-type': 'application/json', authorization };
    this.#poolOptions = {
      connections: settings.connections,
      connectTimeout: settings.connectTimeoutMs,
      headersTimeout: settings.headersTimeoutMs,
      bodyTimeout: this.#bodyTimeoutMs,
    };
    if (registration.url === null) {
      this.#origin = null;
      this.#basePath = '';
      return;
    }
    const url = new URL(registration.url);
    this.#origin = url.origin;
    // Synapse appends API paths to the url as written, so a path prefix in the url is kept.
    this.#basePath = url.pathname.replace(/\/+$/, '');
  }

  /** The registration's id, for logs and metrics. */
  get asId(): string {
    return this.#registration.id;
  }

  /** The path family tried first right now: 'legacy' once the AS was found to know only the draft. */
  get pathFamily(): PathFamily {
    return this.#paths.first();
  }

  /**
   * `GET /_matrix/app/v1/users/{userId}`: true when the AS answers 2xx (it has created the user),
   * false on a 404. Any other answer throws.
   *
   * @example
   * await client.queryUser('@irc_alice:example.org'); // true
   */
  queryUser(userId: string, signal?: AbortLike): Promise<boolean> {
    return this.#exists(asRoutes.user(userId), signal);
  }

  /**
   * `GET /_matrix/app/v1/rooms/{roomAlias}`: true when the AS answers 2xx (it has created the room
   * and the alias), false on a 404.
   *
   * @example
   * await client.queryAlias('#irc_#matrix:example.org'); // true
   */
  queryAlias(alias: string, signal?: AbortLike): Promise<boolean> {
    return this.#exists(asRoutes.room(alias), signal);
  }

  /**
   * `PUT /_matrix/app/v1/transactions/{txnId}` with `body` sent byte for byte, so that a retry is
   * exactly the same transaction. Any 2xx is success.
   *
   * @example
   * await client.sendTransaction('42', JSON.stringify({ events: [event] }));
   */
  async sendTransaction(txnId: string, body: string, signal?: AbortLike): Promise<void> {
    // Any 2xx is success, whatever its body (the spec's `{}`, or a bridge's megabytes of debug).
    const res = await this.#call('PUT', asRoutes.transaction(txnId), { body, signal, discardSuccessBody: true });
    if (!isSuccess(res.status)) throw statusError(this.asId, 'PUT', res);
  }

  /**
   * `POST /_matrix/app/v1/ping`, the check behind the client API's ping route.
   *
   * @example
   * const started = performance.now();
   * await client.ping('txn-1');
   * const durationMs = performance.now() - started;
   */
  async ping(transactionId?: string, signal?: AbortLike): Promise<void> {
    const body = JSON.stringify(transactionId === undefined ? {} : { transaction_id: transactionId });
    const res = await this.#call('POST', asRoutes.ping(), { body, signal });
    if (!isSuccess(res.status)) throw statusError(this.asId, 'POST', res);
  }

  /**
   * The third-party lookups: `protocol/{p}`, `location/{p}` and `user/{p}` with a search query, or
   * `location` / `user` (protocol null) with `alias` / `userid`. Resolves with the parsed answer.
   *
   * @example
   * await client.thirdparty('location', 'irc', { server: 'irc.example.net', channel: '#matrix' });
   * await client.thirdparty('user', null, { userid: '@irc_bob:example.org' });
   */
  async thirdparty(
    kind: 'protocol' | 'location' | 'user',
    protocolOrNull: string | null,
    query: Record<string, string>,
    signal?: AbortLike,
  ): Promise<unknown> {
    const res = await this.#call('GET', asRoutes.thirdparty(kind, protocolOrNull), { query, signal });
    if (!isSuccess(res.status)) throw statusError(this.asId, 'GET', res);
    if (res.json === undefined) throw bodyError(this.asId, 'GET', res.path, 'answer is not JSON');
    return res.json;
  }

  /** One attempt of a JSON request on a path outside the v1 family (see lib/client/key-requests.ts). */
  callJson(method: string, path: string, body: string, signal?: AbortLike): Promise<RawResponse> {
    return this.#call(method, { v1: path, legacy: null }, { body, signal });
  }

  /**
   * Lets requests in flight finish (for up to two seconds), then closes the connections.
   *
   * @example
   * await client.close();
   */
  async close(): Promise<void> {
    this.#closed = true;
    const pool = this.#pool;
    if (!pool || pool.closed || pool.destroyed) return;
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), 2_000);
    });
    try {
      if ((await Promise.race([pool.close(), grace])) === 'late') await pool.destroy();
    } finally {
      clearTimeout(timer);
    }
  }

  /** A query: #call's work done inline (one async step less on the path of every uncached query). */
  async #exists(route: Route, signal: AbortLike | undefined): Promise<boolean> {
    const pool = this.#connectionsFor('GET', route);
    const first = route.legacy === null ? 'v1' : this.#paths.first();
    let res = await this.#send(pool, 'GET', pathOf(route, first), { signal });
    if (route.legacy !== null && fallsBack(res.status, res.json)) {
      res = await this.#otherFamily(pool, 'GET', route, { signal }, first, res);
    } else if (first === 'v1' && this.#paths.legacy) this.#paths.learn('v1');
    if (isSuccess(res.status)) {
      // The spec's answer is `{}`; anything that is not a JSON object (`[]` included) is no answer.
      if (typeof res.json !== 'object' || res.json === null || Array.isArray(res.json)) {
        throw bodyError(this.asId, 'GET', res.path, 'answer is not a JSON object');
      }
      return true;
    }
    // 404 is "no such entity". So is an AS that recognises neither path family: it cannot create
    // anything on demand, which for the client is the same as "absent".
    if (res.status === 404 || isUnrecognized(res.status, res.json)) return false;
    throw statusError(this.asId, 'GET', res);
  }

  /**
   * One attempt on the preferred path family, and on the other when the first did not succeed
   * (see {@link fallsBack}); a successful re-probe of v1 ends legacy mode.
   */
  async #call(method: string, route: Route, options: CallOptions): Promise<RawResponse> {
    const pool = this.#connectionsFor(method, route);
    const first = route.legacy === null ? 'v1' : this.#paths.first();
    const res = await this.#send(pool, method, pathOf(route, first), options);
    if (route.legacy !== null && fallsBack(res.status, res.json)) {
      return this.#otherFamily(pool, method, route, options, first, res);
    }
    if (first === 'v1' && this.#paths.legacy) this.#paths.learn('v1');
    return res;
  }

  /** The other family's answer if a success, or if only the first path was unknown; else the first answer. */
  async #otherFamily(
    pool: Pool,
    method: string,
    route: Route,
    options: CallOptions,
    first: PathFamily,
    res: RawResponse,
  ): Promise<RawResponse> {
    const other: PathFamily = first === 'v1' ? 'legacy' : 'v1';
    const retry = await this.#send(pool, method, pathOf(route, other), options);
    const taken =
      isSuccess(retry.status) || (isUnrecognized(res.status, res.json) && !isUnrecognized(retry.status, retry.json));
    if (!taken) return res;
    this.#paths.learn(other);
    return retry;
  }

  #connectionsFor(method: string, route: Route): Pool {
    const pool = this.#connections();
    if (pool === null) {
      throw new AppserviceRequestError(this.asId, 'url-not-set', `${method} ${route.v1}: the registration has no url`);
    }
    return pool;
  }

  /** The pool, created now if this is the first request; null without a url. */
  #connections(): Pool | null {
    if (this.#pool !== undefined) return this.#pool;
    if (this.#origin === null) return null;
    this.#pool = new Pool(this.#origin, this.#poolOptions);
    // After close() a request fails as it does on a closed pool (ClientClosedError), not by
    // opening connections that nothing would close.
    if (this.#closed) void this.#pool.close();
    return this.#pool;
  }

  #send(pool: Pool, method: string, path: string, options: CallOptions): Promise<RawResponse> {
    const fullPath = this.#basePath + path;
    let qs = '';
    if (options.query !== undefined || this.#registration.legacyQueryToken) {
      const search = new URLSearchParams(options.query);
      // Only for ASes that predate the Authorization header: a token in a URL ends up in access logs.
      if (this.#registration.legacyQueryToken) search.set('access_token', this.#registration.hsToken);
      qs = search.toString();
    }
    const request: Dispatcher.DispatchOptions = {
      path: qs ? `${fullPath}?${qs}` : fullPath,
      method: method as Dispatcher.HttpMethod,
      headers: options.body === undefined ? this.#headers : this.#jsonHeaders,
      body: options.body ?? null,
    };
    return exchange(pool, request, {
      asId: this.asId,
      method,
      shownPath: fullPath,
      signal: options.signal,
      maxBytes: this.#cap.maxBytes,
      bodyWithinMs: this.#bodyTimeoutMs,
      onTooLarge: this.#cap.onTooLarge,
      discardSuccessBody: options.discardSuccessBody === true,
    });
  }
}

function pathOf(route: Route, family: PathFamily): string {
  return family === 'legacy' && route.legacy !== null ? route.legacy : route.v1;
}

function isSuccess(status: number): boolean {
  return status >= 200 && status < 300;
}
