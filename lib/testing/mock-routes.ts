/**
 * Where a request to MockAppService goes, read from its method and path alone: the AS API's v1
 * paths, the unstable prefix (third-party lookups only), and the original draft's unprefixed
 * paths when the mock plays an AS that knows only those.
 */
import { notFound, unrecognized, type Answer } from './mock-http.ts';
import type { MockAppServiceOptions } from './mock-types.ts';

const V1 = '/_matrix/app/v1';
const UNSTABLE = '/_matrix/app/unstable';

export type MockRoute =
  | { readonly kind: 'user' | 'alias' | 'transaction'; readonly arg: string }
  | { readonly kind: 'ping' }
  | { readonly kind: 'thirdparty'; readonly tail: readonly string[] }
  | { readonly kind: 'keys'; readonly which: 'claim' | 'query' }
  | { readonly kind: 'unrecognized' | 'bare-404' };

/**
 * @param legacyOnly `false` for a current AS; otherwise the mock knows only the draft's paths and
 * answers v1 paths (ping aside) with a Matrix `M_UNRECOGNIZED` or, for `'bare'`, a framework 404.
 * @example
 * mockRoute('GET', '/_matrix/app/v1/users/%40a%3Ahs', false); // { kind: 'user', arg: '@a:hs' }
 */
export function mockRoute(method: string, path: string, legacyOnly: false | 'unrecognized' | 'bare'): MockRoute {
  // The MSC3983/3984 key routes exist only under the unstable prefix, whatever the AS's age.
  if (method === 'POST' && path === `${UNSTABLE}/org.matrix.msc3983/keys/claim`)
    return { kind: 'keys', which: 'claim' };
  if (method === 'POST' && path === `${UNSTABLE}/org.matrix.msc3984/keys/query`)
    return { kind: 'keys', which: 'query' };
  const isV1 = path.startsWith(`${V1}/`);
  const isUnstable = path.startsWith(`${UNSTABLE}/`);
  const v1Unknown = legacyOnly !== false && isV1 && !path.startsWith(`${V1}/ping`);
  if (v1Unknown && legacyOnly === 'bare') return { kind: 'bare-404' };
  const legacyUnknown = legacyOnly === false && !isV1;
  if (v1Unknown || legacyUnknown) return { kind: 'unrecognized' };
  const rest = isV1 ? path.slice(V1.length) : isUnstable ? path.slice(UNSTABLE.length) : path;
  const [, head, ...tail] = rest.split('/');
  const arg = tail.length > 0 ? decodeURIComponent(tail.join('/')) : null;
  if (arg !== null && !isUnstable) {
    if (method === 'GET' && head === 'users') return { kind: 'user', arg };
    if (method === 'GET' && head === 'rooms') return { kind: 'alias', arg };
    if (method === 'PUT' && head === 'transactions') return { kind: 'transaction', arg };
  }
  if (method === 'POST' && head === 'ping' && isV1) return { kind: 'ping' };
  if (method === 'GET' && head === 'thirdparty' && (isV1 || isUnstable)) {
    return { kind: 'thirdparty', tail: tail.map(decodeURIComponent) };
  }
  return { kind: 'unrecognized' };
}

/** The answer to `GET thirdparty/{protocol/{p}, location[/{p}], user[/{p}]}`. */
export function thirdpartyAnswer(
  tail: readonly string[],
  query: Readonly<Record<string, string>>,
  options: Pick<MockAppServiceOptions, 'protocols' | 'onThirdparty'>,
): Answer {
  const [kind, protocol] = tail;
  const { access_token: _token, ...search } = query;
  if (kind === 'protocol' && protocol !== undefined) {
    const found = options.protocols?.[protocol];
    return found === undefined ? notFound() : { status: 200, body: found };
  }
  if (kind === 'location' || kind === 'user') {
    return { status: 200, body: options.onThirdparty?.(kind, protocol ?? null, search) ?? [] };
  }
  return unrecognized();
}

/** The answer to an MSC3983 claim or MSC3984 query: the handler's, or "unknown route" without one. */
export function keysAnswer(
  which: 'claim' | 'query',
  body: unknown,
  options: Pick<MockAppServiceOptions, 'onKeysClaim' | 'onKeysQuery'>,
): Answer {
  const handler = which === 'claim' ? options.onKeysClaim : options.onKeysQuery;
  return handler === undefined ? unrecognized() : { status: 200, body: handler(body) };
}
