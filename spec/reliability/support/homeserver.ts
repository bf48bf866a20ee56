/**
 * A homeserver in miniature for the reliability, hostile-input and secrets specs: the fully
 * mounted plugin (`appservices()`), then the homeserver's own routes, which answer alias lookups
 * and registrations from a ToyHost and echo who the request was for. Real HTTP on loopback.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import { request } from 'undici';
import { appservices, MemoryStore, type Appservices } from '../../../lib/index.ts';
import type { AppservicesOptions } from '../../../lib/options.ts';
import type { AppserviceContext, AppserviceState } from '../../../lib/koa/state.ts';
import { ToyHost } from '../../koa/support/toy-host.ts';

export interface Homeserver {
  readonly as: Appservices;
  readonly url: string;
  readonly host: ToyHost;
  /** Requests that reached the homeserver's own routes (past the plugin). */
  readonly reached: { method: string; path: string; userId: string | null }[];
  close(): Promise<void>;
}

export interface Reply {
  status: number;
  body: { errcode?: string; error?: string; [key: string]: unknown };
  ms: number;
}

/** Registration object as a file would hold it. */
export function registrationObject(
  id: string,
  url: string | null,
  options: { exclusive?: boolean; users?: string[]; aliases?: string[] } = {},
): Record<string, unknown> {
  const exclusive = options.exclusive ?? true;
  return {
    id,
    url,
    as_token: `as-token-${id}-0123456789abcdef`,
    hs_token: `hs-token-${id}-fedcba9876543210`,
    sender_localpart: `${id}bot`,
    namespaces: {
      users: (options.users ?? [`@${id}_.*`]).map((regex) => ({ exclusive, regex })),
      aliases: (options.aliases ?? [`#${id}_.*`]).map((regex) => ({ exclusive, regex })),
      rooms: [],
    },
  };
}

export const asToken = (id: string): string => `as-token-${id}-0123456789abcdef`;
export const hsToken = (id: string): string => `hs-token-${id}-fedcba9876543210`;

export async function startHomeserver(
  options: Omit<AppservicesOptions, 'host'> & { host?: ToyHost },
): Promise<Homeserver> {
  const host = options.host ?? new ToyHost('hs.test');
  const as = await appservices({ store: new MemoryStore(), ...options, host });
  const reached: Homeserver['reached'] = [];
  const app = new Koa<AppserviceState, AppserviceContext>();
  app.silent = true;
  app.use(as.middleware());
  app.use(async (ctx) => {
    reached.push({ method: ctx.method, path: ctx.path, userId: ctx.state.userId ?? null });
    const alias = /^\/_matrix\/client\/v3\/directory\/room\/([^/]+)$/.exec(ctx.path);
    if (ctx.method === 'GET' && alias) {
      let decoded: string;
      try {
        decoded = decodeURIComponent(alias[1]!);
      } catch {
        ctx.status = 400;
        ctx.body = { errcode: 'M_INVALID_PARAM', error: 'malformed alias' };
        return;
      }
      const roomId = await host.resolveAlias(decoded);
      ctx.status = roomId === null ? 404 : 200;
      ctx.body = roomId === null ? { errcode: 'M_NOT_FOUND', error: 'Room alias not found' } : { room_id: roomId };
      return;
    }
    ctx.body = { homeserver: true, userId: ctx.state.userId ?? null };
  });
  const server = http.createServer(app.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    as,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    host,
    reached,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await as.close();
    },
  };
}

/** One client request; never throws on a status, parses any JSON body. */
export async function call(
  base: string,
  method: 'GET' | 'POST' | 'PUT' | 'DELETE',
  path: string,
  options: { token?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<Reply> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const started = performance.now();
  const res = await request(`${base}${path}`, {
    method,
    headers,
    body: options.body === undefined ? null : JSON.stringify(options.body),
  });
  const text = await res.body.text();
  let body: Reply['body'];
  try {
    body = JSON.parse(text) as Reply['body'];
  } catch {
    body = { raw: text };
  }
  return { status: res.statusCode, body, ms: performance.now() - started };
}

export const alias = (value: string): string => `/_matrix/client/v3/directory/room/${encodeURIComponent(value)}`;
