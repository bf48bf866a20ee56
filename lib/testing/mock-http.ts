/**
 * The HTTP side of MockAppService: the answers it gives and how they are written, including the
 * oversized body that streams until the client hangs up.
 */
import type http from 'node:http';

export interface Answer {
  status: number;
  body?: unknown;
  /** Sent as is instead of JSON (garbage, framework-style 404 pages). */
  raw?: string;
  headers?: Record<string, string>;
}

/** The fixed answer that `MockAppService.status()` gives for the next `remaining` requests. */
export interface StatusSwitch {
  code: number;
  remaining: number;
  headers: Record<string, string>;
  body: unknown;
}

/** A Matrix error body unless `body` is given: `M_LIMIT_EXCEEDED` for 429, `M_UNKNOWN` otherwise. */
export function statusSwitch(
  code: number,
  options: { times?: number; headers?: Record<string, string>; body?: unknown },
): StatusSwitch {
  const errcode = code === 429 ? 'M_LIMIT_EXCEEDED' : 'M_UNKNOWN';
  return {
    code,
    remaining: options.times ?? Infinity,
    headers: options.headers ?? {},
    body: options.body ?? { errcode, error: `mock status ${code}` },
  };
}

/** JSON when it parses, the raw text otherwise, undefined when empty. */
export function parseBody(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

export function notFound(): Answer {
  return { status: 404, body: { errcode: 'M_NOT_FOUND', error: 'not here' } };
}

export function unrecognized(): Answer {
  return { status: 404, body: { errcode: 'M_UNRECOGNIZED', error: 'unknown endpoint' } };
}

/** Writes `answer`; a plain 200 while `oversized` is set becomes a body of that many bytes. */
export function send(
  res: http.ServerResponse,
  answer: Answer,
  oversized: { bytes: number; chunked: boolean } | null,
): void {
  if (answer.status === 200 && answer.body === undefined && answer.raw === undefined && oversized) {
    const block = Buffer.alloc(64 * 1024, 0x20);
    if (!oversized.chunked) res.setHeader('content-length', oversized.bytes);
    res.writeHead(200, { 'content-type': 'application/json' });
    let left = oversized.bytes;
    // Write until done or until the client hangs up (it should, past its cap).
    const pump = (): void => {
      while (left > 0 && !res.destroyed) {
        const n = Math.min(left, block.length);
        left -= n;
        if (!res.write(block.subarray(0, n))) return void res.once('drain', pump);
      }
      if (!res.destroyed) res.end();
    };
    res.on('error', () => {});
    pump();
    return;
  }
  const payload = answer.raw ?? JSON.stringify(answer.body ?? {});
  res.writeHead(answer.status, {
    'content-type': answer.raw === undefined ? 'application/json' : 'text/html',
    ...answer.headers,
  });
  res.end(payload);
}
