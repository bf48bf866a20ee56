/**
 * `appservices()` itself mounted in a Koa app on loopback, for the specs that check what it wires
 * (options reaching the chain, what it logs at start). The homeserver behind it echoes ctx.state.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import { request } from 'undici';
import { appservices, MemoryStore, type Appservices, type AppservicesOptions } from '../../../lib/index.ts';
import type { AppserviceContext, AppserviceState } from '../../../lib/koa/state.ts';

export interface Mounted {
  readonly as: Appservices;
  /** Every log line: level, message and fields. */
  readonly logs: { level: string; message: string; fields: Record<string, unknown> }[];
  call(
    method: string,
    path: string,
    options?: { token?: string; query?: Record<string, string>; body?: unknown },
  ): Promise<{ status: number; body: Record<string, unknown> }>;
  close(): Promise<void>;
}

/**
 * A registration object as a homeserver's YAML would hold it; no url, so nothing is pushed. Its
 * as_token is `as-<id>-token`: the loader refuses tokens shorter than 8 characters.
 */
export function registrationObject(id: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id,
    url: null,
    as_token: `as-${id}-token`,
    hs_token: `hs-${id}-token`,
    sender_localpart: `${id}bot`,
    namespaces: { users: [{ exclusive: true, regex: `@${id}_.*` }], aliases: [], rooms: [] },
    ...extra,
  };
}

export async function mountAppservices(options: Omit<AppservicesOptions, 'store' | 'logger'>): Promise<Mounted> {
  const logs: Mounted['logs'] = [];
  const at =
    (level: string) =>
    (first: Record<string, unknown> | string, message?: string): void => {
      if (typeof first === 'string') logs.push({ level, message: first, fields: {} });
      else logs.push({ level, message: message ?? '', fields: first });
    };
  const as = await appservices({
    ...options,
    store: new MemoryStore(),
    logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') },
  });
  const app = new Koa<AppserviceState, AppserviceContext>();
  app.silent = true;
  app.use(as.middleware());
  app.use((ctx) => {
    const { userId = null, deviceId = null, deviceManagement = null } = ctx.state;
    ctx.body = { reached: true, userId, deviceId, deviceManagement };
  });
  const server = http.createServer(app.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    as,
    logs,
    async call(method, path, opts = {}) {
      const headers: Record<string, string> = {};
      if (opts.token !== undefined) headers.authorization = `Bearer ${opts.token}`;
      if (opts.body !== undefined) headers['content-type'] = 'application/json';
      const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
      const res = await request(`${url}${path}`, { method: method as 'GET', headers, body, query: opts.query });
      return { status: res.statusCode, body: (await res.body.json()) as Record<string, unknown> };
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await as.close();
    },
  };
}
