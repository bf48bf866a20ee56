/**
 * What the plugin works out about a request once (its route, tokens, their owner, the query
 * parameters it reads, the user the host authenticated), kept in one object on the context. One property added to a Koa context,
 * whatever the parts read, keeps the context's shape; a request that needs none of the plugin
 * (no route of ours, no as_token) gets none.
 */
import type { Context } from 'koa';

/** Filled in by the modules that work each fact out; `undefined` until then. */
export interface RequestMemo {
  route: unknown;
  tokens: unknown;
  owner: unknown;
  query: unknown;
  client: unknown;
}

const MEMO = Symbol('koa-appservice.request');
type WithMemo = { [MEMO]?: RequestMemo };

/**
 * The request's memo, created empty on first use.
 *
 * @example
 * const memo = memoOf(ctx);
 * memo.route ??= matchRoute(ctx.method, routePath(ctx));
 */
export function memoOf(ctx: Context): RequestMemo {
  const holder = ctx as unknown as WithMemo;
  let memo = holder[MEMO];
  if (memo === undefined)
    holder[MEMO] = memo = {
      route: undefined,
      tokens: undefined,
      owner: undefined,
      query: undefined,
      client: undefined,
    };
  return memo;
}
