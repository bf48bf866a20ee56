/**
 * Key proxying for encrypted bridges (MSC3983, MSC3984): when the homeserver has no one-time key
 * left for a user in an AS's exclusive namespace, or wants that user's device keys, it asks the AS
 * that owns the user.
 *
 * Only the exclusive owner is asked (the MSCs: a shared namespace has no single AS responsible
 * for the user), only for local users, and only with what was asked: an AS's answer is filtered to
 * the users and devices put to that AS, so that no AS can inject keys for another AS's users or
 * the homeserver's own. Nothing here throws at the caller for an AS's failure: a down, slow or
 * misbehaving AS shows up as its id in `unavailable`, and the rest of the answer still comes (the
 * MSCs: "an error of any kind (including timeout)" means "no keys from the AS"; the homeserver then
 * uses a fallback key, or its own knowledge of the devices).
 *
 * Each AS is asked once per call (all its users in one request), through the same gate as the
 * user and alias queries' (bounded concurrency and queue, fail fast while it is down) and the same
 * retry policy, all ASes in parallel under one deadline.
 */
import type { AppserviceClient } from '../client/appservice-client.ts';
import type { AbortLike } from '../client/deadline.ts';
import {
  claimKeysOnce,
  isJsonObject,
  queryKeysOnce,
  type JsonObject,
  type KeyClaimBody,
  type KeyQueryBody,
} from '../client/key-requests.ts';
import { isRetryable, withRetries, type RetryOptions } from '../client/retry-policy.ts';
import { AppserviceRequestError } from '../errors.ts';
import type { Registration } from '../registration/registration.ts';
import type { NamespaceMatcher } from './existence.ts';
import type { QueryGate } from './query-gate.ts';

/** What the homeserver wants claimed: user → device → an algorithm, or one algorithm per key wanted. */
export type KeyClaimRequest = Readonly<Record<string, Readonly<Record<string, string | readonly string[]>>>>;
/** What the homeserver wants to know: user → device ids (`[]`: every device). */
export type KeyQueryRequest = Readonly<Record<string, readonly string[]>>;

export interface KeyClaimResult {
  /** user → device → `"algorithm:keyId"` → key object, as the ASes sent them (a fallback key included). */
  readonly oneTimeKeys: Record<string, Record<string, JsonObject>>;
  /** user → device → one algorithm per key still wanted: what the homeserver fills with a fallback key. */
  readonly missing: Record<string, Record<string, string[]>>;
  /** The ASes that were asked and failed (down, timed out, refused the token, sent garbage). */
  readonly unavailable: readonly string[];
}

export interface KeyQueryResult {
  /** user → device → device keys, in the client API's `device_keys` shape. */
  readonly deviceKeys: Record<string, Record<string, JsonObject>>;
  readonly masterKeys: Record<string, JsonObject>;
  readonly selfSigningKeys: Record<string, JsonObject>;
  readonly userSigningKeys: Record<string, JsonObject>;
  /** The ASes that were asked and failed. */
  readonly unavailable: readonly string[];
}

export interface KeyRequestOptions {
  /** The whole budget, every AS and every retry included. Default `queryDeadlineMs`. */
  readonly deadlineMs?: number;
  /** Stop waiting when the client's request goes away. */
  readonly signal?: AbortSignal;
}

export interface KeyProxyDeps {
  readonly serverName: string;
  readonly index: NamespaceMatcher;
  readonly client: (asId: string) => AppserviceClient | undefined;
  /** The AS's query gate, shared with the user and alias queries. */
  readonly gate: (asId: string) => QueryGate;
}

export interface KeyProxySettings {
  /** MSC3983 on (claims are proxied). */
  readonly claim: boolean;
  /** MSC3984 on (queries are proxied). */
  readonly query: boolean;
  readonly deadlineMs: number;
  readonly retry: Pick<RetryOptions, 'minDelayMs' | 'maxDelayMs' | 'maxAttempts'>;
  /** How long an AS that answered "unknown route" is not asked again. */
  readonly unsupportedForMs: number;
}

type Which = 'claim' | 'query';

/**
 * @example
 * const proxy = new KeyProxy({ serverName, index, client: (id) => clients.get(id), gate }, settings);
 * const { oneTimeKeys, missing } = await proxy.claimKeys({ '@irc_bob:hs': { BOB: 'signed_curve25519' } });
 */
export class KeyProxy {
  readonly #deps: KeyProxyDeps;
  readonly #settings: KeyProxySettings;
  /** `which:asId` → until when the AS is not asked, after it said it does not know the route. */
  readonly #unsupported = new Map<string, number>();

  constructor(deps: KeyProxyDeps, settings: KeyProxySettings) {
    this.#deps = deps;
    this.#settings = settings;
  }

  /**
   * MSC3983: claims one-time keys from the ASes that exclusively own the users. Everything not
   * answered (no owner, feature off, AS down, too few keys) is in `missing`.
   *
   * @example
   * const result = await proxy.claimKeys({ '@irc_bob:hs': { BOB: ['signed_curve25519', 'signed_curve25519'] } });
   */
  async claimKeys(request: KeyClaimRequest, options: KeyRequestOptions = {}): Promise<KeyClaimResult> {
    const wanted: Record<string, Record<string, string[]>> = {};
    for (const [userId, devices] of Object.entries(request)) {
      for (const [deviceId, algorithms] of Object.entries(devices)) {
        const list = typeof algorithms === 'string' ? [algorithms] : [...algorithms];
        if (list.length > 0) (wanted[userId] ??= {})[deviceId] = list;
      }
    }
    const oneTimeKeys: Record<string, Record<string, JsonObject>> = {};
    const groups = this.#settings.claim
      ? this.#byOwner(Object.keys(wanted), 'claim')
      : new Map<Registration, string[]>();
    const unavailable = await this.#askAll(
      groups,
      'claim',
      options,
      (users) => pick(wanted, users),
      (users, answer) => {
        for (const userId of users) {
          for (const deviceId of Object.keys(wanted[userId] ?? {})) {
            const keys = objectAt(objectAt(answer, userId), deviceId);
            if (keys !== undefined && Object.keys(keys).length > 0) (oneTimeKeys[userId] ??= {})[deviceId] = keys;
          }
        }
      },
    );
    return { oneTimeKeys, missing: stillMissing(wanted, oneTimeKeys), unavailable };
  }

  /**
   * MSC3984: asks the ASes that exclusively own the users for their device and cross-signing
   * keys. Users no AS answered for are absent from the result.
   *
   * @example
   * const { deviceKeys } = await proxy.queryKeys({ '@irc_bob:hs': [] });
   */
  async queryKeys(request: KeyQueryRequest, options: KeyRequestOptions = {}): Promise<KeyQueryResult> {
    const result: KeyQueryResult = {
      deviceKeys: {},
      masterKeys: {},
      selfSigningKeys: {},
      userSigningKeys: {},
      unavailable: [],
    };
    const groups = this.#settings.query
      ? this.#byOwner(Object.keys(request), 'query')
      : new Map<Registration, string[]>();
    const unavailable = await this.#askAll(
      groups,
      'query',
      options,
      (users) => pick(request, users),
      (users, answer) => {
        const devices = objectAt(answer, 'device_keys');
        for (const userId of users) {
          const asked = request[userId] ?? [];
          const all = objectAt(devices, userId) ?? {};
          const kept = Object.entries(all).filter(
            ([id, keys]) => isJsonObject(keys) && (asked.length === 0 || asked.includes(id)),
          );
          if (kept.length > 0) result.deviceKeys[userId] = Object.fromEntries(kept) as Record<string, JsonObject>;
          copyKey(objectAt(answer, 'master_keys'), userId, result.masterKeys);
          copyKey(objectAt(answer, 'self_signing_keys'), userId, result.selfSigningKeys);
          copyKey(objectAt(answer, 'user_signing_keys'), userId, result.userSigningKeys);
        }
      },
    );
    return { ...result, unavailable };
  }

  /** The local users that one AS with a url owns exclusively, grouped by that AS. */
  #byOwner(userIds: readonly string[], which: Which): Map<Registration, string[]> {
    const groups = new Map<Registration, string[]>();
    const now = performance.now();
    for (const userId of userIds) {
      if (!userId.endsWith(`:${this.#deps.serverName}`)) continue;
      const owners = this.#deps.index.match('users', userId).filter((m) => m.exclusive && m.registration.url !== null);
      // Two exclusive owners is a misconfiguration: neither is trusted with the user's keys.
      if (owners.length !== 1) continue;
      const owner = (owners[0] as (typeof owners)[number]).registration;
      if ((this.#unsupported.get(`${which}:${owner.id}`) ?? 0) > now) continue;
      const list = groups.get(owner);
      if (list === undefined) groups.set(owner, [userId]);
      else list.push(userId);
    }
    return groups;
  }

  /** Asks every AS in parallel; resolves with the ids of those that failed. */
  async #askAll(
    groups: Map<Registration, string[]>,
    which: Which,
    options: KeyRequestOptions,
    bodyFor: (users: readonly string[]) => KeyClaimBody | KeyQueryBody,
    take: (users: readonly string[], answer: JsonObject) => void,
  ): Promise<string[]> {
    const deadlineMs = options.deadlineMs ?? this.#settings.deadlineMs;
    const failed: string[] = [];
    await Promise.all(
      [...groups].map(async ([registration, users]) => {
        const answer = await this.#ask(registration.id, which, bodyFor(users), deadlineMs, options.signal);
        if (answer === 'failed') failed.push(registration.id);
        else if (answer !== null) take(users, answer);
      }),
    );
    return failed.sort();
  }

  async #ask(
    asId: string,
    which: Which,
    body: KeyClaimBody | KeyQueryBody,
    deadlineMs: number,
    signal: AbortSignal | undefined,
  ): Promise<JsonObject | null | 'failed'> {
    const client = this.#deps.client(asId);
    const gate = this.#deps.gate(asId);
    if (client === undefined || gate.refusing()) return 'failed';
    const ask =
      which === 'claim'
        ? (s: AbortLike) => claimKeysOnce(client, body as KeyClaimBody, s)
        : (s: AbortLike) => queryKeysOnce(client, body as KeyQueryBody, s);
    try {
      const answer = await withRetries(asId, (deadline) => gate.attempt(deadline, ask), {
        ...this.#settings.retry,
        deadlineMs,
        signal,
      });
      if (answer === null)
        this.#unsupported.set(`${which}:${asId}`, performance.now() + this.#settings.unsupportedForMs);
      return answer;
    } catch (error) {
      if (!(error instanceof AppserviceRequestError)) throw error; // a bug, not an AS failure
      // The whole budget went on failures that might have passed: callers after us fail fast.
      if (isRetryable(error) && signal?.aborted !== true) gate.markDown();
      return 'failed';
    }
  }
}

function pick<T>(from: Readonly<Record<string, T>>, keys: readonly string[]): Record<string, T> {
  const out: Record<string, T> = {};
  for (const key of keys) if (from[key] !== undefined) out[key] = from[key];
  return out;
}

function objectAt(value: JsonObject | undefined, key: string): JsonObject | undefined {
  const found = value?.[key];
  return isJsonObject(found) ? found : undefined;
}

function copyKey(from: JsonObject | undefined, userId: string, to: Record<string, JsonObject>): void {
  const key = objectAt(from, userId);
  if (key !== undefined) to[userId] = key;
}

/** Each wanted algorithm not covered by a returned key whose id starts with `algorithm:`. */
function stillMissing(
  wanted: Record<string, Record<string, string[]>>,
  got: Record<string, Record<string, JsonObject>>,
): Record<string, Record<string, string[]>> {
  const missing: Record<string, Record<string, string[]>> = {};
  for (const [userId, devices] of Object.entries(wanted)) {
    for (const [deviceId, algorithms] of Object.entries(devices)) {
      const keyIds = Object.keys(got[userId]?.[deviceId] ?? {});
      const left: string[] = [];
      const used = new Set<string>();
      for (const algorithm of algorithms) {
        const match = keyIds.find((id) => !used.has(id) && id.startsWith(`${algorithm}:`));
        if (match === undefined) left.push(algorithm);
        else used.add(match);
      }
      if (left.length > 0) (missing[userId] ??= {})[deviceId] = left;
    }
  }
  return missing;
}
