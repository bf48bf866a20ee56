import { expect } from 'chai';
import { RegistrationLoadError } from '../../lib/errors.ts';
import { parseRegistration } from '../../lib/registration/load.ts';

const file = (extra: string) =>
  `id: y\nurl: null\nas_token: at-0123456789\nhs_token: ht-0123456789\nsender_localpart: n\nnamespaces: {}\n${extra}`;

describe('registration YAML booleans read as PyYAML reads them', () => {
  it('keeps a bare y and n strings', () => {
    const registration = parseRegistration(file(''), 'y.yaml');
    expect(registration.id).to.equal('y');
    expect(registration.senderLocalpart).to.equal('n');
  });

  it('reads yes/no, on/off, true/false as booleans', () => {
    for (const [word, value] of [
      ['yes', true],
      ['On', true],
      ['TRUE', true],
      ['no', false],
      ['OFF', false],
      ['False', false],
    ] as const) {
      expect(parseRegistration(file(`rate_limited: ${word}\n`), 'b.yaml').rateLimited, word).to.equal(value);
    }
  });

  it('refuses rate_limited: Y, which PyYAML reads as a string', () => {
    expect(() => parseRegistration(file('rate_limited: Y\n'), 'r.yaml'))
      .to.throw(RegistrationLoadError)
      .with.property('message')
      .that.matches(/r\.yaml: rate_limited: .*string/);
  });
});
