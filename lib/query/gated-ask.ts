/**
 * One AS's answer to a query through its {@link QueryGate}, within one budget, retries included.
 *
 * Nearly every query is answered at once, so the first attempt goes straight through a free slot
 * under a single deadline (`QueryGate.takeNow`, timed out by the gate's shared timer), and the
 * retry loop (its overall deadline, backoff, Retry-After) is entered only after that attempt fails,
 * with what is left of the same budget.
 * When no slot is free, the AS is down (or due its probe), or the caller may abort, the whole loop
 * runs from the start, queue included. The first attempt builds no closure and no promise beyond
 * the request's own: this is the path of every uncached query.
 */
import type { AbortLike, Deadline } from '../client/deadline.ts';
import { retryAfterFirst, withRetries, type RetryOptions } from '../client/retry-policy.ts';
import type { QueryGate } from './query-gate.ts';

/**
 * @example
 * const exists = await gatedAsk('irc', gate, (signal) => client.queryAlias(alias, signal), 10_000, {});
 */
export async function gatedAsk<T>(
  asId: string,
  gate: QueryGate,
  ask: (signal: AbortLike) => Promise<T>,
  budgetMs: number,
  retry: RetryOptions,
): Promise<T> {
  const started = performance.now();
  const signal = retry.signal === undefined ? gate.takeNow(budgetMs) : undefined;
  if (signal === undefined) return withRetries(asId, attemptThrough(gate, ask), { ...retry, deadlineMs: budgetMs });
  let answer: T;
  try {
    answer = await ask(signal);
  } catch (error) {
    gate.failed(signal, error);
    return retryAfterFirst(asId, error, attemptThrough(gate, ask), { ...retry, deadlineMs: budgetMs }, started);
  }
  gate.answered(signal);
  return answer;
}

function attemptThrough<T>(
  gate: QueryGate,
  ask: (signal: AbortLike) => Promise<T>,
): (deadline: Deadline) => Promise<T> {
  return (deadline) => gate.attempt(deadline, ask);
}
