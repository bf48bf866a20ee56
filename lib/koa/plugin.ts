/**
 * `appservices()`: loads the registrations and wires every part of the library into one object
 * a homeserver mounts. The parts stay independent (each testable alone); this file only decides
 * who talks to whom:
 *
 *   publish() ─► Interest ─► Publisher ─► Store ─► Senders ─► AppserviceClient ─► AS
 *   client request ─► pluginChain (chain.ts) ─► ExistenceQueries ─► AS
 *   a ping or a good query ─► the AS's sender retries at once
 */
import type { Middleware } from 'koa';
import { AppserviceClient } from '../client/appservice-client.ts';
import type { EphemeralEvent, MatrixEvent, ToDeviceMessage } from '../events.ts';
import { silentLogger, type Logger } from '../logger.ts';
import { Metrics, type QueryKind } from '../metrics.ts';
import { NamespaceIndex } from '../namespace/namespace-index.ts';
import { Interest } from '../interest.ts';
import type { AppservicesOptions } from '../options.ts';
import { resolveOptions } from '../resolve-options.ts';
import type { DeviceKeyCounts, DeviceListUpdate } from '../push/device-input.ts';
import { DeviceRouting } from '../push/device-routing.ts';
import { Publisher } from '../push/publisher.ts';
import { Senders } from '../push/senders.ts';
import { ExistenceQueries, type EnsureOptions, type QueryResult } from '../query/existence.ts';
import { loadRegistrations } from '../registration/load.ts';
import type { Registration } from '../registration/registration.ts';
import { Registry } from '../registration/registry.ts';
import type { EnqueueOptions, Store } from '../store/store.ts';
import { pluginChain } from './chain.ts';
import { deadLetterApi, type DeadLetterApi } from './dead-letter-api.ts';
import { noticeDeviceManagementOff } from './device-management.ts';
import { KeyProxy } from '../query/key-proxy.ts';
import { keyProxyApi, resolveExperimentalFeatures, type KeyProxyApi } from './key-proxy-api.ts';
import type { AppserviceContext, AppserviceState, KoaHost } from './state.ts';

/** What `appservices()` resolves to. */
export interface Appservices extends DeadLetterApi, KeyProxyApi {
  /** Mount before the homeserver's own routes: `app.use(as.middleware())`. */
  middleware(): Middleware<AppserviceState, AppserviceContext>;
  /**
   * Queue a persisted room event for every interested AS; resolves (with their ids) once durable.
   * With PostgresStore, `{ client }` (a pg client inside the homeserver's open transaction) makes
   * the enqueue part of that transaction: it commits or rolls back with the event write.
   */
  publish(event: MatrixEvent, options?: EnqueueOptions): Promise<readonly string[]>;
  /** Typing, receipts, presence: only to ASes that asked for ephemeral events. */
  publishEphemeral(edu: EphemeralEvent): Promise<readonly string[]>;
  /** To-device messages for users in an AS's namespace, to ASes that asked for them. */
  publishToDevice(message: ToDeviceMessage): Promise<readonly string[]>;
  /**
   * MSC3202: a user's device list changed, or (`change: 'left'`, `roomId`) they left a room. Goes
   * to msc3202 ASes interested (README, "Encrypted bridges") with `experimentalFeatures.msc3202`.
   */
  publishDeviceListUpdate(update: DeviceListUpdate): Promise<void>;
  /** MSC3202: a device's one-time key counts or unused fallback key types changed; to its AS. */
  publishKeyCounts(counts: DeviceKeyCounts): Promise<void>;
  /** Block until the AS owning `userId` (if any) had its chance to create it. */
  ensureUser(userId: string, options?: EnsureOptions): Promise<QueryResult>;
  ensureAlias(alias: string, options?: EnsureOptions): Promise<QueryResult>;
  /**
   * Tell the library that a room's aliases changed without a room event (an admin API, say), so
   * that ASes owning the new aliases receive the room's events. Alias changes made through
   * `/directory/room/{alias}` and alias state events are noticed without this.
   */
  roomAliasesChanged(roomId: string): void;
  /** The loaded registrations: by id, by as_token, by sender. */
  readonly registry: Registry;
  readonly store: Store;
  /** Stops the senders (an unacknowledged transaction stays stored for next time), closes pools and the store. */
  close(): Promise<void>;
}

async function defaultStore(path: string): Promise<Store> {
  // Loaded only when needed so that a homeserver on PostgreSQL never loads the SQLite driver.
  const { SqliteStore } = await import('../store/sqlite/sqlite-store.ts');
  return new SqliteStore(path);
}

/**
 * Load the registrations, open the store, start one sender per AS.
 *
 * @example
 * const as = await appservices({ registrations: ['./registrations/*.yaml'], host });
 * app.use(as.middleware());                       // before the homeserver's routes
 * await as.publish(event);                        // after each event is persisted
 * await as.close();
 */
export async function appservices(options: AppservicesOptions): Promise<Appservices> {
  const resolved = resolveOptions(options);
  const experimental = resolveExperimentalFeatures(options.experimentalFeatures);
  const { host } = options;
  const logger: Logger = options.logger ?? silentLogger;

  const registrations: readonly Registration[] = await loadRegistrations(options.registrations);
  const registry = new Registry(registrations, host.serverName);
  const index = new NamespaceIndex(registrations);

  const pushable = registrations.filter((r) => r.url !== null).map((r) => r.id);
  const clients = new Map<string, AppserviceClient>();
  for (const registration of registrations) {
    if (registration.url !== null) {
      clients.set(
        registration.id,
        new AppserviceClient(registration, {
          connections: resolved.connectionsPerAppservice,
          connectTimeoutMs: resolved.connectTimeoutMs,
          headersTimeoutMs: resolved.headersTimeoutMs,
          bodyTimeoutMs: resolved.bodyTimeoutMs,
          maxResponseBytes: resolved.maxResponseBytes,
          legacyReprobeMs: resolved.legacyReprobeMs,
          onResponseTooLarge: () => metrics?.limitReached('response_bytes', registration.id),
        }),
      );
    }
  }
  const clientFor = (asId: string): AppserviceClient | undefined => clients.get(asId);

  const store = options.store ?? (await defaultStore(resolved.databasePath));
  await store.open();

  const senders = new Senders(
    {
      registrations,
      store,
      send: (registration, txnId, body, signal) => {
        const client = clients.get(registration.id);
        if (client === undefined) return Promise.reject(new Error(`no client for appservice "${registration.id}"`));
        return client.sendTransaction(txnId, body, signal);
      },
    },
    {
      backoff: { initialMs: resolved.backoffInitialMs, maxMs: resolved.backoffMaxMs },
      maxTransactionBytes: resolved.maxTransactionBytes,
      onDeadLetter: ({ asId, txnId, items, bytes, reason }) => {
        metrics?.deadLettered(asId, items);
        // Sizes and ids only: an event's content never reaches a log.
        logger.warn(
          { asId, txnId, items, bytes, reason },
          'koa-appservice: the appservice refused an item even alone; set aside as a dead letter',
        );
      },
      onSent: ({ asId, counts }) => metrics?.transactionSent(asId, counts),
      onFailed: ({ asId, txnId, error, failures, retryInMs }) => {
        metrics?.transactionFailed(asId);
        const reason = error instanceof Error ? error.message : String(error);
        logger.warn({ asId, txnId, failures, retryInMs, reason }, 'koa-appservice: transaction failed, backing off');
      },
    },
  );

  const queries = new ExistenceQueries(
    {
      host,
      registrations,
      index,
      client: (asId) => {
        const client = clients.get(asId);
        // Existence never asks an AS without a url, so a miss here is a wiring bug.
        if (client === undefined) throw new Error(`no client for appservice "${asId}"`);
        return client;
      },
    },
    {
      deadlineMs: resolved.queryDeadlineMs,
      positiveTtlMs: resolved.positiveCacheTtlMs,
      negativeTtlMs: resolved.negativeCacheTtlMs,
      maxEntries: resolved.cacheMaxEntries,
      downForMs: resolved.appserviceDownForMs,
      attemptTimeoutMs: resolved.queryAttemptTimeoutMs,
      concurrency: resolved.queryConcurrencyPerAppservice,
      queueLimit: resolved.queryQueuePerAppservice,
      retry: {
        minDelayMs: resolved.queryRetryMinDelayMs,
        maxDelayMs: resolved.queryRetryMaxDelayMs,
        maxAttempts: resolved.queryMaxAttempts,
      },
      onAppserviceUp: (asId) => senders.wake(asId),
      onCacheHit: (kind) => metrics?.cacheHit(kind === 'users' ? 'user' : 'alias'),
      onTokenRejected: (asId) => metrics?.tokenRejected(asId),
      onQueueFull: (asId) => metrics?.limitReached('query_queue', asId),
      logger,
    },
  );

  const metrics =
    options.metricsRegistry === undefined
      ? undefined
      : new Metrics(options.metricsRegistry, {
          appserviceIds: pushable,
          isUp: (asId) => senders.get(asId)?.state !== 'backoff' && !queries.isDown(asId),
          backlog: (asId) => store.backlog(asId),
        });
  // Every blocking query, from a route or from the homeserver, goes through here to be timed.
  const timed = (kind: QueryKind, run: () => Promise<QueryResult>): Promise<QueryResult> => {
    if (metrics === undefined) return run();
    const started = performance.now();
    return run().then((outcome) => {
      metrics.query(kind, outcome, (performance.now() - started) / 1000);
      return outcome;
    });
  };
  const timedQueries = {
    ensureUser: (userId: string, ensureOptions?: EnsureOptions) =>
      timed('user', () => queries.ensureUser(userId, ensureOptions)),
    ensureAlias: (alias: string, ensureOptions?: EnsureOptions) =>
      timed('alias', () => queries.ensureAlias(alias, ensureOptions)),
  };

  const keyProxy = new KeyProxy(
    { serverName: host.serverName, index, client: clientFor, gate: (asId) => queries.gateFor(asId) },
    {
      claim: experimental.msc3983,
      query: experimental.msc3984,
      deadlineMs: resolved.queryDeadlineMs,
      retry: {
        minDelayMs: resolved.queryRetryMinDelayMs,
        maxDelayMs: resolved.queryRetryMaxDelayMs,
        maxAttempts: resolved.queryMaxAttempts,
      },
      unsupportedForMs: resolved.legacyReprobeMs,
    },
  );

  const interest = new Interest({ host, registrations, index });
  if (host.joinedRooms === undefined) {
    logger.info(
      { feature: 'contextual presence', hook: 'Host.joinedRooms' },
      'koa-appservice: feature off: presence goes only to ASes whose namespace holds the user; implement Host.joinedRooms to also send it to ASes sharing a room with the user',
    );
  }
  if ((host as KoaHost).deviceExists === undefined) {
    logger.info(
      { feature: 'device masquerading', hook: 'deviceExists' },
      'koa-appservice: feature off: a device_id from an application service is refused (400 M_UNKNOWN_DEVICE); implement deviceExists on the host to check and accept it',
    );
  }
  noticeDeviceManagementOff(registrations, experimental.msc4190, logger);
  const publisher = new Publisher({ store, interest, registrations, onEnqueued: (asIds) => senders.notify(asIds) });
  const devices = new DeviceRouting({ registrations, interest, enabled: experimental.msc3202 });
  // With a store shared by several processes, another process may publish for an AS whose sender
  // runs here; the store tells us so (PostgresStore: LISTEN/NOTIFY). null means "check them all".
  const unsubscribe = store.onEnqueued?.((asIds) => senders.notify(asIds ?? pushable));
  senders.start();

  const middleware = pluginChain({
    registry,
    index,
    host,
    queries: timedQueries,
    interest,
    clientFor,
    deadlineMs: resolved.queryDeadlineMs,
    legacyLogin: resolved.legacyLogin,
    deviceManagement: experimental.msc4190,
    logger,
    ...(metrics === undefined ? {} : { onLimit: (limit, asId) => metrics.limitReached(limit, asId) }),
    onPing: (asId) => {
      queries.markUp(asId);
      senders.wake(asId);
    },
  });

  let closed: Promise<void> | undefined;
  return {
    middleware: () => middleware,
    publish: (event, publishOptions) => publisher.publish(event, publishOptions),
    publishEphemeral: (edu) => publisher.publishEphemeral(edu),
    publishToDevice: (message) => publisher.publishToDevice(message),
    publishDeviceListUpdate: async (update) => void (await publisher.publishItems(devices.deviceListItems(update))),
    publishKeyCounts: async (counts) => void (await publisher.publishItems(devices.keyCountsItems(counts))),
    ensureUser: timedQueries.ensureUser,
    ensureAlias: timedQueries.ensureAlias,
    roomAliasesChanged: (roomId) => interest.forgetRoomAliases(roomId),
    ...deadLetterApi(store, (asIds) => senders.notify(asIds)),
    ...keyProxyApi(keyProxy, metrics),
    registry,
    store,
    close: () => {
      closed ??= (async () => {
        unsubscribe?.();
        await senders.stop();
        await Promise.all([...clients.values()].map((client) => client.close()));
        await store.close();
      })();
      return closed;
    },
  };
}
