/**
 * Regex translation: the translated RegExp gives the same answers as Python's
 * `re.match` (how Synapse tests namespaces) on a reference set, and fast-check stretches each
 * reference case: text appended after a match keeps it a match unless the pattern is end-anchored,
 * and any pattern text at all is either translated or refused with a PythonRegexError, never
 * another exception.
 *
 * Expected answers come from Python 3 semantics: anchored at the start only; `$` matches at the
 * end or before a final newline; `\Z` only at the very end; `.` excludes only `\n`; `\d`, `\w`,
 * `\s` are Unicode-aware in str patterns (`\b` too, which RE2 cannot express: it is refused unless
 * `(?a)` makes it ASCII); `{,n}` means 0 to n; a `{` that forms no quantifier is a literal.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { PythonRegexError, translateNamespaceRegex } from '../../lib/registration/regex.ts';

interface Reference {
  pattern: string;
  input: string;
  expected: boolean;
  /** The pattern cannot match past its own end anchor: appending text may change the answer. */
  endAnchored?: boolean;
}

const REFERENCE: Reference[] = [
  { pattern: '@irc_.*', input: '@irc_bob:hs.test', expected: true },
  { pattern: '@irc_.*', input: '@irc_', expected: true },
  { pattern: '@irc_.*', input: 'x@irc_bob:hs.test', expected: false },
  { pattern: '@irc_.*', input: '@IRC_bob:hs.test', expected: false },
  { pattern: '@irc_.*', input: '', expected: false },
  { pattern: '(?i)@irc_.*', input: '@IRC_Bob:hs.test', expected: true },
  { pattern: '(?i)É', input: 'é', expected: true },
  { pattern: '@irc_.*:hs\\.test\\Z', input: '@irc_bob:hs.test', expected: true, endAnchored: true },
  { pattern: '@irc_.*:hs\\.test\\Z', input: '@irc_bob:hs.test\n', expected: false, endAnchored: true },
  { pattern: '@irc_.*:hs\\.test\\Z', input: '@irc_bob:hs.testx', expected: false, endAnchored: true },
  { pattern: '@irc_.*:hs\\.test$', input: '@irc_bob:hs.test', expected: true, endAnchored: true },
  { pattern: '@irc_.*:hs\\.test$', input: '@irc_bob:hs.test\n', expected: true, endAnchored: true },
  { pattern: '@irc_.*:hs\\.test$', input: '@irc_bob:hs.test\n\n', expected: false, endAnchored: true },
  { pattern: '@irc_.*:hs\\.test$', input: '@irc_bob:hs.testx', expected: false, endAnchored: true },
  { pattern: '^@irc_[a-z]+:hs\\.test$', input: '@irc_bob:hs.test', expected: true, endAnchored: true },
  { pattern: '@irc_[a-z]+', input: '@irc_BOB', expected: false },
  { pattern: '@irc_[a-z]+', input: '@irc_bob1', expected: true },
  { pattern: '@_discord_[0-9]+:example\\.org', input: '@_discord_123:example.org', expected: true },
  { pattern: '@_discord_[0-9]+:example\\.org', input: '@_discord_123:exampleXorg', expected: false },
  { pattern: '@_discord_[0-9]+:example\\.org', input: '@_discord_:example.org', expected: false },
  // Not end-anchored: Synapse accepts a longer server name too, and so must we.
  { pattern: '@_discord_[0-9]+:example\\.org', input: '@_discord_1:example.org.evil', expected: true },
  { pattern: '#irc_.*', input: '#irc_#matrix:hs.test', expected: true },
  { pattern: '@irc_.*|#irc_.*', input: '#irc_a', expected: true },
  { pattern: '@irc_.*|#irc_.*', input: 'x#irc_a', expected: false },
  { pattern: '\\A@x', input: '@x', expected: true },
  { pattern: '@(?P<n>[a-z]+)_', input: '@ab_ab', expected: true },
  { pattern: '@(?P<n>[a-z]+)_$', input: '@ab_ac', expected: false, endAnchored: true },
  { pattern: '(a)a', input: 'aa', expected: true },
  { pattern: '.', input: '\n', expected: false },
  { pattern: '.', input: '\r', expected: true },
  { pattern: '.', input: '\u2028', expected: true },
  { pattern: '(?s).', input: '\n', expected: true },
  { pattern: '\\d', input: '\u0663', expected: true }, // ARABIC-INDIC DIGIT THREE
  { pattern: '(?a)\\d', input: '\u0663', expected: false },
  { pattern: '\\w', input: 'é', expected: true },
  { pattern: '\\w', input: '-', expected: false },
  { pattern: '\\s', input: '\x1c', expected: true },
  { pattern: '\\s', input: '\u00a0', expected: true },
  { pattern: '\\S', input: '\u00a0', expected: false },
  { pattern: 'a{,2}b', input: 'b', expected: true },
  { pattern: 'a{,2}b', input: 'aab', expected: true },
  { pattern: 'a{,2}b', input: 'aaab', expected: false },
  { pattern: 'a{1', input: 'a{1', expected: true },
  { pattern: 'a{1', input: 'a', expected: false },
  { pattern: 'a{x}', input: 'a{x}', expected: true },
  { pattern: '[]a]', input: ']', expected: true },
  { pattern: '[a-]', input: '-', expected: true },
  { pattern: '\\-\\#\\:\\@\\!', input: '-#:@!', expected: true },
  { pattern: '(?x) @ irc _ .* # a comment', input: '@irc_bob', expected: true },
  { pattern: '(?x) @ irc _ .* # a comment', input: '@ irc _bob', expected: false },
  { pattern: '(?a)\\bfoo\\b', input: 'foo bar', expected: true },
  { pattern: '(?a)\\bfoo\\b', input: 'foobar', expected: false },
  { pattern: '(?a)\\bfoo\\b', input: 'foo\u00e9', expected: true }, // é is no ASCII word character
  { pattern: '😀.', input: '😀a', expected: true },
  { pattern: '.$', input: '😀', expected: true, endAnchored: true }, // one code point, as in Python
  { pattern: '[^a]$', input: '😀', expected: true, endAnchored: true },
  { pattern: '\\x41\\u00e9\\101', input: 'AéA', expected: true },
  { pattern: 'a(?#comment)b', input: 'ab', expected: true },
  { pattern: '@irc_.*?:hs', input: '@irc_a:hs', expected: true },
  // Patterns that make a backtracking engine take exponential time, on a near miss: RE2 answers at once.
  { pattern: '@irc_(\\w|\\d)*:hs', input: `@irc_${'a'.repeat(47)}!:hs`, expected: false },
  { pattern: '@irc_(\\w+\\.?)+:hs', input: `@irc_${'a'.repeat(47)}!:hs`, expected: false },
  { pattern: '@irc_(\\w|\\d)*:hs', input: '@irc_a1:hs', expected: true },
];

/** Valid Python that needs backtracking (RE2 has none): refused, each with its reason. */
const REFUSED: Array<[string, RegExp]> = [
  ['@(?P<n>[a-z]+)_(?P=n)', /backreference/],
  ['(a)\\1', /backreference/],
  ['a(?=b)', /lookahead/],
  ['a(?!b)', /negative lookahead/],
  ['(?<=a)b', /lookbehind/],
  ['\\bfoo\\b', /Unicode word boundary/],
];

/** Code points, so that an astral character is never split in half. */
const suffix = fc.string({ maxLength: 8, unit: 'grapheme' });

describe('properties: namespace regex translation', () => {
  for (const { pattern, input, expected } of REFERENCE) {
    it(`re.match(${JSON.stringify(pattern)}, ${JSON.stringify(input)}) is ${expected ? 'a match' : 'None'}`, () => {
      expect(translateNamespaceRegex(pattern).test(input)).to.equal(expected);
    });
  }

  for (const [pattern, reason] of REFUSED) {
    it(`refuses ${JSON.stringify(pattern)} (${reason.source}), which Python accepts`, () => {
      expect(() => translateNamespaceRegex(pattern)).to.throw(PythonRegexError, reason);
    });
  }

  it('a match stays a match whatever follows it, unless the pattern is end-anchored (re.match is not fullmatch)', () => {
    const open = REFERENCE.filter((r) => r.expected && r.endAnchored !== true);
    fc.assert(
      fc.property(fc.constantFrom(...open), suffix, ({ pattern, input }, tail) => {
        expect(
          translateNamespaceRegex(pattern).test(input + tail),
          `${pattern} on ${JSON.stringify(input + tail)}`,
        ).to.equal(true);
      }),
      { numRuns: 500 },
    );
  });

  it('a non-match at the start stays one whatever follows, when the pattern cannot reach past the input', () => {
    // Only cases whose pattern fails on a character of the input itself: more text cannot help.
    const failsEarly = REFERENCE.filter(
      (r) => !r.expected && r.endAnchored !== true && r.input !== '' && !/\{|\\b|\(\?!/.test(r.pattern),
    );
    fc.assert(
      fc.property(fc.constantFrom(...failsEarly), suffix, ({ pattern, input }, tail) => {
        expect(
          translateNamespaceRegex(pattern).test(input + tail),
          `${pattern} on ${JSON.stringify(input + tail)}`,
        ).to.equal(false);
      }),
      { numRuns: 500 },
    );
  });

  it('is anchored at the start: no pattern of the set matches its input behind a prefix it cannot start with', () => {
    const literalStart = REFERENCE.filter((r) => r.expected && /^[@#]/.test(r.pattern));
    fc.assert(
      fc.property(
        fc.constantFrom(...literalStart),
        fc.string({ minLength: 1, maxLength: 5 }).filter((s) => !/^[@#]/.test(s)),
        ({ pattern, input }, prefix) => {
          expect(translateNamespaceRegex(pattern).test(prefix + input)).to.equal(false);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('(?i) makes an ASCII-literal pattern match the input in any case mix', () => {
    const literal = fc.stringMatching(/^[a-z_@#:.]{1,12}$/);
    fc.assert(
      fc.property(literal, fc.array(fc.boolean(), { minLength: 12, maxLength: 12 }), (text, upper) => {
        const escaped = text.replace(/[.]/g, '\\.');
        const mixed = [...text].map((ch, i) => (upper[i] ? ch.toUpperCase() : ch)).join('');
        expect(translateNamespaceRegex(`(?i)${escaped}`).test(mixed)).to.equal(true);
        if (mixed !== text) expect(translateNamespaceRegex(escaped).test(mixed)).to.equal(false);
      }),
      { numRuns: 300 },
    );
  });

  it('any pattern text is translated or refused with a PythonRegexError naming the pattern, never another exception', () => {
    const token = fc.constantFrom(
      ...[
        '(',
        ')',
        '(?',
        '(?P<',
        '(?P=',
        '>',
        '[',
        ']',
        '[^',
        '\\',
        '\\Z',
        '\\A',
        '\\d',
        '\\w',
        '\\b',
        '\\1',
        '\\x4',
        '\\u12',
        '\\N{',
        '.',
        '*',
        '+',
        '?',
        '*?',
        '{',
        '}',
        '{2,',
        ',',
        '1',
        '9',
        'a',
        'Z',
        '_',
        ':',
        '#',
        '@',
        '=',
        '!',
        '<',
        '^',
        '$',
        '|',
        '-',
        '(?i)',
        '(?x)',
        '(?s)',
        '(?a)',
        '(?L)',
        '(?u)',
        '(?#',
        ' ',
        '\n',
        'é',
        '😀',
      ],
    );
    const patterns = fc.oneof(
      fc.array(token, { maxLength: 14 }).map((parts) => parts.join('')),
      fc.string({ maxLength: 20 }),
    );
    fc.assert(
      fc.property(patterns, (pattern) => {
        let result: unknown;
        try {
          result = translateNamespaceRegex(pattern);
        } catch (error) {
          expect(error, `${JSON.stringify(pattern)} threw ${String(error)}`).to.be.instanceOf(PythonRegexError);
          expect((error as Error).message).to.include(JSON.stringify(pattern));
          return;
        }
        expect(result).to.be.instanceOf(RegExp);
        const re = result as RegExp;
        expect(re.source.startsWith('^(?:')).to.equal(true);
        // Whatever was accepted must run without throwing on ordinary ids.
        re.test('@irc_bob:hs.test');
      }),
      { numRuns: 3_000 },
    );
  });
});
