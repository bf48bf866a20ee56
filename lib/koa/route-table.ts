/**
 * Matches every client-server API path the plugin looks at (declared in route-specs.ts), once per request.
 * The fast path, auth, the guards, the routes, the interceptors and alias-changes all read the
 * same match (`routeOf(ctx)`), so a path cannot be known to one of them and missed by another.
 *
 * Literal segments match in any case and after decoding percent-encoded unreserved characters
 * (`routePath`), as homeservers' routers commonly match; parameters are percent-decoded, and a
 * parameter that does not decode makes the path no route of ours (the homeserver answers it).
 */
import type { Context } from 'koa';
import { decode, routePath } from './paths.ts';
import { memoOf } from './request-memo.ts';
import { TABLE, type ChainPart, type ClientAuth, type RouteName, type RouteSpec } from './route-specs.ts';

export type { ChainPart, ClientAuth, RouteName } from './route-specs.ts';

/** Every route's name, in table order. */
export const ROUTE_NAMES: readonly RouteName[] = TABLE.map((spec) => spec.name);

/** The parts of the chain acting on each route. */
export const ROUTE_PARTS: ReadonlyMap<RouteName, readonly ChainPart[]> = new Map(
  TABLE.map((spec) => [spec.name, spec.parts]),
);

/** One request's route: which table entry, and its decoded parameters. */
export interface RouteMatch {
  readonly name: RouteName;
  readonly params: Readonly<Record<string, string>>;
  readonly parts: readonly ChainPart[];
  readonly auth: ClientAuth | undefined;
}

interface Segment {
  readonly literal?: string;
  readonly param?: string;
  readonly optional?: boolean;
  readonly rest?: boolean;
}

interface Compiled {
  readonly spec: RouteSpec;
  readonly segments: readonly Segment[];
}

function compile(spec: RouteSpec): Compiled {
  const segments = spec.pattern.split('/').map((part): Segment => {
    if (part === '*') return { rest: true };
    if (part.startsWith(':'))
      return part.endsWith('?') ? { param: part.slice(1, -1), optional: true } : { param: part.slice(1) };
    return { literal: part.toLowerCase() };
  });
  return { spec, segments };
}

/**
 * Entries by their first segment (always a literal) and the methods any of them takes, so that
 * most requests are told apart before the path is split.
 */
const BY_FIRST = new Map<string, { entries: Compiled[]; methods: Set<string> }>();
for (const spec of TABLE) {
  const compiled = compile(spec);
  const first = compiled.segments[0]!.literal!;
  let group = BY_FIRST.get(first);
  if (group === undefined) BY_FIRST.set(first, (group = { entries: [], methods: new Set() }));
  group.entries.push(compiled);
  for (const method of spec.methods) group.methods.add(method);
}

const PREFIX = /^\/_matrix\/client\//i;
const PREFIX_LENGTH = '/_matrix/client/'.length;

function matchEntry(entry: Compiled, parts: readonly string[]): Record<string, string> | undefined {
  const { segments } = entry;
  const params: Record<string, string> = {};
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i]!;
    if (segment.rest) return params;
    const part = parts[i + 1];
    if (part === undefined) return segment.optional && i === segments.length - 1 ? params : undefined;
    if (segment.literal !== undefined) {
      if (part.toLowerCase() !== segment.literal) return undefined;
    } else {
      if (part === '') return undefined;
      const value = decode(part);
      if (value === undefined) return undefined;
      params[segment.param!] = value;
    }
  }
  return parts.length === segments.length + 1 ? params : undefined;
}

/**
 * The route of `method` + `path` (a `routePath`), or null when the plugin has nothing to do with it.
 *
 * @example
 * matchRoute('GET', '/_matrix/client/v3/directory/room/%23irc_a%3Ahs');
 * // { name: 'aliasLookup', params: { alias: '#irc_a:hs' }, parts: ['interceptors'], auth: 'optional' }
 */
export function matchRoute(method: string, path: string): RouteMatch | null {
  // The exact spelling first: nearly every request has it, and it needs no regex.
  if (!path.startsWith('/_matrix/client/') && !PREFIX.test(path)) return null;
  const versionEnd = path.indexOf('/', PREFIX_LENGTH);
  if (versionEnd === -1) return null;
  const firstEnd = path.indexOf('/', versionEnd + 1);
  const group = BY_FIRST.get(path.slice(versionEnd + 1, firstEnd === -1 ? undefined : firstEnd).toLowerCase());
  if (group === undefined || !group.methods.has(method)) return null;
  let rest = path.slice(PREFIX_LENGTH);
  // One trailing slash is the same route (routers commonly ignore it); two are not.
  if (rest.endsWith('/')) rest = rest.slice(0, -1);
  const parts = rest.split('/');
  const version = parts[0]!.toLowerCase();
  for (const entry of group.entries) {
    const { spec } = entry;
    if (!spec.methods.includes(method) || !spec.versions.includes(version)) continue;
    const params = matchEntry(entry, parts);
    if (params !== undefined) return { name: spec.name, params, parts: spec.parts, auth: spec.auth };
  }
  return null;
}

/**
 * Keeps a route matched with `matchRoute` on the context, for the parts that read `routeOf`.
 *
 * @example
 * keepRoute(ctx, matchRoute(ctx.method, routePath(ctx)));
 */
export function keepRoute(ctx: Context, route: RouteMatch | null): void {
  memoOf(ctx).route = route;
}

/**
 * The request's route, matched on first use and kept on the context for every later reader.
 *
 * @example
 * const route = routeOf(ctx);
 * if (route?.name === 'aliasLookup') await ask(ctx, 'alias', [route.params.alias!]);
 */
export function routeOf(ctx: Context): RouteMatch | null {
  const memo = memoOf(ctx);
  let route = memo.route as RouteMatch | null | undefined;
  if (route === undefined) memo.route = route = matchRoute(ctx.method, routePath(ctx));
  return route;
}
