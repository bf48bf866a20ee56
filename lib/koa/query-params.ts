/**
 * The query parameters the plugin reads (`access_token`, `user_id`, `device_id`, `ts`), with the
 * decoding of Koa's `ctx.query` (`+` is a space, malformed percent-escapes stay as they are).
 * `ctx.query` builds a URLSearchParams and an object of every parameter on each request; this
 * scans the raw query string for the one name asked and allocates only for a value it finds, on
 * the path every AS request takes.
 */
import type { Context } from 'koa';
import { unescape } from 'node:querystring';

const AMP = 0x26; // '&'
const EQ = 0x3d; // '='

function decodeComponent(text: string): string {
  const spaced = text.includes('+') ? text.replaceAll('+', ' ') : text;
  if (!spaced.includes('%')) return spaced;
  try {
    return decodeURIComponent(spaced);
  } catch {
    // What `querystring.unescape` falls back to: malformed escapes stay as they are.
    return unescape(spaced);
  }
}

/** Whether the raw name `raw.slice(start, end)` is `name` once decoded. */
function nameIs(raw: string, start: number, end: number, name: string): boolean {
  if (end - start === name.length && raw.startsWith(name, start)) return true;
  // An encoded name (`access%5Ftoken`) is the same parameter; only such names pay for decoding.
  const encoded = raw.indexOf('%', start);
  const plus = raw.indexOf('+', start);
  if ((encoded === -1 || encoded >= end) && (plus === -1 || plus >= end)) return false;
  return decodeComponent(raw.slice(start, end)) === name;
}

/**
 * Every value of the query parameter `name` in a raw query string (no leading `?`), in order;
 * undefined when it is absent.
 *
 * @example
 * queryValuesIn('user_id=%40irc_bob%3Aexample.org&ts=1', 'user_id'); // ['@irc_bob:example.org']
 */
export function queryValuesIn(raw: string, name: string): readonly string[] | undefined {
  let values: string[] | undefined;
  let start = 0;
  while (start < raw.length) {
    let end = raw.indexOf('&', start);
    if (end === -1) end = raw.length;
    if (end > start) {
      let eq = start;
      while (eq < end && raw.charCodeAt(eq) !== EQ) eq++;
      if (nameIs(raw, start, eq, name)) {
        const value = eq === end ? '' : decodeComponent(raw.slice(eq + 1, end));
        if (values === undefined) values = [value];
        else values.push(value);
      }
    }
    start = raw.charCodeAt(end) === AMP ? end + 1 : end;
  }
  return values;
}

/**
 * Every value of the request's query parameter `name`, in order; undefined when it is absent.
 *
 * @example
 * queryValues(ctx, 'user_id'); // ['@irc_bob:example.org']
 */
export function queryValues(ctx: Context, name: string): readonly string[] | undefined {
  const raw = ctx.querystring;
  return raw === '' ? undefined : queryValuesIn(raw, name);
}
