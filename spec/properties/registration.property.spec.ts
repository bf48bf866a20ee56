/**
 * Issue 8 part 3, the registration loader: whatever the file holds, loading ends in a valid
 * Registration or a RegistrationLoadError made of RegistrationErrors that name the file, never in
 * another exception (a TypeError from a field access, a regex crash, a YAML stack trace), and
 * never with a token in the message.
 *
 * Inputs: random values of any shape; a valid registration with one field set to a random value
 * or removed; random text; YAML built from random fragments; and a valid file with random damage.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { RegistrationError, RegistrationLoadError } from '../../lib/errors.ts';
import { loadRegistrations, parseRegistration, validateRegistration } from '../../lib/registration/load.ts';
import type { Registration } from '../../lib/registration/registration.ts';

const AS_TOKEN = 'AsTok3n-property-0123456789';
const HS_TOKEN = 'HsTok3n-property-9876543210';

function valid(): Record<string, unknown> {
  return {
    id: 'irc',
    url: 'http://127.0.0.1:9000',
    as_token: AS_TOKEN,
    hs_token: HS_TOKEN,
    sender_localpart: 'ircbot',
    rate_limited: false,
    protocols: ['irc'],
    namespaces: {
      users: [{ exclusive: true, regex: '@irc_.*:hs\\.test' }],
      aliases: [{ exclusive: false, regex: '#irc_.*' }],
      rooms: [],
    },
    'de.sorunome.msc2409.push_ephemeral': true,
  };
}

const VALID_YAML = stringify(valid());

/** Paths into the valid object, leaves and containers alike. */
const PATHS: string[][] = [
  ['id'],
  ['url'],
  ['as_token'],
  ['hs_token'],
  ['sender_localpart'],
  ['rate_limited'],
  ['protocols'],
  ['protocols', '0'],
  ['namespaces'],
  ['namespaces', 'users'],
  ['namespaces', 'users', '0'],
  ['namespaces', 'users', '0', 'regex'],
  ['namespaces', 'users', '0', 'exclusive'],
  ['namespaces', 'aliases', '0', 'regex'],
  ['namespaces', 'rooms'],
  ['de.sorunome.msc2409.push_ephemeral'],
  ['receive_ephemeral'],
  ['org.matrix.msc3202'],
  ['io.element.msc4190'],
  ['__proto__'],
  ['constructor'],
];

function mutate(path: readonly string[], value: unknown, remove: boolean): unknown {
  const root = structuredClone(valid());
  let node = root as Record<string, unknown>;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null) return root;
    node = next as Record<string, unknown>;
  }
  const last = path[path.length - 1]!;
  if (remove) delete node[last];
  else Object.defineProperty(node, last, { value, enumerable: true, writable: true, configurable: true });
  return root;
}

/** The outcome the loader promises: a registration, or our error with field-naming parts. */
function checkOutcome(run: () => Registration, file: string): void {
  let registration: Registration;
  try {
    registration = run();
  } catch (error) {
    expect(error, `threw ${String(error)}`).to.be.instanceOf(RegistrationLoadError);
    const load = error as RegistrationLoadError;
    expect(load.errors.length).to.be.at.least(1);
    for (const part of load.errors) {
      expect(part).to.be.instanceOf(RegistrationError);
      expect(part.file).to.equal(file);
      expect(part.reason).to.be.a('string').that.is.not.empty;
    }
    expect(load.message).not.to.include(AS_TOKEN);
    expect(load.message).not.to.include(HS_TOKEN);
    return;
  }
  expect(registration.id).to.be.a('string').that.is.not.empty;
  expect(registration.asToken).to.be.a('string').that.is.not.empty;
  expect(registration.hsToken).to.be.a('string').that.is.not.empty;
  for (const kind of ['users', 'aliases', 'rooms'] as const) {
    for (const rule of registration.namespaces[kind]) {
      expect(rule.regex).to.be.instanceOf(RegExp);
      rule.regex.test('@irc_bob:hs.test');
    }
  }
}

const anyValue = fc.anything({
  withBigInt: true,
  withDate: true,
  withMap: true,
  withSet: true,
  withNullPrototype: true,
  withTypedArray: true,
  withSparseArray: true,
  maxDepth: 3,
});

describe('properties: the registration loader never crashes', () => {
  it('accepts the unmutated base (so the properties below can tell success from refusal)', () => {
    expect(validateRegistration(valid(), '<object #0>').id).to.equal('irc');
    expect(parseRegistration(VALID_YAML, 'irc.yaml').id).to.equal('irc');
  });

  it('YAML aliases: one without its anchor, and an alias bomb, are refused as invalid YAML without quoting the file', () => {
    const bomb = `${VALID_YAML}a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n`;
    for (const text of [`${VALID_YAML}x: *${AS_TOKEN}\n`, `as_token: *${AS_TOKEN}\n`, bomb]) {
      checkOutcome(() => parseRegistration(text, 'alias.yaml'), 'alias.yaml');
      expect(() => parseRegistration(text, 'alias.yaml')).to.throw(RegistrationLoadError, /invalid YAML/);
    }
  });

  it('any value at all: a Registration or a RegistrationLoadError', () => {
    fc.assert(
      fc.property(anyValue, (value) => checkOutcome(() => validateRegistration(value, '<object #0>'), '<object #0>')),
      { numRuns: 1_000 },
    );
  });

  it('a valid registration with one field replaced by anything, or removed', () => {
    fc.assert(
      fc.property(fc.constantFrom(...PATHS), anyValue, fc.boolean(), (path, value, remove) =>
        checkOutcome(() => validateRegistration(mutate(path, value, remove), '<object #0>'), '<object #0>'),
      ),
      { numRuns: 2_000 },
    );
  });

  it('any text as a file', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200, unit: 'binary' }), (text) =>
        checkOutcome(() => parseRegistration(text, 'f.yaml'), 'f.yaml'),
      ),
      {
        numRuns: 1_000,
      },
    );
  });

  it('YAML made of registration-like fragments', () => {
    const fragment = fc.constantFrom(
      'id: irc\n',
      'id: [1, 2]\n',
      'url: null\n',
      'url: ftp://x\n',
      'url: http://127.0.0.1:9\n',
      `as_token: ${AS_TOKEN}\n`,
      `hs_token: ${HS_TOKEN}\n`,
      `hs_token: ${AS_TOKEN}\n`,
      'sender_localpart: bot\n',
      'rate_limited: yes\n',
      'rate_limited: "false"\n',
      'namespaces:\n',
      '  users:\n',
      '  - regex: "@irc_.*"\n',
      '    exclusive: on\n',
      '  - regex: "@irc_(.*"\n',
      '  aliases: {}\n',
      '  rooms: ~\n',
      '---\n',
      '!!python/object:os.system\n',
      '&a [*a]\n',
      'key: *nothing\n',
      '? complex\n: key\n',
      '\t',
      '  ',
      '- ',
      ': ',
      '"',
      "'",
      '#c\n',
      '{',
      '}',
      '[',
      ']',
      '%YAML 1.1\n',
      'protocols: [irc, 3]\n',
      'receive_ephemeral: 1\n',
      'x: !!binary aGVsbG8=\n',
      '<<: {id: x}\n',
    );
    fc.assert(
      fc.property(fc.array(fragment, { maxLength: 16 }), (parts) =>
        checkOutcome(() => parseRegistration(parts.join(''), 'f.yaml'), 'f.yaml'),
      ),
      { numRuns: 2_000 },
    );
  });

  it('a valid file with random damage (a slice cut out, random text spliced in)', () => {
    fc.assert(
      fc.property(fc.nat(VALID_YAML.length), fc.nat(40), fc.string({ maxLength: 12 }), (at, cut, insert) => {
        const text = VALID_YAML.slice(0, at) + insert + VALID_YAML.slice(Math.min(VALID_YAML.length, at + cut));
        checkOutcome(() => parseRegistration(text, 'damaged.yaml'), 'damaged.yaml');
      }),
      { numRuns: 2_000 },
    );
  });

  it('loadRegistrations() on objects: resolves or rejects with a RegistrationLoadError only', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...PATHS), anyValue, fc.boolean(), async (path, value, remove) => {
        try {
          await loadRegistrations([mutate(path, value, remove) as Record<string, unknown>]);
        } catch (error) {
          expect(error, String(error)).to.be.instanceOf(RegistrationLoadError);
          expect((error as Error).message).not.to.include(AS_TOKEN);
        }
      }),
      { numRuns: 300 },
    );
  });
});
