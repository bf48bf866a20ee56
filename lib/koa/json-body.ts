/**
 * The routes whose body the plugin inspects (register, login, createRoom, invite, canonical alias
 * state, alias creation, ping, the appservice directory list) need the
 * JSON body before the homeserver's routes run. Reading it consumes the stream, so the parsed
 * object is left on `ctx.request.body` and the text on `ctx.request.rawBody`: the convention body
 * parsers (@koa/bodyparser, koa-bodyparser) check before parsing, so the homeserver's own parser
 * sees the body as already parsed instead of hanging on an empty stream.
 */
import type { Context } from 'koa';
import { MatrixError } from '../errors.ts';
import { LimitError } from './limit-error.ts';

/** Matrix events are at most 64 KiB; createRoom with initial_state can be larger. */
export const DEFAULT_BODY_LIMIT_BYTES = 1024 * 1024;

interface RequestWithBody {
  body?: unknown;
  rawBody?: string;
}

/**
 * The request's JSON body: the one a body parser already left on `ctx.request.body`, or the
 * stream read and parsed here (then left there for the homeserver). An empty body reads as `{}`.
 * Throws 400 `M_NOT_JSON` on invalid JSON and 413 `M_TOO_LARGE` over `limitBytes`.
 *
 * @example
 * const body = await readJsonBody(ctx);
 * if (isRecord(body) && typeof body.user_id === 'string') ...
 */
export async function readJsonBody(ctx: Context, limitBytes = DEFAULT_BODY_LIMIT_BYTES): Promise<unknown> {
  const request = ctx.request as unknown as RequestWithBody;
  if (request.body !== undefined) return request.body;
  const declared = Number(ctx.get('content-length') || 0);
  if (declared > limitBytes) throw new LimitError('request_body', 413, 'M_TOO_LARGE', 'Request body too large');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limitBytes) throw new LimitError('request_body', 413, 'M_TOO_LARGE', 'Request body too large');
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  let parsed: unknown = {};
  if (text.trim() !== '') {
    try {
      parsed = JSON.parse(text);
    } catch (cause) {
      throw new MatrixError(400, 'M_NOT_JSON', 'Content not JSON.', {}, { cause });
    }
  }
  request.rawBody = text;
  request.body = parsed;
  return parsed;
}

/**
 * A JSON object (not an array, not null).
 *
 * @example
 * if (isRecord(body) && typeof body.user_id === 'string') ...
 */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
