/**
 * An AS that answers a query with 401/403 refuses the homeserver's hs_token (the spec has it fail
 * such requests with M_FORBIDDEN). That is an operator's mistake, not an outage: it is counted
 * every time and logged (at most once a minute per AS, so a busy homeserver does not flood its
 * log), naming the AS and never a token.
 */
import type { AppserviceRequestError } from '../errors.ts';
import type { Logger } from '../logger.ts';

const LOG_EVERY_MS = 60_000;

/**
 * Whether a failed query says "your hs_token is not mine".
 *
 * @example
 * isTokenRefusal(new AppserviceRequestError('irc', 'status', 'HTTP 403', { status: 403 })); // true
 */
export function isTokenRefusal(error: AppserviceRequestError): boolean {
  return error.kind === 'status' && (error.status === 401 || error.status === 403);
}

/**
 * @example
 * const refusals = new TokenRefusals(logger, (asId) => metrics.tokenRejected(asId));
 * if (isTokenRefusal(error)) refusals.report('irc', error);
 */
export class TokenRefusals {
  readonly #logger: Logger | undefined;
  readonly #onRejected: ((asId: string) => void) | undefined;
  /** When a refusal was last logged per AS, and how many came since. */
  readonly #seen = new Map<string, { loggedAt: number; since: number }>();

  constructor(logger: Logger | undefined, onRejected: ((asId: string) => void) | undefined) {
    this.#logger = logger;
    this.#onRejected = onRejected;
  }

  report(asId: string, error: AppserviceRequestError): void {
    this.#onRejected?.(asId);
    if (this.#logger === undefined) return;
    const now = performance.now();
    const seen = this.#seen.get(asId);
    if (seen !== undefined && now - seen.loggedAt < LOG_EVERY_MS) {
      seen.since++;
      return;
    }
    this.#seen.set(asId, { loggedAt: now, since: 0 });
    this.#logger.error(
      { asId, status: error.status, refusedSinceLastLog: seen?.since ?? 0 },
      `koa-appservice: appservice "${asId}" refused the homeserver's hs_token (HTTP ${error.status}) on a user/alias query: ` +
        "the hs_token in its registration and in the bridge's own configuration differ. Clients get 502 until it is fixed.",
    );
  }
}
