/**
 * An AS's answer as the client hands it on (read by lib/client/exchange.ts): its status, its body as
 * text and as JSON when it is JSON, and how long the AS asked us to wait (Retry-After, or Matrix's
 * `retry_after_ms`).
 */
/** What the transport saw; bodies are read whole (up to the cap) so the socket is reusable. */
export interface RawResponse {
  readonly status: number;
  readonly text: string;
  /** The parsed body, undefined when empty or not JSON. */
  readonly json: unknown;
  readonly retryAfterMs: number | undefined;
  readonly path: string;
}

/**
 * The parsed body, or undefined when it is empty or not JSON.
 *
 * @example
 * parseJson('{"errcode":"M_NOT_FOUND"}'); // { errcode: 'M_NOT_FOUND' }
 * parseJson('<html>');                    // undefined
 */
export function parseJson(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * Matrix's own rate-limit hint, `retry_after_ms` in an M_LIMIT_EXCEEDED body.
 *
 * @example
 * retryAfterFromBody({ errcode: 'M_LIMIT_EXCEEDED', retry_after_ms: 500 }); // 500
 */
export function retryAfterFromBody(json: unknown): number | undefined {
  if (typeof json !== 'object' || json === null) return undefined;
  const ms = (json as { retry_after_ms?: unknown }).retry_after_ms;
  return typeof ms === 'number' && Number.isFinite(ms) && ms >= 0 ? ms : undefined;
}
