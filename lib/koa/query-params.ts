/**
 * The query parameters the plugin reads (`access_token`, `user_id`, `device_id`, `ts`), parsed
 * once per request and kept on the context. Koa's `ctx.query` builds a URLSearchParams and an
 * object of every parameter on each request; this reads the same names with the same decoding
 * (`+` is a space, malformed percent-escapes stay as they are) for a fraction of the cost, on the
 * path every AS request takes.
 */
import type { Context } from 'koa';
import { unescape } from 'node:querystring';
import { memoOf } from './request-memo.ts';

const NONE: ReadonlyMap<string, readonly string[]> = new Map();

function decodeComponent(text: string): string {
  const spaced = text.includes('+') ? text.replaceAll('+', ' ') : text;
  return spaced.includes('%') ? unescape(spaced) : spaced;
}

/**
 * Every value of each query parameter, in order.
 *
 * @example
 * queryParams(ctx).get('user_id'); // ['@irc_bob:example.org']
 */
export function queryParams(ctx: Context): ReadonlyMap<string, readonly string[]> {
  const memo = memoOf(ctx);
  const known = memo.query as ReadonlyMap<string, readonly string[]> | undefined;
  if (known !== undefined) return known;
  const raw = ctx.querystring;
  if (raw === '') return (memo.query = NONE);
  const params = new Map<string, string[]>();
  for (const pair of raw.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const name = decodeComponent(eq === -1 ? pair : pair.slice(0, eq));
    const value = eq === -1 ? '' : decodeComponent(pair.slice(eq + 1));
    const values = params.get(name);
    if (values === undefined) params.set(name, [value]);
    else values.push(value);
  }
  memo.query = params;
  return params;
}
