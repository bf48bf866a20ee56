import { expect } from 'chai';
import fc from 'fast-check';
import { repetitionSkeleton, sampleStrings } from '../../lib/registration/regex-analysis.ts';
import { translateNamespaceRegex } from '../../lib/registration/regex.ts';

const t = translateNamespaceRegex;

/** What Python 3.7+'s re.escape does: backslash before each of these characters. */
function pythonEscape(text: string): string {
  const special = new Set([...'()[]{}?*+-|^$\\.&~# \t\n\r\v\f']);
  return [...text].map((c) => (special.has(c) ? `\\${c}` : c)).join('');
}

function refuses(source: string, reason: RegExp): void {
  expect(() => t(source), source).to.throw(Error, reason);
}

describe('translateNamespaceRegex', () => {
  describe('anchoring like Python re.match', () => {
    it('is anchored at the start', () => {
      expect(t('@irc_.*').test('@irc_bob:example.org')).to.equal(true);
      expect(t('@irc_.*').test('x@irc_bob:example.org')).to.equal(false);
    });

    it('is not anchored at the end', () => {
      expect(t('@irc_').test('@irc_bob:example.org')).to.equal(true);
      expect(t('@irc_.*:example\\.org').test('@irc_bob:example.org.evil')).to.equal(true);
    });

    it('anchors every branch of a top-level alternation', () => {
      const re = t('@a_.*|@b_.*');
      expect(re.test('@b_x')).to.equal(true);
      expect(re.test('x@b_x')).to.equal(false);
    });

    it('keeps an explicit ^...$ working (mautrix-go style)', () => {
      const re = t('^@whatsapp_.*:example\\.com$');
      expect(re.test('@whatsapp_123:example.com')).to.equal(true);
      expect(re.test('@whatsapp_123:example.com.au')).to.equal(false);
    });

    it('has the documented ^(?:...) shape and the u flag', () => {
      const re = t('@irc_.*');
      expect(re.source.startsWith('^(?:')).to.equal(true);
      expect(re.flags).to.equal('u');
    });
  });

  describe('translated syntax', () => {
    it('turns a leading (?i) into the i flag', () => {
      const re = t('(?i)@IRC_.*');
      expect(re.flags).to.include('i');
      expect(re.test('@irc_bob')).to.equal(true);
      expect(t('@IRC_.*').test('@irc_bob')).to.equal(false);
    });

    it('translates (?P<name>...), and exec reports the group', () => {
      const re = t('@(?P<nick>[a-z]+)_x:x');
      expect(re.test('@bob_x:x')).to.equal(true);
      expect(re.test('@bob_y:x')).to.equal(false);
      expect(re.exec('@bob_x:x')?.groups?.['nick']).to.equal('bob');
      expect('@bob_x:x'.match(re)?.[1]).to.equal('bob');
    });

    it('maps \\Z to the end of the string and \\A to the start', () => {
      expect(t('@a\\Z').test('@a')).to.equal(true);
      expect(t('@a\\Z').test('@ab')).to.equal(false);
      expect(t('@a\\Z').test('@a\n')).to.equal(false);
      expect(t('\\A@a').test('@a')).to.equal(true);
    });

    it('gives $ its Python meaning: end, or before a final newline', () => {
      expect(t('@a$').test('@a')).to.equal(true);
      expect(t('@a$').test('@a\n')).to.equal(true);
      expect(t('@a$').test('@a\nb')).to.equal(false);
    });

    it('gives . its Python meaning: anything but \\n (and anything with (?s))', () => {
      expect(t('a.b').test('a\rb')).to.equal(true);
      expect(t('a.b').test('a\u2028b')).to.equal(true);
      expect(t('a.b').test('a\nb')).to.equal(false);
      expect(t('(?s)a.b').test('a\nb')).to.equal(true);
    });

    it('reads the escapes re.escape() writes as literals', () => {
      const re = t('\\#irc_.*:matrix\\-org\\.example');
      expect(re.test('#irc_chan:matrix-org.example')).to.equal(true);
      expect(re.test('#irc_chan:matrixXorg.example')).to.equal(false);
      expect(t('\\@a\\:b\\ c\\~d\\&e\\!').test('@a:b c~d&e!')).to.equal(true);
    });

    it('matches exactly what re.escape(text) matches, for any text', () => {
      fc.assert(
        fc.property(fc.string({ maxLength: 30, unit: 'binary' }), fc.string({ maxLength: 5 }), (text, suffix) => {
          const re = t(pythonEscape(text));
          expect(re.test(text + suffix)).to.equal(true);
          // Anchored: a different first character must not match.
          const other = text.startsWith('\u0001') ? '\u0002' : '\u0001';
          if (text.length > 0) expect(re.test(other + text)).to.equal(false);
        }),
        { numRuns: 1000 },
      );
    });

    it('treats { as a literal unless it forms a quantifier, and accepts {,n}', () => {
      expect(t('a{b').test('a{b')).to.equal(true);
      expect(t('a{}').test('a{}')).to.equal(true);
      expect(t('@a{,2}$').test('@aa')).to.equal(true);
      expect(t('@a{,2}$').test('@aaa')).to.equal(false);
      expect(t('@a{2}$').test('@aa')).to.equal(true);
      expect(t('@a{2,}$').test('@aaaa')).to.equal(true);
      expect(t('a}').test('a}')).to.equal(true);
    });

    it('reads ] first in a set as a literal, and - at a set edge', () => {
      expect(t('[]a]').test(']')).to.equal(true);
      expect(t('[^]a]').test(']')).to.equal(false);
      expect(t('[a-]').test('-')).to.equal(true);
      expect(t('[\\w-]+$').test('a-b')).to.equal(true);
    });

    it('keeps \\d, \\w, \\s and \\b Unicode-aware as in Python 3 str patterns', () => {
      expect(t('\\d').test('\u0663')).to.equal(true); // ARABIC-INDIC DIGIT THREE
      expect(t('\\w').test('é')).to.equal(true);
      expect(t('\\s').test('\u3000')).to.equal(true);
      expect(t('\\s').test('\ufeff')).to.equal(false);
      expect(t('[\\d]').test('\u0663')).to.equal(true);
    });

    it('makes them ASCII-only under (?a)', () => {
      expect(t('(?a)\\w').test('é')).to.equal(false);
      expect(t('(?a)\\d').test('\u0663')).to.equal(false);
      expect(t('(?a)[\\w]').test('a')).to.equal(true);
      expect(t('(?a)\\s').test('\v')).to.equal(true);
      expect(t('(?a)[^\\W]').test('_')).to.equal(true);
      expect(t('(?a)@a\\b').test('@a b')).to.equal(true);
      expect(t('(?a)@a\\b').test('@ab')).to.equal(false);
      expect(t('(?a)@a\\B').test('@ab')).to.equal(true);
    });

    it('strips whitespace and comments under (?x)', () => {
      const re = t('(?x) @irc_  # the prefix\n  [a-z]+ [ ]x');
      expect(re.test('@irc_bob x')).to.equal(true);
    });

    it('accepts several leading flag groups', () => {
      expect(t('(?i)(?s)A.B').test('a\nb')).to.equal(true);
    });

    it('reads hex, unicode, octal and control escapes', () => {
      expect(t('\\x41\\u00e9\\U0001F600').test('Aé😀')).to.equal(true);
      expect(t('\\101').test('A')).to.equal(true);
      expect(t('\\0').test('\0')).to.equal(true);
      expect(t('\\t\\a').test('\t\x07')).to.equal(true);
      expect(t('[\\b]').test('\b')).to.equal(true);
    });

    it('drops (?#comments)', () => {
      expect(t('@a(?#why)b').test('@ab')).to.equal(true);
    });

    it('keeps lazy quantifiers', () => {
      expect(t('@(.*?)x').exec('@axbx')?.[1]).to.equal('a');
    });

    it('matches astral characters as one character, as Python does', () => {
      expect(t('@.$').test('@😀')).to.equal(true);
    });
  });

  describe('refusals, each with its reason and the pattern', () => {
    const cases: Array<[string, RegExp]> = [
      ['@irc_(.*', /unterminated group in "@irc_\(\.\*"/],
      ['@irc_.*)', /unbalanced parenthesis/],
      ['[a-z', /unterminated character set/],
      ['[z-a]', /bad character range/],
      ['(?m)@a', /\(\?m\) flag is refused/],
      ['(?L)@a', /not valid for str patterns/],
      ['(?q)@a', /unknown flag/],
      ['@a(?i)b', /global flags not at the start/],
      ['(?i:@a)', /scoped inline flags/],
      ['(?-i:@a)', /scoped inline flags/],
      ['@a*+', /possessive/],
      ['@a{1,2}+', /possessive/],
      ['(?>@a)', /atomic groups/],
      ['(a)?(?(1)b|c)', /conditional groups/],
      ['(?<name>a)', /not Python syntax/],
      ['(?P<1x>a)', /bad group name/],
      ['(?P<n>a)(?P<n>b)', /redefinition of group name/],
      ['(?P=nope)', /unknown group name/],
      ['(a)\\2', /invalid group reference 2/],
      ['@\\q', /bad escape \\q/],
      ['\\N{EM DASH}', /named Unicode escapes/],
      ['\\x4', /incomplete escape/],
      ['@a\\', /bad escape \(end of pattern\)/],
      ['@a**', /multiple repeat/],
      ['*a', /nothing to repeat/],
      ['^*', /nothing to repeat/],
      ['a{3,2}', /min repeat greater than max repeat/],
      ['[\\W]', /\\W inside a character set/],
      ['\\777', /outside of range/],
      ['(?', /unknown extension|unexpected end/],
      // Python accepts these, but they need backtracking: RE2, the linear-time engine, has none.
      ['@(?P<nick>[a-z]+)_(?P=nick):x', /backreference \(\(\?P=nick\)\) in .* cannot run in linear time/],
      ['(a)\\1', /backreference \(\\1\) in .* cannot run in linear time/],
      ['@(?!bot)[a-z]+', /negative lookahead/],
      ['@(?=b)[a-z]+', /lookahead/],
      ['@[a-z]+(?<!bot):x', /negative lookbehind/],
      ['@irc_(?<=_).*', /lookbehind/],
      ['é\\b', /Unicode word boundary \\b .*\(a leading \(\?a\) makes/],
      ['é\\B', /Unicode word boundary \\B/],
      ['@a$\\n', /a \$ followed by more of the pattern/],
      ['(@a$)+', /a \$ followed by more of the pattern/],
      ['a{1001}', /repeat count above 1000/],
      ['a{2,1001}', /repeat count above 1000/],
    ];
    for (const [source, reason] of cases) {
      it(`refuses ${JSON.stringify(source)}`, () => refuses(source, reason));
    }

    it('names the pattern in every refusal', () => {
      for (const [source] of cases) {
        expect(() => t(source)).to.throw(JSON.stringify(source));
      }
    });
  });
});

describe('sampleStrings', () => {
  it('gives the shortest match and one with every repeat taken once', () => {
    expect(sampleStrings('@irc_.*:example\\.org')).to.deep.equal(['@irc_:example.org', '@irc_x:example.org']);
  });

  it('returns only strings the regex matches', () => {
    for (const source of ['@[^a-z]+', '@_discord_[0-9]{6,}', '(?i)@A|@b', '\\#irc_\\d+', '(@a$)?']) {
      const re = t(source);
      for (const sample of sampleStrings(source)) expect(re.test(sample), `${source} ~ ${sample}`).to.equal(true);
    }
  });
});

describe('repetitionSkeleton', () => {
  it('keeps the repetition structure in a form safe-regex2 can parse', () => {
    expect(repetitionSkeleton('(?P<n>\\w+)+$')).to.equal('(\\w{1,}){1,}');
    expect(repetitionSkeleton('@irc_(?<=_).*')).to.equal('@irc_\\w{0,}');
  });
});
