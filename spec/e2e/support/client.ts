/**
 * A few lines of Matrix client for the end-to-end specs: JSON in, JSON out, the status kept
 * (sytest's do_request_json_for, more or less).
 */
import { request } from 'undici';

export type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export interface Response {
  readonly status: number;
  readonly body: Json;
}

export interface CallOptions {
  /** Sent as `Authorization: Bearer`. */
  token?: string;
  query?: Record<string, string>;
  body?: unknown;
}

/**
 * @example
 * const api = new Api(hs.url);
 * const res = await api.call('GET', '/_matrix/client/v3/account/whoami', { token });
 */
export class Api {
  readonly #base: string;

  constructor(base: string) {
    this.#base = base;
  }

  async call(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, options: CallOptions = {}): Promise<Response> {
    const qs = options.query === undefined ? '' : `?${new URLSearchParams(options.query)}`;
    const res = await request(`${this.#base}${path}${qs}`, {
      method,
      headers: {
        'content-type': 'application/json',
        ...(options.token === undefined ? {} : { authorization: `Bearer ${options.token}` }),
      },
      body:
        options.body === undefined
          ? method === 'POST' || method === 'PUT'
            ? '{}'
            : undefined
          : JSON.stringify(options.body),
    });
    const text = await res.body.text();
    return { status: res.statusCode, body: text === '' ? {} : (JSON.parse(text) as Json) };
  }

  /** A local user through the dummy auth stage. */
  async register(localpart: string): Promise<{ userId: string; token: string }> {
    const res = await this.call('POST', '/_matrix/client/v3/register', {
      body: { username: localpart, auth: { type: 'm.login.dummy' } },
    });
    if (res.status !== 200) throw new Error(`register ${localpart}: ${res.status} ${JSON.stringify(res.body)}`);
    return { userId: res.body.user_id as string, token: res.body.access_token as string };
  }
}

/** Path segment for an id. */
export const enc = encodeURIComponent;

/**
 * Polls until `find` returns something, at most `timeoutMs` (sytest's await_event).
 *
 * @example
 * const join = await eventually(() => mock.events.find((e) => e.type === 'm.room.member'));
 */
export async function eventually<T>(find: () => T | undefined, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = find();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`nothing matched within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
