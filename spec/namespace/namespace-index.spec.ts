import { expect } from 'chai';
import fc from 'fast-check';
import { NamespaceIndex, type NamespaceMatch } from '../../lib/namespace/namespace-index.ts';
import type { NamespaceKind, NamespaceRule, Registration } from '../../lib/registration/registration.ts';
import { testRegistration } from '../../lib/testing/registration.ts';

const KINDS: readonly NamespaceKind[] = ['users', 'aliases', 'rooms'];

function rule(src: string, exclusive = false, flags = ''): NamespaceRule {
  return { exclusive, source: src, regex: new RegExp(`^(?:${src})`, flags) };
}

function registration(id: string, namespaces: Partial<Record<NamespaceKind, NamespaceRule[]>>): Registration {
  return testRegistration({ id, namespaces });
}

/** The oracle: test every rule of every registration, with a fresh copy of each regex. */
function naiveMatch(regs: readonly Registration[], kind: NamespaceKind, value: string): NamespaceMatch[] {
  const out: NamespaceMatch[] = [];
  for (const reg of regs) {
    const hits = reg.namespaces[kind].filter((r) => new RegExp(r.regex).test(value));
    if (hits.length > 0) out.push({ registration: reg, exclusive: hits.some((r) => r.exclusive) });
  }
  return out;
}

describe('NamespaceIndex', () => {
  const irc = registration('irc', {
    users: [rule('@irc_.*', true), rule('@irc_bot', false)],
    aliases: [rule('#irc_.*', true)],
  });
  const discord = registration('discord', { users: [rule('@_discord_[0-9]+:example\\.org', true)] });
  const watcher = registration('watcher', { users: [rule('@.*', false)], rooms: [rule('!.*:example\\.org')] });

  it('answers in registration order, each registration once', () => {
    const index = new NamespaceIndex([watcher, irc, discord]);
    const got = index.match('users', '@irc_bot');
    expect(got.map((m) => m.registration.id)).to.deep.equal(['watcher', 'irc']);
  });

  it('marks a match exclusive when any matching rule is exclusive', () => {
    const index = new NamespaceIndex([irc, watcher]);
    expect(index.match('users', '@irc_bot')).to.deep.equal([
      { registration: irc, exclusive: true },
      { registration: watcher, exclusive: false },
    ]);
  });

  it('keeps kinds apart', () => {
    const index = new NamespaceIndex([irc, discord, watcher]);
    expect(index.match('aliases', '#irc_x:example.org').map((m) => m.registration.id)).to.deep.equal(['irc']);
    expect(index.match('rooms', '!abc:example.org').map((m) => m.registration.id)).to.deep.equal(['watcher']);
    expect(index.match('rooms', '#irc_x:example.org')).to.deep.equal([]);
  });

  it('answers nothing when nothing matches, or when there are no registrations', () => {
    expect(new NamespaceIndex([irc, discord]).match('users', '@alice:example.org')).to.deep.equal([]);
    expect(new NamespaceIndex([]).match('users', '@alice:example.org')).to.deep.equal([]);
    expect(new NamespaceIndex([]).exclusiveOwners('users', '@alice:example.org')).to.deep.equal([]);
  });

  it('lists exclusive owners only', () => {
    const index = new NamespaceIndex([watcher, irc, discord]);
    expect(index.exclusiveOwners('users', '@irc_bob')).to.deep.equal([irc]);
    expect(index.exclusiveOwners('users', '@_discord_12:example.org')).to.deep.equal([discord]);
    expect(index.exclusiveOwners('users', '@alice:example.org')).to.deep.equal([]);
  });

  it('answers matches() for one registration, indexed or not', () => {
    const index = new NamespaceIndex([irc]);
    expect(index.matches(irc, 'users', '@irc_bob')).to.equal(true);
    expect(index.matches(irc, 'users', '@slack_bob')).to.equal(false);
    expect(index.matches(irc, 'rooms', '@irc_bob')).to.equal(false);
    expect(index.matches(discord, 'users', '@_discord_1:example.org')).to.equal(true);
    expect(index.matches(discord, 'users', '@_discord_x:example.org')).to.equal(false);
  });

  it('answers the same object given twice only once', () => {
    const index = new NamespaceIndex([irc, irc]);
    expect(index.match('users', '@irc_bob')).to.have.length(1);
  });

  it('matches case-insensitive rules through the folded prefix', () => {
    const slack = registration('slack', { users: [rule('@Slack_.*', true, 'i')] });
    const index = new NamespaceIndex([slack]);
    expect(index.match('users', '@SLACK_bob').map((m) => m.registration.id)).to.deep.equal(['slack']);
    expect(index.match('users', '@slack_bob')).to.have.length(1);
    expect(index.match('users', '@slick_bob')).to.have.length(0);
    expect(index.matches(slack, 'users', '@sLaCk_x')).to.equal(true);
  });

  it('is not thrown off by a global regex left with a lastIndex', () => {
    const greedy = registration('g', { users: [{ exclusive: false, source: '@g_', regex: /^@g_/g }] });
    const index = new NamespaceIndex([greedy]);
    for (let i = 0; i < 3; i++) expect(index.match('users', '@g_x')).to.have.length(1);
  });

  it('tests an unanchored regex against every string', () => {
    const anywhere = registration('any', { users: [{ exclusive: false, source: 'bot', regex: /bot/ }] });
    expect(new NamespaceIndex([anywhere]).match('users', '@irc_bot')).to.have.length(1);
  });

  it('rejects an unknown kind', () => {
    expect(() => new NamespaceIndex([irc]).match('servers' as NamespaceKind, 'x')).to.throw(TypeError);
  });

  it('tests only the rules whose prefix the string starts with', () => {
    // Count regex executions: with 200 bridges, a lookup must touch its own bridge's rules only.
    // The `s` flag (which changes nothing here) keeps these rules off the exact check that decides
    // simple shapes without their regex (rule-program.ts), so every rule the index tries is counted.
    let tests = 0;
    const counted = (src: string): NamespaceRule => {
      const regex = new RegExp(`^(?:${src})`, 's');
      const original = regex.test.bind(regex);
      regex.test = (s: string) => {
        tests++;
        return original(s);
      };
      return { exclusive: true, source: src, regex };
    };
    const regs = Array.from({ length: 200 }, (_, i) =>
      registration(`b${i}`, { users: [counted(`@_bridge${i}_[0-9]+:example\\.org`), counted(`@_bridge${i}_bot`)] }),
    );
    const index = new NamespaceIndex(regs);
    expect(index.match('users', '@_bridge42_7:example.org').map((m) => m.registration.id)).to.deep.equal(['b42']);
    expect(tests).to.equal(1); // `@_bridge42_bot` is filed deeper than the id goes
    tests = 0;
    expect(index.match('users', '@alice:example.org')).to.deep.equal([]);
    expect(tests).to.equal(0);
    // Differs from every prefix inside a merged edge (`@_bridge`), not at a branch.
    expect(index.match('users', '@_bxidge42_7:example.org')).to.deep.equal([]);
    expect(tests).to.equal(0);
  });
});

describe('NamespaceIndex against the naive loop (property)', () => {
  // A small alphabet so that prefixes collide, nest and differ only in case.
  const literalChar = fc.constantFrom('@', '_', 'a', 'b', 'k', 's', 'A', 'K', 'S', ':', '1', '.', 'é');
  const literal = fc.array(literalChar, { minLength: 0, maxLength: 5 }).map((cs) => cs.join(''));
  const escapeLiteral = (s: string): string => s.replace(/\./g, '\\.');
  /** Pieces of a safe grammar, each with a string it matches, so that ids can be built to match. */
  const tail = fc.constantFrom<readonly [string, string]>(
    ['.*', 'zz'],
    ['[0-9]+', '09'],
    ['(a|b)', 'b'],
    ['x?', 'x'],
    ['\\.', '.'],
    ['a+', 'aa'],
    ['(?:ab)', 'ab'],
    ['[ab]', 'b'],
    ['a{0,2}', 'a'],
    ['k{1,2}', 'kk'],
    ['$', ''],
    ['|@b', ''],
    ['\\d', '7'],
    ['s*', 's'],
    ['(?<n>a)', 'a'],
    ['(?=a)', ''],
    ['\\w', 'w'],
    ['b+?', 'b'],
    ['(?:a.b)+', 'azb'],
    ['^', ''],
    ['\\b', ''],
    ['(?!b)', ''],
    ['(?<=a)', ''],
    ['', ''],
  );
  const piece = fc.oneof(
    tail,
    literal.map((l) => [escapeLiteral(l), l] as const),
  );
  const sampled = fc.tuple(literal, fc.array(piece, { maxLength: 3 })).map(([lit, rest]) => {
    let n = 0;
    // Group names must be unique within a regex.
    const src = (escapeLiteral(lit) + rest.map(([p]) => p).join('')).replace(/\(\?<n>/g, () => `(?<n${n++}>`);
    return { src, sample: lit + rest.map(([, s]) => s).join('') };
  });
  const flags = fc.constantFrom('', '', '', 'i', 'iu', 'u', 'g', 'y', 'm');
  type SampledRule = NamespaceRule & { readonly sample: string };
  const anchoredRule = fc.record({
    sampled,
    exclusive: fc.boolean(),
    flags,
    anchor: fc.constantFrom('^(?:', '^(?:', '^(?:', '(?:'),
  });
  const namespaceRules = fc.array(anchoredRule, { maxLength: 3 }).map((rs) =>
    rs.map(({ sampled: { src, sample }, exclusive, flags: f, anchor }): SampledRule => ({
      exclusive,
      source: src,
      regex: new RegExp(`${anchor}${src})`, f),
      sample,
    })),
  );
  const registrations = fc
    .array(fc.record({ users: namespaceRules, aliases: namespaceRules, rooms: namespaceRules }), { maxLength: 8 })
    .map((list) => list.map((ns, i) => registration(`as${i}`, ns)));

  const idChar = fc.constantFrom(
    '@',
    '_',
    'a',
    'b',
    'k',
    's',
    'A',
    'K',
    'S',
    ':',
    '1',
    '.',
    '0',
    '9',
    'x',
    '\u212A',
    '\u017F',
    'é',
    'É',
    '\n',
  );
  const randomId = fc.array(idChar, { maxLength: 10 }).map((cs) => cs.join(''));
  /** Ids built from strings the rules match, then sometimes bent: case flipped, cut short, extended. */
  const idsFor = (regs: Registration[]) => {
    const samples = regs.flatMap((r) => KINDS.flatMap((k) => r.namespaces[k].map((x) => (x as SampledRule).sample)));
    const derived =
      samples.length === 0
        ? randomId
        : fc
            .tuple(fc.constantFrom(...samples), randomId, fc.constantFrom('as is', 'upper', 'cut', 'extend'), fc.nat(8))
            .map(([sample, suffix, bend, n]) => {
              if (bend === 'upper') return sample.toUpperCase();
              if (bend === 'cut') return sample.slice(0, n);
              if (bend === 'extend') return sample + suffix;
              return sample;
            });
    return fc.array(fc.oneof(randomId, derived, derived), { minLength: 1, maxLength: 12 });
  };

  it('match(), matches() and exclusiveOwners() answer what testing every rule answers', () => {
    fc.assert(
      fc.property(
        registrations.chain((regs) => fc.tuple(fc.constant(regs), idsFor(regs))),
        ([regs, ids]) => {
          const index = new NamespaceIndex(regs);
          for (const kind of KINDS) {
            for (const id of ids) {
              const expected = naiveMatch(regs, kind, id);
              expect(index.match(kind, id)).to.deep.equal(expected);
              expect(index.exclusiveOwners(kind, id)).to.deep.equal(
                expected.filter((m) => m.exclusive).map((m) => m.registration),
              );
              for (const reg of regs) {
                expect(index.matches(reg, kind, id)).to.equal(expected.some((m) => m.registration === reg));
              }
            }
          }
        },
      ),
      { numRuns: 1000 },
    );
  });
});
