/**
 * Prometheus metrics (prom-client) on a registry the homeserver passes in. Nothing here runs on
 * a request's or an event's path except a counter increment or a histogram observation: the
 * gauges (up, backlog) are read from the senders and the store only when Prometheus scrapes.
 *
 * | metric                                              | type      | labels                      |
 * |-----------------------------------------------------|-----------|-----------------------------|
 * | koa_appservice_up                                   | gauge     | appservice                  |
 * | koa_appservice_backlog_items                        | gauge     | appservice                  |
 * | koa_appservice_backlog_oldest_age_seconds           | gauge     | appservice                  |
 * | koa_appservice_transactions_sent_total              | counter   | appservice                  |
 * | koa_appservice_transactions_failed_total            | counter   | appservice                  |
 * | koa_appservice_items_sent_total                     | counter   | appservice, kind            |
 * | koa_appservice_query_duration_seconds               | histogram | kind, outcome               |
 * | koa_appservice_query_cache_hits_total               | counter   | kind                        |
 * | koa_appservice_query_token_rejected_total           | counter   | appservice                  |
 * | koa_appservice_limit_reached_total                  | counter   | limit, appservice (per AS)  |
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { ItemCounts, ItemKind } from './store/store.ts';

/** What the metrics read at scrape time. */
export interface MetricsSources {
  readonly appserviceIds: readonly string[];
  /** Whether the AS answers: its sender is not backing off and its queries are not failing. */
  isUp(asId: string): boolean;
  backlog(asId: string): Promise<{ size: number; oldestEnqueuedAt: number | null }>;
}

export type QueryKind = 'user' | 'alias' | 'key_claim' | 'key_query';
/** `answered`: a key claim or query (MSC3983/3984) got every asked AS's answer. */
export type QueryOutcome = 'exists' | 'absent' | 'unavailable' | 'misconfigured' | 'answered';

/**
 * The plugin's limits an operator may see hit (an attack, or a limit set too low); each counts
 * once per time it is reached. Kept a small fixed set: a label value never comes from a request.
 */
export type LimitName = GlobalLimit | AppserviceLimit;
/** Limits shared by every AS: counted without an `appservice` label. */
export type GlobalLimit =
  | 'request_body' // a body the plugin reads over its bound: 413 M_TOO_LARGE
  | 'invalid_id' // an id outside the grammar: 400 M_INVALID_PARAM, no AS asked
  | 'ids_per_request' // more distinct ids than are asked in one request; the rest not asked
  | 'user_tokens' // the memory of users' tokens known to be no AS's, forgotten at its bound
  | 'asserted_users' // the users ASes were let act as, forgotten at their bound
  | 'existing_users' // the users the host said exist, forgotten at their bound
  | 'thirdparty_cache' // a third-party answer evicted to stay within the cache's bounds
  | 'thirdparty_uncached'; // a third-party query too long to be cached
/** Limits of one AS: counted with its `appservice` label. */
export type AppserviceLimit =
  | 'query_queue' // a user or alias query refused at once: the AS's query queue is full
  | 'thirdparty_queue' // a third-party lookup refused: the AS's slots and queue are taken
  | 'response_bytes'; // an answer of the AS over maxResponseBytes, cut off

/** Told each time a limit is reached; `asId` only for an {@link AppserviceLimit}. Never on the normal path. */
export type LimitHook = (limit: LimitName, asId?: string) => void;

const GLOBAL_LIMITS: readonly GlobalLimit[] = [
  'request_body',
  'invalid_id',
  'ids_per_request',
  'user_tokens',
  'asserted_users',
  'existing_users',
  'thirdparty_cache',
  'thirdparty_uncached',
];
const APPSERVICE_LIMITS: readonly AppserviceLimit[] = ['query_queue', 'thirdparty_queue', 'response_bytes'];

const ITEM_KINDS: readonly ItemKind[] = ['event', 'ephemeral', 'toDevice', 'deviceList', 'keyCounts'];

/**
 * @example
 * const registry = new Registry();
 * const as = await appservices({ registrations, host, metricsRegistry: registry });
 * router.get('/metrics', async (ctx) => { ctx.type = registry.contentType; ctx.body = await registry.metrics(); });
 */
export class Metrics {
  readonly #transactionsSent: Counter<'appservice'>;
  readonly #transactionsFailed: Counter<'appservice'>;
  readonly #deadLetters: Counter<'appservice'>;
  readonly #itemsSent: Counter<'appservice' | 'kind'>;
  readonly #queryDuration: Histogram<'kind' | 'outcome'>;
  readonly #cacheHits: Counter<'kind'>;
  readonly #tokenRejected: Counter<'appservice'>;
  readonly #limitReached: Counter<'limit' | 'appservice'>;

  constructor(registry: Registry, sources: MetricsSources) {
    const registers = [registry];
    new Gauge({
      name: 'koa_appservice_up',
      help: '1 when the application service answers, 0 while its transactions or queries are failing',
      labelNames: ['appservice'],
      registers,
      collect() {
        for (const id of sources.appserviceIds) this.set({ appservice: id }, sources.isUp(id) ? 1 : 0);
      },
    });
    // One store read per AS serves both backlog gauges; the second waits on the first's promise.
    let snapshot: Promise<Map<string, { size: number; oldestEnqueuedAt: number | null }>> | undefined;
    const readBacklogs = () => {
      snapshot ??= (async () => {
        const entries = await Promise.all(
          sources.appserviceIds.map(async (id) => [id, await sources.backlog(id)] as const),
        );
        return new Map(entries);
      })().finally(() => setImmediate(() => (snapshot = undefined)));
      return snapshot;
    };
    new Gauge({
      name: 'koa_appservice_backlog_items',
      help: 'Events, ephemeral events, to-device messages, device list changes and key counts queued for the application service and not yet acknowledged',
      labelNames: ['appservice'],
      registers,
      async collect() {
        for (const [id, backlog] of await readBacklogs()) this.set({ appservice: id }, backlog.size);
      },
    });
    new Gauge({
      name: 'koa_appservice_backlog_oldest_age_seconds',
      help: 'Age of the oldest item queued for the application service, 0 when its queue is empty',
      labelNames: ['appservice'],
      registers,
      async collect() {
        const now = Date.now();
        for (const [id, backlog] of await readBacklogs()) {
          this.set(
            { appservice: id },
            backlog.oldestEnqueuedAt === null ? 0 : Math.max(0, (now - backlog.oldestEnqueuedAt) / 1000),
          );
        }
      },
    });
    this.#transactionsSent = new Counter({
      name: 'koa_appservice_transactions_sent_total',
      help: 'Transactions the application service acknowledged',
      labelNames: ['appservice'],
      registers,
    });
    this.#transactionsFailed = new Counter({
      name: 'koa_appservice_transactions_failed_total',
      help: 'Attempts to send a transaction that failed (each retry counts)',
      labelNames: ['appservice'],
      registers,
    });
    this.#itemsSent = new Counter({
      name: 'koa_appservice_items_sent_total',
      help: 'Items delivered in acknowledged transactions, by kind (event, ephemeral, toDevice, deviceList, keyCounts)',
      labelNames: ['appservice', 'kind'],
      registers,
    });
    this.#deadLetters = new Counter({
      name: 'koa_appservice_dead_letters_total',
      help: 'Items the application service refused even alone (413), set aside for an operator to replay',
      labelNames: ['appservice'],
      registers,
    });
    this.#queryDuration = new Histogram({
      name: 'koa_appservice_query_duration_seconds',
      help: 'Duration of blocking user and alias queries, by outcome (exists, absent, unavailable, misconfigured)',
      labelNames: ['kind', 'outcome'],
      buckets: [0.001, 0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.#cacheHits = new Counter({
      name: 'koa_appservice_query_cache_hits_total',
      help: 'Blocking queries answered from the cache without asking the application service',
      labelNames: ['kind'],
      registers,
    });
    this.#tokenRejected = new Counter({
      name: 'koa_appservice_query_token_rejected_total',
      help: "User and alias queries the application service refused with 401/403: it does not accept the homeserver's hs_token",
      labelNames: ['appservice'],
      registers,
    });
    this.#limitReached = new Counter({
      name: 'koa_appservice_limit_reached_total',
      help: 'Times a limit of the plugin was reached (README, "Security"), by limit; per AS for the limits of one AS',
      labelNames: ['limit', 'appservice'],
      registers,
    });
    for (const limit of GLOBAL_LIMITS) this.#limitReached.inc({ limit }, 0);
    // Zero-valued series from the start, so a dashboard shows 0 rather than "no data".
    for (const id of sources.appserviceIds) {
      this.#transactionsSent.inc({ appservice: id }, 0);
      this.#transactionsFailed.inc({ appservice: id }, 0);
      this.#deadLetters.inc({ appservice: id }, 0);
      this.#tokenRejected.inc({ appservice: id }, 0);
      for (const limit of APPSERVICE_LIMITS) this.#limitReached.inc({ limit, appservice: id }, 0);
      for (const kind of ITEM_KINDS) this.#itemsSent.inc({ appservice: id, kind }, 0);
    }
  }

  transactionSent(asId: string, counts: ItemCounts): void {
    this.#transactionsSent.inc({ appservice: asId });
    for (const kind of ITEM_KINDS) {
      const n = counts[kind] ?? 0;
      if (n > 0) this.#itemsSent.inc({ appservice: asId, kind }, n);
    }
  }

  transactionFailed(asId: string): void {
    this.#transactionsFailed.inc({ appservice: asId });
  }

  deadLettered(asId: string, items: number): void {
    this.#deadLetters.inc({ appservice: asId }, items);
  }

  query(kind: QueryKind, outcome: QueryOutcome, seconds: number): void {
    this.#queryDuration.observe({ kind, outcome }, seconds);
  }

  cacheHit(kind: QueryKind): void {
    this.#cacheHits.inc({ kind });
  }

  tokenRejected(asId: string): void {
    this.#tokenRejected.inc({ appservice: asId });
  }

  /** A limit was reached; `asId` only for an {@link AppserviceLimit}. */
  limitReached(limit: LimitName, asId?: string): void {
    this.#limitReached.inc(asId === undefined ? { limit } : { limit, appservice: asId });
  }
}
