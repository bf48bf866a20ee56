/**
 * Builds the JSON body of `PUT /_matrix/app/v1/transactions/{txnId}` from queued items.
 *
 * Items are stored as JSON text, so the body is made by concatenation: nothing is parsed or
 * re-serialised on the hot path, and the bytes sent are the bytes stored.
 *
 * Field names: `events` is always present (the spec requires it). Ephemeral events go under the
 * stable `ephemeral` (Matrix 1.13) and MSC2409's unstable `de.sorunome.msc2409.ephemeral`, which
 * older ASes still read. To-device messages go under `to_device` (MSC4203's stable name) and
 * MSC2409's `de.sorunome.msc2409.to_device`, the only name Synapse sends today. Empty optional
 * arrays are omitted, as the spec allows. Device lists and key counts (MSC3202) go under the
 * fields device-body.ts makes, only for a registration with `org.matrix.msc3202`.
 */
import type { QueuedItem } from '../store/store.ts';
import { deviceFields } from './device-body.ts';

/** What the registration asked for; items of a kind it did not ask for are left out. */
export interface TransactionBodyFlags {
  readonly receiveEphemeral: boolean;
  readonly receiveToDevice: boolean;
  /** `org.matrix.msc3202`: device lists and key counts. Absent: false. */
  readonly msc3202?: boolean;
}

export const EPHEMERAL_FIELDS = ['ephemeral', 'de.sorunome.msc2409.ephemeral'] as const;
export const TO_DEVICE_FIELDS = ['to_device', 'de.sorunome.msc2409.to_device'] as const;

/**
 * The transaction body for these items, in queue order within each field.
 *
 * @example
 * buildTransactionBody([{ seq: 1, kind: 'event', json: '{"type":"m.room.message"}' }], { receiveEphemeral: false, receiveToDevice: false });
 * // '{"events":[{"type":"m.room.message"}]}'
 */
export function buildTransactionBody(items: readonly QueuedItem[], flags: TransactionBodyFlags): string {
  const events: string[] = [];
  const ephemeral: string[] = [];
  const toDevice: string[] = [];
  let devices = false;
  for (const item of items) {
    if (item.kind === 'event') events.push(item.json);
    else if (item.kind === 'ephemeral') ephemeral.push(item.json);
    else if (item.kind === 'toDevice') toDevice.push(item.json);
    else devices = true;
  }
  let body = `{"events":[${events.join(',')}]`;
  if (flags.receiveEphemeral && ephemeral.length > 0) body += fields(EPHEMERAL_FIELDS, ephemeral);
  if (flags.receiveToDevice && toDevice.length > 0) body += fields(TO_DEVICE_FIELDS, toDevice);
  if (flags.msc3202 === true && devices) body += deviceFields(items);
  return `${body}}`;
}

function fields(names: readonly string[], jsons: readonly string[]): string {
  const array = `[${jsons.join(',')}]`;
  return names.map((name) => `,${JSON.stringify(name)}:${array}`).join('');
}
