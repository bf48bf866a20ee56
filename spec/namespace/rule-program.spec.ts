import { expect } from 'chai';
import fc from 'fast-check';
import { startsWithPrefix } from '../../lib/namespace/literal-prefix.ts';
import { compileRule, isExact, ProgramTables, runRule } from '../../lib/namespace/rule-program.ts';
import { NamespaceIndex } from '../../lib/namespace/namespace-index.ts';
import { translateNamespaceRegex } from '../../lib/registration/regex.ts';
import type { NamespaceRule } from '../../lib/registration/registration.ts';
import { testRegistration } from '../../lib/testing/registration.ts';

/** What the index answers for one rule: its prefix, then its ops (exact, or the fallback to the regex). */
function indexAnswer(regex: RegExp, value: string): { exact: boolean; answer: boolean } {
  const tables = new ProgramTables();
  const { prefix, ops } = compileRule(regex, tables);
  tables.seal();
  const answer =
    startsWithPrefix(value, prefix) && runRule(Int32Array.from(ops), 0, ops.length, value, prefix.text.length, tables);
  return { exact: isExact(ops), answer };
}

/** The tails of the namespace bench's regexes: the common bridge shapes. */
const COMMON = [
  '@_discord7_[0-9]+:example\\.org',
  '@_discord7_bot:example\\.org',
  '@_discord7_puppet_.*:example\\.org',
  '@_discord7_[a-z]+:example\\.org',
  '@_discord7_guild_[0-9]+_.*',
  '@_discord7_relay_.*',
  '@_discord7_ghost_[0-9a-f]{8}:example\\.org',
  '@_discord7_sms_\\+[0-9]+',
  '@irc7\\.example\\.net/.*:bridge\\.example\\.org',
  '@slack_[^:]+:example\\.org',
];

describe('rule programs (the exact check before RE2)', () => {
  it('decides the common bridge shapes without their regex, as RE2 does', () => {
    const ids = [
      '@_discord7_12345:example.org',
      '@_discord7_12345:example.org.evil',
      '@_discord7_:example.org',
      '@_discord7_12a45:example.org',
      '@_discord7_bot:example.org',
      '@_discord7_puppet_alice:example.org',
      '@_discord7_puppet_al\nice:example.org',
      '@_discord7_carol:example.org',
      '@_discord7_guild_42_general',
      '@_discord7_guild__general',
      '@_discord7_relay_',
      '@_discord7_ghost_0badc0de:example.org',
      '@_discord7_ghost_0badc0d:example.org',
      '@_discord7_sms_+15550100',
      '@_discord7_sms_+',
      '@irc7.example.net/dave:bridge.example.org',
      '@irc7.example.net/da:ve:bridge.example.org',
      '@slack_b\u{1F600}b:example.org',
      '@slack_:example.org',
    ];
    for (const source of COMMON) {
      const regex = translateNamespaceRegex(source);
      for (const id of ids) {
        const { exact, answer } = indexAnswer(regex, id);
        expect(exact, source).to.equal(true);
        expect(answer, `${source} on ${JSON.stringify(id)}`).to.equal(regex.test(id));
      }
    }
  });

  it('keeps the regex where a set may run into what follows it, or the shape is not a plain sequence', () => {
    for (const source of [
      '@a_[a-z]+[a-z0-9]:x',
      '@a_.*_[0-9]+',
      '@a_[^:]*x[0-9]',
      '(?i)@a_.*',
      '@a_(x|y)',
      '@a_\\d+',
      '@a_$',
    ]) {
      expect(indexAnswer(translateNamespaceRegex(source), '@a_x').exact, source).to.equal(false);
    }
  });

  it('runs no regex for a rule the exact check decides', () => {
    let runs = 0;
    const counted = (source: string): NamespaceRule => {
      const regex = translateNamespaceRegex(source);
      const original = regex.test.bind(regex);
      regex.test = (s: string) => {
        runs++;
        return original(s);
      };
      return { exclusive: true, source, regex };
    };
    const discord = testRegistration({ id: 'discord', namespaces: { users: COMMON.map(counted) } });
    const index = new NamespaceIndex([discord]);
    expect(index.match('users', '@_discord7_12345:example.org')).to.deep.equal([
      { registration: discord, exclusive: true },
    ]);
    expect(index.match('users', '@_discord7_Not Valid!:other.org')).to.deep.equal([]);
    expect(runs).to.equal(0);
  });

  describe('against RE2 and V8 (property)', () => {
    /** Python pattern pieces, each with a string it matches, so that ids can be built to match. */
    const atom = fc.constantFrom<readonly [string, string]>(
      ['a', 'a'],
      ['_', '_'],
      [':', ':'],
      ['1', '1'],
      ['\\.', '.'],
      ['\\+', '+'],
      ['-', '-'],
      ['.', 'z'],
      ['[0-9]', '7'],
      ['[a-z]', 'b'],
      ['[a-f0-9]', 'f'],
      ['[^:]', '\u{1F600}'],
      ['[^:_]', 'q'],
      ['[_a-z]', '_'],
      ['[-a]', '-'],
      ['[^\\n]', '\n'],
      ['\\d', '3'],
      ['(a|b)', 'b'],
    );
    const quantifier = fc.constantFrom('', '', '', '*', '+', '?', '{2}', '{1,3}', '{2,}', '*?', '+?');
    const piece = fc
      .tuple(atom, quantifier)
      .map(
        ([[src, sample], q]) =>
          [src + q, q === '' || q === '+' || q === '+?' ? sample : q.startsWith('{2') ? sample + sample : ''] as const,
      );
    const pattern = fc
      .tuple(fc.constantFrom('@a_', '@', '#irc_', ''), fc.array(piece, { minLength: 1, maxLength: 5 }))
      .map(([lead, pieces]) => ({
        source: lead + pieces.map(([p]) => p).join(''),
        sample: lead + pieces.map(([, s]) => s).join(''),
      }));
    const idChar = fc.constantFrom(
      'a',
      'b',
      'z',
      '_',
      ':',
      '1',
      '7',
      '.',
      '+',
      '-',
      '@',
      '\n',
      '\r',
      '\u2028',
      'é',
      '\u{1F600}',
      '\ud800',
      '\udc00',
    );
    const noise = fc.array(idChar, { maxLength: 8 }).map((cs) => cs.join(''));

    it('answers what the rule regex answers, for every id (and takes the exact path for many shapes)', () => {
      let exactRules = 0;
      let rules = 0;
      fc.assert(
        fc.property(
          pattern,
          fc.array(fc.tuple(noise, fc.nat(12), noise), { minLength: 1, maxLength: 8 }),
          ({ source, sample }, bends) => {
            const regex = translateNamespaceRegex(source);
            const v8 = new RegExp(regex.source, regex.flags);
            rules++;
            for (const [before, cut, after] of bends) {
              for (const id of [
                sample,
                sample + after,
                sample.slice(0, cut) + after,
                before,
                sample.slice(0, cut) + before + sample.slice(cut),
              ]) {
                const { exact, answer } = indexAnswer(regex, id);
                if (exact) {
                  expect(answer, `${source} on ${JSON.stringify(id)}`).to.equal(regex.test(id));
                  expect(answer, `${source} on ${JSON.stringify(id)} (V8)`).to.equal(v8.test(id));
                }
              }
            }
            if (indexAnswer(regex, '').exact) exactRules++;
          },
        ),
        { numRuns: 3000 },
      );
      // A property that never reaches the exact path proves nothing about it.
      expect(exactRules / rules).to.be.greaterThan(0.2);
    });
  });
});
