/**
 * How the plugin reads request paths. Guards must see a request the way the homeserver's router
 * will: routers commonly match case-insensitively (@koa/router's default), and `%65` is the same
 * URL as `e` (RFC 3986, section 6.2.2.2), so `/REGIST%45R` must not slip past the register guard.
 */
import type { Context } from 'koa';

const ENCODED = /%([0-9A-Fa-f]{2})/g;
const UNRESERVED = /^[A-Za-z0-9\-._~]$/;
const ENCODED_UNRESERVED = /%(?:3[0-9]|[46][1-9A-Fa-f]|[57][0-9Aa]|2[DdEe]|5[Ff]|7[Ee])/;

/**
 * `ctx.path` with percent-encoded unreserved characters decoded (ids stay encoded, so `%2F` in an
 * alias is still one segment). Match the result with case-insensitive patterns.
 *
 * @example
 * routePath(ctx); // '/_matrix/client/v3/register' for '/_matrix/client/v3/regist%65r'
 */
export function routePath(ctx: Context): string {
  const path = ctx.path;
  // Ids in paths are percent-encoded (`%21room%3Ahs`), unreserved characters almost never are:
  // test for those before paying for a replace with a callback on every request.
  if (!path.includes('%') || !ENCODED_UNRESERVED.test(path)) return path;
  return path.replace(ENCODED, (whole, hex: string) => {
    const char = String.fromCharCode(Number.parseInt(hex, 16));
    return UNRESERVED.test(char) ? char : whole;
  });
}

/**
 * A path segment decoded; undefined when malformed (the homeserver then answers as it will).
 *
 * @example
 * decode('%23irc_a%3Aexample.org'); // '#irc_a:example.org'
 */
export function decode(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}
