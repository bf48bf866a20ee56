import { expect } from 'chai';
import { InvalidEventError } from '../lib/errors.ts';
import { assertEphemeralEvent, assertMatrixEvent, assertToDeviceMessage } from '../lib/events.ts';

function refused(check: () => void): string {
  try {
    check();
  } catch (error) {
    expect(error).to.be.instanceOf(InvalidEventError);
    expect((error as InvalidEventError).code).to.equal('ERR_INVALID_EVENT');
    return (error as Error).message;
  }
  throw new Error('accepted');
}

describe('event validation', () => {
  const event = { event_id: '$e', room_id: '!r:hs', type: 'm.room.message', sender: '@a:hs', content: {} };

  it('accepts well-formed events, state events and extra fields', () => {
    assertMatrixEvent(event);
    assertMatrixEvent({ ...event, type: 'm.room.member', state_key: '@b:hs', unsigned: { age: 1 } });
    assertMatrixEvent({ ...event, type: 'm.room.topic', state_key: '' });
  });

  it('names the field that is wrong', () => {
    expect(refused(() => assertMatrixEvent(null))).to.equal('event: must be an object, got null');
    expect(refused(() => assertMatrixEvent({ ...event, event_id: 'e' }))).to.match(/^event\.event_id: /);
    expect(refused(() => assertMatrixEvent({ ...event, room_id: '#alias:hs' }))).to.match(
      /^event\.room_id: must look like !local:server/,
    );
    expect(refused(() => assertMatrixEvent({ ...event, sender: 7 }))).to.equal(
      'event.sender: must be a string, got number',
    );
    expect(refused(() => assertMatrixEvent({ ...event, content: null }))).to.equal(
      'event.content: must be an object, got null',
    );
  });

  it('wants a room_id on typing and receipts, and a sender on presence', () => {
    assertEphemeralEvent({ type: 'm.typing', room_id: '!r:hs', content: { user_ids: [] } });
    assertEphemeralEvent({ type: 'm.presence', sender: '@a:hs', content: { presence: 'online' } });
    expect(refused(() => assertEphemeralEvent({ type: 'm.typing', content: {} }))).to.match(/^ephemeral\.room_id: /);
    expect(refused(() => assertEphemeralEvent({ type: 'm.receipt', room_id: 'r', content: {} }))).to.match(
      /^ephemeral\.room_id: /,
    );
    expect(refused(() => assertEphemeralEvent({ type: 'm.presence', content: {} }))).to.match(/^ephemeral\.sender: /);
    expect(refused(() => assertEphemeralEvent({ type: 'm.typing', room_id: '!r:hs' }))).to.match(
      /^ephemeral\.content: /,
    );
  });

  // AS API, "Pushing EDUs": "there are only three event types that can currently occur:
  // m.presence, m.typing, and m.receipt".
  it('AS API "Pushing EDUs": refuses any EDU type but m.typing, m.receipt and m.presence, naming it', () => {
    for (const type of ['m.direct_to_device', 'm.device_list_update', 'org.example.custom', 'm.signing_key_update']) {
      expect(refused(() => assertEphemeralEvent({ type, room_id: '!r:hs', sender: '@a:hs', content: {} }))).to.equal(
        `ephemeral.type: ${JSON.stringify(type)} is not an EDU type the AS API pushes (only m.typing, m.receipt, m.presence)`,
      );
    }
    assertEphemeralEvent({ type: 'm.receipt', room_id: '!r:hs', content: {} });
  });

  it('wants the recipient on to-device messages', () => {
    const msg = { type: 'm.room_key', sender: '@a:hs', to_user_id: '@b:hs', to_device_id: 'DEV', content: {} };
    assertToDeviceMessage(msg);
    expect(refused(() => assertToDeviceMessage({ ...msg, to_user_id: undefined }))).to.match(/^toDevice\.to_user_id: /);
    expect(refused(() => assertToDeviceMessage({ ...msg, to_device_id: 3 }))).to.match(/^toDevice\.to_device_id: /);
    expect(refused(() => assertToDeviceMessage({ ...msg, type: '' }))).to.match(/^toDevice\.type: /);
  });
});
