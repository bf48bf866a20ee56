/**
 * The key-proxy part of the `Appservices` object (MSC3983 claims, MSC3984 queries): what the
 * homeserver's `/keys/claim` and `/keys/query` handlers (client and federation) call for users in
 * an AS's exclusive namespace, timed into the query metrics, switched on by
 * `experimentalFeatures` like Synapse's `msc3983_appservice_otk_claims` and
 * `msc3984_appservice_key_query`.
 */
import { OptionsError } from '../errors.ts';
import type { Metrics } from '../metrics.ts';
import { experimentalDefaults, type ExperimentalFeatures } from '../options.ts';
import type {
  KeyClaimRequest,
  KeyClaimResult,
  KeyProxy,
  KeyQueryRequest,
  KeyQueryResult,
  KeyRequestOptions,
} from '../query/key-proxy.ts';

export type {
  KeyClaimRequest,
  KeyClaimResult,
  KeyQueryRequest,
  KeyQueryResult,
  KeyRequestOptions,
} from '../query/key-proxy.ts';

export interface KeyProxyApi {
  /**
   * MSC3983: the homeserver has no unused one-time key for some devices of users in an AS's
   * exclusive namespace; ask that AS. Never throws for an AS's failure: what no AS supplied is in
   * `missing` (fill it with the device's fallback key), failed ASes in `unavailable`. With
   * `experimentalFeatures.msc3983` off, no AS is asked and everything is `missing`.
   *
   * @example
   * const { oneTimeKeys, missing } = await as.claimKeys({ '@irc_bob:example.org': { BOBDEV: 'signed_curve25519' } });
   */
  claimKeys(request: KeyClaimRequest, options?: KeyRequestOptions): Promise<KeyClaimResult>;
  /**
   * MSC3984: ask the exclusive owners of users for their device and cross-signing keys; merge the
   * answer over the homeserver's own with {@link mergeKeyQuery}. Never throws for an AS's failure.
   * With `experimentalFeatures.msc3984` off, no AS is asked and the result is empty.
   *
   * @example
   * const fromAs = await as.queryKeys({ '@irc_bob:example.org': [] });
   * ctx.body = mergeKeyQuery(ownAnswer, fromAs);
   */
  queryKeys(request: KeyQueryRequest, options?: KeyRequestOptions): Promise<KeyQueryResult>;
}

/**
 * Checks `experimentalFeatures` and fills in the defaults.
 *
 * @example
 * resolveExperimentalFeatures({ msc3983: true }); // { msc3983: true, msc3984: false, msc3202: false, msc4190: false }
 */
export function resolveExperimentalFeatures(value: unknown): Required<ExperimentalFeatures> {
  if (value === undefined) return experimentalDefaults;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new OptionsError('experimentalFeatures', 'must be an object such as { msc3983: true }', 'appservices()');
  }
  const given = value as Record<string, unknown>;
  const resolved = { ...experimentalDefaults };
  for (const [name, on] of Object.entries(given)) {
    if (!(name in experimentalDefaults)) {
      throw new OptionsError(
        'experimentalFeatures',
        `unknown feature "${name}" (known: ${Object.keys(experimentalDefaults).join(', ')})`,
        'appservices()',
      );
    }
    if (on !== undefined && typeof on !== 'boolean') {
      throw new OptionsError(
        'experimentalFeatures',
        `${name} must be a boolean, got ${JSON.stringify(on)}`,
        'appservices()',
      );
    }
    if (on !== undefined) resolved[name as keyof ExperimentalFeatures] = on;
  }
  return resolved;
}

/**
 * @example
 * const api = keyProxyApi(proxy, metrics);
 * await api.claimKeys({ '@irc_bob:example.org': { BOBDEV: 'signed_curve25519' } });
 */
export function keyProxyApi(proxy: KeyProxy, metrics: Metrics | undefined): KeyProxyApi {
  const timed = async <T extends { unavailable: readonly string[] }>(
    kind: 'key_claim' | 'key_query',
    run: () => Promise<T>,
  ): Promise<T> => {
    const started = performance.now();
    const result = await run();
    metrics?.query(
      kind,
      result.unavailable.length === 0 ? 'answered' : 'unavailable',
      (performance.now() - started) / 1000,
    );
    return result;
  };
  return {
    claimKeys: (request, options) => timed('key_claim', () => proxy.claimKeys(request, options)),
    queryKeys: (request, options) => timed('key_query', () => proxy.queryKeys(request, options)),
  };
}

/** The client API's `/keys/query` answer, as far as MSC3984's merge touches it. */
export interface KeysQueryAnswer {
  device_keys?: Record<string, Record<string, unknown>>;
  master_keys?: Record<string, unknown>;
  self_signing_keys?: Record<string, unknown>;
  user_signing_keys?: Record<string, unknown>;
  [key: string]: unknown;
}

/**
 * MSC3984's merge: the AS's keys over the homeserver's, device by device (a device only the
 * homeserver knows stays) and user by user for the cross-signing keys. Returns a new object.
 *
 * @example
 * mergeKeyQuery({ device_keys: { '@b:hs': { OLD: o } } }, { deviceKeys: { '@b:hs': { NEW: n } }, ... });
 * // { device_keys: { '@b:hs': { OLD: o, NEW: n } }, ... }
 */
export function mergeKeyQuery(own: KeysQueryAnswer, fromAppservices: KeyQueryResult): KeysQueryAnswer {
  const deviceKeys: Record<string, Record<string, unknown>> = { ...own.device_keys };
  for (const [userId, devices] of Object.entries(fromAppservices.deviceKeys)) {
    deviceKeys[userId] = { ...deviceKeys[userId], ...devices };
  }
  return {
    ...own,
    device_keys: deviceKeys,
    master_keys: { ...own.master_keys, ...fromAppservices.masterKeys },
    self_signing_keys: { ...own.self_signing_keys, ...fromAppservices.selfSigningKeys },
    user_signing_keys: { ...own.user_signing_keys, ...fromAppservices.userSigningKeys },
  };
}
