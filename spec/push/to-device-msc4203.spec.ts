/**
 * To-device messages in transactions, checked against MSC4203 ("Sending to-device events to
 * appservices", split off MSC2409): the stable field `to_device` and the unstable
 * `de.sorunome.msc2409.to_device`, each message carrying `to_user_id` and `to_device_id` (one
 * device), and no opt-in flag of its own.
 */
import { expect } from 'chai';
import { assertToDeviceMessage } from '../../lib/events.ts';
import { InvalidEventError } from '../../lib/errors.ts';
import { buildTransactionBody } from '../../lib/push/transaction-body.ts';
import { validateRegistration } from '../../lib/registration/load.ts';

const message = {
  type: 'm.room.encrypted',
  sender: '@alice:hs.test',
  to_user_id: '@br_bob:hs.test',
  to_device_id: 'VPLQFIDCIT',
  content: { algorithm: 'm.olm.v1.curve25519-aes-sha2', sender_key: 'k', ciphertext: {} },
};

function registration(extra: Record<string, unknown>) {
  return validateRegistration(
    {
      id: 'br',
      url: null,
      as_token: 'secret-as-4203',
      hs_token: 'secret-hs-4203',
      sender_localpart: 'br',
      namespaces: { users: [{ exclusive: true, regex: '@br_.*' }] },
      ...extra,
    },
    'br.yaml',
  );
}

describe('to-device in transactions (MSC4203)', () => {
  it('sends the message under `to_device` and `de.sorunome.msc2409.to_device`, with to_user_id and to_device_id as given', () => {
    const json = JSON.stringify(message);
    const body = JSON.parse(
      buildTransactionBody([{ seq: 1, kind: 'toDevice', json } as never], {
        receiveEphemeral: false,
        receiveToDevice: true,
      }),
    );
    expect(body).to.deep.equal({ events: [], to_device: [message], 'de.sorunome.msc2409.to_device': [message] });
  });

  it("refuses to_device_id '*': a message names the one device it was delivered to", () => {
    expect(() => assertToDeviceMessage(message)).not.to.throw();
    expect(() => assertToDeviceMessage({ ...message, to_device_id: '*' })).to.throw(
      InvalidEventError,
      /to_device_id: must name one device/,
    );
  });

  it('has no opt-in flag of its own: an AS declaring MSC3202 gets to-device even without the ephemeral flag', () => {
    expect(registration({ 'org.matrix.msc3202': true }).receiveToDevice).to.equal(true);
    expect(registration({ 'de.sorunome.msc2409.push_ephemeral': true }).receiveToDevice).to.equal(true);
    expect(registration({}).receiveToDevice).to.equal(false);
  });
});
