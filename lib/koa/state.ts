/**
 * What the plugin adds to a Koa context, typed, so the homeserver's own routes can read who an
 * application service is acting as without re-parsing the request.
 */
import type { ParameterizedContext } from 'koa';
import type { Host } from '../host.ts';
import type { Registration } from '../registration/registration.ts';

/** The outcome of a blocking query, as `lib/query/existence.ts` returns it. */
export type QueryResult = 'exists' | 'absent' | 'unavailable' | 'misconfigured';

/**
 * `ctx.state` after the plugin ran. Every field is absent on a request that carries no as_token,
 * so a homeserver tests `ctx.state.appservice` before trusting the rest.
 *
 * @example
 * router.get('/_matrix/client/v3/account/whoami', async (ctx: Context) => {
 *   const userId = ctx.state.appservice ? ctx.state.userId : await myAuth(ctx);
 * });
 */
export interface AppserviceState {
  /** The AS whose as_token authenticated the request. */
  appservice?: Registration;
  /**
   * Who the AS acts as: the asserted `user_id`, or its sender. Always set when `appservice` is, on
   * every route: an AS's `/sync` or `/events` is this user's stream (AS API, "Using /sync and
   * /events"), never the AS's own.
   */
  userId?: string;
  /**
   * The device the AS acts as (`device_id` or MSC3202's `org.matrix.msc3202.device_id`), checked
   * with `KoaHost.deviceExists`; without that hook any `device_id` is refused (`400 M_UNKNOWN_DEVICE`).
   */
  deviceId?: string;
  /** Timestamp massaging: the `ts` the AS asked for, on send and state only. */
  ts?: number;
  /** Whether the host should rate-limit this request: the registration's `rate_limited`, never for its sender ("The sender is excluded"). */
  rateLimited?: boolean;
  /**
   * Set on `POST /register` with `type: m.login.application_service` once the guard accepted it:
   * the host creates `userId` and, when `inhibitLogin`, returns no access token or device. An AS
   * that may not get tokens (MSC4190, or `legacyLogin: false`) only gets here with `inhibitLogin`.
   */
  appserviceRegister?: { readonly userId: string; readonly localpart: string; readonly inhibitLogin: boolean };
  /** Set on `POST /login` with `type: m.login.application_service` once the guard accepted it. */
  appserviceLogin?: { readonly userId: string };
  /**
   * MSC4190: true on `PUT`/`DELETE /devices/{deviceId}`, `POST /delete_devices` and
   * `POST /keys/device_signing/upload` when the AS manages its users' devices
   * (`io.element.msc4190` and `experimentalFeatures.msc4190`). The host then creates the device
   * of `userId` on `PUT` when it does not exist (answering 201), and asks no user-interactive auth
   * on the others. Absent on every other request: the host's normal rules apply.
   */
  deviceManagement?: true;
}

/**
 * Helpers the plugin puts on `ctx` for the homeserver's own routes: block until the AS that owns
 * the id had its chance to create it. They resolve `exists` or `absent` (answer 404 yourself) and
 * throw a `MatrixError`: 408 when the AS could not be asked within the deadline, 502 when the AS
 * refused the homeserver's hs_token, 400 `M_INVALID_PARAM` for an id outside the Matrix grammar.
 * Authenticating the client first is the route's business: these ask the AS for whoever the route
 * lets through.
 *
 * @example
 * router.get('/_matrix/client/v3/my/route/:userId', async (ctx) => {
 *   if ((await ctx.ensureUser(ctx.params.userId)) === 'absent') ctx.throw(404);
 * });
 */
export interface AppserviceContext {
  ensureUser(userId: string): Promise<'exists' | 'absent'>;
  ensureAlias(alias: string): Promise<'exists' | 'absent'>;
}

export type AppserviceKoaContext = ParameterizedContext<AppserviceState, AppserviceContext>;

/**
 * The host as the Koa layer sees it: `lib/host.ts` plus an optional device check. Kept here, not
 * in `Host`, because only identity assertion needs it; without it device masquerading is off: an
 * AS's `device_id` is refused with `400 M_UNKNOWN_DEVICE`, and `appservices()` says so at start.
 *
 * @example
 * const host: KoaHost = { ...myHost, deviceExists: async (u, d) => devices.has(`${u}|${d}`) };
 */
export interface KoaHost extends Host {
  deviceExists?(userId: string, deviceId: string): Promise<boolean>;
}

/**
 * `@user:server` parts, or undefined when the string is no user id.
 *
 * @example
 * splitUserId('@irc_bob:example.org'); // { localpart: 'irc_bob', server: 'example.org' }
 */
export function splitUserId(userId: string): { localpart: string; server: string } | undefined {
  if (userId.length > 255 || userId[0] !== '@') return undefined;
  const colon = userId.indexOf(':');
  if (colon < 2 || colon === userId.length - 1) return undefined;
  return { localpart: userId.slice(1, colon), server: userId.slice(colon + 1) };
}
