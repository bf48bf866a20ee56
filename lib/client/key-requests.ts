/**
 * The two key-proxy requests of the encrypted-bridge MSCs, one attempt each over an AS's client:
 *
 * - MSC3983, `POST /_matrix/app/unstable/org.matrix.msc3983/keys/claim`: body
 *   `{ userId: { deviceId: [algorithm, ...] } }` (an algorithm once per key wanted), answer
 *   `{ userId: { deviceId: { "algorithm:keyId": key } } }`.
 * - MSC3984, `POST /_matrix/app/unstable/org.matrix.msc3984/keys/query`: body
 *   `{ userId: [deviceId, ...] }` (`[]`: every device), answer shaped like the client API's
 *   `/keys/query` (`device_keys`, `master_keys`, `self_signing_keys`, `user_signing_keys`).
 *
 * Both MSCs have no version check: an AS that does not implement them answers "unknown route",
 * which is an answer ("nothing from me"), not a failure, so it resolves to null here. Any other
 * non-2xx throws an {@link AppserviceRequestError}, so that the retry policy and the query gate
 * treat these requests exactly like user and alias queries.
 */
import { AppserviceRequestError } from '../errors.ts';
import type { AppserviceClient } from './appservice-client.ts';
import type { AbortLike } from './deadline.ts';
import { errcodeOf, isUnrecognized } from './legacy-paths.ts';
import type { RawResponse } from './response.ts';

export const KEY_CLAIM_PATH = '/_matrix/app/unstable/org.matrix.msc3983/keys/claim';
export const KEY_QUERY_PATH = '/_matrix/app/unstable/org.matrix.msc3984/keys/query';

/** MSC3983's request: user → device → one algorithm name per key wanted. */
export type KeyClaimBody = Readonly<Record<string, Readonly<Record<string, readonly string[]>>>>;
/** MSC3984's request: user → device ids, `[]` meaning every device. */
export type KeyQueryBody = Readonly<Record<string, readonly string[]>>;
/** A JSON object as an AS sent it: keys and signatures are passed on, not interpreted. */
export type JsonObject = Record<string, unknown>;

/**
 * One MSC3983 claim. Resolves with the AS's answer (a JSON object), or null when the AS does not
 * know the route.
 *
 * @example
 * const answer = await claimKeysOnce(client, { '@irc_bob:hs': { BOB: ['signed_curve25519'] } }, deadline);
 */
export function claimKeysOnce(
  client: AppserviceClient,
  body: KeyClaimBody,
  signal?: AbortLike,
): Promise<JsonObject | null> {
  return postOnce(client, KEY_CLAIM_PATH, body, signal);
}

/**
 * One MSC3984 query. Resolves with the AS's answer (a JSON object), or null when the AS does not
 * know the route.
 *
 * @example
 * const answer = await queryKeysOnce(client, { '@irc_bob:hs': [] }, deadline);
 * answer?.device_keys; // { '@irc_bob:hs': { BOB: {...} } }
 */
export function queryKeysOnce(
  client: AppserviceClient,
  body: KeyQueryBody,
  signal?: AbortLike,
): Promise<JsonObject | null> {
  return postOnce(client, KEY_QUERY_PATH, body, signal);
}

async function postOnce(
  client: AppserviceClient,
  path: string,
  body: unknown,
  signal: AbortLike | undefined,
): Promise<JsonObject | null> {
  const res = await client.callJson('POST', path, JSON.stringify(body), signal);
  if (res.status >= 200 && res.status < 300) {
    if (!isJsonObject(res.json))
      throw new AppserviceRequestError(client.asId, 'body', `POST ${res.path}: answer is not a JSON object`);
    return res.json;
  }
  if (isUnrecognized(res.status, res.json)) return null;
  throw statusError(client.asId, res);
}

function statusError(asId: string, res: RawResponse): AppserviceRequestError {
  const errcode = errcodeOf(res.json);
  // An errcode is shown only when it looks like one: the message must not carry what an AS echoed.
  const shown = errcode !== undefined && /^[A-Za-z0-9_.]{1,64}$/.test(errcode) ? ` ${errcode}` : '';
  return new AppserviceRequestError(asId, 'status', `POST ${res.path}: HTTP ${res.status}${shown}`, {
    status: res.status,
    body: res.json,
    ...(res.retryAfterMs === undefined ? {} : { retryAfterMs: res.retryAfterMs }),
  });
}

/** Whether a value is a plain JSON object (not null, not an array). */
export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
