/**
 * as_token authentication and identity assertion (spec: Application Service API, "Identity
 * assertion", "Timestamp massaging"; MSC3202/MSC4326 device masquerading).
 *
 * A request whose access token is an AS's as_token becomes that AS's request: `ctx.state` gets the
 * AS, the user it acts as, its device, `ts` and `rateLimited`. Any other token, or none, passes
 * through untouched: it is the homeserver's to judge.
 */
import type { Context, Middleware } from 'koa';
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import { MatrixError } from '../errors.ts';
import type { Registration } from '../registration/registration.ts';
import { routeOf } from './route-table.ts';
import { type AppserviceContext, type AppserviceState, type KoaHost, splitUserId } from './state.ts';

/** What auth needs of the registry and the namespace index (Registry and NamespaceIndex fit). */
export interface AuthDeps {
  registry: { byAsToken(token: string): Registration | undefined };
  index: { matches(registration: Registration, kind: 'users', value: string): boolean };
  host: KoaHost;
}

/** Where the request's access token came from; `query` may repeat, which is never valid. */
export interface AccessTokens {
  header: string | undefined;
  /** True when an Authorization header is present but is no `Bearer <token>`. */
  malformedHeader: boolean;
  query: readonly string[];
}

/**
 * The access tokens of a request, from `Authorization: Bearer` and the `access_token` query.
 *
 * @example
 * const { header, query } = accessTokens(ctx);
 */
export function accessTokens(ctx: Context): AccessTokens {
  const authorization = ctx.get('authorization');
  let header: string | undefined;
  let malformedHeader = false;
  if (authorization !== '') {
    const match = /^Bearer +(\S+)\s*$/i.exec(authorization);
    if (match) header = match[1];
    else malformedHeader = true;
  }
  // Skip parsing an empty query string. (A substring test would miss a percent-encoded name.)
  const raw = ctx.querystring === '' ? undefined : ctx.query.access_token;
  const query = raw === undefined ? NO_TOKENS : Array.isArray(raw) ? raw : [raw];
  return { header, malformedHeader, query };
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

const NO_TOKENS: readonly string[] = [];

/**
 * Authenticate application services by as_token and apply their identity assertion.
 *
 * - Both an `Authorization` header and an `access_token` query, when either is an as_token:
 *   `401 M_MISSING_TOKEN` (Synapse and Dendrite refuse the mix; the request is ambiguous).
 * - `user_id` outside the AS's users namespace (and not its sender), or of another server:
 *   `403 M_FORBIDDEN`; a user the AS has not registered yet: `403 M_FORBIDDEN`, except on register.
 * - `device_id` / `org.matrix.msc3202.device_id` the host does not know, or any when the host has
 *   no `deviceExists` to ask: `400 M_UNKNOWN_DEVICE`.
 * - `ts` on send/state that is no non-negative integer: `400 M_INVALID_PARAM`.
 *
 * @example
 * app.use(matrixErrors([authMiddleware({ registry, index, host })]));
 */
export function authMiddleware(deps: AuthDeps): Middleware<AppserviceState, AppserviceContext> {
  const { registry, index, host } = deps;
  const sender = (reg: Registration) => `@${reg.senderLocalpart}:${host.serverName}`;

  return async (ctx, next) => {
    // Fast path: most requests carry a user's token; the lookups are map hits.
    const tokens = accessTokens(ctx);
    const fromHeader = tokens.header === undefined ? undefined : registry.byAsToken(tokens.header);
    let fromQuery: Registration | undefined;
    for (const token of tokens.query) fromQuery ??= registry.byAsToken(token);
    const appservice = fromHeader ?? fromQuery;
    if (appservice === undefined) return next();

    if (!fromAllowedAddress(appservice, ctx.ip)) {
      // Synapse's answer: the token is treated as unknown from anywhere else.
      throw new MatrixError(401, 'M_UNKNOWN_TOKEN', 'Unrecognised access token.');
    }

    const present = (tokens.header !== undefined || tokens.malformedHeader ? 1 : 0) + tokens.query.length;
    if (present > 1) {
      throw new MatrixError(401, 'M_MISSING_TOKEN', 'Mixing Authorization headers and access_token query parameters.');
    }

    const state = ctx.state;
    state.appservice = appservice;
    state.userId = await assertedUser(ctx, appservice);
    // rate_limited: "Whether requests from masqueraded users are rate-limited. The sender is excluded."
    state.rateLimited = appservice.rateLimited && state.userId !== sender(appservice);
    const deviceId = single(ctx, 'device_id') ?? single(ctx, 'org.matrix.msc3202.device_id');
    if (deviceId !== undefined) {
      await checkDevice(host, state.userId, deviceId);
      state.deviceId = deviceId;
    }
    const route = routeOf(ctx)?.name;
    if (route === 'send' || route === 'state' || route === 'canonicalAlias') {
      const ts = single(ctx, 'ts');
      if (ts !== undefined) state.ts = parseTs(ts);
    }
    return next();
  };

  async function assertedUser(ctx: Context, appservice: Registration): Promise<string> {
    const own = sender(appservice);
    const userId = single(ctx, 'user_id');
    if (userId === undefined || userId === own) return own;
    const parts = splitUserId(userId);
    if (parts === undefined || parts.server !== host.serverName || !index.matches(appservice, 'users', userId)) {
      throw new MatrixError(403, 'M_FORBIDDEN', 'Application service cannot masquerade as this user.');
    }
    // Registering is how the AS creates the user, so only there may it name one that does not exist yet.
    const registering = routeOf(ctx)?.name === 'register';
    if (!registering && !(await host.userExists(userId))) {
      throw new MatrixError(403, 'M_FORBIDDEN', 'Application service has not registered this user.');
    }
    return userId;
  }
}

/**
 * A device is asserted only when the host says it belongs to the user: the spec answers `400
 * M_UNKNOWN_DEVICE` when "the given device ID is not known to belong to the user", and without
 * `deviceExists` nobody knows.
 */
async function checkDevice(host: KoaHost, userId: string, deviceId: string): Promise<void> {
  if (host.deviceExists === undefined) {
    throw new MatrixError(400, 'M_UNKNOWN_DEVICE', 'This homeserver does not check devices, so application services cannot act as a device (device_id)');
  }
  if (!(await host.deviceExists(userId, deviceId))) {
    throw new MatrixError(400, 'M_UNKNOWN_DEVICE', 'Application service has not registered this device for this user');
  }
}

const allowLists = new WeakMap<Registration, BlockList>();

/**
 * Whether `address` lies in the registration's `ip_range_whitelist` (any address when it has
 * none). The list is built once per registration; IPv4-mapped IPv6 addresses count as IPv4.
 */
function fromAllowedAddress(registration: Registration, address: string): boolean {
  const ranges = registration.ipRangeWhitelist;
  if (ranges === undefined) return true;
  let list = allowLists.get(registration);
  if (list === undefined) {
    list = new BlockList();
    for (const range of ranges) {
      const [ip = '', bits] = range.split('/');
      const family = isIPv6(ip) ? 'ipv6' : 'ipv4';
      if (bits === undefined) list.addAddress(ip, family);
      else list.addSubnet(ip, Number(bits), family);
    }
    allowLists.set(registration, list);
  }
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return list.check(mapped[1]!, 'ipv4');
  if (isIPv4(address)) return list.check(address, 'ipv4');
  return isIPv6(address) && list.check(address, 'ipv6');
}

/** One query parameter; repeated values are refused rather than picking one silently. */
function single(ctx: Context, name: string): string | undefined {
  const value = ctx.query[name];
  if (value === undefined) return undefined;
  if (Array.isArray(value)) throw new MatrixError(400, 'M_INVALID_PARAM', `Query parameter "${name}" given more than once`);
  return value;
}

/** `origin_server_ts` is a non-negative integer of milliseconds within the canonical JSON range. */
function parseTs(raw: string): number {
  const ts = /^\d{1,16}$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(ts)) throw new MatrixError(400, 'M_INVALID_PARAM', 'ts must be a non-negative integer of milliseconds');
  return ts;
}
