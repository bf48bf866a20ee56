import { expect } from 'chai';
import { fileURLToPath } from 'node:url';
import { loadRegistrations, validateRegistration } from '../../lib/registration/load.ts';
import { registrationWarnings } from '../../lib/registration/warnings.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
let counter = 0;

function reg(
  id: string,
  namespaces: Record<string, Array<{ exclusive: boolean; regex: string }>>,
  extra: Record<string, unknown> = {},
) {
  counter++;
  return validateRegistration(
    {
      id,
      url: null,
      as_token: `secret-as-${counter}`,
      hs_token: `secret-hs-${counter}`,
      sender_localpart: id,
      namespaces,
      ...extra,
    },
    `${id}.yaml`,
  );
}

const users = (exclusive: boolean, ...regexes: string[]) => ({ users: regexes.map((regex) => ({ exclusive, regex })) });

describe('registrationWarnings', () => {
  it('finds no warning in the good fixtures', async () => {
    const all = await loadRegistrations(['fixtures/registrations/good/*.yaml'], { cwd: ROOT });
    expect(registrationWarnings(all)).to.deep.equal([]);
  });

  it('warns when exclusive namespaces of two ASes overlap', () => {
    const warnings = registrationWarnings([
      reg('irc', users(true, '@irc_.*')),
      reg('heisen', users(true, '@irc_bob:example\\.org')),
    ]);
    expect(warnings).to.have.length(1);
    expect(warnings[0]).to.include({ source: 'heisen.yaml', field: 'namespaces.users[0].regex' });
    expect(warnings[0]!.message).to.include('irc.yaml (irc)').and.include('"@irc_bob:example.org"');
  });

  it('sees an overlap whichever side has the wider regex', () => {
    expect(registrationWarnings([reg('a', users(true, '@x_[0-9]+:s')), reg('b', users(true, '@x_.*'))])).to.have.length(
      1,
    );
    expect(registrationWarnings([reg('a', users(true, '@.*')), reg('b', users(true, '@telegram_.*'))])).to.have.length(
      1,
    );
  });

  it('does not warn for disjoint regexes sharing a prefix', () => {
    expect(
      registrationWarnings([reg('a', users(true, '@irc_.*:a\\.org')), reg('b', users(true, '@irc_.*:b\\.org'))]),
    ).to.deep.equal([]);
  });

  it('does not warn for non-exclusive claims, one AS with itself, or different kinds', () => {
    expect(registrationWarnings([reg('a', users(true, '@irc_.*')), reg('b', users(false, '@.*'))])).to.deep.equal([]);
    expect(registrationWarnings([reg('a', users(true, '@irc_.*', '@irc_bob'))])).to.deep.equal([]);
    const aliases = reg('c', { aliases: [{ exclusive: true, regex: '.*' }] });
    expect(registrationWarnings([reg('a', users(true, '@irc_.*')), aliases])).to.deep.equal([]);
  });

  it('names the regexes a backtracking engine would run in exponential time, which RE2 runs in linear time', () => {
    const warnings = registrationWarnings([
      reg(
        'a',
        users(
          true,
          '@ok_.*',
          '@(a+)+:x',
          '@([a-z]+)*$',
          '@irc_(\\w|\\d)*:hs',
          '@irc_(\\w+\\.?)+:hs',
          '@[a-z]+_[0-9]+:x',
        ),
      ),
    ]);
    expect(warnings.map((w) => w.field)).to.deep.equal([
      'namespaces.users[1].regex',
      'namespaces.users[2].regex',
      'namespaces.users[3].regex',
      'namespaces.users[4].regex',
    ]);
    for (const w of warnings) expect(w.message).to.match(/runs in linear time via RE2; it would have backtracked/);
  });

  it('says a url at a link-local or metadata address is trusted configuration', () => {
    const at = (url: string) => registrationWarnings([reg('a', {}, { url })]).filter((w) => w.field === 'url');
    for (const url of [
      'http://169.254.169.254/latest/meta-data',
      'http://[fe80::1]:9000',
      'http://metadata.google.internal/',
      'http://[::ffff:169.254.1.1]/',
      'http://[fd00:ec2::254]/',
    ]) {
      const warnings = at(url);
      expect(warnings, url).to.have.length(1);
      expect(warnings[0]!.message).to.match(
        /link-local or cloud metadata address; registrations are trusted configuration/,
      );
    }
    for (const url of [
      'http://localhost:9000',
      'http://10.1.2.3:9000',
      'https://bridge.example.org',
      'http://169.254.1.1.example.org',
    ])
      expect(at(url), url).to.deep.equal([]);
  });

  it("never shows the url's password or query in that warning", () => {
    const [w] = registrationWarnings([
      reg('a', {}, { url: 'http://u:pass-word-1@169.254.169.254/?access_token=tok-en-value' }),
    ]).filter((x) => x.field === 'url');
    expect(w!.message).not.to.match(/pass-word-1|tok-en-value/);
  });

  it('flags push_ephemeral without a key Synapse reads', () => {
    expect(registrationWarnings([reg('a', {}, { push_ephemeral: true })]).map((w) => w.field)).to.deep.equal([
      'push_ephemeral',
    ]);
    expect(
      registrationWarnings([reg('a', {}, { push_ephemeral: true, 'de.sorunome.msc2409.push_ephemeral': true })]),
    ).to.deep.equal([]);
  });

  it('never puts a token in a warning', () => {
    const warnings = registrationWarnings([reg('a', users(true, '@.*')), reg('b', users(true, '@b_.*', '@(x+)+'))]);
    expect(warnings.length).to.be.at.least(2);
    for (const w of warnings) expect(w.message).not.to.include('secret');
  });
});
