/**
 * Whether an application service may still get access tokens for its users from `/register` and
 * `/login` (spec v1.17: Application Service API, "Server admin style permissions"), and who an
 * `m.login.application_service` login names.
 *
 * A homeserver without the Legacy authentication API (next-generation auth: `legacyLogin: false`),
 * and any AS that manages its users' devices itself (MSC4190, `io.element.msc4190: true`), get
 * `400 M_APPSERVICE_LOGIN_UNSUPPORTED` for an `m.login.application_service` login and for a
 * `/register` without `"inhibit_login": true`: the spec's words are "the server MUST return a 400
 * HTTP status code with an `M_APPSERVICE_LOGIN_UNSUPPORTED` error code".
 */
import { MatrixError } from '../errors.ts';
import type { Registration } from '../registration/registration.ts';
import { isRecord } from './json-body.ts';

/**
 * Whether `registration` may receive access tokens from register or login on this homeserver.
 *
 * @example
 * if (!loginAllowed(appservice, legacyLogin) && body.inhibit_login !== true) throw loginUnsupported('register', appservice);
 */
export function loginAllowed(registration: Registration, legacyLogin: boolean): boolean {
  return legacyLogin && !registration.msc4190;
}

/**
 * The spec's refusal, saying why: the homeserver has no legacy login, or the AS opted into MSC4190.
 *
 * @example
 * throw loginUnsupported('login', undefined); // a homeserver without legacy login
 */
export function loginUnsupported(route: 'register' | 'login', registration: Registration | undefined): MatrixError {
  const why =
    registration?.msc4190 === true
      ? "This application service manages its users' devices itself (MSC4190)"
      : 'This homeserver does not support the legacy authentication API';
  const what = route === 'register' ? 'register users with "inhibit_login": true' : 'not log in as its users';
  return new MatrixError(400, 'M_APPSERVICE_LOGIN_UNSUPPORTED', `${why}: the application service must ${what}.`);
}

/**
 * The user an `m.login.application_service` login names: `identifier.user` of an `m.id.user`
 * identifier, or, without an identifier, the deprecated top-level `user` (login.yaml still
 * defines it: "The fully qualified user ID or just local part of the user ID, to log in").
 * A full id or a localpart, as given; `400 M_INVALID_PARAM` when there is neither.
 *
 * @example
 * loginUser({ type: 'm.login.application_service', user: '_irc_bob' }); // '_irc_bob'
 */
export function loginUser(body: Readonly<Record<string, unknown>>): string {
  const identifier = body.identifier;
  if (identifier === undefined && typeof body.user === 'string') return body.user;
  if (isRecord(identifier) && identifier.type === 'm.id.user' && typeof identifier.user === 'string')
    return identifier.user;
  throw new MatrixError(
    400,
    'M_INVALID_PARAM',
    'm.login.application_service needs an m.id.user identifier (or the deprecated user field)',
  );
}
