/**
 * Which access tokens a request carries and whether one of them is an application service's
 * as_token. Worked out once per request and kept on the context: the fast path asks first, and
 * auth reads the same answer instead of reading the headers and hashing the tokens again.
 */
import type { Context } from 'koa';
import type { Registration } from '../registration/registration.ts';
import { pluginParams } from './query-params.ts';
import { memoOf } from './request-memo.ts';

/** Where the request's access token came from; `query` may repeat, which is never valid. */
export interface AccessTokens {
  header: string | undefined;
  /** True when an Authorization header is present but is no `Bearer <token>`. */
  malformedHeader: boolean;
  query: readonly string[];
}

/** The request's as_token, if any, and where it was. */
export interface TokenOwner {
  readonly tokens: AccessTokens;
  /** The AS whose as_token the request carries (header first). */
  readonly appservice: Registration | undefined;
  /** How many tokens the request carries, header and query together. */
  readonly present: number;
}

/** How much token text the memory of users' tokens may hold (characters); it starts over beyond. */
export const DEFAULT_REMEMBERED_TOKEN_CHARS = 1024 * 1024;
/** At most this many users' tokens are remembered, whatever their size. */
const MAX_REMEMBERED_TOKENS = 10_000;
/** Users' tokens are tens of characters; a longer one is hashed each time rather than held. */
const MAX_REMEMBERED_TOKEN_LENGTH = 1024;

const NO_TOKENS: readonly string[] = [];
// `Bearer <token>`: tested without a capture, so no match array is built on every request.
const BEARER = /^Bearer +\S+\s*$/i;
const BEARER_LENGTH = 'Bearer'.length;
const SPACE = 0x20;

/**
 * The token of an `Authorization: Bearer <token>` header; undefined when the header has another
 * form. Trailing whitespace is dropped: `trimEnd` removes exactly what the pattern's `\s` matches.
 *
 * @example
 * bearerToken('Bearer syt_abc'); // 'syt_abc'
 */
export function bearerToken(authorization: string): string | undefined {
  if (!BEARER.test(authorization)) return undefined;
  let start = BEARER_LENGTH;
  while (authorization.charCodeAt(start) === SPACE) start++;
  return authorization.slice(start).trimEnd();
}

/**
 * The access tokens of a request, from `Authorization: Bearer` and the `access_token` query.
 *
 * @example
 * const { header, query } = accessTokens(ctx);
 */
export function accessTokens(ctx: Context): AccessTokens {
  const memo = memoOf(ctx);
  const known = memo.tokens as AccessTokens | undefined;
  if (known !== undefined) return known;
  const authorization = ctx.get('authorization');
  const header = authorization === '' ? undefined : bearerToken(authorization);
  const malformedHeader = authorization !== '' && header === undefined;
  const query = pluginParams(ctx).access_token ?? NO_TOKENS;
  return (memo.tokens = { header, malformedHeader, query } satisfies AccessTokens);
}

/**
 * Whether the request carries any access token at all (for the 401 `M_MISSING_TOKEN` of register/login).
 *
 * @example
 * if (!hasAccessToken(ctx)) throw new MatrixError(401, 'M_MISSING_TOKEN', 'Missing access token.');
 */
export function hasAccessToken(ctx: Context): boolean {
  const tokens = accessTokens(ctx);
  return tokens.header !== undefined || tokens.malformedHeader || tokens.query.length > 0;
}

/**
 * Finds the AS a request's token belongs to. Users' tokens come back request after request, so
 * the ones already found to be no AS's are remembered and not hashed again. The memory is bounded
 * in count and in characters (a client sending ever new 15 KB tokens must not grow it), and what
 * it holds says nothing about any as_token.
 *
 * @example
 * const owners = new TokenOwners(registry);
 * if (owners.of(ctx).appservice !== undefined) ...
 */
export class TokenOwners {
  readonly #registry: { byAsToken(token: string): Registration | undefined };
  readonly #maxChars: number;
  readonly #onForget: (() => void) | undefined;
  #userTokens = new Set<string>();
  #chars = 0;
  /**
   * The as_token each connection last presented, and its AS. A bridge sends request after request
   * on a few kept-alive connections with one token, and finding an as_token costs a SHA-256 (the
   * registry looks tokens up by digest so that no lookup compares token text). Compared here in
   * time independent of the text, so a connection shared by several clients (a reverse proxy's)
   * tells one of them nothing about another's token but whether the lengths are equal.
   */
  readonly #lastOnConnection = new WeakMap<object, { readonly token: string; readonly registration: Registration }>();

  constructor(
    registry: { byAsToken(token: string): Registration | undefined },
    options: {
      maxRememberedChars?: number;
      /** Called each time the memory is full and forgotten (for metrics). */
      onForget?: () => void;
    } = {},
  ) {
    this.#registry = registry;
    this.#maxChars = options.maxRememberedChars ?? DEFAULT_REMEMBERED_TOKEN_CHARS;
    this.#onForget = options.onForget;
  }

  /** Characters of token text remembered now (for specs and metrics). */
  get rememberedChars(): number {
    return this.#chars;
  }

  /**
   * Whether the request carries an as_token. A user's request with a token already known to be
   * no AS's, in the header and no query string, is answered without building the memo: that is
   * every request of a logged-in client, and none of them needs the plugin.
   */
  carriesAsToken(ctx: Context): boolean {
    if (ctx.querystring === '') {
      const authorization = ctx.get('authorization');
      if (authorization === '') return false;
      const token = bearerToken(authorization);
      if (token === undefined || this.#userTokens.has(token)) return false;
    }
    return this.of(ctx).appservice !== undefined;
  }

  /** The request's token owner, worked out on first use and kept on the context. */
  of(ctx: Context): TokenOwner {
    const memo = memoOf(ctx);
    const known = memo.owner as TokenOwner | undefined;
    if (known !== undefined) return known;
    const tokens = accessTokens(ctx);
    const connection = ctx.req.socket as object | undefined;
    let appservice = tokens.header === undefined ? undefined : this.#lookup(tokens.header, connection);
    for (const token of tokens.query) appservice ??= this.#lookup(token, connection);
    const present = (tokens.header !== undefined || tokens.malformedHeader ? 1 : 0) + tokens.query.length;
    return (memo.owner = { tokens, appservice, present } satisfies TokenOwner);
  }

  #lookup(token: string, connection: object | undefined): Registration | undefined {
    if (this.#userTokens.has(token)) return undefined;
    const last = connection === undefined ? undefined : this.#lastOnConnection.get(connection);
    if (last !== undefined && sameText(last.token, token)) return last.registration;
    const registration = this.#registry.byAsToken(token);
    if (registration !== undefined) {
      if (connection !== undefined) this.#lastOnConnection.set(connection, { token, registration });
      return registration;
    }
    if (token.length > MAX_REMEMBERED_TOKEN_LENGTH) return undefined;
    if (this.#userTokens.size >= MAX_REMEMBERED_TOKENS || this.#chars + token.length > this.#maxChars) {
      this.#userTokens = new Set();
      this.#chars = 0;
      this.#onForget?.();
    }
    this.#userTokens.add(token);
    this.#chars += token.length;
    return undefined;
  }
}

/** Equal strings, compared in time that depends on their length only (no early exit on a difference). */
function sameText(known: string, given: string): boolean {
  if (known.length !== given.length) return false;
  let difference = 0;
  for (let i = 0; i < known.length; i++) difference |= known.charCodeAt(i) ^ given.charCodeAt(i);
  return difference === 0;
}
