/**
 * User-interactive auth, as small as a reference homeserver needs: a user with a password
 * confirms with `m.login.password`, one without (a bridge's ghost) with `m.login.dummy`. An AS
 * that manages its users' devices (MSC4190: `ctx.state.deviceManagement`, set by the plugin) is
 * never asked.
 */
import { MatrixError } from '../../lib/index.ts';
import type { HomeserverData } from './data.ts';
import type { Ctx, Requester } from './http.ts';

/**
 * True when the request may go on; otherwise answers the `401` with the flows (and the error of a
 * failed attempt) and returns false.
 *
 * @example
 * if (!userInteractiveAuth(ctx, data, who, input)) return;
 */
export function userInteractiveAuth(
  ctx: Ctx,
  data: HomeserverData,
  who: Requester,
  input: Readonly<Record<string, unknown>>,
): boolean {
  if (ctx.state.deviceManagement === true) return true;
  const password = data.users.get(who.userId)?.password;
  const stage = password === undefined ? 'm.login.dummy' : 'm.login.password';
  const auth = input.auth as Record<string, unknown> | undefined;
  const challenge = { flows: [{ stages: [stage] }], params: {}, session: data.newId('', 12) };
  if (auth === undefined || auth === null || typeof auth !== 'object') {
    ctx.status = 401;
    ctx.body = challenge;
    return false;
  }
  if (auth.type !== stage) throw new MatrixError(400, 'M_UNRECOGNIZED', `Use the ${stage} stage`);
  if (stage === 'm.login.password' && auth.password !== password) {
    ctx.status = 401;
    ctx.body = { ...challenge, errcode: 'M_FORBIDDEN', error: 'Invalid password' };
    return false;
  }
  return true;
}
