/**
 * Exclusive namespaces (spec: Application Service API, "Server admin style permissions").
 *
 * An AS creates and logs in users, and creates aliases, only inside its own namespaces; nobody
 * else may create users or aliases inside a namespace an AS holds exclusively, nor the user of an
 * AS's `sender_localpart` (the AS acts as that user). Refusals are `400 M_EXCLUSIVE`, as Synapse
 * answers. Whether an AS may still get access tokens at all is `login-policy.ts`'s to say. Accepted AS registrations and logins are handed to the
 * homeserver on `ctx.state` (it still creates the user or the session itself).
 */
import type { Context, Middleware } from 'koa';
import { MatrixError } from '../errors.ts';
import type { Registration } from '../registration/registration.ts';
import { hasAccessToken } from './as-token.ts';
import { isRecord, readJsonBody } from './json-body.ts';
import { loginAllowed, loginUnsupported, loginUser } from './login-policy.ts';
import { routeOf } from './route-table.ts';
import type { AppserviceContext, AppserviceState } from './state.ts';

export const AS_LOGIN_TYPE = 'm.login.application_service';

/** What the guards need of the namespace index (NamespaceIndex fits). */
export interface GuardDeps {
  index: {
    matches(registration: Registration, kind: 'users' | 'aliases', value: string): boolean;
    exclusiveOwners(kind: 'users' | 'aliases', value: string): readonly Registration[];
  };
  /** Whose `sender_localpart` user an id is (Registry fits). */
  registry: { bySender(userId: string): Registration | undefined };
  host: { readonly serverName: string };
  /** False on a homeserver without the Legacy authentication API. Default true. */
  legacyLogin?: boolean;
  bodyLimitBytes?: number;
}

/**
 * Enforce exclusive namespaces on register, login, alias create/delete and createRoom's alias.
 * Runs after `authMiddleware`, whose `ctx.state.appservice` tells an AS from anyone else
 * (`pluginChain` puts them in that order).
 *
 * @example
 * const guards = guardsMiddleware({ index, host });
 */
export function guardsMiddleware(deps: GuardDeps): Middleware<AppserviceState, AppserviceContext> {
  const { index, registry, host, bodyLimitBytes } = deps;
  const legacyLogin = deps.legacyLogin ?? true;
  const userIdOf = (localpart: string) => `@${localpart}:${host.serverName}`;
  const senderOf = (reg: Registration) => userIdOf(reg.senderLocalpart);

  /** Refuse when someone other than `requester` holds `value` exclusively: in an exclusive namespace, or as its sender. */
  function checkExclusive(
    kind: 'users' | 'aliases',
    value: string,
    requester: Registration | undefined,
    what: string,
  ): void {
    const owners = index.exclusiveOwners(kind, value);
    const senderOwner = kind === 'users' ? registry.bySender(value) : undefined;
    if (owners.some((owner) => owner !== requester) || (senderOwner !== undefined && senderOwner !== requester)) {
      throw new MatrixError(400, 'M_EXCLUSIVE', `This ${what} is reserved by an application service.`);
    }
  }

  /** An AS may only touch its own namespace (its sender counts as its own user). */
  function checkOwn(kind: 'users' | 'aliases', value: string, reg: Registration, what: string): void {
    const own = index.matches(reg, kind, value) || (kind === 'users' && value === senderOf(reg));
    if (!own) throw new MatrixError(400, 'M_EXCLUSIVE', `This application service has not reserved this ${what}.`);
    checkExclusive(kind, value, reg, what);
  }

  /** Homeservers commonly lowercase a requested username (Synapse does): check what it will become too. */
  function checkUsername(username: string, reg: Registration | undefined): void {
    checkExclusive('users', userIdOf(username), reg, 'user id');
    const lower = username.toLowerCase();
    if (lower !== username) checkExclusive('users', userIdOf(lower), reg, 'user id');
  }

  function checkAlias(alias: string, reg: Registration | undefined): void {
    if (reg) checkOwn('aliases', alias, reg, 'alias');
    else checkExclusive('aliases', alias, undefined, 'alias');
  }

  /** 401 for `m.login.application_service` without an AS token, as the spec words it. */
  function requireAppservice(ctx: Context, reg: Registration | undefined): Registration {
    if (reg) return reg;
    if (hasAccessToken(ctx)) throw new MatrixError(401, 'M_UNKNOWN_TOKEN', 'Unrecognised access token.');
    throw new MatrixError(401, 'M_MISSING_TOKEN', 'Missing access token.');
  }

  async function register(ctx: Context, state: AppserviceState): Promise<void> {
    const body = await readJsonBody(ctx, bodyLimitBytes);
    if (!isRecord(body)) return; // not ours to judge: the homeserver answers M_BAD_JSON
    const reg = state.appservice;
    if (body.type === AS_LOGIN_TYPE) {
      const appservice = requireAppservice(ctx, reg);
      // The AS API first named it `user`; `username` is what clients send. Synapse reads both.
      const localpart = typeof body.user === 'string' ? body.user : body.username;
      if (typeof localpart !== 'string' || localpart === '') {
        throw new MatrixError(400, 'M_MISSING_PARAM', 'username is required with m.login.application_service');
      }
      const userId = userIdOf(localpart);
      checkOwn('users', userId, appservice, 'user id');
      const inhibitLogin = body.inhibit_login === true;
      if (!inhibitLogin && !loginAllowed(appservice, legacyLogin)) throw loginUnsupported('register', appservice);
      state.appserviceRegister = { userId, localpart, inhibitLogin };
    } else if (typeof body.username === 'string') {
      checkUsername(body.username, reg);
    }
  }

  async function login(ctx: Context, state: AppserviceState): Promise<void> {
    const body = await readJsonBody(ctx, bodyLimitBytes);
    if (!isRecord(body) || body.type !== AS_LOGIN_TYPE) return;
    // Without legacy login the answer is the same for anyone who asks: nobody logs in this way.
    if (!legacyLogin) throw loginUnsupported('login', undefined);
    const appservice = requireAppservice(ctx, state.appservice);
    if (!loginAllowed(appservice, legacyLogin)) throw loginUnsupported('login', appservice);
    const user = loginUser(body);
    const userId = user.startsWith('@') ? user : userIdOf(user);
    checkOwn('users', userId, appservice, 'user id');
    state.appserviceLogin = { userId };
  }

  return async (ctx, next) => {
    const route = routeOf(ctx);
    if (route === null) return next();
    const state = ctx.state;
    switch (route.name) {
      case 'register':
        await register(ctx, state);
        break;
      case 'registerAvailable': {
        const username = ctx.query.username;
        if (typeof username === 'string') checkUsername(username, state.appservice);
        break;
      }
      case 'login':
        await login(ctx, state);
        break;
      case 'createRoom': {
        const body = await readJsonBody(ctx, bodyLimitBytes);
        if (isRecord(body) && typeof body.room_alias_name === 'string') {
          checkAlias(`#${body.room_alias_name}:${host.serverName}`, state.appservice);
        }
        break;
      }
      case 'aliasEdit':
        checkAlias(route.params.alias!, state.appservice);
        break;
      default:
    }
    return next();
  };
}
