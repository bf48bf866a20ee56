/**
 * What the reference homeserver refuses before it stores anything: JSON nested too deeply, events
 * over the spec's size limits, and events the plugin's `publish()` would refuse. A stored event is
 * served by /messages, /sync and the AS queues again and again, so one that cannot be serialised
 * or published would break its room for good; checking first keeps every failure on the request
 * that caused it.
 */
import { assertMatrixEvent } from '../../lib/events.ts';
import { InvalidEventError, MatrixError } from '../../lib/index.ts';

/**
 * Deepest JSON nesting accepted in a request body. serde_json (conduwuit) stops at 128 too; no
 * Matrix event needs more, and `JSON.stringify` recursion on deep values overflows the stack.
 */
export const MAX_JSON_DEPTH = 128;

/** The spec's limit on a whole event in its JSON form ("Size limits", client-server API). */
export const MAX_EVENT_BYTES = 65_536;

/** The spec's limit on each id and on `type` and `state_key`. */
const MAX_FIELD_BYTES = 255;

/** Devices one user may have: an AS creates them without logging in (MSC4190), so they are bounded. */
export const MAX_DEVICES_PER_USER = 1_000;

/** Unused one-time keys one device may hold; clients keep about 50 uploaded. */
export const MAX_ONE_TIME_KEYS_PER_DEVICE = 1_000;

/** Users in one `/keys/query`, devices in one `/keys/claim`: each may cost a question to an AS. */
export const MAX_KEY_REQUEST_ENTRIES = 1_000;

/**
 * Throws `400 M_INVALID_PARAM` unless `value` is a non-empty string of at most 255 bytes (the
 * spec's limit on ids, which device ids and key ids share here).
 *
 * @example
 * assertId('device_id', ctx.params.deviceId);
 */
export function assertId(field: string, value: unknown): asserts value is string {
  if (typeof value !== 'string' || value === '' || Buffer.byteLength(value) > MAX_FIELD_BYTES)
    throw new MatrixError(400, 'M_INVALID_PARAM', `${field} must be a string of 1 to ${MAX_FIELD_BYTES} bytes`);
}

/**
 * Throws `400 M_BAD_JSON` when `value` nests arrays or objects deeper than `maxDepth`. Iterative,
 * so a body nested 400k levels deep costs a loop, not the stack.
 *
 * @example
 * assertJsonDepth(JSON.parse(text));
 */
export function assertJsonDepth(value: unknown, maxDepth = MAX_JSON_DEPTH): void {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [current, depth] = stack.pop()!;
    if (typeof current !== 'object' || current === null) continue;
    if (depth >= maxDepth) throw new MatrixError(400, 'M_BAD_JSON', `JSON nested deeper than ${maxDepth} levels`);
    for (const child of Object.values(current))
      if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
  }
}

/**
 * Checks an event as it is about to be stored: the plugin's own `publish()` check (so the AS queues
 * can always take it), then the spec's size limits (`413 M_TOO_LARGE`). Returns its JSON size.
 *
 * @example
 * checkEvent({ event_id: '$e', room_id: '!r:hs', type: 'm.room.message', sender: '@a:hs', content: {} });
 */
export function checkEvent(event: Record<string, unknown>): number {
  try {
    assertMatrixEvent(event);
  } catch (error) {
    if (error instanceof InvalidEventError) throw new MatrixError(400, 'M_BAD_JSON', error.message);
    throw error;
  }
  for (const field of ['event_id', 'room_id', 'sender', 'type', 'state_key'] as const) {
    const value = event[field];
    if (typeof value === 'string' && Buffer.byteLength(value) > MAX_FIELD_BYTES) {
      throw new MatrixError(413, 'M_TOO_LARGE', `${field} is longer than ${MAX_FIELD_BYTES} bytes`);
    }
  }
  let json: string;
  try {
    json = JSON.stringify(event);
  } catch {
    throw new MatrixError(400, 'M_BAD_JSON', 'Event cannot be serialised as JSON');
  }
  const bytes = Buffer.byteLength(json);
  if (bytes > MAX_EVENT_BYTES)
    throw new MatrixError(413, 'M_TOO_LARGE', `Event is ${bytes} bytes; the limit is ${MAX_EVENT_BYTES}`);
  return bytes;
}
