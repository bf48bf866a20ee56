/**
 * One AS's answer to a query through its {@link QueryGate}, within one budget, retries included.
 *
 * Nearly every query is answered at once, so the first attempt goes straight through a free slot
 * under a single timer (`QueryGate.attemptNow`), and the retry loop (its overall deadline, backoff,
 * Retry-After) is entered only after that attempt fails, with what is left of the same budget.
 * When no slot is free, the AS is down (or due its probe), or the caller may abort, the whole loop
 * runs from the start, queue included.
 */
import type { AbortLike, Deadline } from '../client/deadline.ts';
import { retryAfterFirst, withRetries, type RetryOptions } from '../client/retry-policy.ts';
import type { QueryGate } from './query-gate.ts';

/**
 * @example
 * const exists = await gatedAsk('irc', gate, (signal) => client.queryAlias(alias, signal), 10_000, {});
 */
export function gatedAsk<T>(
  asId: string,
  gate: QueryGate,
  ask: (signal: AbortLike) => Promise<T>,
  budgetMs: number,
  retry: RetryOptions,
): Promise<T> {
  const started = performance.now();
  const attempt = (deadline: Deadline): Promise<T> => gate.attempt(deadline, ask);
  const first = retry.signal === undefined ? gate.attemptNow(budgetMs, ask) : undefined;
  if (first === undefined) return withRetries(asId, attempt, { ...retry, deadlineMs: budgetMs });
  return first.catch((error: unknown) =>
    retryAfterFirst(asId, error, attempt, { ...retry, deadlineMs: budgetMs }, started),
  );
}
