import { expect } from 'chai';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../lib/cli.ts';
import { validateRegistration } from '../../lib/registration/load.ts';
import { flagNotes } from '../../lib/registration/flag-notes.ts';

let counter = 0;
function reg(extra: Record<string, unknown>) {
  counter++;
  const namespaces = { users: [{ exclusive: true, regex: '@br_.*' }] };
  return validateRegistration(
    {
      id: `br${counter}`,
      url: null,
      as_token: `secret-as-${counter}`,
      hs_token: `secret-hs-${counter}`,
      sender_localpart: 'br',
      namespaces,
      ...extra,
    },
    `br${counter}.yaml`,
  );
}

describe('flagNotes (what each registration flag needs from the homeserver)', () => {
  it('says nothing for a registration without flags', () => {
    expect(flagNotes([reg({})])).to.deep.equal([]);
  });

  it('notes MSC3202, naming what the homeserver must provide: the switch, the two calls, deviceExists', () => {
    const [note, ...rest] = flagNotes([reg({ 'org.matrix.msc3202': true })]);
    expect(rest).to.deep.equal([]);
    expect(note?.field).to.equal('org.matrix.msc3202');
    expect(note?.message)
      .to.include('deviceExists')
      .and.include('device_lists')
      .and.include('device_one_time_keys_count')
      .and.include('experimentalFeatures.msc3202')
      .and.include('as.publishDeviceListUpdate()')
      .and.include('as.publishKeyCounts()')
      .and.not.include('Not implemented yet');
  });

  it('notes MSC4190 with the device routes the homeserver must open without user-interactive auth', () => {
    const [note] = flagNotes([reg({ 'io.element.msc4190': true })]);
    expect(note?.field).to.equal('io.element.msc4190');
    expect(note?.message)
      .to.include('PUT /devices/{deviceId}')
      .and.include('/delete_devices')
      .and.include('/keys/device_signing/upload')
      .and.include('experimentalFeatures.msc4190')
      .and.include('ctx.state.deviceManagement')
      .and.not.include('does not handle');
  });

  it('notes ephemeral delivery under whichever key turned it on', () => {
    expect(flagNotes([reg({ receive_ephemeral: true })]).map((n) => n.field)).to.deep.equal(['receive_ephemeral']);
    const unstable = flagNotes([reg({ 'de.sorunome.msc2409.push_ephemeral': true })]);
    expect(unstable.map((n) => n.field)).to.deep.equal(['de.sorunome.msc2409.push_ephemeral']);
    expect(unstable[0]?.message).to.include('publishEphemeral').and.include('publishToDevice');
  });

  it('lint prints one ℹ line per flag and does not count them as warnings', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'koa-as-flags-'));
    try {
      const file = join(dir, 'bridge.yaml');
      await writeFile(
        file,
        'id: bridge\nurl: null\nas_token: ta-0123456789\nhs_token: ha-0123456789\nsender_localpart: bot\n' +
          'org.matrix.msc3202: true\nio.element.msc4190: true\nde.sorunome.msc2409.push_ephemeral: true\n' +
          'namespaces:\n  users:\n    - exclusive: true\n      regex: "@br_.*"\n',
      );
      let out = '';
      const io = { stdout: { write: (s: string) => (out += s) }, stderr: { write: () => {} } };
      expect(await main(['lint', file], io, { cwd: dir })).to.equal(0);
      const notes = out.split('\n').filter((l) => l.startsWith('ℹ '));
      expect(notes.map((l) => l.split(': ')[1])).to.deep.equal([
        'de.sorunome.msc2409.push_ephemeral',
        'org.matrix.msc3202',
        'io.element.msc4190',
      ]);
      expect(out).to.include('1 valid, 0 invalid, 0 warnings');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
