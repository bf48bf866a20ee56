/**
 * The three kinds of thing the homeserver hands to `publish*()`, and the checks that keep
 * malformed input out of the durable queues. A bad item is refused with an InvalidEventError
 * that names the field, before anything is stored: once queued, an item is sent to an AS as it
 * is, again and again if it must, so garbage in the queue would be garbage forever.
 */
import { InvalidEventError } from './errors.ts';

/** A room event (PDU) in the client-server format, as the AS API sends it. */
export interface MatrixEvent {
  readonly event_id: string;
  readonly room_id: string;
  readonly type: string;
  readonly sender: string;
  /** Present on state events; for `m.room.member` it is the user whose membership changes. */
  readonly state_key?: string;
  readonly content: Readonly<Record<string, unknown>>;
  readonly [key: string]: unknown;
}

/**
 * An ephemeral event (EDU) as the client-server API formats it: `m.typing` and `m.receipt` carry a
 * `room_id`, `m.presence` a `sender`. No other type is accepted.
 */
export interface EphemeralEvent {
  /** `m.typing`, `m.receipt` or `m.presence`. */
  readonly type: string;
  readonly room_id?: string;
  readonly sender?: string;
  readonly content: Readonly<Record<string, unknown>>;
  readonly [key: string]: unknown;
}

/** A to-device message annotated for an AS with its recipient (MSC2409). */
export interface ToDeviceMessage {
  readonly type: string;
  readonly sender: string;
  readonly to_user_id: string;
  readonly to_device_id: string;
  readonly content: Readonly<Record<string, unknown>>;
  readonly [key: string]: unknown;
}

/**
 * The only EDU types the transaction's `ephemeral` field carries (AS API, "Pushing EDUs": "there are
 * only three event types that can currently occur"). An AS written to the spec may mistake anything
 * else for one of them, so other types are refused rather than passed on.
 */
const EPHEMERAL_TYPES: ReadonlySet<string> = new Set(['m.typing', 'm.receipt', 'm.presence']);

/** EDU types that are about one room and so must say which (client-server spec, AS API). */
const ROOM_SCOPED_EDUS: ReadonlySet<string> = new Set(['m.typing', 'm.receipt']);

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function fail(what: string, field: string, reason: string): never {
  throw new InvalidEventError(`${what}.${field}: ${reason}`);
}

function requireSigil(what: string, obj: Record<string, unknown>, field: string, sigil: string): string {
  const value = obj[field];
  if (typeof value !== 'string') fail(what, field, `must be a string, got ${describe(value)}`);
  // An id without its sigil or server part would be matched against namespaces wrongly.
  if (!value.startsWith(sigil) || !value.includes(':'))
    fail(what, field, `must look like ${sigil}local:server, got ${JSON.stringify(value)}`);
  return value;
}

function requireType(what: string, obj: Record<string, unknown>): void {
  if (typeof obj.type !== 'string' || obj.type === '')
    fail(what, 'type', `must be a non-empty string, got ${describe(obj.type)}`);
}

function requireContent(what: string, obj: Record<string, unknown>): void {
  if (!isObject(obj.content)) fail(what, 'content', `must be an object, got ${describe(obj.content)}`);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value;
}

/**
 * Checks that `value` is a room event the library can route and queue.
 *
 * @example
 * assertMatrixEvent({ event_id: '$1', room_id: '!r:hs', type: 'm.room.message', sender: '@a:hs', content: {} });
 */
export function assertMatrixEvent(value: unknown): asserts value is MatrixEvent {
  if (!isObject(value)) throw new InvalidEventError(`event: must be an object, got ${describe(value)}`);
  if (typeof value.event_id !== 'string' || !value.event_id.startsWith('$')) {
    fail('event', 'event_id', `must be a string starting with $, got ${describe(value.event_id)}`);
  }
  requireSigil('event', value, 'room_id', '!');
  requireType('event', value);
  requireSigil('event', value, 'sender', '@');
  requireContent('event', value);
  if (value.state_key !== undefined && typeof value.state_key !== 'string') {
    fail('event', 'state_key', `must be a string when present, got ${describe(value.state_key)}`);
  }
  if (value.type === 'm.room.member') requireSigil('event', value, 'state_key', '@');
}

/**
 * Checks that `value` is an ephemeral event: one of `m.typing`, `m.receipt` (both need a
 * `room_id`) and `m.presence` (needs a `sender`).
 *
 * @example
 * assertEphemeralEvent({ type: 'm.typing', room_id: '!r:hs', content: { user_ids: [] } });
 */
export function assertEphemeralEvent(value: unknown): asserts value is EphemeralEvent {
  if (!isObject(value)) throw new InvalidEventError(`ephemeral: must be an object, got ${describe(value)}`);
  requireType('ephemeral', value);
  if (!EPHEMERAL_TYPES.has(value.type as string)) {
    fail(
      'ephemeral',
      'type',
      `${JSON.stringify(value.type)} is not an EDU type the AS API pushes (only m.typing, m.receipt, m.presence)`,
    );
  }
  requireContent('ephemeral', value);
  if (value.room_id !== undefined || ROOM_SCOPED_EDUS.has(value.type as string)) {
    requireSigil('ephemeral', value, 'room_id', '!');
  }
  if (value.sender !== undefined || value.type === 'm.presence') requireSigil('ephemeral', value, 'sender', '@');
}

/**
 * Checks that `value` is a to-device message annotated with its recipient.
 *
 * @example
 * assertToDeviceMessage({ type: 'm.room_key', sender: '@a:hs', to_user_id: '@b:hs', to_device_id: 'D', content: {} });
 */
export function assertToDeviceMessage(value: unknown): asserts value is ToDeviceMessage {
  if (!isObject(value)) throw new InvalidEventError(`toDevice: must be an object, got ${describe(value)}`);
  requireType('toDevice', value);
  requireSigil('toDevice', value, 'sender', '@');
  requireSigil('toDevice', value, 'to_user_id', '@');
  if (typeof value.to_device_id !== 'string' || value.to_device_id === '') {
    fail('toDevice', 'to_device_id', `must be a non-empty string, got ${describe(value.to_device_id)}`);
  }
  // MSC4203: to_device_id names the device the message was delivered to; sendToDevice's `*` is
  // the homeserver's to expand, one message per device, before publishing.
  if (value.to_device_id === '*')
    fail('toDevice', 'to_device_id', "must name one device: expand '*' to each of the user's devices");
  requireContent('toDevice', value);
}
