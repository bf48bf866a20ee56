/**
 * `ensureUser` / `ensureAlias`: does this user or alias exist, asking the application services
 * that own its namespace to create it on demand, while a client's request waits.
 *
 * The answer is one of three, and the difference between the last two is the point:
 * - `exists`: the homeserver knows it (already, or after an AS created it during our query);
 * - `absent`: every AS that could own it answered, and none created it: the client gets 404;
 * - `unavailable`: an AS that could own it failed or ran out of time: the client must not be told
 *   "not found" (Synapse does), it gets a retryable error instead;
 * - `misconfigured`: the AS refused the homeserver's hs_token (401/403). No retry and no waiting
 *   will help, and the AS is not down: an operator must fix a token. Logged (at most once a minute
 *   per AS), never cached.
 *
 * Order of work: positive cache, host, negative cache, then the ASes (exclusive owners first, each
 * under the one deadline, retries included). A stale positive answer is harmless (the request goes
 * on to the homeserver, which answers from its own data); a stale negative one would hide a user
 * who now exists, so negative answers are consulted only after the host and live only briefly.
 *
 * Single flight: concurrent callers for one id share one walk through an in-flight map, and the
 * answer lands in a bounded cache with a TTL per kind (lib/query/answer-cache.ts). An uncached
 * query is a few async functions and no named closure per call (under tsx, as the benches run,
 * esbuild's keepNames makes each one a defineProperty, 0.5-0.8 µs):
 * bench/query.ts measures it at about 1.1x of a raw undici GET.
 */
import type { AppserviceClient } from '../client/appservice-client.ts';
import { raceDeadline } from '../client/deadline.ts';
import { isRetryable } from '../client/retry-policy.ts';
import { AppserviceRequestError } from '../errors.ts';
import type { Host } from '../host.ts';
import type { NamespaceKind, Registration } from '../registration/registration.ts';
import { AnswerCache } from './answer-cache.ts';
import { candidatesFor } from './candidates.ts';
import { gatedAsk } from './gated-ask.ts';
import { QueryGate } from './query-gate.ts';
import { isTokenRefusal, TokenRefusals } from './token-refusals.ts';
import { resolveExistenceOptions, type ExistenceOptions, type ExistenceSettings } from './existence-options.ts';

export type { ExistenceOptions } from './existence-options.ts';

export type QueryResult = 'exists' | 'absent' | 'unavailable' | 'misconfigured';

/** The part of the namespace index this module needs. */
export interface NamespaceMatcher {
  match(kind: NamespaceKind, value: string): readonly { registration: Registration; exclusive: boolean }[];
}

export interface ExistenceDeps {
  host: Host;
  registrations: readonly Registration[];
  index: NamespaceMatcher;
  client: (asId: string) => AppserviceClient;
}

export interface EnsureOptions {
  deadlineMs?: number;
  /** Abort when the client's request goes away; the answer is then `unavailable`. */
  signal?: AbortSignal;
}

type Kind = 'users' | 'aliases';
type Known = 'exists' | 'absent';
/** What a walk found; undefined: unavailable. Only Known answers are cached. */
type Found = Known | 'misconfigured' | undefined;
interface WalkContext {
  kind: Kind;
  id: string;
  candidates: readonly Registration[];
  deadlineMs: number;
}

/** For walks whose every caller may have stopped waiting: their failure is seen by no one. */
function ignore(): void {}

/**
 * @example
 * const queries = new ExistenceQueries({ host, registrations, index, client: (id) => clients.get(id)! });
 * switch (await queries.ensureAlias('#irc_#matrix:example.org')) {
 *   case 'exists': return next();
 *   case 'absent': throw new MatrixError(404, 'M_NOT_FOUND', 'Room alias not found');
 *   case 'unavailable': throw new MatrixError(408, 'M_UNKNOWN', 'The bridge did not answer in time');
 * }
 */
export class ExistenceQueries {
  readonly #deps: ExistenceDeps;
  readonly #deadlineMs: number;
  readonly #positiveTtlMs: number;
  readonly #negativeTtlMs: number;
  readonly #settings: ExistenceSettings;
  readonly #onUp: ((asId: string) => void) | undefined;
  readonly #onCacheHit: ((kind: Kind) => void) | undefined;
  readonly #retry: ExistenceSettings['retry'];
  readonly #cache: AnswerCache<Known>;
  /** Walks under way; null only while one is being started (never seen by another caller). */
  readonly #inflight = new Map<string, Promise<Found> | null>();
  readonly #refusals: TokenRefusals;
  readonly #gates = new Map<string, QueryGate>();

  /** @throws OptionsError when an option is out of range or of the wrong type. */
  constructor(deps: ExistenceDeps, options: ExistenceOptions = {}) {
    const settings = resolveExistenceOptions(options);
    this.#deps = deps;
    this.#deadlineMs = settings.deadlineMs;
    this.#positiveTtlMs = settings.positiveTtlMs;
    this.#negativeTtlMs = settings.negativeTtlMs;
    this.#settings = settings;
    this.#onUp = settings.onAppserviceUp;
    this.#onCacheHit = settings.onCacheHit;
    this.#retry = settings.retry;
    this.#refusals = new TokenRefusals(settings.logger, settings.onTokenRejected);
    this.#cache = new AnswerCache<Known>(settings.maxEntries);
  }

  /**
   * Whether `userId` exists, asking the ASes whose users namespace holds it. Only local users
   * (on `host.serverName`) are ever asked about, as the spec's namespaces cover local users only.
   *
   * @example
   * if ((await queries.ensureUser('@irc_bob:example.org')) === 'absent') throw notFound();
   */
  ensureUser(userId: string, options: EnsureOptions = {}): Promise<QueryResult> {
    return this.#ensure('users', userId, options);
  }

  /**
   * Whether `alias` resolves, asking the ASes whose aliases namespace holds it.
   *
   * @example
   * const result = await queries.ensureAlias('#irc_#matrix:example.org', { deadlineMs: 5_000 });
   */
  ensureAlias(alias: string, options: EnsureOptions = {}): Promise<QueryResult> {
    return this.#ensure('aliases', alias, options);
  }

  /**
   * Whether the AS failed recently and has not answered a query since.
   *
   * @example
   * if (queries.isDown('irc')) metrics.appserviceUp.set({ as: 'irc' }, 0);
   */
  isDown(asId: string): boolean {
    return this.#gates.get(asId)?.isDown ?? false;
  }

  /**
   * Forgets that the AS was down (it has just pinged us). Does not call `onAppserviceUp`: the
   * caller knows already.
   *
   * @example
   * queries.markUp('irc');
   */
  markUp(asId: string): void {
    this.#gates.get(asId)?.markUp();
  }

  #ensure(kind: Kind, id: string, options: EnsureOptions): Promise<QueryResult> {
    const key = `${kind === 'users' ? 'u' : 'a'}:${id}`;
    // The cached-positive path stays synchronous up to the returned promise: it is the hot one.
    const cached = this.#cache.get(key);
    if (cached === 'exists') {
      this.#onCacheHit?.(kind);
      return Promise.resolve('exists');
    }
    return this.#resolve(kind, id, key, cached, options);
  }

  /** After a cache miss: host, candidates, the shared walk. `cached` is consulted after the host. */
  async #resolve(
    kind: Kind,
    id: string,
    key: string,
    cached: Known | undefined,
    options: EnsureOptions,
  ): Promise<QueryResult> {
    const deadlineMs = options.deadlineMs ?? this.#deadlineMs;
    const started = performance.now();
    // Host calls are the homeserver's own lookups and are not raced: only AS work has a deadline.
    const { host } = this.#deps;
    if (kind === 'users' ? await host.userExists(id) : (await host.resolveAlias(id)) !== null) {
      this.#cache.set(key, 'exists', this.#positiveTtlMs);
      return 'exists';
    }
    if (!this.#isLocal(id)) return 'absent';
    const candidates = candidatesFor(this.#deps.index.match(kind, id));
    if (candidates.length === 0) return 'absent';
    // Read again: the host lookup may have outlasted the answer's time to live.
    if (cached === 'absent' && this.#cache.get(key) === 'absent') {
      this.#onCacheHit?.(kind);
      return 'absent';
    }
    const remaining = Math.max(0, deadlineMs - (performance.now() - started));
    // Single flight: the first caller for a key starts the walk, every caller until it settles
    // shares its promise. A caller who starts the walk with the default budget is bounded by the
    // walk itself; one who joins, has a shorter budget, or may go away races the shared walk with
    // their own limits.
    let walk = this.#inflight.get(key) ?? undefined;
    const own = walk !== undefined || options.signal !== undefined || deadlineMs < this.#deadlineMs;
    if (walk === undefined) {
      // Marked as starting first: a walk that ends without waiting for anything (every AS refused
      // at once) leaves the map before its promise could be put there, and must stay out of it.
      this.#inflight.set(key, null);
      // The shared walk gets at least the configured budget, so that one impatient caller neither
      // cuts the AS short for everyone else nor gets it marked down for being "slow".
      walk = this.#walk(key, { kind, id, candidates, deadlineMs: Math.max(remaining, this.#deadlineMs) });
      // Every caller may have stopped waiting (deadline, abort) by the time a walk fails.
      walk.catch(ignore);
      if (this.#inflight.has(key)) this.#inflight.set(key, walk);
    }
    const found = own ? await raceDeadline(walk, remaining, options.signal) : await walk;
    return found ?? 'unavailable';
  }

  /**
   * Asks the ASes in turn; undefined (not to be cached) means unavailable. The answer goes into the
   * cache with the TTL of its kind, and the key leaves the in-flight map, when the walk ends.
   */
  async #walk(key: string, context: WalkContext): Promise<Found> {
    const { kind, id, candidates, deadlineMs } = context;
    const { host } = this.#deps;
    const endAt = performance.now() + deadlineMs;
    let failed = false;
    let refused = false;
    try {
      for (const registration of candidates) {
        const asId = registration.id;
        const remaining = endAt - performance.now();
        const gate = this.gateFor(asId);
        if (remaining <= 0 || gate.refusing()) {
          failed = true;
          continue;
        }
        const client = this.#deps.client(asId);
        // A bound method, not a named closure: the same function, cheaper to make (see above).
        const ask = (kind === 'users' ? client.queryUser : client.queryAlias).bind(client, id);
        let said: boolean;
        try {
          said = await gatedAsk(asId, gate, ask, remaining, this.#retry);
        } catch (error) {
          if (!(error instanceof AppserviceRequestError)) throw error; // a bug, not an AS failure
          if (isTokenRefusal(error)) {
            refused = true;
            this.#refusals.report(asId, error);
            continue;
          }
          // The whole budget went on failures that might have passed: callers after us fail fast.
          if (isRetryable(error)) gate.markDown();
          failed = true;
          continue;
        }
        // A 200 only means the AS tried; the entity exists when the homeserver now knows it.
        if (!said) continue;
        if (kind === 'users' ? await host.userExists(id) : (await host.resolveAlias(id)) !== null) {
          this.#cache.set(key, 'exists', this.#positiveTtlMs);
          return 'exists';
        }
      }
    } finally {
      this.#inflight.delete(key);
    }
    // An AS that may yet answer (retry later) says more than one whose token is wrong.
    if (failed) return undefined;
    if (refused) return 'misconfigured';
    this.#cache.set(key, 'absent', this.#negativeTtlMs);
    return 'absent';
  }

  /** The AS's gate; other requests to the AS (key proxying) share its limits and its down state. */
  gateFor(asId: string): QueryGate {
    let gate = this.#gates.get(asId);
    if (gate === undefined) {
      const { concurrency, queueLimit, downForMs, attemptTimeoutMs, onQueueFull } = this.#settings;
      gate = new QueryGate(asId, {
        concurrency,
        queueLimit,
        downForMs,
        attemptTimeoutMs,
        onUp: () => this.#wake(asId),
        ...(onQueueFull === undefined ? {} : { onQueueFull: () => onQueueFull(asId) }),
      });
      this.#gates.set(asId, gate);
    }
    return gate;
  }

  #isLocal(id: string): boolean {
    const colon = id.indexOf(':');
    const server = this.#deps.host.serverName;
    return colon > 0 && id.length === colon + 1 + server.length && id.endsWith(server);
  }

  #wake(asId: string): void {
    try {
      this.#onUp?.(asId);
    } catch {
      // A failing listener must not turn an AS's good answer into a failed query.
    }
  }
}
