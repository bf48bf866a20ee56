/**
 * The Matrix identifier grammar (spec: Appendices, "Identifier Grammar") for the ids a client
 * names in a request the plugin would ask an AS about. An id outside it names nothing an AS could
 * create, and is refused with `400 M_INVALID_PARAM` before any AS hears of it.
 *
 * - User ids: `@localpart:server_name`, at most 255 bytes. The localpart may use the historical
 *   character set servers must still accept (printable ASCII, U+0021 to U+007E, no `:`), so no
 *   NUL, controls, spaces, or anything beyond ASCII (U+202E, U+200B, U+FFFD...).
 * - Room aliases: `#localpart:server_name`, at most 255 bytes. The spec allows any Unicode code
 *   point in the localpart but `:` and NUL; controls and lone surrogates are refused too (they
 *   cannot be written into a path or a log line safely), other code points are the alias's own.
 */
import { LimitError } from './limit-error.ts';

/** The spec's limit on user ids and room aliases, in bytes of UTF-8. */
export const MAX_ID_BYTES = 255;

const USER_LOCALPART = /^[\x21-\x39\x3b-\x7e]+$/;
// Controls (C0, DEL, C1) and lone surrogates; NUL is among the controls.
const ALIAS_FORBIDDEN =
  // eslint-disable-next-line no-control-regex -- matching control characters is this pattern's purpose
  /[\u0000-\u001f\u007f-\u009f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const SERVER_NAME = /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

export type IdKind = 'user' | 'alias';

/**
 * Why `id` is no valid user id or alias, or undefined when it is one.
 *
 * @example
 * invalidId('user', '@irc_bob:example.org'); // undefined
 * invalidId('user', '@irc_b\u202eob:example.org'); // 'the localpart has characters outside the user id grammar'
 */
export function invalidId(kind: IdKind, id: string): string | undefined {
  const sigil = kind === 'user' ? '@' : '#';
  if (!id.startsWith(sigil)) return `it does not start with ${sigil}`;
  if (Buffer.byteLength(id, 'utf8') > MAX_ID_BYTES) return `it is longer than ${MAX_ID_BYTES} bytes`;
  const colon = id.indexOf(':');
  if (colon < 2) return 'it has no localpart and server name';
  const localpart = id.slice(1, colon);
  if (kind === 'user' ? !USER_LOCALPART.test(localpart) : ALIAS_FORBIDDEN.test(localpart)) {
    return `the localpart has characters outside the ${kind === 'user' ? 'user id' : 'alias'} grammar`;
  }
  if (!SERVER_NAME.test(id.slice(colon + 1))) return 'the server name is not valid';
  return undefined;
}

/**
 * Throws `400 M_INVALID_PARAM` for the first id outside the grammar.
 *
 * @example
 * requireValidIds('user', body.invite);
 */
export function requireValidIds(kind: IdKind, ids: readonly string[]): void {
  for (const id of ids) {
    const why = invalidId(kind, id);
    if (why !== undefined) {
      throw new LimitError(
        'invalid_id',
        400,
        'M_INVALID_PARAM',
        `Invalid ${kind === 'user' ? 'user id' : 'room alias'}: ${why}.`,
      );
    }
  }
}
