/**
 * What each opt-in flag of a registration needs from the homeserver, and what this library does
 * not do for it yet: `lint` prints one note per flag set, so that an encrypted bridge whose flags
 * validate does not then fail silently. Notes are not warnings: the flags are legitimate, and
 * `lint` does not count them.
 *
 * The texts follow the MSCs (matrix-org/matrix-spec-proposals 2409, 3202, 4190) and the state of
 * this library; the README's "Encrypted bridges" section says the same at more length.
 */
import type { Registration } from './registration.ts';
import type { RegistrationWarning } from './warnings.ts';

const EPHEMERAL =
  'ephemeral events (MSC2409) are pushed: typing, receipts and presence the homeserver publishes with as.publishEphemeral(), ' +
  "and to-device messages for the AS's users it publishes with as.publishToDevice() (Synapse sends to-device to the same ASes); " +
  'nothing arrives unless the homeserver calls them';

const MSC3202 =
  "MSC3202 (encrypted appservices): the AS may act as one of its users' devices (`org.matrix.msc3202.device_id`), accepted only when " +
  'the host implements deviceExists; to-device messages for its users (as.publishToDevice) are sent to it with or without the ephemeral flag (MSC4203). ' +
  'device_lists, device_one_time_keys_count and device_unused_fallback_key_types reach it in transactions only when the homeserver ' +
  'turns experimentalFeatures.msc3202 on and calls as.publishDeviceListUpdate() (device changes, rooms left) and as.publishKeyCounts() ' +
  '(after key uploads and claims); otherwise a bridge waiting for key counts or device list changes never gets them. ' +
  'Key claims/queries proxied to the AS (MSC3983/3984) need experimentalFeatures on the homeserver';

const MSC4190 =
  "MSC4190 (device management): the AS logs in no user and manages its users' devices itself, so m.login.application_service " +
  'is refused for it (and /register without inhibit_login). The homeserver must set experimentalFeatures.msc4190; then on ' +
  "PUT /devices/{deviceId}, DELETE /devices/{deviceId}, POST /delete_devices and POST /keys/device_signing/upload this AS's " +
  "requests carry ctx.state.deviceManagement, and the homeserver's routes must create the device on PUT (201) and skip " +
  'user-interactive auth on the others. Acting as the device afterwards (device_id) needs deviceExists on the host';

/**
 * @example
 * for (const note of flagNotes(registrations)) console.log(`ℹ ${note.source}: ${note.field}: ${note.message}`);
 */
export function flagNotes(registrations: readonly Registration[]): RegistrationWarning[] {
  const notes: RegistrationWarning[] = [];
  for (const r of registrations) {
    if (r.receiveEphemeral) {
      const field = r.raw.receive_ephemeral === true ? 'receive_ephemeral' : 'de.sorunome.msc2409.push_ephemeral';
      notes.push({ source: r.source, field, message: EPHEMERAL });
    }
    if (r.msc3202) notes.push({ source: r.source, field: 'org.matrix.msc3202', message: MSC3202 });
    if (r.msc4190) notes.push({ source: r.source, field: 'io.element.msc4190', message: MSC4190 });
  }
  return notes;
}
