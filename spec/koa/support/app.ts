/**
 * A real Koa app on loopback for the Koa specs: the plugin's middleware, built by the same
 * `pluginChain()` that `appservices()` mounts, in front of a tiny "homeserver" that answers
 * from a ToyHost and echoes what the plugin left on ctx.state, with real Registry, NamespaceIndex,
 * ExistenceQueries and AppserviceClients talking to MockAppService ASes.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import { request } from 'undici';
import { AppserviceClient } from '../../../lib/client/appservice-client.ts';
import { MatrixError } from '../../../lib/errors.ts';
import { Interest } from '../../../lib/interest.ts';
import { pluginChain } from '../../../lib/koa/chain.ts';
import type { AppserviceContext, AppserviceState } from '../../../lib/koa/state.ts';
import { NamespaceIndex } from '../../../lib/namespace/namespace-index.ts';
import { ExistenceQueries } from '../../../lib/query/existence.ts';
import type { Registration } from '../../../lib/registration/registration.ts';
import { Registry } from '../../../lib/registration/registry.ts';
import { testRegistration } from '../../../lib/testing/registration.ts';
import { ToyHost } from './toy-host.ts';

export interface RegSpec {
  id: string;
  asToken?: string;
  hsToken?: string;
  url?: string | null;
  sender?: string;
  /** [js regex source, exclusive] */
  users?: [string, boolean][];
  aliases?: [string, boolean][];
  protocols?: string[];
  rateLimited?: boolean;
  msc4190?: boolean;
}

/** A Registration built directly, as the loader would produce it. */
export function registration(spec: RegSpec): Registration {
  const rules = (list: [string, boolean][] = []) => list.map(([regex, exclusive]) => ({ regex, exclusive }));
  return testRegistration({
    ...spec,
    senderLocalpart: spec.sender,
    users: rules(spec.users),
    aliases: rules(spec.aliases),
  });
}

export interface Reply {
  status: number;
  body: Record<string, unknown> & { errcode?: string; error?: string };
  text: string;
}

export interface RequestOptions {
  token?: string;
  query?: Record<string, string | string[]>;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface TestApp {
  readonly url: string;
  readonly host: ToyHost;
  readonly registry: Registry;
  readonly queries: ExistenceQueries;
  /** ctx.state as the homeserver's routes saw it, on the last request that reached them. */
  readonly seen: { state?: AppserviceState; body?: unknown; path?: string };
  readonly pinged: string[];
  call(method: string, path: string, options?: RequestOptions): Promise<Reply>;
  close(): Promise<void>;
}

export async function startApp(options: {
  registrations: Registration[];
  host?: ToyHost;
  deadlineMs?: number;
  existenceDeadlineMs?: number;
  legacyLogin?: boolean;
  /** `experimentalFeatures.msc4190`. */
  deviceManagement?: boolean;
}): Promise<TestApp> {
  const host = options.host ?? new ToyHost();
  const registry = new Registry(options.registrations, host.serverName);
  const index = new NamespaceIndex(options.registrations);
  const clients = new Map(
    options.registrations.map((r) => [r.id, new AppserviceClient(r, { connectTimeoutMs: 1_000 })]),
  );
  const queries = new ExistenceQueries(
    { host, registrations: options.registrations, index, client: (id) => clients.get(id)! },
    { deadlineMs: options.existenceDeadlineMs ?? 2_000, retry: { minDelayMs: 10, maxDelayMs: 50 } },
  );
  const pinged: string[] = [];
  const seen: TestApp['seen'] = {};

  const app = new Koa<AppserviceState, AppserviceContext>();
  app.silent = true;
  const interest = new Interest({ host, registrations: options.registrations, index });
  app.use(
    pluginChain({
      registry,
      index,
      host,
      queries,
      interest,
      clientFor: (id) => clients.get(id),
      onPing: (id) => pinged.push(id),
      ...(options.deadlineMs === undefined ? {} : { deadlineMs: options.deadlineMs }),
      ...(options.legacyLogin === undefined ? {} : { legacyLogin: options.legacyLogin }),
      ...(options.deviceManagement === undefined ? {} : { deviceManagement: options.deviceManagement }),
    }),
  );
  app.use(async (ctx) => homeserver(ctx, host, seen));

  const server = http.createServer(app.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    host,
    registry,
    queries,
    seen,
    pinged,
    async call(method, path, opts = {}) {
      const headers: Record<string, string> = { ...opts.headers };
      if (opts.token !== undefined) headers.authorization = `Bearer ${opts.token}`;
      let body: string | undefined;
      if (opts.body !== undefined) {
        body = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
        headers['content-type'] = 'application/json';
      }
      const res = await request(`${url}${path}`, { method: method as 'GET', headers, body, query: opts.query });
      const text = await res.body.text();
      let parsed: Reply['body'] = {};
      try {
        parsed = JSON.parse(text) as Reply['body'];
      } catch {
        // Koa's own plain-text error pages
      }
      return { status: res.statusCode, body: parsed, text };
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.all([...clients.values()].map((c) => c.close()));
    },
  };
}

/** The homeserver's own routes, as small as the specs need. */
async function homeserver(
  ctx: Koa.ParameterizedContext<AppserviceState, AppserviceContext>,
  host: ToyHost,
  seen: TestApp['seen'],
) {
  seen.state = { ...ctx.state };
  seen.path = ctx.path;
  seen.body = (ctx.request as unknown as { body?: unknown }).body;
  const path = ctx.path;
  let m: RegExpExecArray | null;
  if ((m = /^\/_matrix\/client\/v3\/directory\/room\/([^/]+)$/.exec(path)) && ctx.method === 'GET') {
    const roomId = await host.resolveAlias(decodeURIComponent(m[1]!));
    if (roomId === null) throw new MatrixError(404, 'M_NOT_FOUND', 'Room alias not found');
    ctx.body = { room_id: roomId, servers: [host.serverName] };
  } else if ((m = /^\/_matrix\/client\/v3\/profile\/([^/]+)/.exec(path))) {
    if (!(await host.userExists(decodeURIComponent(m[1]!))))
      throw new MatrixError(404, 'M_NOT_FOUND', 'Profile not found');
    ctx.body = {};
  } else if (path === '/_matrix/client/v3/register' && ctx.state.appserviceRegister) {
    const { userId, inhibitLogin } = ctx.state.appserviceRegister;
    host.users.add(userId);
    ctx.body = inhibitLogin ? { user_id: userId } : { user_id: userId, access_token: 'fresh', device_id: 'DEV' };
  } else if ((m = /^\/host-ensure\/(user|alias)\/(.+)$/.exec(path))) {
    const id = decodeURIComponent(m[2]!);
    const { ensureUser, ensureAlias } = ctx; // destructured on purpose: they must not need `this`
    ctx.body = { result: m[1] === 'user' ? await ensureUser(id) : await ensureAlias(id) };
  } else if (path === '/boom') {
    throw new Error('database password is hunter2');
  } else if (path === '/teapot') {
    ctx.throw(418, 'short and stout');
  } else {
    ctx.body = { reached: true };
  }
}
