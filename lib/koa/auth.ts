/**
 * as_token authentication and identity assertion (spec: Application Service API, "Identity
 * assertion", "Timestamp massaging"; MSC3202/MSC4326 device masquerading).
 *
 * A request whose access token is an AS's as_token becomes that AS's request: `ctx.state` gets the
 * AS, the user it acts as, its device, `ts` and `rateLimited`. Any other token, or none, is the
 * homeserver's to judge, except on the routes where the plugin would work for the client (ask an
 * AS): there the host's `authenticate` is asked first, and an unknown or missing token is a 401
 * before any AS hears of the request (see `ClientAuth` in route-table.ts).
 */
import type { Context, Middleware } from 'koa';
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import { MatrixError } from '../errors.ts';
import type { LimitHook } from '../metrics.ts';
import type { Registration } from '../registration/registration.ts';
import { TokenOwners, type TokenOwner } from './as-token.ts';
import { createsAssertedDevice, type DeviceManagementSettings } from './device-management.ts';
import { pluginParams, type PluginParam } from './query-params.ts';
import { memoOf } from './request-memo.ts';
import { routeOf, type ClientAuth } from './route-table.ts';
import { type AppserviceContext, type AppserviceState, type KoaHost, splitUserId } from './state.ts';

/** What auth needs of the registry and the namespace index (Registry and NamespaceIndex fit). */
export interface AuthDeps {
  registry: { byAsToken(token: string): Registration | undefined };
  index: { matches(registration: Registration, kind: 'users', value: string): boolean };
  host: KoaHost;
  /** Shared with the fast path so a request's tokens are looked up once; one is made when absent. */
  owners?: TokenOwners;
  /** MSC4190: lets an AS that manages devices assert the device its `PUT /devices/{deviceId}` creates. */
  devices?: DeviceManagementSettings;
  /** Told when a memory of users (`asserted_users`, `existing_users`) is full and forgotten. */
  onLimit?: LimitHook;
}

/**
 * Authenticate application services by as_token and apply their identity assertion.
 *
 * - Both an `Authorization` header and an `access_token` query, when either is an as_token:
 *   `401 M_MISSING_TOKEN` (Synapse and Dendrite refuse the mix; the request is ambiguous).
 * - `user_id` outside the AS's users namespace (and not its sender), or of another server:
 *   `403 M_FORBIDDEN`; a user the AS has not registered yet: `403 M_FORBIDDEN`, except on register.
 * - `device_id` / `org.matrix.msc3202.device_id` the host does not know, or any when the host has
 *   no `deviceExists` to ask: `400 M_UNKNOWN_DEVICE`; except the device an MSC4190 AS creates with
 *   `PUT /devices/{deviceId}` (device-management.ts).
 * - `ts` on send/state that is no non-negative integer: `400 M_INVALID_PARAM`.
 * - Anyone else, on a route whose `auth` (route-table.ts) says the plugin may work for the client:
 *   `host.authenticate(token)`; no token where one is required `401 M_MISSING_TOKEN`, a token the
 *   host does not know `401 M_UNKNOWN_TOKEN`.
 *
 * @example
 * const auth = authMiddleware({ registry, index, host }); // first in pluginChain
 */
export function authMiddleware(deps: AuthDeps): Middleware<AppserviceState, AppserviceContext> {
  const authenticate = requestAuthenticator(deps);
  return async (ctx, next) => {
    const checking = authenticate(ctx);
    if (checking !== undefined) await checking;
    return next();
  };
}

/**
 * What `authMiddleware` does before it lets the request on, as a function of the context alone
 * (throws a `MatrixError` to refuse), for a chain that calls the next middleware itself.
 *
 * @example
 * const authenticate = requestAuthenticator({ registry, index, host });
 * await authenticate(ctx); // ctx.state.appservice, userId... set for an AS's request
 */
export function requestAuthenticator(deps: AuthDeps): (ctx: Context) => Promise<void> | undefined {
  const { registry, index, host, devices, onLimit } = deps;
  const owners = deps.owners ?? new TokenOwners(registry);
  const senders = new WeakMap<Registration, string>();
  const sender = (reg: Registration): string => {
    let id = senders.get(reg);
    if (id === undefined) senders.set(reg, (id = `@${reg.senderLocalpart}:${host.serverName}`));
    return id;
  };
  // Users the host said exist. Matrix never frees a user id (a deactivated user still exists), so
  // a yes stays true; remembering it spares a bridge's puppets a host lookup on every request.
  let existing = new Set<string>();
  // Per AS, the users it was let act as: in its namespace (registrations never change while the
  // index lives) and existing. A bridge asserts the same puppets request after request; this
  // spares them the namespace regexes too. Per AS, so one AS's answer never lets another through.
  let asserted = new WeakMap<Registration, Set<string>>();
  let assertedCount = 0;
  const remember = (registration: Registration, userId: string): void => {
    if (assertedCount >= MAX_REMEMBERED_USERS) {
      asserted = new WeakMap();
      assertedCount = 0;
      onLimit?.('asserted_users');
    }
    let users = asserted.get(registration);
    if (users === undefined) asserted.set(registration, (users = new Set()));
    users.add(userId);
    assertedCount++;
  };

  // Synchronous unless the host has to be asked: most AS requests then run in the same tick.
  return (ctx) => {
    const owner = owners.of(ctx);
    const { appservice, present } = owner;
    if (appservice === undefined) {
      const level = routeOf(ctx)?.auth;
      return level === undefined ? undefined : authenticateClient(ctx, level, owner);
    }

    if (appservice.ipRangeWhitelist !== undefined && !fromAllowedAddress(appservice, ctx.ip)) {
      // Synapse's answer: the token is treated as unknown from anywhere else.
      throw new MatrixError(401, 'M_UNKNOWN_TOKEN', 'Unrecognised access token.');
    }

    if (present > 1) {
      throw new MatrixError(401, 'M_MISSING_TOKEN', 'Mixing Authorization headers and access_token query parameters.');
    }

    const state = ctx.state as AppserviceState;
    state.appservice = appservice;
    state.rateLimited = appservice.rateLimited;
    const own = sender(appservice);
    const userId = single(ctx, 'user_id');
    if (userId === undefined || userId === own) {
      state.userId = own;
      return device(ctx, state, own);
    }
    if (asserted.get(appservice)?.has(userId) === true) {
      state.userId = userId;
      return device(ctx, state, userId);
    }
    const parts = splitUserId(userId);
    if (parts === undefined || parts.server !== host.serverName || !index.matches(appservice, 'users', userId)) {
      throw new MatrixError(403, 'M_FORBIDDEN', 'Application service cannot masquerade as this user.');
    }
    // Registering is how the AS creates the user, so only there may it name one that does not exist yet.
    if (existing.has(userId)) {
      remember(appservice, userId);
      state.userId = userId;
      return device(ctx, state, userId);
    }
    if (routeOf(ctx)?.name === 'register') {
      state.userId = userId;
      return device(ctx, state, userId);
    }
    return host.userExists(userId).then((exists) => {
      if (!exists) throw new MatrixError(403, 'M_FORBIDDEN', 'Application service has not registered this user.');
      if (existing.size >= MAX_REMEMBERED_USERS) {
        existing = new Set();
        onLimit?.('existing_users');
      }
      existing.add(userId);
      remember(appservice, userId);
      state.userId = userId;
      return device(ctx, state, userId);
    });
  };

  /** The device the AS acts as, then its timestamp massaging. */
  function device(ctx: Context, state: AppserviceState, userId: string): Promise<void> | undefined {
    // rate_limited: "Whether requests from masqueraded users are rate-limited. The sender is excluded."
    if (state.rateLimited && userId === sender(state.appservice!)) state.rateLimited = false;
    const deviceId = single(ctx, 'device_id') ?? single(ctx, 'org.matrix.msc3202.device_id');
    if (deviceId === undefined) {
      timestamp(ctx, state);
      return undefined;
    }
    // MSC4190: the device this request creates is unknown until the host has created it.
    if (devices !== undefined && createsAssertedDevice(ctx, state.appservice!, deviceId, devices)) {
      state.deviceId = deviceId;
      return undefined;
    }
    // The spec answers 400 M_UNKNOWN_DEVICE when "the given device ID is not known to belong to the
    // user"; without deviceExists nobody knows, so no device is ever asserted unchecked.
    if (host.deviceExists === undefined) {
      throw new MatrixError(
        400,
        'M_UNKNOWN_DEVICE',
        'This homeserver does not check devices, so application services cannot act as a device (device_id)',
      );
    }
    return host.deviceExists(userId, deviceId).then((known) => {
      if (!known)
        throw new MatrixError(
          400,
          'M_UNKNOWN_DEVICE',
          'Application service has not registered this device for this user',
        );
      state.deviceId = deviceId;
      timestamp(ctx, state);
    });
  }

  function timestamp(ctx: Context, state: AppserviceState): void {
    const route = routeOf(ctx)?.name;
    if (route === 'send' || route === 'state' || route === 'canonicalAlias') {
      const ts = single(ctx, 'ts');
      if (ts !== undefined) state.ts = parseTs(ts);
    }
  }

  /** A client that is no AS, on a route where the plugin would work for it: the host says who it is. */
  async function authenticateClient(ctx: Context, level: ClientAuth, { tokens, present }: TokenOwner): Promise<void> {
    if (present === 0) {
      if (level === 'required') throw new MatrixError(401, 'M_MISSING_TOKEN', 'Missing access token.');
      return;
    }
    if (present > 1) {
      throw new MatrixError(401, 'M_MISSING_TOKEN', 'Mixing Authorization headers and access_token query parameters.');
    }
    const token = tokens.header ?? tokens.query[0];
    if (token === undefined) throw new MatrixError(401, 'M_MISSING_TOKEN', 'Invalid Authorization header.');
    const client = await host.authenticate(token);
    if (client === null) throw new MatrixError(401, 'M_UNKNOWN_TOKEN', 'Unrecognised access token.');
    memoOf(ctx).client = client;
  }
}

/** Users remembered as existing, at most; the memory starts over beyond. */
const MAX_REMEMBERED_USERS = 10_000;

/**
 * Whether the request is an AS's or a user's the host authenticated (on a route that asks it).
 * Only such a request makes the plugin ask an AS anything.
 *
 * @example
 * if (isAuthenticated(ctx)) await ask(ctx, 'user', [userId]);
 */
export function isAuthenticated(ctx: Context): boolean {
  return (ctx.state as AppserviceState).appservice !== undefined || memoOf(ctx).client !== undefined;
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
function single(ctx: Context, name: PluginParam): string | undefined {
  const values = pluginParams(ctx)[name];
  if (values === undefined) return undefined;
  if (values.length > 1)
    throw new MatrixError(400, 'M_INVALID_PARAM', `Query parameter "${name}" given more than once`);
  return values[0];
}

/** `origin_server_ts` is a non-negative integer of milliseconds within the canonical JSON range. */
function parseTs(raw: string): number {
  const ts = /^\d{1,16}$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(ts))
    throw new MatrixError(400, 'M_INVALID_PARAM', 'ts must be a non-negative integer of milliseconds');
  return ts;
}
