/**
 * The two path families an AS may answer on, and which one a given AS turned out to speak.
 *
 * The spec (application-service-api.md, "Legacy routes") asks homeservers to use
 * `/_matrix/app/v1/...` first and to fall back to the original draft's unprefixed paths
 * (`/users/{id}`, `/rooms/{alias}`, `/transactions/{id}`, `/_matrix/app/unstable/thirdparty/...`)
 * on "an HTTP status code that does not indicate success (i.e.: 404, 500, 501, etc)", and to try
 * the newer paths again now and then. Old bridges still in service only know the draft, and none
 * of the peers implements the fallback.
 */
/** The same endpoint in both families; `legacy` is null where the draft had no such endpoint. */
export interface Route {
  readonly v1: string;
  readonly legacy: string | null;
}

export type PathFamily = 'v1' | 'legacy';

const V1 = '/_matrix/app/v1';
const enc = encodeURIComponent;
/** A draft path and its v1 twin, the id encoded once. */
const both = (tail: string): Route => ({ v1: V1 + tail, legacy: tail });

/**
 * The routes of the AS API, ids percent-encoded (a `#` or `/` in an alias must not end the path).
 *
 * @example
 * asRoutes.user('@irc_bob:hs'); // { v1: '/_matrix/app/v1/users/%40irc_bob%3Ahs', legacy: '/users/%40irc_bob%3Ahs' }
 */
export const asRoutes = {
  user: (userId: string): Route => both(`/users/${enc(userId)}`),
  room: (alias: string): Route => both(`/rooms/${enc(alias)}`),
  transaction: (txnId: string): Route => ({
    v1: `${V1}/transactions/${enc(txnId)}`,
    legacy: `/transactions/${enc(txnId)}`,
  }),
  ping: (): Route => ({ v1: `${V1}/ping`, legacy: null }),
  thirdparty: (kind: 'protocol' | 'location' | 'user', protocol: string | null): Route => {
    const tail = protocol === null ? `/thirdparty/${kind}` : `/thirdparty/${kind}/${enc(protocol)}`;
    return { v1: `${V1}${tail}`, legacy: `/_matrix/app/unstable${tail}` };
  },
} as const;

/**
 * Whether an answer means "I do not know this path" rather than an answer from the endpoint:
 * 404/405 with `M_UNRECOGNIZED`, or a 404 without a Matrix error body (a web framework's default
 * page). A 404 with any other errcode, `M_NOT_FOUND` above all, is the endpoint saying "absent".
 *
 * @example
 * isUnrecognized(404, { errcode: 'M_NOT_FOUND' });    // false: the user does not exist
 * isUnrecognized(405, { errcode: 'M_UNRECOGNIZED' }); // true
 * isUnrecognized(404, undefined);                      // true: no Matrix body at all
 */
export function isUnrecognized(status: number, body: unknown): boolean {
  if (status !== 404 && status !== 405) return false;
  const errcode = errcodeOf(body);
  if (errcode === 'M_UNRECOGNIZED') return true;
  return status === 404 && errcode === undefined;
}

/**
 * Whether an answer on one path family is a reason to try the other (the spec: any status that
 * does not indicate success). Three answers are the endpoint itself speaking and are kept: a 404
 * with a Matrix errcode other than `M_UNRECOGNIZED` (`M_NOT_FOUND`: "no such user or alias"), a
 * 429 (the AS asks us to slow down) and a 413 (the body is too large: the same bytes on another
 * path would only be refused again, after crossing the wire once more).
 *
 * @example
 * fallsBack(501, undefined);                  // true
 * fallsBack(500, { errcode: 'M_UNKNOWN' });   // true
 * fallsBack(404, { errcode: 'M_NOT_FOUND' }); // false: the user does not exist
 */
export function fallsBack(status: number, body: unknown): boolean {
  if (status >= 200 && status < 300) return false;
  if (status === 429 || status === 413) return false;
  return status !== 404 || isUnrecognized(status, body);
}

/**
 * The `errcode` of a Matrix error body, if it is one.
 *
 * @example
 * errcodeOf({ errcode: 'M_FORBIDDEN', error: 'no' }); // 'M_FORBIDDEN'
 * errcodeOf('Not Found');                              // undefined
 */
export function errcodeOf(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const errcode = (body as { errcode?: unknown }).errcode;
  return typeof errcode === 'string' ? errcode : undefined;
}

/**
 * Which family to try first for one AS. Learns from answers; once an AS is found to speak only the
 * draft, v1 is tried again after `reprobeMs` so that an upgraded AS is noticed without a restart.
 *
 * @example
 * const pref = new PathPreference(600_000);
 * pref.first();        // 'v1'
 * pref.learn('legacy');
 * pref.first();        // 'legacy' for the next ten minutes, then 'v1' again
 */
export class PathPreference {
  readonly #reprobeMs: number;
  readonly #now: () => number;
  #legacy = false;
  #learnedAt = 0;

  constructor(reprobeMs: number, now: () => number = Date.now) {
    this.#reprobeMs = reprobeMs;
    this.#now = now;
  }

  /** The family to try first now. */
  first(): PathFamily {
    return this.#legacy && this.#now() - this.#learnedAt < this.#reprobeMs ? 'legacy' : 'v1';
  }

  /** Whether the AS is currently believed to speak only the draft paths. */
  get legacy(): boolean {
    return this.#legacy;
  }

  /** Records the family that gave a recognised answer. */
  learn(family: PathFamily): void {
    this.#legacy = family === 'legacy';
    this.#learnedAt = this.#now();
  }
}
