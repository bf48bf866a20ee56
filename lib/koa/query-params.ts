/**
 * The query parameters the plugin reads (`access_token`, `user_id`, `device_id` and MSC3202's
 * `org.matrix.msc3202.device_id`, `ts`), with the decoding of Koa's `ctx.query` (`+` is a space,
 * malformed percent-escapes stay as they are). `ctx.query` builds a URLSearchParams and an object
 * of every parameter on each request; this reads the raw query string once, decodes only the
 * values of those names, and keeps them on the context, on the path every AS request takes.
 */
import type { Context } from 'koa';
import { unescape } from 'node:querystring';
import { memoOf } from './request-memo.ts';

/** The parameters the plugin reads. */
export type PluginParam = 'access_token' | 'user_id' | 'device_id' | 'org.matrix.msc3202.device_id' | 'ts';

/** Every value of each parameter the plugin reads, in order; absent names are undefined. */
export type PluginParams = { readonly [name in PluginParam]: readonly string[] | undefined };

const NAMES: readonly PluginParam[] = ['access_token', 'user_id', 'device_id', 'org.matrix.msc3202.device_id', 'ts'];
const PERCENT = 0x25; // '%'
const PLUS = 0x2b; // '+'
const NONE: PluginParams = Object.freeze({
  access_token: undefined,
  user_id: undefined,
  device_id: undefined,
  'org.matrix.msc3202.device_id': undefined,
  ts: undefined,
});

/** Values decoded lately, by their raw text: a bridge asserts the same puppets over and over. */
let decoded = new Map<string, string>();
const MAX_DECODED = 1_000;
/** Longer values are decoded each time rather than held. */
const MAX_DECODED_LENGTH = 256;

function decodeComponent(text: string): string {
  const spaced = text.includes('+') ? text.replaceAll('+', ' ') : text;
  if (!spaced.includes('%')) return spaced;
  const known = decoded.get(spaced);
  if (known !== undefined) return known;
  let value: string;
  try {
    value = decodeURIComponent(spaced);
  } catch {
    // What `querystring.unescape` falls back to: malformed escapes stay as they are.
    value = unescape(spaced);
  }
  if (spaced.length <= MAX_DECODED_LENGTH) {
    if (decoded.size >= MAX_DECODED) decoded = new Map();
    decoded.set(spaced, value);
  }
  return value;
}

/** Which of the plugin's parameters the raw name `raw.slice(start, end)` is, once decoded. */
function paramAt(raw: string, start: number, end: number): PluginParam | undefined {
  for (const name of NAMES) if (end - start === name.length && raw.startsWith(name, start)) return name;
  // An encoded name (`access%5Ftoken`, `user+id`) is the same parameter; only such names pay for decoding.
  for (let i = start; i < end; i++) {
    const code = raw.charCodeAt(i);
    if (code === PERCENT || code === PLUS) {
      const name = decodeComponent(raw.slice(start, end));
      return NAMES.find((known) => known === name);
    }
  }
  return undefined;
}

/**
 * The plugin's parameters in a raw query string (no leading `?`).
 *
 * @example
 * paramsIn('user_id=%40irc_bob%3Aexample.org&ts=1').user_id; // ['@irc_bob:example.org']
 */
export function paramsIn(raw: string): PluginParams {
  let params: Record<PluginParam, string[] | undefined> | undefined;
  let start = 0;
  while (start < raw.length) {
    let end = raw.indexOf('&', start);
    if (end === -1) end = raw.length;
    if (end > start) {
      let eq = raw.indexOf('=', start);
      if (eq === -1 || eq > end) eq = end;
      const name = paramAt(raw, start, eq);
      if (name !== undefined) {
        const value = eq === end ? '' : decodeComponent(raw.slice(eq + 1, end));
        params ??= {
          access_token: undefined,
          user_id: undefined,
          device_id: undefined,
          'org.matrix.msc3202.device_id': undefined,
          ts: undefined,
        };
        const values = params[name];
        if (values === undefined) params[name] = [value];
        else values.push(value);
      }
    }
    start = end + 1;
  }
  return params ?? NONE;
}

/**
 * The request's values of the plugin's parameters, read on first use and kept on the context.
 *
 * @example
 * pluginParams(ctx).user_id; // ['@irc_bob:example.org']
 */
export function pluginParams(ctx: Context): PluginParams {
  const memo = memoOf(ctx);
  let params = memo.query as PluginParams | undefined;
  if (params === undefined) {
    const raw = ctx.querystring;
    memo.query = params = raw === '' ? NONE : paramsIn(raw);
  }
  return params;
}
