/**
 * The reference homeserver: a small in-memory Matrix homeserver on Koa with koa-appservice
 * mounted. It shows the three places a homeserver touches the library:
 *
 *   1. `appservices({ registrations, host })` at start-up, with a Host over its own data;
 *   2. `app.use(as.middleware())` before its own routes (which then read `ctx.state`);
 *   3. `await as.publish(event)` after persisting each event, before answering the client.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Router from '@koa/router';
import Koa from 'koa';
import { Registry as MetricsRegistry } from 'prom-client';
import {
  appservices,
  type Appservices,
  type AppserviceContext,
  type AppservicesOptions,
  type AppserviceState,
  type Logger,
} from '../../lib/index.ts';
import { clientEvent, HomeserverData } from './data.ts';
import { homeserverHost } from './host.ts';
import { accessLog, jsonBody, matrixErrorBoundary } from './http.ts';
import { RoomOps } from './room-ops.ts';
import { accountDataRoutes } from './routes/account-data.ts';
import { accountRoutes } from './routes/account.ts';
import { crossSigningRoutes } from './routes/cross-signing.ts';
import { deviceRoutes } from './routes/devices.ts';
import { directoryRoutes } from './routes/directory.ts';
import { ephemeralRoutes } from './routes/ephemeral.ts';
import { keyRoutes } from './routes/keys.ts';
import { mediaRoutes } from './routes/media.ts';
import { membershipRoutes } from './routes/membership.ts';
import { messageRoutes } from './routes/messages.ts';
import { profileRoutes } from './routes/profile.ts';
import { roomRoutes } from './routes/rooms.ts';
import { serverRoutes } from './routes/server.ts';
import { stateRoutes } from './routes/state.ts';
import { syncRoutes } from './routes/sync.ts';

export interface HomeserverOptions extends Omit<AppservicesOptions, 'host'> {
  /** Default `localhost`. */
  readonly serverName?: string;
  /** Default 0: an ephemeral port. */
  readonly port?: number;
  /** Default 127.0.0.1. */
  readonly hostname?: string;
}

export interface RunningHomeserver {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  readonly data: HomeserverData;
  readonly as: Appservices;
  /** Ends long-polls, closes the HTTP server, then drains the plugin (senders, pools, store). */
  close(): Promise<void>;
}

/**
 * Starts the reference homeserver.
 *
 * @example
 * const hs = await startHomeserver({ registrations: ['./irc.yaml'], store: new MemoryStore() });
 * console.log(hs.url);
 * await hs.close();
 */
export async function startHomeserver(options: HomeserverOptions): Promise<RunningHomeserver> {
  const { serverName = 'localhost', port = 0, hostname = '127.0.0.1', ...pluginOptions } = options;
  const logger: Logger | undefined = options.logger;
  const data = new HomeserverData(serverName);
  // The plugin's metrics (per-AS up/down, backlog, transactions, query latency) on GET /metrics.
  const metrics = pluginOptions.metricsRegistry ?? new MetricsRegistry();
  const as = await appservices({ ...pluginOptions, metricsRegistry: metrics, host: homeserverHost(data) });
  // Publishing is part of persisting: the client gets its answer only once the ASes' queues hold it.
  data.onPersisted = (event) => as.publish(clientEvent(event));
  data.onEphemeral = (edu) => as.publishEphemeral(edu);
  // MSC3202: device list changes and key counts reach the encrypted bridges in their transactions.
  data.onDeviceListChange = (change) => as.publishDeviceListUpdate(change);
  data.onKeyCounts = (counts) => as.publishKeyCounts(counts);
  // Each AS's own user exists from the start (Synapse does the same), so it can act without registering.
  for (const registration of as.registry.all) {
    const sender = data.userId(registration.senderLocalpart);
    if (!data.users.has(sender)) data.createUser(sender, { appserviceId: registration.id });
  }

  const app = new Koa<AppserviceState, AppserviceContext>();
  app.silent = true;
  const router = new Router<AppserviceState, AppserviceContext>();
  const ops = new RoomOps(data);
  serverRoutes(router, data);
  accountRoutes(router, data, ops);
  profileRoutes(router, data, ops);
  roomRoutes(router, data, ops);
  membershipRoutes(router, data, ops);
  stateRoutes(router, data, ops);
  messageRoutes(router, data, ops);
  ephemeralRoutes(router, data, ops);
  accountDataRoutes(router, data, ops);
  directoryRoutes(router, data, ops);
  mediaRoutes(router, data);
  deviceRoutes(router, data);
  keyRoutes(router, data, as);
  crossSigningRoutes(router, data);
  const stopSync = syncRoutes(router, data);
  router.get('/metrics', async (ctx) => {
    ctx.type = metrics.contentType;
    ctx.body = await metrics.metrics();
  });

  // Outermost, so it logs the status the error boundary settled on.
  if (logger !== undefined) app.use(accessLog(logger));
  app.use(matrixErrorBoundary((err) => logger?.error({ err }, 'reference homeserver: unexpected error')));
  app.use(as.middleware());
  app.use(jsonBody());
  app.use(router.routes());
  app.use(router.allowedMethods());

  const server = http.createServer(app.callback());
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, hostname, () => resolve());
    });
  } catch (error) {
    await as.close();
    throw error;
  }
  const actualPort = (server.address() as AddressInfo).port;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${hostname}:${actualPort}`,
    port: actualPort,
    data,
    as,
    close() {
      closing ??= (async () => {
        stopSync();
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        await closed;
        await as.close();
      })();
      return closing;
    },
  };
}

export { HomeserverData } from './data.ts';
export type { RoomEvent, UserRecord } from './data.ts';
