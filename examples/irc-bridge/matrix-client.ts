/**
 * The demo bridge's side of the client-server API: every call carries the bridge's as_token and,
 * through identity assertion, the `user_id` of the ghost it acts as and the `ts` of the remote
 * message (timestamp massaging). Nothing here is special to koa-appservice: it is what any AS
 * sends to any homeserver.
 */
import { Agent, request } from 'undici';

export class MatrixCallError extends Error {
  readonly status: number;
  readonly errcode: string | undefined;

  constructor(method: string, path: string, status: number, body: unknown) {
    const errcode = (body as { errcode?: string } | undefined)?.errcode;
    super(`${method} ${path}: ${status} ${errcode ?? ''}`.trim());
    this.status = status;
    this.errcode = errcode;
  }
}

export interface CallOptions {
  /** Identity assertion: act as this user (inside the AS's namespace). */
  userId?: string;
  /** Timestamp massaging: the remote network's time of the message, in ms. */
  ts?: number;
  body?: unknown;
}

/** One line per call, for the narration (never the token). */
export type CallLogger = (line: string) => void;

/**
 * @example
 * const hs = new MatrixAsClient('http://127.0.0.1:8008', asToken);
 * await hs.call('PUT', `/rooms/${roomId}/send/m.room.message/1`, { userId: bob, ts, body: { msgtype: 'm.text', body: 'hi' } });
 */
export class MatrixAsClient {
  readonly #base: string;
  readonly #asToken: string;
  readonly #agent = new Agent({ connections: 4 });
  readonly #log: CallLogger;

  constructor(baseUrl: string, asToken: string, log: CallLogger = () => {}) {
    this.#base = baseUrl.replace(/\/$/, '');
    this.#asToken = asToken;
    this.#log = log;
  }

  /** `path` is relative to `/_matrix/client/v3`; ids in it must already be encoded. */
  async call<T = Record<string, unknown>>(
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    path: string,
    options: CallOptions = {},
  ): Promise<T> {
    const query = new URLSearchParams();
    if (options.userId !== undefined) query.set('user_id', options.userId);
    if (options.ts !== undefined) query.set('ts', String(options.ts));
    const qs = query.size === 0 ? '' : `?${query}`;
    const shown = `${method} ${decodeURIComponent(path)}${options.userId ? ` as ${options.userId}` : ''}${options.ts !== undefined ? ` ts=${options.ts}` : ''}`;
    const res = await request(`${this.#base}/_matrix/client/v3${path}${qs}`, {
      method,
      dispatcher: this.#agent,
      headers: { authorization: `Bearer ${this.#asToken}`, 'content-type': 'application/json' },
      body:
        options.body === undefined
          ? method === 'GET' || method === 'DELETE'
            ? undefined
            : '{}'
          : JSON.stringify(options.body),
    });
    const text = await res.body.text();
    const parsed: unknown = text === '' ? {} : JSON.parse(text);
    this.#log(`${shown} → ${res.statusCode}`);
    if (res.statusCode >= 300) throw new MatrixCallError(method, path, res.statusCode, parsed);
    return parsed as T;
  }

  close(): Promise<void> {
    return this.#agent.close();
  }
}

/**
 * A path segment: ids carry `!`, `#`, `@`, `:` and `/`.
 *
 * @example
 * `/rooms/${seg(roomId)}/join`
 */
export function seg(id: string): string {
  return encodeURIComponent(id);
}
